import os
import signal
import subprocess
import sys
import textwrap

import pytest

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
    (tmp_path / ".out.abc.new").mkdir()  # and a staging tree left behind
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
