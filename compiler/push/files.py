"""Files on a live system's disk: atomic replacement, backups, and a record of what slo owns.

A reader (Prometheus reloading at any moment) sees either the old file or the new one, never a
half-written one: every write is ``core.files.write_atomic`` (temporary file in the same
directory, flushed, renamed over the old, the rename synced). A new file is mode 0644 so that
the server's user can read it; a replaced or restored one keeps the mode, owner and group it
had. Temporary names end in ``.tmp`` so that a ``*.yml`` glob in Prometheus' ``rule_files``
never picks them up.

Nothing here follows a symbolic link: a link (or anything but a regular file) where slo would
read, back up or write is a refusal, so no link can lead slo out of the directory it writes in.

Ownership is recorded, never guessed from names: the directory's ownership file lists every
file slo wrote there, and slo deletes nothing else (and only with ``--prune``). The list is
widened *before* new files are written, so a crash in between leaves an owned file, never an
orphan of unknown origin. Every name is checked before it is used, those read back from the
ownership file included: a plain file name of the expected form (no separator, no ``..``, not
absolute, not hidden); anything else is ignored with a note, never read, written or deleted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compiler.core import conventions
from compiler.core import files as core_files
from compiler.push.transport import PushError

RULE_FILE_SUFFIX = ".yml"
# A plain file name: dot-separated parts of letters, digits, '-' and '_'. No separator, no '..',
# no leading dot (temporary files, the ownership record), nothing absolute.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
MAX_NAME = 255  # bytes in a file name on every common file system


def plain_name(name: object, suffix: str = RULE_FILE_SUFFIX) -> bool:
    """Whether ``name`` is a plain file name ending in ``suffix`` (a file slo writes)."""
    return (
        isinstance(name, str)
        and len(name.encode("utf-8")) <= MAX_NAME
        and _PLAIN_NAME.fullmatch(name) is not None
        and name.endswith(suffix)
    )


def _checked(directory: Path, name: str) -> Path:
    """``directory / name`` for a plain name; anything else is a refusal (a bug upstream)."""
    if not plain_name(name):
        raise PushError(f"refusing to touch {name!r} in {directory}: not a plain *.yml file name")
    return Path(directory) / name


def _refusal(exc: core_files.NotARegularFile, path: Path) -> PushError:
    return PushError(f"{path} {exc.strerror}: refusing to read or replace it")


@dataclass(frozen=True)
class Backup:
    """What was at a path before slo wrote there: its bytes and attributes, or nothing."""

    data: bytes | None
    attributes: core_files.Attributes | None = None


def read(path: Path) -> Backup:
    """The regular file at ``path`` (never through a link), or an empty Backup if none."""
    try:
        found = core_files.read_regular(path)
    except core_files.NotARegularFile as exc:
        raise _refusal(exc, path) from None
    return Backup(None) if found is None else Backup(*found)


def read_bytes(path: Path) -> bytes | None:
    return read(path).data


def exists(path: Path) -> bool:
    """Whether a regular file is at ``path``; a link or anything else there is a refusal."""
    try:
        return core_files.existing(path) is not None
    except core_files.NotARegularFile as exc:
        raise _refusal(exc, path) from None


def write_all_atomic(
    directory: Path, contents: dict[str, bytes], progress: Callable[[int], None] = lambda _: None
) -> None:
    """``core.files.write_atomic`` for many files of one directory, syncing the directory once
    at the end instead of after each file (1,000 rule files: 3 s of directory syncs). A file
    that is replaced keeps its mode, owner and group; a new one is 0644."""
    paths = {name: _checked(directory, name) for name in contents}
    try:
        for name, data in contents.items():
            core_files.write_atomic(paths[name], data, keep=True)
            progress(1)
    finally:
        core_files.fsync_directory(directory)


def delete(directory: Path, name: str) -> None:
    """Remove the file ``name`` of ``directory`` (a link is removed, never followed)."""
    _checked(directory, name).unlink(missing_ok=True)


def restore(path: Path, backup: Backup) -> None:
    """Put back what ``read`` returned earlier: the old bytes with their mode, owner and group,
    or no file at all."""
    if backup.data is None:
        path.unlink(missing_ok=True)
    else:
        core_files.write_atomic(
            path,
            backup.data,
            sync_directory=True,
            keep=True,
            attributes=backup.attributes,
        )


def reload_or_restore(
    reload: Callable[[], None], restore: Callable[[], Sequence[str]], what: str, server: str
) -> None:
    """Reload; if the server refuses, put ``what`` back (``restore`` returns what it could not
    put back) and reload that, then raise saying both.

    The server keeps running its old configuration after a refused reload, so restoring the old
    files keeps disk and memory in agreement, and the next restart does not load the bad ones.
    """
    try:
        reload()
    except PushError as failure:
        try:
            failed = list(restore())
        except (PushError, OSError) as broken:
            failed = [str(broken)]
        if failed:
            raise PushError(
                f"{failure}; putting back the previous files failed: {'; '.join(failed)}"
            ) from None
        try:
            reload()
            outcome = f"the previous {what} restored and reloaded by {server}"
        except PushError as again:
            outcome = f"the previous {what} restored, but that reload failed too: {again}"
        raise PushError(f"{failure}; {outcome}") from None


def ownership_path(directory: Path) -> Path:
    return Path(directory) / conventions.PUSH_OWNERSHIP_FILE


@dataclass
class Ownership:
    """The ownership record of a directory, as read back: the valid names, and a note for every
    entry that was ignored."""

    files: set[str] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)


def owned_files(directory: Path) -> Ownership:
    """The files slo wrote into ``directory`` (none if it never did), each a plain name."""
    path = ownership_path(directory)
    data = read_bytes(path)
    if data is None:
        return Ownership()
    try:
        names = json.loads(data)["files"]
    except (ValueError, KeyError, TypeError, RecursionError):
        names = None
    if not isinstance(names, list):
        raise PushError(
            f"{path} is not an ownership record written by slo; move it away or restore it"
        )
    found = Ownership()
    for name in names:
        if plain_name(name):
            found.files.add(name)
        else:
            found.ignored.append(
                f"{path} lists {name!r}, which is not a plain *.yml file name: ignored (never "
                "read, replaced or deleted), and left out of the record when slo next writes it"
            )
    return found


def record_owned(directory: Path, names: set[str]) -> None:
    for name in names:
        _checked(directory, name)
    record = {"written_by": "slo push", "files": sorted(names)}
    data = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    core_files.write_atomic(ownership_path(directory), data, sync_directory=True, keep=True)
