"""Spec files -> the model: each file loaded on its own (``load_file``), then all of them put
together (``assemble``): duplicate services, the one Routing document, the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.build.routing import RoutingBuilder, ServiceNames
from compiler.build.services import ServiceBuilder, build_model
from compiler.checks import secrets
from compiler.core.diagnostics import Diagnostic, Diagnostics, Position, error
from compiler.core.model import Model, Routing, Service
from compiler.pipeline.sources import Source, read_base_config
from compiler.spec.validate import document_kind, validate_document
from compiler.spec.yaml_source import SourceDocument, load_documents

# SLOs and thresholds in one file, across its documents (one service has at most 100 SLOs and
# 200 thresholds, by its schema). What a file costs to compile grows with its objectives: 500
# take about 2 s of one core; 5,000 took 15 s (bench/README.md, hostile inputs).
MAX_FILE_OBJECTIVES = 500


def too_many_objectives(documents: list[SourceDocument]) -> Diagnostic | None:
    """An error at the first objective beyond MAX_FILE_OBJECTIVES, counted before anything is
    validated or built: the file is refused as a whole, in time that does not grow with it."""
    count = 0
    for doc in documents:
        if not isinstance(doc.data, dict):
            continue
        for key in ("slos", "thresholds"):
            items = doc.data.get(key)
            if not isinstance(items, list):
                continue
            if count + len(items) > MAX_FILE_OBJECTIVES:
                return error(
                    doc.at((key, MAX_FILE_OBJECTIVES - count)),
                    "spec/too-many-objectives",
                    f"more than {MAX_FILE_OBJECTIVES} SLOs and thresholds in one file; put "
                    "each service in a file of its own",
                )
            count += len(items)
    return None


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
    """Parse, validate, refuse secrets, and build each service of one spec file."""
    loaded = LoadedFile([], [], [])
    documents, diagnostics = load_documents(name, raw)
    loaded.diagnostics.extend(diagnostics)
    # A value YAML could not read is reported once, as such.
    unreadable = {d.position for d in diagnostics}
    if not documents and not diagnostics:
        loaded.diagnostics.append(
            error(Position(name), "spec/empty", "file holds no spec document")
        )
    too_many = too_many_objectives(documents)
    if too_many is not None:
        loaded.diagnostics.append(too_many)
        return loaded
    for doc in documents:
        kind, diagnostics = document_kind(doc)
        loaded.diagnostics.extend(diagnostics)
        if kind is None:
            continue
        schema_errors = validate_document(doc, kind)
        inline = secrets.in_spec(doc, kind)
        hidden = {d.position for d in inline}  # an inline secret is reported once, as such
        schema_errors = inline + [d for d in schema_errors if d.position not in hidden]
        loaded.diagnostics.extend(d for d in schema_errors if d.position not in unreadable)
        if schema_errors:
            continue
        if kind == "Routing":
            loaded.routings.append(doc)
            continue
        builder = ServiceBuilder(doc, name)
        service = builder.build()
        loaded.services.append(
            LoadedService(
                doc.data["service"],
                service,
                doc.at(("service",)),
                ServiceNames.of(doc.data),
                builder.diagnostics,
            )
        )
    return loaded


def assemble(
    sources: list[Source],
    loaded_files: list[LoadedFile],
    root: Path | None,
    found: list[Diagnostic],
) -> tuple[Model | None, list[Diagnostic]]:
    """The model of every loaded file (``loaded_files[i]`` is ``sources[i]``), or None when
    there is an error; every diagnostic, ``found`` (e.g. files that could not be read) first,
    de-duplicated and sorted. ``root``: the spec tree, None for specs that are not files."""
    diagnostics = Diagnostics()
    diagnostics.extend(found)
    services = []
    owners: dict[str, Position] = {}
    catalog: dict[str, ServiceNames] = {}  # what routing may refer to
    routings: list[tuple[SourceDocument, Source]] = []
    for source, loaded in zip(sources, loaded_files):
        diagnostics.extend(loaded.diagnostics)
        routings += [(doc, source) for doc in loaded.routings]
        for entry in loaded.services:
            if entry.name in owners:
                first = owners[entry.name]
                diagnostics.add(
                    error(
                        entry.owner,
                        "spec/duplicate-service",
                        f"service '{entry.name}' is already defined in {first.file}:{first.line}",
                    )
                )
                continue
            owners[entry.name] = entry.owner
            catalog[entry.name] = entry.names
            diagnostics.extend(entry.diagnostics)
            if entry.service is not None:
                services.append(entry.service)
    routing = build_routing(routings, catalog, root, diagnostics)
    if diagnostics.has_errors:
        return None, diagnostics.sorted()
    return build_model(services, routing), diagnostics.sorted()


def build_routing(
    routings: list[tuple[SourceDocument, Source]],
    catalog: dict[str, ServiceNames],
    root: Path | None,
    diagnostics: Diagnostics,
) -> Routing | None:
    """The one Routing document, if any, built with its base config."""
    if not routings:
        return None
    (doc, source), *extra = routings
    for other, _ in extra:
        first = f"{doc.file}:{doc.at(('kind',)).line}"
        diagnostics.add(
            error(
                other.at(("kind",)),
                "spec/duplicate-routing",
                f"only one Routing document is allowed; the first is in {first}",
            )
        )
    base, unreadable = read_base_config(doc, source, root)
    if unreadable:
        diagnostics.extend(unreadable)
        return None
    builder = RoutingBuilder(doc, source.name, catalog, base)
    routing = builder.build()
    diagnostics.extend(builder.diagnostics)
    return routing
