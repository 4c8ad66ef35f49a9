"""Time-slice SLOs on thresholds: the model, the gauge values of their tests, the warnings when
no test can be generated, and generated tests that fail when the slice-counting rules are wrong.

(The rules' slice counts at any phase, on Prometheus and VictoriaMetrics: test_timeslice_engines.
The whole output, byte for byte and through promtool and vmalert: the golden case `timeslice`.)
"""

from __future__ import annotations

import subprocess
from decimal import Decimal
from fractions import Fraction

import pytest
import yaml
from support import GOLDEN, compile_into, needs_promtool, write_files

from compiler import compile_tree
from compiler.core import conventions as names
from compiler.core.model import TimesliceIndicator
from compiler.targets.promtool import gauges

SPEC = """\
apiVersion: slo/v1
service: storage
team: data
{extra}
thresholds:
  - name: lag
    expr: {expr}
    above: 1
    severity: ticket
    slo:
      objective: 99.5
      period: 28d
      alerting:
        page: false
"""


def build(tmp_path, expr="pg_replication_lag_seconds{job='postgres'}", extra=""):
    specs = write_files(tmp_path / "slo", {"svc.yaml": SPEC.format(expr=expr, extra=extra)})
    return compile_tree(specs)


def test_a_threshold_with_slo_gets_an_slo_of_its_own_and_keeps_its_alert(tmp_path):
    result = build(tmp_path)
    (service,) = result.model.services
    (threshold,) = service.thresholds
    (slo,) = service.slos
    assert threshold.name == "lag" and slo.name == names.timeslice_slo("lag") == "lag-slices"
    assert slo.objective == Decimal("0.995") and slo.period == 28 * 86400
    assert slo.indicator == TimesliceIndicator(
        "pg_replication_lag_seconds{job='postgres'}", ">", Decimal(1), 60
    )
    # `page: false` as for any SLO: the ticket tiers only
    assert {t.severity for t in slo.alerting.tiers} == {"ticket"}
    rules = result.artifacts["prometheus/rules/storage.rules.yml"]
    assert "alert: Lag\n" in rules and "slo: lag-slices" in rules
    assert (
        "count_over_time(count((pg_replication_lag_seconds{job='postgres'}) > 1)"
        "[4m59s999ms:1m])" in rules
    )


def test_the_slice_is_the_services_evaluation_interval(tmp_path):
    result = build(tmp_path, extra="evaluation_interval: 30s")
    (slo,) = result.model.services[0].slos
    assert isinstance(slo.indicator, TimesliceIndicator) and slo.indicator.slice == 30
    assert "[4m59s999ms:30s]" in result.artifacts["prometheus/rules/storage.rules.yml"]
    # the generated tests drive one-minute slices: this SLO has none, and says so
    (warning,) = [d for d in result.diagnostics if d.check_id == "tests/uncovered"]
    assert "lag-slices" in warning.message and "30s" in warning.message


def test_an_expression_the_tests_cannot_drive_is_reported(tmp_path):
    result = build(tmp_path, expr="max_over_time(pg_replication_lag_seconds[5m])")
    (warning,) = [d for d in result.diagnostics if d.check_id == "tests/uncovered"]
    assert "cannot synthesise gauge values" in warning.message
    for tests in ("storage.test.yml", "storage.burn.test.yml"):
        assert "lag-slices" not in result.artifacts.get(f"prometheus/tests/{tests}", "")


@pytest.mark.parametrize(
    ("expr", "op", "value", "series"),
    [
        ("probe_success{job='x'}", "<", "1", {"probe_success"}),
        ("1 - avail{m='/'} / size{m='/'}", ">", "0.85", {"avail", "size"}),
        ("used / (used + free)", ">", "0.85", {"used", "free"}),
        ("lag and on(instance) is_replica == 1", ">", "1", {"lag", "is_replica"}),
        ("used / (max > 0)", ">", "0.8", {"used", "max"}),
        ("max by (instance) (lag) * 1000", ">", "500", {"lag"}),
    ],
)
def test_gauge_values_land_close_on_either_side_of_the_threshold(expr, op, value, series):
    indicator = TimesliceIndicator(expr, op, Decimal(value), 60)
    found = gauges.inputs(indicator)
    assert found is not None and {i.metric for i in found} == series

    def verdict(bad: bool) -> bool | None:
        return gauges.bad(
            indicator,
            {(i.metric, frozenset(i.labels)): Fraction(i.bad if bad else i.good) for i in found},
        )

    assert verdict(True) is True and verdict(False) is False
    # close: the expression's two values within 25% of the threshold
    for bad in (True, False):
        values = gauges.evaluate(
            expr,
            {(i.metric, frozenset(i.labels)): Fraction(i.bad if bad else i.good) for i in found},
        )
        assert values
        (got,) = values.values()
        assert abs(got - Fraction(value)) <= Fraction(value) / 4, (expr, bad, float(got))


@pytest.mark.parametrize(
    "expr",
    ["rate(x[5m])", "x offset 5m", "histogram_quantile(0.9, x)", "x @ 100", "count_values('v', x)"],
)
def test_what_the_evaluator_does_not_model_gives_no_values(expr):
    assert gauges.inputs(TimesliceIndicator(expr, ">", Decimal(1), 60)) is None


# --- the generated tests have teeth -------------------------------------------------------------
# Each changes the time-slice SLO's raw rules of the golden case's replication lag as a bug would.
MUTANTS = {
    "the condition flipped": (") > 1)[", ") < 1)["),
    "the threshold off by 10%": (") > 1)[", ") > 1.1)["),
    "a range that counts a slice twice": ("[4m59s999ms:1m]", "[5m:1m]"),
    "half-minute slices": ("[4m59s999ms:1m]", "[4m59s999ms:30s]"),
    "good slices not counted": (
        'count_over_time(count(pg_replication_lag_seconds{job="postgres"})',
        'count_over_time(count((pg_replication_lag_seconds{job="postgres"}) > 1)',
    ),
}


def promtool_test(test_file) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def slice_tests(tmp_path_factory):
    """The golden case compiled afresh, its test file cut to the time-slice SLOs' tests."""
    out = tmp_path_factory.mktemp("timeslice") / "out"
    compile_into(GOLDEN / "timeslice" / "slo", out)
    # with the burn-rate tests: rules evaluated every 5m, slices still one a minute
    test_file = out / "prometheus" / "tests" / "storage.burn.test.yml"
    document = yaml.safe_load(test_file.read_text())
    document["tests"] = [t for t in document["tests"] if "-slices:" in t["name"]]
    assert len(document["tests"]) == 2
    test_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return test_file


@pytest.mark.binaries
@needs_promtool
def test_the_generated_slice_tests_pass(slice_tests):
    run = promtool_test(slice_tests)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.binaries
@needs_promtool
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_generated_slice_tests_fail_on_a_wrong_rule(slice_tests, mutant):
    rules = slice_tests.parent.parent / "rules" / "storage.rules.yml"
    original = rules.read_text()
    old, new = MUTANTS[mutant]
    lines = original.splitlines(keepends=True)
    changed = [
        i for i, line in enumerate(lines) if "pg_replication_lag_seconds" in line and old in line
    ]
    assert changed, f"{mutant}: nothing to change"
    for i in changed:
        lines[i] = lines[i].replace(old, new)
    try:
        rules.write_text("".join(lines))
        run = promtool_test(slice_tests)
    finally:
        rules.write_text(original)
    assert run.returncode != 0, f"{mutant}: the tests still pass"
    assert "FAILED" in run.stdout + run.stderr
