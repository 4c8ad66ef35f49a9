"""The shipped examples: fresh out/, deterministic, --check, promtool, and the mission objectives."""

import shutil
from decimal import Decimal

from click.testing import CliRunner
from conftest import ROOT, needs_promtool

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.cli import cli
from compiler.core.model import LatencyIndicator, RatioIndicator
from compiler.pipeline.output import changes


def test_committed_out_is_fresh():
    stale = changes(compile_tree(ROOT / "slo").artifacts, ROOT / "out")
    assert not stale, "out/ is stale; run `slo compile`:\n" + "".join(c.diff for c in stale)[:3000]


def test_compile_is_deterministic(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(cli, ["compile", str(ROOT / "slo"), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    a = {
        p.relative_to(tmp_path / "a"): p.read_bytes()
        for p in (tmp_path / "a").rglob("*")
        if p.is_file()
    }
    b = {
        p.relative_to(tmp_path / "b"): p.read_bytes()
        for p in (tmp_path / "b").rglob("*")
        if p.is_file()
    }
    assert a == b and len(a) > 4


def test_check_passes_then_fails_after_an_objective_changes(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "slo", tmp_path / "slo")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["compile"]).exit_code == 0
    ok = runner.invoke(cli, ["compile", "--check"])
    assert ok.exit_code == 0 and "up to date" in ok.output
    spec = tmp_path / "slo" / "pizza-ordering.yaml"
    text = spec.read_text()
    assert "objective: 99\n" in text
    spec.write_text(text.replace("objective: 99\n", "objective: 99.5\n", 1))
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    stale = runner.invoke(cli, ["compile", "--check"])
    assert stale.exit_code == 1
    assert "-    expr: vector(0.99)" in stale.output and "+    expr: vector(0.995)" in stale.output
    after = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert before == after, "--check must not write"


def test_examples_state_the_five_mission_objectives():
    model = compile_tree(ROOT / "slo").model
    slos = [s for svc in model.services for s in svc.slos]
    thresholds = [t for svc in model.services for t in svc.thresholds]
    assert any(
        isinstance(s.indicator, RatioIndicator) and s.objective == Decimal("0.99") for s in slos
    ), "error rate < 1%"
    assert any(
        isinstance(s.indicator, LatencyIndicator)
        and s.objective == Decimal("0.95")
        and s.indicator.threshold == 2
        for s in slos
    ), "p95 < 2s"
    assert any(
        t.op == ">" and t.value == Decimal("0.85") and t.name == "disk-usage" for t in thresholds
    ), "disk > 85%"
    assert any(
        t.op == "<" and t.value == 7 and "probe_ssl_earliest_cert_expiry" in t.expr
        for t in thresholds
    ), "cert < 7 days"
    assert any(
        t.op == ">" and t.value == 1 and "pg_replication_lag_seconds" in t.expr for t in thresholds
    ), "lag > 1s"


@needs_promtool
def test_compiled_examples_pass_promtool(tmp_path):
    result = CliRunner().invoke(cli, ["compile", str(ROOT / "slo"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    results = toolrun.test_output(tmp_path / "out")
    # check rules, one run per test file, then amtool check-config and the routing table
    assert (
        len(results) == 1 + len(list((tmp_path / "out" / "prometheus" / "tests").glob("*.yml"))) + 2
    )
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(f"{r.title}\n{r.output}" for r in failed)
