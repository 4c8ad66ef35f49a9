"""Files on a live system's disk: atomic replacement, backups, and a record of what slo owns.

A reader (Prometheus reloading at any moment) sees either the old file or the new one, never a
half-written one: the new text is written to a temporary file in the same directory, flushed
to disk and renamed over the old. Temporary names end in ``.tmp`` so that a ``*.yml`` glob in
Prometheus' ``rule_files`` never picks them up.

Ownership is recorded, never guessed from names: the directory's ownership file lists every
file slo wrote there, and slo deletes nothing else. The list is widened *before* new files are
written, so a crash in between leaves an owned file, never an orphan of unknown origin.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from compiler.core import conventions
from compiler.push.transport import PushError


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_atomic(path: Path, data: bytes, sync_directory: bool = True) -> None:
    """Replace ``path`` with ``data``: a reader sees the old file or the new one, never part of
    one. ``sync_directory=False`` leaves making the rename durable to the caller (one directory
    sync after many files, see ``write_all_atomic``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # readable by the server's user, like a file an admin would place
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_directory:
        _sync_directory(path.parent)


def write_all_atomic(
    directory: Path, contents: dict[str, bytes], progress: Callable[[int], None] = lambda _: None
) -> None:
    """``write_atomic`` for many files of one directory, syncing the directory once at the end
    instead of after each file (1,000 rule files: 3 s of directory syncs)."""
    try:
        for name, data in contents.items():
            write_atomic(directory / name, data, sync_directory=False)
            progress(1)
    finally:
        _sync_directory(directory)


def restore(path: Path, data: bytes | None) -> None:
    """Put back what ``read_bytes`` returned earlier: the old text, or no file at all."""
    if data is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, data)


def reload_or_restore(
    reload: Callable[[], None], restore: Callable[[], None], what: str, server: str
) -> None:
    """Reload; if the server refuses, put ``what`` back and reload that, then raise saying both.

    The server keeps running its old configuration after a refused reload, so restoring the old
    files keeps disk and memory in agreement, and the next restart does not load the bad ones.
    """
    try:
        reload()
    except PushError as failure:
        restore()
        try:
            reload()
            outcome = f"the previous {what} restored and reloaded by {server}"
        except PushError as again:
            outcome = f"the previous {what} restored, but that reload failed too: {again}"
        raise PushError(f"{failure}; {outcome}") from None


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is still atomic
    finally:
        os.close(fd)


def ownership_path(directory: Path) -> Path:
    return Path(directory) / conventions.PUSH_OWNERSHIP_FILE


def owned_files(directory: Path) -> set[str]:
    """Names of the files slo wrote into ``directory`` (empty if it never did)."""
    path = ownership_path(directory)
    data = read_bytes(path)
    if data is None:
        return set()
    try:
        record = json.loads(data)
        return {str(name) for name in record["files"]}
    except (ValueError, KeyError, TypeError):
        raise PushError(
            f"{path} is not an ownership record written by slo; move it away or restore it"
        ) from None


def record_owned(directory: Path, names: set[str]) -> None:
    record = {"written_by": "slo push", "files": sorted(names)}
    write_atomic(ownership_path(directory), (json.dumps(record, indent=2) + "\n").encode("utf-8"))
