"""core.files.write_atomic: the one temp-file-and-rename every stage uses, with its options."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from compiler.core import files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_the_file_whole_readable_by_others(tmp_path):
    target = tmp_path / "a.rules.yml"
    target.write_bytes(b"old")
    files.write_atomic(target, b"new", sync_directory=True)
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o644  # a server running as another user must read it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.rules.yml"]


def test_mode_none_keeps_the_temporary_files_private_mode(tmp_path):
    target = tmp_path / "entry"
    files.write_atomic(target, b"x", fsync=False, mode=None, temp_prefix=".tmp-", temp_suffix="")
    assert mode(target) == 0o600


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    ("options", "temp_glob"),
    [({}, ".a.rules.yml.*.tmp"), ({"temp_prefix": ".tmp-", "temp_suffix": ""}, ".tmp-*")],
)
def test_temporary_names_and_cleanup_after_a_failed_write(
    tmp_path, monkeypatch, options, temp_glob
):
    """While the new file is written, its temporary name is hidden and (by default) ends in .tmp,
    so a `*.yml` glob never sees it; a failure removes it and leaves the old file alone."""
    target = tmp_path / "a.rules.yml"
    target.write_bytes(b"old")
    seen: list[str] = []

    def failing_replace(source, destination):
        seen.append(Path(source).name)
        raise Boom

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(Boom):
        files.write_atomic(target, b"new", **options)
    assert len(seen) == 1 and Path(seen[0]).match(temp_glob)
    assert not Path(seen[0]).match("*.yml")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.rules.yml"]
