import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import assert_clean, slo

from compiler.pipeline import output


def test_write_then_unchanged_then_changed(tmp_path):
    out = tmp_path / "out"
    first = output.write_tree({"a/x.yml": "1\n", "b.yml": "2\n"}, out)
    assert {c.kind for c in first} == {"added"}
    assert (out / output.MARKER).is_file()
    assert output.write_tree({"a/x.yml": "1\n", "b.yml": "2\n"}, out) == []
    second = output.write_tree({"a/x.yml": "3\n"}, out)
    assert sorted((c.path, c.kind) for c in second) == [
        ("a/x.yml", "changed"),
        ("b.yml", "removed"),
    ]
    assert not (out / "b.yml").exists() and (out / "a/x.yml").read_text() == "3\n"
    assert not list(tmp_path.glob(".out.*")), "staging directories are cleaned up"


def test_refuses_to_replace_a_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("mine")
    with pytest.raises(output.OutputError):
        output.write_tree({"a.yml": "x"}, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "mine"


def test_changes_reports_unified_diffs(tmp_path):
    output.write_tree({"r.yml": "a\nb\n"}, tmp_path / "out")
    (diff,) = output.changes({"r.yml": "a\nc\n"}, tmp_path / "out")
    assert diff.kind == "changed" and "-b\n+c\n" in diff.diff and "--- a/r.yml" in diff.diff


def test_recovers_from_a_crash_between_the_fallback_renames(tmp_path):
    out = tmp_path / "out"
    output.write_tree({"a.yml": "old\n"}, out)
    out.rename(tmp_path / "out.slo-old")  # as if killed after the first rename
    staging = tmp_path / ".out.abc.new"  # and a staging tree left behind, marker written first
    staging.mkdir()
    (staging / output.MARKER).write_text(output.MARKER_TEXT)
    output.recover(out)
    assert (out / "a.yml").read_text() == "old\n"
    assert not (tmp_path / ".out.abc.new").exists()


def test_sigkill_during_write_leaves_old_or_new_tree_whole(tmp_path):
    """Kill a writer of many files at many moments: out/ is always exactly one whole tree."""
    old = {f"f{i:03}.yml": f"old {i}\n" * 50 for i in range(300)}
    new = {f"f{i:03}.yml": f"new {i}\n" * 50 for i in range(300)}
    out = tmp_path / "out"
    output.write_tree(old, out)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from compiler.pipeline import output
        new = {{f"f{{i:03}}.yml": f"new {{i}}\\n" * 50 for i in range(300)}}
        print("ready", flush=True)
        output.write_tree(new, Path({str(out)!r}))
        """
    )
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        if delay:
            import time

            time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        output.recover(out)
        tree = output.read_tree(out)
        assert tree in (old, new), f"mixed tree after kill at {delay}s"
        output.write_tree(old, out)


@pytest.mark.parametrize(
    "rel",
    ["../escape.yml", "a/../../escape.yml", "<absolute>", "a//b.yml", "./a.yml", "", "a/\x00.yml"],
)
def test_no_generated_path_can_reach_outside_the_output_directory(tmp_path, rel):
    rel = str(tmp_path / "escape.yml") if rel == "<absolute>" else rel
    out = tmp_path / "deep" / "out"
    output.write_tree({"kept.yml": "old\n"}, out)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    with pytest.raises(output.OutputError, match="not a plain relative path"):
        output.write_tree({"a.yml": "new\n", rel: "escaped\n"}, out)
    with pytest.raises(output.OutputError, match="not a plain relative path"):
        output.write_new_files({rel: "escaped\n"}, tmp_path / "deep" / "specs")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before
    assert (out / "kept.yml").read_text() == "old\n"


def test_rewrite_shares_unchanged_files_with_the_old_tree(tmp_path):
    """Only changed files are written again: an unchanged one is the same inode, mtime and all."""
    out = tmp_path / "out"
    output.write_tree({"same.yml": "a\n", "edited.yml": "b\n"}, out)
    before = {name: (out / name).stat() for name in ("same.yml", "edited.yml")}
    (changed,) = output.write_tree({"same.yml": "a\n", "edited.yml": "c\n"}, out)
    assert (changed.path, changed.kind, changed.diff) == (
        "edited.yml",
        "changed",
        "",
    )  # diffs are for --check only
    assert (out / "same.yml").stat().st_ino == before["same.yml"].st_ino
    assert (out / "edited.yml").read_text() == "c\n"
    assert (out / "edited.yml").stat().st_ino != before["edited.yml"].st_ino
    assert output.read_tree(out) == {"same.yml": "a\n", "edited.yml": "c\n"}


# --- nothing is followed out of out/, nothing beside it is deleted unless slo made it -------------
SECRET = "TOKEN=s3cr3t-value-outside-out\n"


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file outside out/ that must never be read into slo's output."""
    path = tmp_path / "elsewhere" / "secret.env"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


def test_check_never_reads_through_a_symlink_inside_out(tmp_path, examples, secret):
    """A symlink (to a file, or to a directory) or a FIFO inside out/ is a difference, named as
    what it is, and never read: --check printed the target of a link to /proc/self/environ."""
    out = tmp_path / "out"
    assert slo("compile", examples, "--out", out).exit_code == 0
    (out / "leak.yml").symlink_to(secret)
    (out / "leak-dir").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(out / "pipe.yml")  # read, it would block --check forever
    rule_file = next((out / "prometheus" / "rules").iterdir())
    generated = rule_file.read_text()
    twin = secret.parent / "same-text.yml"
    twin.write_text(generated)
    rule_file.unlink()
    rule_file.symlink_to(twin)  # even a link to the very text slo would write is not read
    result = slo("compile", examples, "--out", out, "--check")
    assert_clean(result)
    assert result.exit_code == 1
    assert SECRET.strip() not in result.output
    assert f"{out / 'leak.yml'} is a symbolic link, not a file slo wrote; not read" in result.stdout
    assert f"{out / 'leak-dir'} is a symbolic link" in result.stdout
    assert f"{out / 'pipe.yml'} is a FIFO" in result.stdout
    assert f"{rule_file} is a symbolic link" in result.stdout
    assert "4 file(s) differ" in result.stderr

    # The compile replaces them all with regular files, and writes nothing through a link.
    assert slo("compile", examples, "--out", out).exit_code == 0
    assert secret.read_text() == SECRET and twin.read_text() == generated
    assert not rule_file.is_symlink() and rule_file.read_text() == generated
    assert rule_file.stat().st_ino != twin.stat().st_ino  # not a hard link to the link's target
    assert not any(p.is_symlink() or p.is_fifo() for p in out.rglob("*"))
    assert slo("compile", examples, "--out", out, "--check").exit_code == 0


def test_changes_and_read_tree_leave_links_unread(tmp_path, secret):
    out = tmp_path / "out"
    output.write_tree({"a.yml": "a\n"}, out)
    (out / "b.yml").symlink_to(secret)
    (found,) = output.changes({"a.yml": "a\n", "b.yml": SECRET}, out)
    assert (found.path, found.kind) == ("b.yml", "changed")
    assert SECRET not in found.diff
    assert output.read_tree(out) == {"a.yml": "a\n"}


@pytest.mark.parametrize("check", [False, True], ids=["compile", "check"])
def test_an_out_directory_that_is_a_symlink_is_refused(tmp_path, examples, check):
    """Replacing a symlinked out/ swapped the link itself away and left the directory it pointed
    to behind; --check read through it. Both refuse, and nothing is written."""
    real = tmp_path / "real-out"
    output.write_tree({"old.yml": "old\n"}, real)
    link = tmp_path / "out"
    link.symlink_to(real, target_is_directory=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = slo("compile", examples, "--out", link, *(["--check"] if check else []))
    assert_clean(result)
    assert result.exit_code == 1
    assert f"{link} is a symbolic link" in result.stderr
    assert link.is_symlink() and output.read_tree(real) == {"old.yml": "old\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging tree left
    with pytest.raises(output.OutputError, match="is a symbolic link"):
        output.write_tree({"a.yml": "a\n"}, link)


def test_siblings_of_out_are_deleted_only_when_slo_made_them(tmp_path):
    """`DIR.slo-old` and `.DIR.*.new` are slo's backup and staging names, but a directory by that
    name is deleted (or put back as out/) only if it holds slo's marker, which slo writes first."""
    out = tmp_path / "out"
    output.write_tree({"a.yml": "a\n"}, out)
    foreign = {
        tmp_path / "out.slo-old": "someone's backup\n",
        tmp_path / ".out.mine.new": "someone's work\n",
    }
    for directory, text in foreign.items():
        directory.mkdir()
        (directory / "precious.txt").write_text(text)
    target = tmp_path / "target"
    target.mkdir()
    (target / "precious.txt").write_text("behind a link\n")
    (tmp_path / ".out.link.new").symlink_to(target, target_is_directory=True)
    ours = tmp_path / ".out.killed.new"  # a run killed after its first write
    ours.mkdir()
    (ours / output.MARKER).write_text(output.MARKER_TEXT)
    empty = tmp_path / ".out.early.new"  # a run killed before its first write: nothing in it
    empty.mkdir()

    assert [c.kind for c in output.write_tree({"a.yml": "b\n"}, out)] == ["changed"]
    for directory, text in foreign.items():
        assert (directory / "precious.txt").read_text() == text
    assert (target / "precious.txt").read_text() == "behind a link\n"
    assert (tmp_path / ".out.link.new").is_symlink()
    assert not ours.exists() and not empty.exists()

    (out).rename(tmp_path / "gone")  # out/ missing: a foreign backup is not made out/ either
    output.recover(out)
    assert not out.exists() and (tmp_path / "out.slo-old" / "precious.txt").is_file()


def test_the_two_rename_fallback_keeps_a_foreign_backup(tmp_path, monkeypatch):
    """Without RENAME_EXCHANGE out/ is renamed to DIR.slo-old first: a directory by that name
    that slo did not make is not replaced; the write fails and out/ stays as it was."""
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    output.write_tree({"a.yml": "a\n"}, out)
    assert [c.kind for c in output.write_tree({"a.yml": "b\n"}, out)] == ["changed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no backup left behind
    backup = tmp_path / "out.slo-old"
    backup.mkdir()
    (backup / "precious.txt").write_text("mine\n")
    with pytest.raises(output.OutputError, match="in the way and was not made by slo"):
        output.write_tree({"a.yml": "c\n"}, out)
    assert output.read_tree(out) == {"a.yml": "b\n"}
    assert (backup / "precious.txt").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.slo-old"]
