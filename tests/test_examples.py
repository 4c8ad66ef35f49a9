"""The shipped examples: fresh out/, deterministic, --check, promtool, and the mission
objectives."""

from decimal import Decimal

from support import ROOT, assert_passed, files_of, needs_promtool, slo

from compiler import compile_tree, targets
from compiler.checks import toolrun
from compiler.core.model import LatencyIndicator, RatioIndicator
from compiler.pipeline.output import changes


def test_committed_out_is_fresh():
    stale = changes(compile_tree(ROOT / "slo").artifacts, ROOT / "out")
    assert not stale, "out/ is stale; run `slo compile`:\n" + "".join(c.diff for c in stale)[:3000]


def test_compile_is_deterministic(tmp_path):
    for name in ("a", "b"):
        result = slo("compile", ROOT / "slo", "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    a, b = files_of(tmp_path / "a"), files_of(tmp_path / "b")
    assert a == b and len(a) > 4


def test_check_passes_then_fails_after_an_objective_changes(tmp_path, examples, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert slo("compile").exit_code == 0
    ok = slo("compile", "--check")
    assert ok.exit_code == 0 and "up to date" in ok.output
    spec = examples / "pizza-ordering.yaml"
    text = spec.read_text()
    assert "objective: 99\n" in text
    spec.write_text(text.replace("objective: 99\n", "objective: 99.5\n", 1))
    before = files_of(tmp_path / "out")
    stale = slo("compile", "--check")
    assert stale.exit_code == 1
    assert "-    expr: vector(0.99)" in stale.output and "+    expr: vector(0.995)" in stale.output
    assert files_of(tmp_path / "out") == before, "--check must not write"


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
def test_compiled_examples_pass_promtool(tmp_path, proven):
    result = slo("compile", ROOT / "slo", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    cache = toolrun.ResultCache(proven)
    # the vmalert files' proofs need VictoriaMetrics: tests/test_vmalert_slo_test.py
    tools = [t.name for t in targets.REGISTRY if not t.name.startswith("vmalert")]
    results = toolrun.run_proofs(toolrun.proofs_for(tmp_path / "out", tools), cache=cache)
    # check rules, one run per test file, then amtool check-config and the routing table
    assert (
        len(results) == 1 + len(list((tmp_path / "out" / "prometheus" / "tests").glob("*.yml"))) + 2
    )
    assert_passed(results)
