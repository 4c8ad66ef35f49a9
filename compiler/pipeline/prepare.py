"""All of the compile that depends on one spec file alone, done per file: in parallel, cached.

A spec file is loaded, its services' per-service target files are generated, the files the
consistency check reads are read, and every generated file is scanned for secrets. The result
depends on the file's bytes and the compiler only, so it is cached by them (cache.py), and
prepared in worker processes (workers.py).
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass

from compiler import targets
from compiler.checks import consistency, secrets
from compiler.core.diagnostics import Diagnostic
from compiler.pipeline import load, workers
from compiler.pipeline.cache import Cache
from compiler.pipeline.sources import Source
from compiler.targets.protocol import Emitted


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


def prepare_all(sources: list[Source], cache: Cache, jobs: int = 1) -> list[PreparedFile]:
    """``prepare_file`` for every source, from the cache where it can, in ``jobs`` processes."""
    found: list[PreparedFile | None] = []
    missing = []
    for source in sources:
        key = cache.key("prepared", source.name, source.raw)
        hit = cache.get(key)
        found.append(hit if isinstance(hit, PreparedFile) else None)
        if found[-1] is None:
            missing.append((source.name, source.raw, key, cache))
    made = iter(workers.map_forked(_prepare, missing, jobs, pickled=_prepare_pickled))
    return [hit if hit is not None else next(made) for hit in found]
