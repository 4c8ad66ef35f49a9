"""Replacing a file atomically: a reader sees the old file or the new one, never part of one.

One helper for every stage that writes a single file in place: `slo import` adding specs, the
compile cache, and `slo push` writing into a live server's directories. (The compile's out/ tree
is swapped in as a whole instead, see pipeline/output.py.) The new bytes go to a temporary file
in the same directory, which is then renamed over the old one. Temporary names start with a dot
and by default end in ``.tmp``, so that a ``*.yml`` or ``*.json`` glob (Prometheus'
``rule_files``, a spec directory) never picks one up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path,
    data: bytes,
    *,
    fsync: bool = True,
    sync_directory: bool = False,
    mode: int | None = 0o644,
    temp_prefix: str | None = None,
    temp_suffix: str = ".tmp",
) -> None:
    """Replace ``path`` with ``data``.

    ``fsync``: flush the new file to disk before the rename, so that a crash cannot leave an
    empty file under the old name (off only where losing the file is harmless: a cache).
    ``sync_directory``: also make the rename itself durable; callers writing many files of one
    directory leave it off and call ``fsync_directory`` once at the end.
    ``mode``: the new file's permissions; ``None`` keeps the temporary file's private 0600.
    ``temp_prefix``/``temp_suffix``: the temporary file's name, ``.<name>.XXXX.tmp`` by default.
    """
    prefix = f".{path.name}." if temp_prefix is None else temp_prefix
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=temp_suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_directory:
        fsync_directory(path.parent)


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
