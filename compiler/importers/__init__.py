"""`slo import`: SLOs written for Sloth, OpenSLO or Pyrra -> slo/v1 spec files.

One module per source format, each with a pure ``convert(documents, options, report)`` that turns
parsed YAML (with positions) into service drafts and reports, as warnings naming file, line and
field, whatever slo/v1 cannot say. This package merges the drafts by service, renders them as
deterministic YAML and runs the result through the real spec loader: a file it hands back
always validates. Nothing here reads or writes files; the CLI does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from compiler.core import conventions
from compiler.core.diagnostics import Diagnostic, Position, Severity, error
from compiler.importers import openslo, pyrra, sloth
from compiler.importers.common import Options, Report
from compiler.importers.drafts import ServiceDraft, merge, render
from compiler.pipeline import load_sources
from compiler.spec.yaml_source import SourceDocument, load_documents

__all__ = ["FORMATS", "ImportResult", "Options", "import_specs"]

Converter = Callable[[list[SourceDocument], Options, Report], list[ServiceDraft]]
FORMATS: dict[str, Converter] = {
    "sloth": sloth.convert,
    "openslo": openslo.convert,
    "pyrra": pyrra.convert,
}


@dataclass
class ImportResult:
    files: dict[str, str]  # file name relative to the output directory -> slo/v1 text
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.severity >= Severity.ERROR for d in self.diagnostics)


def import_specs(
    source_format: str,
    sources: Sequence[tuple[str, bytes | str]],
    options: Options | None = None,
    out_name: str = "slo",
) -> ImportResult:
    """``sources`` are (display name, content); ``out_name`` is how diagnostics name the output
    directory."""
    options = options or Options()
    report = Report()
    documents: list[SourceDocument] = []
    for name, raw in sources:
        docs, found = load_documents(name, raw)
        report.diagnostics += found
        if not docs and not found:
            report.diagnostics.append(
                error(Position(name), "import/empty", "file holds no YAML document")
            )
        documents += docs
    drafts = FORMATS[source_format](documents, options, report)
    for draft in drafts:
        draft.name = options.service or draft.name
        draft.team = options.team or draft.team
    merged, found = merge(drafts)
    diagnostics = report.diagnostics + found
    files: dict[str, str] = {}
    for draft in merged:
        if draft.slos or draft.thresholds:
            origins = [draft.origin.file] + [o.origin.file for o in draft.slos + draft.thresholds]
            files[conventions.imported_spec_file(draft.name)] = render(
                draft, source_format, list(dict.fromkeys(origins))
            )
    if not files and not any(d.severity >= Severity.ERROR for d in diagnostics):
        where = Position(sources[0][0]) if sources else Position(out_name)
        diagnostics.append(
            error(
                where,
                "import/empty",
                f"nothing to import: no {source_format} SLO could be carried over "
                "(see the warnings)",
            )
        )
    # The written specs must load with zero errors; a failure here is a bug in an importer.
    _, loaded = load_sources([(f"{out_name}/{name}", text) for name, text in files.items()])
    result = ImportResult(files, sorted(diagnostics + loaded, key=Diagnostic.sort_key))
    if result.ok:
        return result
    # Nothing is written: a warning about a spec it would have written (a group label that is
    # usually unbounded, ...) would point at a file that does not exist.
    unwritten = {f"{out_name}/{name}" for name in files}
    kept = [
        d
        for d in result.diagnostics
        if d.position.file not in unwritten or d.severity >= Severity.ERROR
    ]
    return replace(result, files={}, diagnostics=kept)
