"""The whole compile, as functions the CLI and tests call: load -> build -> emit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from compiler import targets
from compiler.build import ServiceBuilder, build_model
from compiler.diagnostics import CompileError, Diagnostic, Diagnostics, Position, error
from compiler.model import Model
from compiler.spec.validate import document_kind, validate_document
from compiler.spec.yaml_source import load_documents

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class CompileResult:
    model: Model
    artifacts: dict[str, str]
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings only


def spec_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())


def display_name(root: Path, path: Path) -> str:
    """How a spec file is named in diagnostics and headers: relative, stable across machines."""
    if root.is_file():
        return root.name if root.is_absolute() else str(root)
    return (Path(root.name) / path.relative_to(root)).as_posix()


def load_tree(root: Path | str) -> tuple[Model | None, list[Diagnostic]]:
    """Every spec under ``root`` -> model; diagnostics from every file, sorted."""
    root = Path(root)
    found = Diagnostics()
    if not root.exists():
        found.add(error(Position(str(root)), "spec/missing", "no such file or directory"))
        return None, found.sorted()
    files = spec_files(root)
    if not files:
        found.add(error(Position(str(root)), "spec/missing", "no .yaml or .yml spec files found"))
        return None, found.sorted()
    sources = []
    for path in files:
        name = display_name(root, path)
        try:
            sources.append((name, path.read_bytes()))
        except OSError as exc:
            found.add(error(Position(name), "spec/read", exc.strerror or str(exc)))
    model, diagnostics = load_sources(sources)
    found.extend(diagnostics)
    return (model if not found.has_errors else None), found.sorted()


def load_sources(sources: list[tuple[str, bytes | str]]) -> tuple[Model | None, list[Diagnostic]]:
    """Spec texts, each named as diagnostics should name it -> model; diagnostics from all, sorted."""
    found = Diagnostics()
    services = []
    owners: dict[str, Position] = {}
    for name, raw in sources:
        documents, diagnostics = load_documents(name, raw)
        found.extend(diagnostics)
        if not documents and not diagnostics:
            found.add(error(Position(name), "spec/empty", "file holds no spec document"))
        for doc in documents:
            kind, diagnostics = document_kind(doc)
            found.extend(diagnostics)
            if kind is None:
                continue
            schema_errors = validate_document(doc, kind)
            found.extend(schema_errors)
            if schema_errors:
                continue
            service_name = doc.data["service"]
            if service_name in owners:
                first = owners[service_name]
                found.add(
                    error(
                        doc.at(("service",)),
                        "spec/duplicate-service",
                        f"service '{service_name}' is already defined in {first.file}:{first.line}",
                    )
                )
                continue
            owners[service_name] = doc.at(("service",))
            builder = ServiceBuilder(doc, name)
            service = builder.build()
            found.extend(builder.diagnostics)
            if service is not None:
                services.append(service)
    if found.has_errors:
        return None, found.sorted()
    return build_model(services), found.sorted()


def compile_tree(root: Path | str) -> CompileResult:
    """Load, build and emit every target; raises CompileError with all diagnostics on error."""
    model, diagnostics = load_tree(root)
    if model is None:
        raise CompileError(diagnostics)
    artifacts, emitted = targets.emit_all(model)
    diagnostics = sorted(list(diagnostics) + emitted, key=Diagnostic.sort_key)
    if any(d.severity.name == "ERROR" for d in diagnostics):
        raise CompileError(diagnostics)
    return CompileResult(model, artifacts, diagnostics)
