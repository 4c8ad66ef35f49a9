"""A content-addressed cache that makes re-compiling one changed file cheap.

Everything built from one spec file (its model objects, its diagnostics, and the per-service
files the targets generate from them) depends only on that file's bytes and on the compiler:
its own source, the Python running it and the libraries that shape its output. Entries are keyed
by a hash of all of these, so a stale entry can never be served: edit the file, upgrade slo,
grafanalib or Python, and the key changes.

An entry is data, never code: this module stores and returns bytes, which the caller encodes and
decodes with codec.py (JSON, checked against the declared types on reading; never pickle). The
cache directory may be committed, shared or planted by anyone who can write to the checkout, so
an entry is only opened if it is a regular file (no symlink, FIFO or device), and an entry that
does not decode is a miss the compile warns about, never an error. Entries are written
atomically; a lost or unwritable entry is only a miss.

Decoding alone would still trust a well-formed entry that someone else wrote: it could make a
spec appear to compile to anything, secrets scan and consistency check included. So every entry
ends with an HMAC under a key that never leaves this user's own cache directory
(``$XDG_CACHE_HOME/slo/cache.key``, made on first use, mode 0600): an entry written by another
user or machine, or planted in the checkout, fails it and is a miss with a warning. The cache
is worth keeping on the machine that wrote it, and harmless (but useless) anywhere else.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import shutil
import stat
import sys
from importlib import metadata, resources
from pathlib import Path

import yaml

from compiler.core.files import write_atomic

DEFAULT_DIR = ".slo-cache"
_FORMAT = b"slo-cache-3"  # 2: entries are codec.py's JSON, not pickles; 3: signed
SIGNATURE_BYTES = 32  # HMAC-SHA256, at the end of every entry


def key_file() -> Path:
    """Where this user's signing key lives: outside any checkout, private to the user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slo" / "cache.key"


@functools.cache
def signing_key() -> bytes:
    """This user's key, made on first use. Where it cannot be kept (a read-only home), a key
    for this process alone: entries it writes are then never read again, which costs speed,
    never correctness."""
    path = key_file()
    try:
        data = path.read_bytes()
        if len(data) >= SIGNATURE_BYTES:
            return data
    except OSError:
        pass
    fresh = os.urandom(SIGNATURE_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as fh:
            fh.write(fresh)
        return fresh
    except FileExistsError:  # another process made it first: use theirs
        try:
            data = path.read_bytes()
            return data if len(data) >= SIGNATURE_BYTES else fresh
        except OSError:
            return fresh
    except OSError:
        return fresh


def sign(key: str, data: bytes) -> bytes:
    return hmac.new(signing_key(), key.encode() + b"\0" + data, hashlib.sha256).digest()


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
    Python implementation and version (float and Decimal formatting, dict and set behaviour),
    the versions of OUTPUT_DEPENDENCIES and what they
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

    def entry_name(self, key: str) -> str:
        """How a warning names the entry of ``key``: its path inside the cache directory."""
        return self._path(key).relative_to(self.directory).as_posix()

    def get(self, key: str) -> bytes | None:
        """The bytes put under ``key``, or None when there are none. Raises UnusableEntry when
        something other than a regular file is there, or it cannot be read: the caller warns."""
        path = self._path(key)
        try:
            # No symlink is followed out of the cache, and a FIFO does not block the open.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except NotADirectoryError:  # a file where a directory of the cache should be
            return None
        except OSError as exc:  # ELOOP: a symlink; EACCES, ...
            if path.is_symlink():
                raise UnusableEntry("is a symbolic link") from None
            raise UnusableEntry(exc.strerror or str(exc)) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnusableEntry("is not a regular file")
            with open(fd, "rb", closefd=False) as fh:
                signed = fh.read()
        except OSError as exc:
            raise UnusableEntry(exc.strerror or str(exc)) from None
        finally:
            os.close(fd)
        data, signature = signed[:-SIGNATURE_BYTES], signed[-SIGNATURE_BYTES:]
        if len(signed) < SIGNATURE_BYTES or not hmac.compare_digest(signature, sign(key, data)):
            raise UnusableEntry(
                "not signed with this user's cache key (written by another user or machine, "
                "or planted)"
            )
        return data

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            if path.parent.is_symlink() or path.parent.parent.is_symlink():
                return  # a directory slo makes in the cache is a link: write nothing through it
            path.parent.mkdir(parents=True, exist_ok=True)
            # A lost entry is only a miss: no fsync, and private to the user like mkstemp made it.
            write_atomic(
                path,
                data + sign(key, data),
                fsync=False,
                mode=None,
                temp_prefix=".tmp-",
                temp_suffix="",
            )
        except OSError:
            pass  # a read-only or full disk must not fail the compile


class UnusableEntry(Exception):
    """A cache entry that is there but cannot be read as one (the reason is the message)."""


class NoCache(Cache):
    def __init__(self) -> None:
        super().__init__(os.devnull)

    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, data: bytes) -> None:
        return None

    def prune(self) -> None:
        return None
