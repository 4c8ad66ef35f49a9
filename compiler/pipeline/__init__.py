"""The whole compile, as functions the CLI and tests call: load -> build -> emit."""

from __future__ import annotations

import pickle
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from compiler import targets
from compiler.build.routing import RoutingBuilder, ServiceNames
from compiler.build.services import ServiceBuilder, build_model
from compiler.checks import consistency
from compiler.checks import secrets as secret_scan
from compiler.core import conventions as names
from compiler.core.diagnostics import (
    CompileError,
    Diagnostic,
    Diagnostics,
    Position,
    Severity,
    error,
)
from compiler.core.model import Model, Routing, Service
from compiler.pipeline import workers
from compiler.pipeline.cache import Cache, NoCache
from compiler.spec.validate import document_kind, validate_document
from compiler.spec.yaml_source import SourceDocument, load_documents

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


@dataclass
class LoadedService:
    name: str
    service: Service | None  # None when the builder found errors
    owner: Position  # where `service:` is written, for duplicate reports
    names: ServiceNames
    diagnostics: list[Diagnostic]


@dataclass
class LoadedFile:
    """Everything one spec file yields on its own; cached by its bytes (see cache.py)."""

    diagnostics: list[Diagnostic]
    services: list[LoadedService]
    routings: list[SourceDocument]


def load_file(name: str, raw: bytes) -> LoadedFile:
    loaded = LoadedFile([], [], [])
    documents, diagnostics = load_documents(name, raw)
    loaded.diagnostics.extend(diagnostics)
    unreadable = {
        d.position for d in diagnostics
    }  # a value YAML could not read is reported once, as such
    if not documents and not diagnostics:
        loaded.diagnostics.append(
            error(Position(name), "spec/empty", "file holds no spec document")
        )
    for doc in documents:
        kind, diagnostics = document_kind(doc)
        loaded.diagnostics.extend(diagnostics)
        if kind is None:
            continue
        schema_errors = validate_document(doc, kind)
        secrets = secret_scan.in_spec(doc, kind)
        hidden = {d.position for d in secrets}  # an inline secret is reported once, as such
        schema_errors = secrets + [d for d in schema_errors if d.position not in hidden]
        loaded.diagnostics.extend(d for d in schema_errors if d.position not in unreadable)
        if schema_errors:
            continue
        if kind == "Routing":
            loaded.routings.append(doc)
            continue
        objectives = [o["name"] for key in ("slos", "thresholds") for o in doc.data.get(key, [])]
        builder = ServiceBuilder(doc, name)
        service = builder.build()
        loaded.services.append(
            LoadedService(
                doc.data["service"],
                service,
                doc.at(("service",)),
                ServiceNames(doc.data["team"], tuple(objectives)),
                builder.diagnostics,
            )
        )
    return loaded


@dataclass
class PreparedFile:
    """A spec file loaded, and its services' per-service target files generated and read back
    for the consistency check: all of the compile that depends on this file alone. Cached by
    the file's bytes (cache.py); prepared in parallel (workers.py)."""

    loaded: LoadedFile
    emitted: dict[str, dict[str, targets.Emitted]]  # service -> target -> (files, diagnostics)
    extracts: dict[
        str, consistency.Extract
    ]  # generated file -> what the consistency check read in it
    secrets: dict[str, list[Diagnostic]]  # generated file (of ``emitted``) -> secrets found in it


def prepare_file(name: str, raw: bytes) -> PreparedFile:
    loaded = load_file(name, raw)
    emitted, extracts, secrets = {}, {}, {}
    for entry in loaded.services:
        if entry.service is None:
            continue
        done, documents = targets.emit_service(entry.service)
        emitted[entry.name] = done
        for files, _ in done.values():
            secrets.update(
                (path, secret_scan.in_artifact(path, text))
                for path, text in files.items()
            )
        for kind, path in (
            ("rules", names.rules_file(entry.name)),
            ("dashboard", names.dashboard_file(entry.name)),
        ):
            text = next((files[path] for files, _ in done.values() if path in files), None)
            if text is not None:
                extracts[path] = consistency.extract(kind, path, text, documents.get(path))
    return PreparedFile(loaded, emitted, extracts, secrets)


def _prepare(job: tuple[str, bytes, str, Cache]) -> PreparedFile:
    name, raw, key, cache = job
    prepared = prepare_file(name, raw)
    cache.put(key, prepared)  # in the worker: writing the cache is part of the work to share
    return prepared


def _prepare_pickled(job: tuple[str, bytes, str, Cache]) -> bytes:
    """In a worker: the prepared file pickled once, for the cache and for the parent."""
    name, raw, key, cache = job
    data = pickle.dumps(prepare_file(name, raw), pickle.HIGHEST_PROTOCOL)
    cache.put_pickled(key, data)
    return data


def prepare_all(
    sources: list[tuple[str, bytes]], cache: Cache, jobs: int = 1
) -> list[PreparedFile]:
    """``prepare_file`` for every source, from the cache where it can, in ``jobs`` processes."""
    found: list[PreparedFile | None] = []
    missing = []
    for name, raw in sources:
        key = cache.key("prepared", name, raw)
        hit = cache.get(key)
        found.append(hit if isinstance(hit, PreparedFile) else None)
        if found[-1] is None:
            missing.append((name, raw, key, cache))
    made = iter(workers.map_forked(_prepare, missing, jobs, pickled=_prepare_pickled))
    return [hit if hit is not None else next(made) for hit in found]


def load_tree(root: Path | str) -> tuple[Model | None, list[Diagnostic]]:
    """Every spec under ``root`` -> model; diagnostics from every file, sorted."""
    model, diagnostics, _ = _load(Path(root), NoCache(), jobs=1, prepare=False)
    return model, diagnostics


def _load(
    root: Path, cache: Cache, jobs: int, prepare: bool
) -> tuple[Model | None, list[Diagnostic], list[PreparedFile]]:
    """(model, diagnostics, each file prepared when ``prepare``)."""
    found = Diagnostics()
    if not root.exists():
        found.add(error(Position(str(root)), "spec/missing", "no such file or directory"))
        return None, found.sorted(), []
    files = spec_files(root)
    if not files:
        found.add(error(Position(str(root)), "spec/missing", "no .yaml or .yml spec files found"))
        return None, found.sorted(), []
    sources = []
    for path in files:
        name = display_name(root, path)
        try:
            sources.append((name, path.read_bytes(), path))
        except OSError as exc:
            found.add(error(Position(name), "spec/read", exc.strerror or str(exc)))
    if prepare:
        prepared = prepare_all([(name, raw) for name, raw, _ in sources], cache, jobs)
        loaded = [p.loaded for p in prepared]
    else:
        prepared, loaded = [], [load_file(name, raw) for name, raw, _ in sources]
    model, diagnostics = _assemble(sources, loaded, root, found)
    return model, diagnostics, prepared


def load_sources(sources: list[tuple[str, bytes | str]]) -> tuple[Model | None, list[Diagnostic]]:
    """Spec texts, each named as diagnostics should name it -> model; diagnostics from all, sorted.

    For specs that are not (yet) files, e.g. what `slo import` is about to write."""
    encoded = [
        (name, raw.encode("utf-8") if isinstance(raw, str) else raw, None) for name, raw in sources
    ]
    return _assemble(
        encoded, [load_file(name, raw) for name, raw, _ in encoded], None, Diagnostics()
    )


def _assemble(
    sources: list[tuple[str, bytes, Path | None]],
    loaded_files: list[LoadedFile],
    root: Path | None,
    found: Diagnostics,
) -> tuple[Model | None, list[Diagnostic]]:
    services = []
    owners: dict[str, Position] = {}
    catalog: dict[str, ServiceNames] = {}  # what routing may refer to
    routings: list[tuple[SourceDocument, str, Path | None]] = []
    for (name, _, path), loaded in zip(sources, loaded_files):
        found.extend(loaded.diagnostics)
        routings += [(doc, name, path) for doc in loaded.routings]
        for entry in loaded.services:
            service_name = entry.name
            if service_name in owners:
                first = owners[service_name]
                found.add(
                    error(
                        entry.owner,
                        "spec/duplicate-service",
                        f"service '{service_name}' is already defined in {first.file}:{first.line}",
                    )
                )
                continue
            owners[service_name] = entry.owner
            catalog[service_name] = entry.names
            found.extend(entry.diagnostics)
            if entry.service is not None:
                services.append(entry.service)
    routing = _build_routing(root, routings, catalog, found)
    if found.has_errors:
        return None, found.sorted()
    return build_model(services, routing), found.sorted()


def _build_routing(
    root: Path | None, routings: list, catalog: dict[str, ServiceNames], found: Diagnostics
) -> Routing | None:
    """The one Routing document, if any, with its base config read from disk."""
    if not routings:
        return None
    (doc, name, path), *extra = routings
    for other, _, _ in extra:
        found.add(
            error(
                other.at(("kind",)),
                "spec/duplicate-routing",
                f"only one Routing document is allowed; the first is in {doc.file}:{doc.at(('kind',)).line}",
            )
        )
    base = None
    ref = doc.data.get("base_config")
    if ref is not None and path is None:
        found.add(
            error(
                doc.at(("base_config",)),
                "routing/base-config",
                "base_config needs the spec to be a file",
            )
        )
        return None
    if ref is not None:
        base_path = (path.parent / ref).resolve()
        shown = posixpath.normpath(posixpath.join(posixpath.dirname(name), ref))
        if root is not None and root.is_dir() and base_path.is_relative_to(root.resolve()):
            found.add(
                error(
                    doc.at(("base_config",)),
                    "routing/base-config",
                    f"base_config: keep {shown} outside {root.name}/ (every YAML file there is read as a spec)",
                )
            )
            return None
        try:
            base = (shown, base_path.read_bytes())
        except OSError as exc:
            found.add(
                error(
                    doc.at(("base_config",)),
                    "spec/read",
                    f"base_config: {shown}: {exc.strerror or exc}",
                )
            )
            return None
    builder = RoutingBuilder(doc, name, catalog, base)
    routing = builder.build()
    found.extend(builder.diagnostics)
    return routing


def compile_tree(root: Path | str, cache: Cache | None = None, jobs: int = 1) -> CompileResult:
    """Load, build and emit every target; raises CompileError with all diagnostics on error.

    Each spec file is prepared (loaded, its services' files generated and read back) on its
    own, in ``jobs`` processes; with a cache, an unchanged file is not prepared again."""
    model, diagnostics, prepared = _load(Path(root), cache or NoCache(), jobs, prepare=True)
    if model is None:
        raise CompileError(diagnostics)
    emitted_per_service = {name: done for p in prepared for name, done in p.emitted.items()}
    extracts = {path: found for p in prepared for path, found in p.extracts.items()}
    artifacts, emitted = targets.emit_all(model, emitted_per_service)
    emitted += consistency.check(
        model, artifacts, extracts
    )  # every series a rule or dashboard reads exists
    scanned = {
        path: found for p in prepared for path, found in p.secrets.items()
    }  # the per-service files
    for path, text in artifacts.items():  # out/ is committed: the last guard, whatever the path
        emitted += (
            scanned[path] if path in scanned else secret_scan.in_artifact(path, text)
        )
    diagnostics = sorted(list(diagnostics) + emitted, key=Diagnostic.sort_key)
    if any(d.severity >= Severity.ERROR for d in diagnostics):
        raise CompileError(diagnostics)
    return CompileResult(model, artifacts, diagnostics)
