"""A content-addressed cache that makes re-compiling one changed file cheap.

Everything built from one spec file (its model objects, its diagnostics, and the per-service
files the targets generate from them) depends only on that file's bytes and on the compiler:
its own source, the Python running it and the libraries that shape its output. Entries are keyed
by a hash of all of these, so a stale entry can never be served: edit the file, upgrade slo,
grafanalib or Python, and the key changes. Entries are pickles written atomically; a corrupt or
unreadable entry is a miss, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
import shutil
import sys
from importlib import metadata, resources
from pathlib import Path

import yaml

from compiler.core.files import write_atomic

DEFAULT_DIR = ".slo-cache"
_FORMAT = b"slo-cache-1"
_VERSION_DIR = re.compile(r"[0-9a-f]{16}")


# The runtime dependencies (pyproject.toml) whose behaviour reaches a cache entry, and why. What
# they require at runtime counts too (grafanalib's attrs, jsonschema's referencing and
# metaschemas, ...): found from their metadata, so an upgrade of any of them misses the cache.
OUTPUT_DEPENDENCIES = {
    "pyyaml": "reads the specs (values, positions, error messages), decides which generated "
    "strings may stay plain scalars, and reads generated rules back for the consistency check",
    "jsonschema": "validates the specs: its errors become diagnostics",
    "promql-parser": "parses every expression: its errors become diagnostics, and its trees give "
    "the selectors the rules, dashboards and promtool tests are built from",
    "grafanalib": "builds the dashboards, which it turns into JSON",
    "google-re2": "checks every regex matcher: its errors become diagnostics",
}
# The runtime dependencies that never reach a cache entry: upgrading them keeps the cache.
OTHER_DEPENDENCIES = {
    "click": "the command line only, which runs after the cached work",
    "requests": "slo push only",
    "urllib3": "slo push only (requests' HTTP)",
    "idna": "slo push only (requests' host names)",
    "certifi": "slo push only (requests' CA bundle)",
}
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def output_distributions() -> list[str]:
    """OUTPUT_DEPENDENCIES and, recursively, what they require at runtime (extras left out; a
    requirement for other Python versions is kept: if it is absent, it reads as absent)."""
    found: set[str] = set()
    pending = list(OUTPUT_DEPENDENCIES)
    while pending:
        name = _normalized(pending.pop())
        if name in found:
            continue
        found.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            named = _REQUIREMENT_NAME.match(spec.strip())
            if named and "extra" not in marker:
                pending.append(named.group())
    return sorted(found)


def environment() -> list[str]:
    """What besides its own source shapes the compiler's output, one ``name version`` each: the
    Python implementation and version (float and Decimal formatting, dict and set behaviour,
    the pickle format of the entries), the versions of OUTPUT_DEPENDENCIES and what they
    require, and whether PyYAML reads with libyaml, and which libyaml (a source build of PyYAML
    links the system's, which can change under the same PyYAML version)."""
    implementation = sys.implementation
    lines = [
        f"python {implementation.name} {'.'.join(map(str, implementation.version))}",
        f"python-language {'.'.join(map(str, sys.version_info))}",
    ]
    lines += [f"{name} {installed_version(name)}" for name in output_distributions()]
    libyaml = "absent"
    if getattr(yaml, "__with_libyaml__", False):
        # PyYAML publishes libyaml's version only on its C extension module, yaml._yaml.
        get_version = getattr(getattr(yaml, "_yaml", None), "get_version_string", None)
        libyaml = str(get_version()) if callable(get_version) else "present"
    lines.append(f"libyaml {libyaml}")
    return lines


@functools.cache
def compiler_fingerprint() -> bytes:
    """Hash of every source and schema file of the installed compiler package, and of the
    environment() it runs in."""
    digest = hashlib.sha256(_FORMAT)
    for line in environment():
        digest.update(line.encode() + b"\n")
    root = resources.files("compiler")
    for path in sorted(Path(str(root)).rglob("*")):
        if path.suffix in (".py", ".json") and path.is_file():
            digest.update(path.relative_to(str(root)).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.digest()


class Cache:
    def __init__(self, directory: Path | str = DEFAULT_DIR):
        self.directory = Path(directory)

    @staticmethod
    def key(*parts: bytes | str) -> str:
        digest = hashlib.sha256(compiler_fingerprint())
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    @staticmethod
    def version() -> str:
        """The directory of this compiler's entries: another version's entries can never be hit."""
        return compiler_fingerprint().hex()[:16]

    def _path(self, key: str) -> Path:
        return self.directory / self.version() / key[:2] / key

    def prune(self) -> None:
        """Remove the entries of other compiler versions, so that upgrading slo (or editing it)
        does not leave a full set of dead entries behind each time."""
        try:
            others = [
                p
                for p in self.directory.iterdir()
                if _VERSION_DIR.fullmatch(p.name) and p.name != self.version()
            ]
        except OSError:
            return
        for other in others:
            shutil.rmtree(other, ignore_errors=True)

    def get(self, key: str) -> object:
        """What was put under ``key``, or None: the caller checks what it got."""
        try:
            with open(self._path(key), "rb") as fh:
                return pickle.load(fh)
        except Exception:
            return None

    def put(self, key: str, value: object) -> None:
        self.put_pickled(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def put_pickled(self, key: str, data: bytes) -> None:
        """``put`` for a value the caller has pickled already (and needs the bytes of too)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A lost entry is only a miss: no fsync, and private to the user like mkstemp made it.
            write_atomic(path, data, fsync=False, mode=None, temp_prefix=".tmp-", temp_suffix="")
        except OSError:
            pass  # a read-only or full disk must not fail the compile


class NoCache(Cache):
    def __init__(self) -> None:
        super().__init__(os.devnull)

    def get(self, key: str) -> object:
        return None

    def put(self, key: str, value: object) -> None:
        return None

    def put_pickled(self, key: str, data: bytes) -> None:
        return None

    def prune(self) -> None:
        return None
