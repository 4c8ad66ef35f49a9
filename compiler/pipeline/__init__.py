"""The whole compile, as functions the CLI and tests call; one module per stage:

sources.py   read the spec files (and a Routing spec's base config)
prepare.py   per spec file, in workers, cached: load it (load.py), emit its services'
             per-service target files, read them for the consistency check, scan for secrets
load.py      put the loaded files together: the model
targets      the global targets, and every target's files merged (compiler/targets)
checks       consistency across targets, secrets in what would be written (compiler/checks)
output.py    write out/ (called by the CLI)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from compiler import targets
from compiler.checks import consistency, secrets
from compiler.core.diagnostics import CompileError, Diagnostic, Severity
from compiler.core.model import Model
from compiler.pipeline.cache import Cache, NoCache
from compiler.pipeline.load import assemble, load_file
from compiler.pipeline.prepare import PreparedFile, prepare_all
from compiler.pipeline.sources import display_name, from_texts, read_tree, spec_files
from compiler.targets.protocol import Emitted

__all__ = [
    "CompileResult",
    "compile_tree",
    "display_name",
    "load_sources",
    "load_tree",
    "spec_files",
]


@dataclass
class CompileResult:
    model: Model
    artifacts: dict[str, str]
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings only
    # What the consistency check read of each file it covers (consistency.check takes it).
    checked: dict[str, consistency.Extract] = field(default_factory=dict)


def compile_tree(root: Path | str, cache: Cache | None = None, jobs: int = 1) -> CompileResult:
    """Load, build and emit every target; raises CompileError with all diagnostics on error.

    Each spec file is prepared (loaded, its services' files generated and read back) on its
    own, in ``jobs`` processes; with a cache, an unchanged file is not prepared again."""
    root = Path(root)
    sources, unreadable = read_tree(root)
    prepared, ignored = prepare_all(sources, cache or NoCache(), jobs)
    model, diagnostics = assemble(sources, [p.loaded for p in prepared], root, unreadable)
    diagnostics += ignored  # a cache entry that could not be used: a warning, never an error
    if model is None:
        raise CompileError(sorted(diagnostics, key=Diagnostic.sort_key))
    emitted = targets.emit(model, {name: e for p in prepared for name, e in p.emitted.items()})
    checked = read_for_check(prepared, emitted)
    diagnostics += emitted.diagnostics
    diagnostics += consistency.check(model, emitted.files, checked)
    diagnostics += secrets_in(prepared, emitted)
    diagnostics.sort(key=Diagnostic.sort_key)
    if any(d.severity >= Severity.ERROR for d in diagnostics):
        raise CompileError(diagnostics)
    return CompileResult(model, emitted.files, diagnostics, checked)


def load_tree(root: Path | str) -> tuple[Model | None, list[Diagnostic]]:
    """Every spec under ``root`` -> model; diagnostics from every file, sorted."""
    root = Path(root)
    sources, unreadable = read_tree(root)
    loaded = [load_file(source.name, source.raw) for source in sources]
    return assemble(sources, loaded, root, unreadable)


def load_sources(texts: list[tuple[str, bytes | str]]) -> tuple[Model | None, list[Diagnostic]]:
    """Spec texts, each named as diagnostics should name it -> model; diagnostics from all, sorted.

    For specs that are not (yet) files, e.g. what `slo import` is about to write."""
    sources = from_texts(texts)
    loaded = [load_file(source.name, source.raw) for source in sources]
    return assemble(sources, loaded, None, [])


def read_for_check(
    prepared: list[PreparedFile], emitted: Emitted
) -> dict[str, consistency.Extract]:
    """What the consistency check reads of every file the targets tagged for it: read in the
    workers for the per-service files, here for the others."""
    checked = {path: found for p in prepared for path, found in p.extracts.items()}
    for path, document in emitted.documents.items():
        if path not in checked:
            text = emitted.files[path]
            checked[path] = consistency.extract(document.holds, path, text, document.data)
    return checked


def secrets_in(prepared: list[PreparedFile], emitted: Emitted) -> list[Diagnostic]:
    """Every secret in the files about to be written: out/ is committed, so this is the last
    guard, whatever put the secret there. The per-service files were scanned in the workers."""
    scanned = {path: found for p in prepared for path, found in p.secrets.items()}
    return [
        d
        for path, text in emitted.files.items()
        for d in (scanned[path] if path in scanned else secrets.in_artifact(path, text))
    ]
