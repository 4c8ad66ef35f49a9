"""core.files.write_atomic: the one temp-file-and-rename every stage uses, with its options."""

from __future__ import annotations

import os
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


# -- files on a live host: modes kept, links never followed ---------------------------------
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
NOBODY = 65534


def test_keep_gives_the_replacement_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "alertmanager.yml"
    target.write_bytes(b"slack_api_url: https://hooks.slack.com/services/T0/B0/x\n")
    target.chmod(0o600)
    files.write_atomic(target, b"new", keep=True)
    assert target.read_bytes() == b"new" and mode(target) == 0o600
    fresh = tmp_path / "fresh.yml"
    files.write_atomic(fresh, b"new", keep=True)
    assert mode(fresh) == 0o644, "a new file is readable by the server's user, as before"


@needs_root
def test_keep_and_attributes_keep_the_owner_and_group(tmp_path):
    target = tmp_path / "alertmanager.yml"
    target.write_bytes(b"old")
    os.chown(target, NOBODY, NOBODY)
    target.chmod(0o640)
    files.write_atomic(target, b"new", keep=True)
    status = target.stat()
    assert (status.st_uid, status.st_gid, mode(target)) == (NOBODY, NOBODY, 0o640)

    found = files.read_regular(target)
    assert found is not None
    data, attributes = found
    target.unlink()  # a deleted file put back: its attributes come from the backup
    files.write_atomic(target, data, attributes=attributes)
    status = target.stat()
    assert (status.st_uid, status.st_gid, mode(target)) == (NOBODY, NOBODY, 0o640)


def test_keep_refuses_to_replace_a_symbolic_link_and_touches_nothing(tmp_path):
    secret = tmp_path / "elsewhere" / "secret"
    secret.parent.mkdir()
    secret.write_bytes(b"password")
    directory = tmp_path / "rules"
    directory.mkdir()
    link = directory / "a.rules.yml"
    link.symlink_to(secret)
    for options in ({"keep": True}, {"attributes": files.Attributes(0o644, 0, 0)}):
        with pytest.raises(files.NotARegularFile) as refused:
            files.write_atomic(link, b"new", **options)
        assert "is a symbolic link" in str(refused.value)
        assert link.is_symlink() and secret.read_bytes() == b"password"
        assert [p.name for p in directory.iterdir()] == ["a.rules.yml"], "no temporary file left"


def test_read_regular_never_follows_a_link_nor_opens_a_fifo(tmp_path):
    assert files.read_regular(tmp_path / "missing") is None
    plain = tmp_path / "plain"
    plain.write_bytes(b"text")
    plain.chmod(0o600)
    assert files.read_regular(plain) == (b"text", files.Attributes(0o600, os.getuid(), os.getgid()))

    (tmp_path / "secret").write_bytes(b"password")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    os.mkfifo(tmp_path / "fifo")  # opening it for reading would wait for a writer forever
    for name, what in (("link", "is a symbolic link"), ("fifo", "is not a regular file")):
        with pytest.raises(files.NotARegularFile) as refused:
            files.read_regular(tmp_path / name)
        assert what in refused.value.strerror
