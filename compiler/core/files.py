"""Replacing a file atomically: a reader sees the old file or the new one, never part of one.

One helper for every stage that writes a single file in place: `slo import` adding specs, the
compile cache, and `slo push` writing into a live server's directories. (The compile's out/ tree
is swapped in as a whole instead, see pipeline/output.py.) The new bytes go to a temporary file
in the same directory, which is then renamed over the old one. Temporary names start with a dot
and by default end in ``.tmp``, so that a ``*.yml`` or ``*.json`` glob (Prometheus'
``rule_files``, a spec directory) never picks one up.

Files on a live host (`slo push`) are also read and replaced without following symbolic links:
``read_regular`` opens with ``O_NOFOLLOW`` and refuses anything but a regular file, and
``write_atomic(..., keep=True)`` refuses to replace a link and gives the new file the
permissions, owner and group of the one it replaces, so that a 0600 file holding a webhook stays
0600 and a link never leads a read, a backup or a restore out of its directory.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

NEW_FILE_MODE = 0o644  # a server running as another user must read what slo writes


@dataclass(frozen=True)
class Attributes:
    """What a replacement keeps of the file it replaces."""

    mode: int  # permission bits (0o777 at most: never set-id bits)
    uid: int
    gid: int

    @classmethod
    def of(cls, status: os.stat_result) -> Attributes:
        return cls(stat.S_IMODE(status.st_mode) & 0o777, status.st_uid, status.st_gid)


class NotARegularFile(OSError):
    """A path that slo will neither read through nor replace: a symbolic link, a directory, a
    device, a FIFO. ``strerror`` says which, for messages like "writing X failed (...)"."""

    def __init__(self, path: Path, what: str):
        super().__init__(errno.ELOOP, f"{what}; slo reads and replaces only regular files", path)


def _describe(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISDIR(mode):
        return "is a directory"
    return "is not a regular file"


def existing(path: Path) -> Attributes | None:
    """The attributes of the regular file at ``path``, None when there is nothing there;
    ``NotARegularFile`` for anything else (checked with lstat: a link is not followed)."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        raise NotARegularFile(path, _describe(status.st_mode))
    return Attributes.of(status)


def read_regular(path: Path) -> tuple[bytes, Attributes] | None:
    """The bytes and attributes of the regular file at ``path``, None when there is none.

    Never follows a symbolic link (``O_NOFOLLOW``), never blocks on a FIFO, and refuses anything
    but a regular file with ``NotARegularFile``.
    """
    existing(path)  # a clear refusal before opening anything
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a link since the lstat
            raise NotARegularFile(path, "is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        status = os.fstat(fh.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise NotARegularFile(path, _describe(status.st_mode))
        return fh.read(), Attributes.of(status)


def write_atomic(
    path: Path,
    data: bytes,
    *,
    fsync: bool = True,
    sync_directory: bool = False,
    mode: int | None = NEW_FILE_MODE,
    keep: bool = False,
    attributes: Attributes | None = None,
    temp_prefix: str | None = None,
    temp_suffix: str = ".tmp",
) -> None:
    """Replace ``path`` with ``data``.

    ``fsync``: flush the new file to disk before the rename, so that a crash cannot leave an
    empty file under the old name (off only where losing the file is harmless: a cache).
    ``sync_directory``: also make the rename itself durable; callers writing many files of one
    directory leave it off and call ``fsync_directory`` once at the end.
    ``mode``: the new file's permissions; ``None`` keeps the temporary file's private 0600.
    ``keep``: replace only a regular file, never a symbolic link or anything else (refused with
    ``NotARegularFile``), and give the new file the permissions, owner and group of the file it
    replaces; a file that did not exist gets ``mode``.
    ``attributes``: the permissions, owner and group to give the file (putting back a file read
    earlier with ``read_regular``); implies ``keep``'s refusal of links.
    Owner and group are kept where the user slo runs as may set them (root, or the file's own
    user for a group it belongs to); otherwise the file belongs to that user, with the same mode.
    ``temp_prefix``/``temp_suffix``: the temporary file's name, ``.<name>.XXXX.tmp`` by default.
    """
    if keep or attributes is not None:
        found = existing(path)
        attributes = attributes or found
    prefix = f".{path.name}." if temp_prefix is None else temp_prefix
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=temp_suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if attributes is not None:
                _own(fh.fileno(), attributes)  # before the mode: a chown may clear mode bits
                os.fchmod(fh.fileno(), attributes.mode)
            elif mode is not None:
                os.fchmod(fh.fileno(), mode)
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_directory:
        fsync_directory(path.parent)


def _own(fd: int, attributes: Attributes) -> None:
    """Owner and group of ``attributes`` for the open file, as far as this user may set them."""
    status = os.fstat(fd)
    if (status.st_uid, status.st_gid) == (attributes.uid, attributes.gid):
        return
    try:
        os.fchown(fd, attributes.uid, attributes.gid)
    except PermissionError:
        try:
            os.fchown(fd, -1, attributes.gid)
        except PermissionError:
            pass  # not ours to give away: the file stays this user's, with the same mode


def fsync_directory(directory: Path) -> None:
    """Make renames into ``directory`` durable; a no-op where the file system cannot."""
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
