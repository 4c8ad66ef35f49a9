"""`slo test --engine vmalert`: the generated promtool tests, run on a real VictoriaMetrics and
vmalert (compiler/checks/vmtest.py), on the golden example compiled for both engines (a ratio
SLO with a low-traffic guard, a latency SLO, a threshold; a second service at 30s), and on the
examples of slo/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from support import BENCH, GOLDEN, ROOT, assert_clean, needs_victoria_metrics, slo

from compiler.checks import vmtest


def golden_out(tmp_path: Path) -> Path:
    return Path(shutil.copytree(GOLDEN / "vmalert" / "out", tmp_path / "out"))


@pytest.mark.parametrize(
    "notation, values",
    [
        ("0+79.2x2 158.4+0x1", [0.0, 79.2, 158.4, 158.4, 158.4]),
        ("90x2 _ 110", [90.0, 90.0, 90.0, None, 110.0]),
        ("5-1x2 _x2 stale 1e3", [5.0, 4.0, 3.0, None, None, None, 1000.0]),
    ],
)
def test_promtools_expanding_notation(notation, values):
    assert vmtest.expand(notation) == values


def test_a_series_reads_as_its_labels():
    assert vmtest.parse_series('m{b="x\\"y", a="1"}') == (
        ("__name__", "m"),
        ("a", "1"),
        ("b", 'x"y'),
    )
    with pytest.raises(vmtest.TestFileError, match="not a series"):
        vmtest.parse_series('m{a=~"1"}')


@pytest.mark.parametrize(
    "latest, start",
    [
        ("2026-12-07T01:00:00", "2026-10-01"),  # October 2026: 31 days, from a Thursday
        ("2026-10-01T00:00:00", "2026-10-01"),
        ("2026-09-30T23:59:59", "2026-01-01"),
        ("2025-12-31T00:00:00", "2025-05-01"),
    ],
)
def test_date_dependent_tests_start_like_the_epoch(latest, start):
    """1970-01-01 began a 31-day month on a Thursday: from such a midnight, a test's February
    1st and its Mondays fall where promtool has them."""
    moment = datetime.fromisoformat(latest).replace(tzinfo=UTC)
    found = datetime.fromtimestamp(vmtest.like_the_epoch(int(moment.timestamp())), UTC)
    assert found.date().isoformat() == start
    assert (found.hour, found.minute, found.weekday(), found.day) == (0, 0, 3, 1)


def test_a_tree_without_vmalert_services_is_an_error_not_a_pass():
    result = slo("test", "--out", GOLDEN / "basic" / "out", "--engine", "vmalert")
    assert_clean(result)
    assert result.exit_code == 1
    assert "error [tools/no-vmalert]" in result.stderr


@pytest.mark.binaries
@needs_victoria_metrics
def test_the_generated_tests_pass_on_vmalert_and_are_remembered_apart(tmp_path):
    out, cache = golden_out(tmp_path), tmp_path / "cache"
    first = slo("test", "--out", out, "--engine", "vmalert", "--cache-dir", cache)
    assert_clean(first)
    assert first.exit_code == 0, first.output
    for name in ("checkout.burn", "checkout", "search.burn"):
        path = (out / f"prometheus/tests/{name}.test.yml").as_posix()
        cases = len(yaml.safe_load(Path(path).read_text())["tests"])  # every test group ran
        assert f"ok     vmalert -replay of the tests in {path} ({cases} tests)" in first.output
    assert "ok: 0 cached, 4 run, 0 failed" in first.output  # and vmalert -dryRun
    again = slo("test", "--out", out, "--engine", "vmalert", "--cache-dir", cache)
    assert again.exit_code == 0 and "ok: 4 cached, 0 run, 0 failed" in again.output
    # A pass on vmalert is not a pass on promtool: the same test files run again there.
    both = slo("test", "--out", out, "--engine", "all", "--cache-dir", cache)
    assert both.exit_code == 0, both.output
    assert "ok     promtool test rules" in both.output
    assert "vmalert -replay" not in both.output  # cached
    # Every rule a test reads changes the key: here the vmalert rule file of one service.
    rules = out / "vmalert/rules/search.rules.yml"
    rules.write_text(rules.read_text() + "\n")
    third = slo("test", "--out", out, "--engine", "vmalert", "--cache-dir", cache)
    assert (
        third.exit_code == 0 and "ok: 2 cached, 2 run, 0 failed" in third.output
    )  # dryRun, search.burn


def drop_short_window(rules: Path, alert: str) -> None:
    data = yaml.safe_load(rules.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = rule["expr"].split("\nand\n")[0]
    rules.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.binaries
@needs_victoria_metrics
def test_a_mutated_vmalert_rule_fails_naming_the_test_and_the_time(tmp_path):
    out = golden_out(tmp_path)
    # the threshold times 1.1 (the Prometheus rule file keeps 100: promtool would still pass)
    checkout = out / "vmalert/rules/checkout.rules.yml"
    text = checkout.read_text()
    assert text.count("      ) > 100\n") == 1
    checkout.write_text(text.replace("      ) > 100\n", "      ) > 110\n"))
    # the short window dropped: the page no longer clears when the errors stop
    drop_short_window(out / "vmalert/rules/search.rules.yml", "ErrorBudgetBurn")
    result = slo("test", "--out", out, "--engine", "vmalert", "--no-cache")
    assert_clean(result)
    assert result.exit_code == 1
    assert "ok: " not in result.output and "FAILED: 0 cached, 4 run, 2 failed" in result.output
    tests = out / "prometheus/tests"
    assert (
        f"ok     vmalert -replay of the tests in {tests.as_posix()}/checkout.burn" in result.output
    )
    assert (
        "  FAILED: queue-depth: fires above 100 after 5m\n"
        "    alertname: QueueDepth, time: 10m,\n"
        '        exp: [{job="checkout", objective_kind="threshold"' in result.stderr
    )
    assert "        got: []" in result.stderr
    assert "  FAILED: success page 1h/5m: fires at 7.392% errors, clears after\n" in result.stderr
    assert "    alertname: ErrorBudgetBurn, time: 1h5m,\n        exp: []\n" in result.stderr


@pytest.mark.binaries
@needs_victoria_metrics
def test_the_vmalert_bench_runs_on_a_tiny_tree(tmp_path):
    out = tmp_path / "dryrun.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "vmalert.py"), "dryrun", "--services", "2", "--json", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert (result["services_on_vmalert"], result["files"], result["passed"]) == (2, 3, True)


@pytest.mark.binaries
@needs_victoria_metrics
def test_the_examples_pass_on_vmalert(tmp_path):
    """slo/ runs on both engines (what `make run ENGINE=vm` pushes): every generated test of
    every service passes on the vmalert rules too, the calendar month's from a date like the
    epoch (about a minute)."""
    out = Path(shutil.copytree(ROOT / "out", tmp_path / "out"))
    tests = sorted((out / "prometheus/tests").glob("*.test.yml"))
    # two per service, and the calendar month's proofs of the pizza API's availability (its
    # period from the 1st, its forecast until the month ends)
    assert len(tests) == 2 * len(list((out / "vmalert/rules").glob("*.rules.yml"))) + 2 == 10
    result = slo("test", "--out", out, "--engine", "vmalert", "--no-cache")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    for path in tests:
        assert f"ok     vmalert -replay of the tests in {path.as_posix()} (" in result.output
    assert f"ok: 0 cached, {len(tests) + 1} run, 0 failed" in result.output  # and -dryRun
