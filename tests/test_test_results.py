"""`slo test`'s result cache: a proof that passed is not run again while its files and its tool
are unchanged, so a second run is nearly free and one changed service re-proves that service."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import GOLDEN, needs_promtool, slo

from compiler.checks import toolrun
from compiler.checks.toolrun import ResultCache
from compiler.targets.promtool.testfiles import rule_files_of
from compiler.targets.protocol import EachFile, ToolRun


@pytest.fixture
def runs(monkeypatch) -> list[list[str]]:
    """The command line of every tool run from now on (`--version` look-ups aside)."""
    seen: list[list[str]] = []
    real = toolrun.run

    def recording(title: str, argv: list[str], cwd: Path | None = None) -> toolrun.ToolResult:
        if argv[1:] != ["--version"]:
            seen.append([Path(argv[0]).name, *argv[1:]])
        return real(title, argv, cwd)

    monkeypatch.setattr(toolrun, "run", recording)
    return seen


def files(tmp_path: Path, **texts: str) -> dict[str, Path]:
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in texts}


def test_a_passed_run_is_not_repeated_until_an_input_changes(tmp_path, runs):
    f = files(tmp_path, a="1", b="2")
    cache = ResultCache(tmp_path / "cache")
    proof = ToolRun("a and b", "true", (str(f["a"]),), (f["a"], f["b"]))

    [first] = toolrun.run_proofs([proof], cache=cache)
    [second] = toolrun.run_proofs([proof], cache=cache)
    assert (first.ok, first.cached, second.ok, second.cached) == (True, False, True, True)
    assert len(runs) == 1

    f["b"].write_text("changed")  # an input that is not an argument counts too
    [third] = toolrun.run_proofs([proof], cache=cache)
    assert not third.cached and len(runs) == 2


def test_a_failure_is_never_remembered(tmp_path, runs):
    f = files(tmp_path, a="1")
    cache = ResultCache(tmp_path / "cache")
    proof = ToolRun("fails", "false", (), (f["a"],))
    results = [toolrun.run_proofs([proof], cache=cache)[0] for _ in range(2)]
    assert [(r.ok, r.cached) for r in results] == [(False, False), (False, False)]
    assert len(runs) == 2


def test_a_new_tool_version_runs_everything_again(tmp_path, runs, monkeypatch):
    f = files(tmp_path, a="1")
    cache = ResultCache(tmp_path / "cache")
    proof = ToolRun("a", "true", (), (f["a"],))
    toolrun.run_proofs([proof], cache=cache)
    real = toolrun.tool_version
    monkeypatch.setattr(toolrun, "tool_version", lambda path: real(path) + " (upgraded)")
    [again] = toolrun.run_proofs([proof], cache=cache)
    assert not again.cached and len(runs) == 2


def test_a_run_without_inputs_is_always_run(tmp_path, runs):
    cache = ResultCache(tmp_path / "cache")
    for _ in range(2):
        toolrun.run_proofs([ToolRun("no inputs", "true", ())], cache=cache)
    assert len(runs) == 2


def test_each_file_checks_only_the_files_that_changed_in_one_run(tmp_path, runs):
    f = files(tmp_path, a="1", b="2", c="3")
    cache = ResultCache(tmp_path / "cache")
    proof = EachFile("check", "true", ("check",), (f["a"], f["b"], f["c"]))
    toolrun.run_proofs([proof], cache=cache)
    assert runs == [["true", "check", str(f["a"]), str(f["b"]), str(f["c"])]]

    f["b"].write_text("changed")
    [result] = toolrun.run_proofs([proof], cache=cache)
    assert not result.cached and runs[-1] == ["true", "check", str(f["b"])]
    [result] = toolrun.run_proofs([proof], cache=cache)
    assert result.cached and len(runs) == 2


def test_the_key_holds_the_inputs_bytes_not_their_paths(tmp_path, runs):
    """The same out/ tree in another directory (a fresh CI checkout) is still proven."""
    for where in ("one", "two"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "t.yml").write_text("same")
    cache = ResultCache(tmp_path / "cache")
    for where in ("one", "two"):
        test_file = tmp_path / where / "t.yml"
        toolrun.run_proofs([ToolRun("t", "true", (str(test_file),), (test_file,))], cache=cache)
    assert len(runs) == 1


def test_a_promtool_test_file_reads_the_rule_files_it_names(tmp_path):
    tests = tmp_path / "prometheus" / "tests"
    tests.mkdir(parents=True)
    (tests / "x.test.yml").write_text(
        "# generated\nrule_files:\n- ../rules/x.rules.yml\n- ../rules/y.rules.yml\ntests: []\n"
    )
    assert rule_files_of(tests / "x.test.yml") == (
        tests / "../rules/x.rules.yml",
        tests / "../rules/y.rules.yml",
    )


@needs_promtool
def test_slo_test_proves_once_then_only_what_changed(tmp_path, runs):
    out = tmp_path / "out"
    shutil.copytree(GOLDEN / "period-28d" / "out", out)
    cache = tmp_path / "cache"

    first = slo("test", "--out", out, "--cache-dir", cache)
    assert first.exit_code == 0, first.output
    proofs = len(toolrun.proofs_for(out))
    assert first.stdout.splitlines()[-1] == f"ok: 0 cached, {proofs} run, 0 failed"

    runs.clear()
    second = slo("test", "--out", out, "--cache-dir", cache)
    assert second.stdout.splitlines() == [f"ok: {proofs} cached, 0 run, 0 failed"]
    assert runs == []

    # A rule file changes (a comment is enough): its check and the unit tests that load it run.
    [rules] = sorted((out / "prometheus" / "rules").glob("*.yml"))
    rules.write_text(rules.read_text() + "# changed\n")
    third = slo("test", "--out", out, "--cache-dir", cache)
    assert third.exit_code == 0, third.output
    readers = [
        t for t in (out / "prometheus" / "tests").glob("*.yml") if rules.name in t.read_text()
    ]
    assert {tuple(r[:3]) for r in runs} == {("promtool", "check", "rules")} | {
        ("promtool", "test", "rules")
    }
    assert sum(r[:3] == ["promtool", "test", "rules"] for r in runs) == len(readers)
    assert third.stdout.splitlines()[-1] == (
        f"ok: {proofs - 1 - len(readers)} cached, {1 + len(readers)} run, 0 failed"
    )

    runs.clear()
    forced = slo("test", "--out", out, "--cache-dir", cache, "--no-cache")
    assert forced.stdout.splitlines()[-1] == f"ok: 0 cached, {proofs} run, 0 failed"


@needs_promtool
def test_a_broken_test_file_fails_every_time(tmp_path):
    out = tmp_path / "out"
    shutil.copytree(GOLDEN / "period-28d" / "out", out)
    [test_file, *_] = sorted((out / "prometheus" / "tests").glob("*.yml"))
    test_file.write_text(test_file.read_text().replace("exp_alerts:\n", "exp_alerts: []\n#", 1))
    for _ in range(2):
        result = slo("test", "--out", out, "--cache-dir", tmp_path / "cache")
        assert result.exit_code == 1
        assert result.stdout.splitlines()[-1].startswith("FAILED: ")
        assert result.stdout.splitlines()[-1].endswith(", 1 failed")


@pytest.mark.parametrize(
    ("name", "package"),
    [
        ("promtool", "prometheus"),
        ("amtool", "prometheus-alertmanager"),
        ("vmalert", "victoria-metrics"),
    ],
)
def test_a_missing_tool_names_the_package_that_installs_it(monkeypatch, name, package):
    monkeypatch.setattr(toolrun.shutil, "which", lambda _: None)
    with pytest.raises(toolrun.ToolMissing, match=f"install Debian's {package} package"):
        toolrun.tool(name)
