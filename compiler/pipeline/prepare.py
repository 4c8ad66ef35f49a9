"""All of the compile that depends on one spec file alone, done per file: in parallel, cached.

A spec file is loaded, its services' per-service target files are generated, the files the
consistency check reads are read, and every generated file is scanned for secrets. The result
depends on the file's bytes and the compiler only, so it is cached by them (cache.py), and
prepared in worker processes (workers.py). The cache holds each prepared file as data
(codec.py): CACHED_TYPES lists every class an entry may hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from compiler import targets
from compiler.build.routing import ServiceNames
from compiler.checks import consistency, secrets
from compiler.core import model
from compiler.core.diagnostics import Diagnostic, Position, Severity, warning
from compiler.pipeline import codec, load, workers
from compiler.pipeline.cache import Cache, UnusableEntry
from compiler.pipeline.sources import Source
from compiler.spec.yaml_source import SourceDocument
from compiler.targets.protocol import Document, Emitted, Holds


@dataclass
class PreparedFile:
    loaded: load.LoadedFile
    # service -> target -> what it emitted; its documents are read already, into ``extracts``
    emitted: dict[str, dict[str, Emitted]]
    extracts: dict[str, consistency.Extract]  # generated file -> what the check read in it
    secrets: dict[str, list[Diagnostic]]  # generated file (of ``emitted``) -> secrets in it


def prepare_file(name: str, raw: bytes) -> PreparedFile:
    loaded = load.load_file(name, raw)
    prepared = PreparedFile(loaded, {}, {}, {})
    for entry in loaded.services:
        if entry.service is None:
            continue
        done = targets.emit_service(entry.service)
        for target, emitted in done.items():
            for path, text in emitted.files.items():
                prepared.secrets[path] = secrets.in_artifact(path, text)
            for path, document in emitted.documents.items():
                prepared.extracts[path] = consistency.extract(
                    document.holds, path, emitted.files[path], document.data
                )
            # What the check needs of them is in the extracts: the cache need not hold the data.
            done[target] = dataclasses.replace(emitted, documents={})
        prepared.emitted[entry.name] = done
    return prepared


# Every class a cache entry may hold: decoding builds these and nothing else. A new field of
# another class in a PreparedFile fails the first encode (and test_cache) until it is listed here.
CACHED_TYPES: tuple[type, ...] = (
    PreparedFile,
    load.LoadedFile,
    load.LoadedService,
    ServiceNames,
    SourceDocument,
    Position,
    Diagnostic,
    Severity,
    Emitted,
    Document,
    Holds,
    consistency.Extract,
    model.Service,
    model.SLO,
    model.Threshold,
    model.Matcher,
    model.Selector,
    model.Counter,
    model.RatioIndicator,
    model.LatencyIndicator,
    model.TimesliceIndicator,
    model.BurnTier,
    model.Alerting,
    model.Exhaustion,
    model.KubernetesOutput,
    model.Outputs,
    model.Maintenance,
    model.TimeRange,
)
CODEC = codec.Codec(PreparedFile, CACHED_TYPES)


def _prepare(job: tuple[str, bytes, str, Cache]) -> PreparedFile:
    # A worker sends its result to the parent pickled (workers.py), through an unlinked spool
    # file that only they hold: nothing else can write there. The cache, which anyone with
    # write access to the checkout can plant entries in, gets the codec's data, never a pickle.
    name, raw, key, cache = job
    prepared = prepare_file(name, raw)
    try:
        data = CODEC.encode(prepared)
    except codec.EncodeError:
        return prepared  # nothing it could read back equal: left out of the cache
    cache.put(key, data)  # in the worker: writing the cache is part of the work to share
    return prepared


def prepare_all(
    sources: list[Source], cache: Cache, jobs: int = 1
) -> tuple[list[PreparedFile], list[Diagnostic]]:
    """``prepare_file`` for every source, from the cache where it can, in ``jobs`` processes;
    and a warning if some cache entries were there but could not be used (they are rebuilt)."""
    found: list[PreparedFile | None] = []
    missing = []
    ignored: list[str] = []
    for source in sources:
        key = cache.key("prepared", source.name, source.raw)
        try:
            data = cache.get(key)
            hit = None if data is None else CODEC.decode(data)
        except (UnusableEntry, codec.DecodeError) as exc:
            ignored.append(f"{cache.entry_name(key)}: {exc}")
            hit = None
        found.append(hit)
        if hit is None:
            missing.append((source.name, source.raw, key, cache))
    made = iter(workers.map_forked(_prepare, missing, jobs))
    prepared = [hit if hit is not None else next(made) for hit in found]
    return prepared, [ignored_warning(cache, ignored)] if ignored else []


def ignored_warning(cache: Cache, ignored: list[str]) -> Diagnostic:
    """One warning for every cache entry that could not be used, however many there are."""
    if len(ignored) == 1:
        message = f"cache entry ignored and rebuilt: {ignored[0]}"
    else:
        message = f"{len(ignored)} cache entries ignored and rebuilt; the first: {ignored[0]}"
    return warning(Position(str(cache.directory)), "cache/ignored", message)
