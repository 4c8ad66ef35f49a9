"""A content-addressed cache that makes re-compiling one changed file cheap.

Everything built from one spec file (its model objects, its diagnostics, and the per-service
files the targets generate from them) depends only on that file's bytes and on the compiler
itself. Entries are keyed by a hash of both, so a stale entry can never be served: edit the
file or upgrade slo and the key changes. Entries are pickles written atomically; a corrupt or
unreadable entry is a miss, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
import shutil
from importlib import resources
from pathlib import Path

from compiler.core.files import write_atomic

DEFAULT_DIR = ".slo-cache"
_FORMAT = b"slo-cache-1"
_VERSION_DIR = re.compile(r"[0-9a-f]{16}")


@functools.cache
def compiler_fingerprint() -> bytes:
    """Hash of every source and schema file of the installed compiler package."""
    digest = hashlib.sha256(_FORMAT)
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

    def get(self, key: str):
        try:
            with open(self._path(key), "rb") as fh:
                return pickle.load(fh)
        except Exception:
            return None

    def put(self, key: str, value) -> None:
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
    def __init__(self):
        super().__init__(os.devnull)

    def get(self, key: str):
        return None

    def put(self, key: str, value) -> None:
        return None

    def put_pickled(self, key: str, data: bytes) -> None:
        return None

    def prune(self) -> None:
        return None
