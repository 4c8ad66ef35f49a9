"""The budget-exhaustion forecast (ErrorBudgetExhaustion): spec, maths, tests with teeth.

Its rule (targets/prometheus.py, forecast_expr): R = budget x T x period / S - E events left,
e = errors over `over` / `over`, fires when R / e < `within` for an hour. The generated promtool
tests burn at 1.1x and 0.9x the critical rate period / (over + within) (promtool/forecast.py).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from support import GOLDEN, bench_script, compile_into, needs_promtool, write_files

from compiler import load_tree
from compiler.checks import vmtest
from compiler.core import windows
from compiler.core.model import Exhaustion
from compiler.targets import prometheus
from compiler.targets.promtool import forecast
from compiler.targets.promtool.simulate import Timeline
from compiler.targets.promtool.testfiles import plan_inputs

DAY = 86400
SPEC = """\
apiVersion: slo/v1
service: checkout
team: payments
slos:
  - name: availability
    objective: 99.9
    indicator:
      ratio:
        errors: 'http_requests_total{job="checkout",code=~"5.."}'
        total: 'http_requests_total{job="checkout"}'
    alerting:
ALERTING
"""


def model(tmp_path: Path, alerting: str):
    spec = SPEC.replace("ALERTING", "\n".join("      " + line for line in alerting.splitlines()))
    found, diagnostics = load_tree(write_files(tmp_path / "slo", {"svc.yaml": spec}))
    return found, "".join(d.render() + "\n" for d in diagnostics)


def test_off_by_default_on_a_rolling_period_and_set_by_within(tmp_path):
    off, _ = model(tmp_path / "a", "page: true")
    assert off.services[0].slos[0].alerting.exhaustion is None
    off, _ = model(tmp_path / "b", "exhaustion: false")
    assert off.services[0].slos[0].alerting.exhaustion is None
    on, _ = model(tmp_path / "c", "exhaustion: {within: 3d}")
    assert on.services[0].slos[0].alerting.exhaustion == Exhaustion(over=DAY, within=3 * DAY)
    on, _ = model(tmp_path / "d", "exhaustion: {over: 12h, within: 2d}")
    service = on.services[0]
    assert service.slos[0].alerting.exhaustion == Exhaustion(over=DAY // 2, within=2 * DAY)
    # the pace window is recorded: a size of the layout, though no tier reads it
    assert DAY // 2 in windows.service_windows(service)
    assert DAY // 2 in windows.layout(60, windows.service_windows(service)).sizes


def test_true_on_a_rolling_period_asks_for_within(tmp_path):
    found, text = model(tmp_path, "exhaustion: true")
    assert found is None
    assert "[spec/exhaustion] slos[0].alerting.exhaustion: a rolling period never ends" in text


def test_time_left_is_within_for_a_rolling_period_and_the_period_end_for_a_calendar_one(
    tmp_path, monkeypatch
):
    found, _ = model(tmp_path, "exhaustion: {within: 3d}")
    slo = found.services[0].slos[0]
    assert prometheus.time_left_expr(slo) == "259200"
    assert prometheus.forecast_expr(found.services[0], slo).endswith("\n< 259200")
    # the calendar hook: once the model says "calendar", no `within` means the period's end
    calendar = slo.alerting.__class__(
        name=slo.alerting.name, tiers=(), exhaustion=Exhaustion(over=DAY, within=None)
    )
    month = slo.__class__(**{**slo.__dict__, "alerting": calendar})
    monkeypatch.setattr(prometheus, "calendar_period", lambda s: "month")
    assert prometheus.time_left_expr(month) == prometheus.TIME_LEFT_IN_MONTH
    monkeypatch.setattr(prometheus, "calendar_period", lambda s: "week")
    assert prometheus.time_left_expr(month) == prometheus.TIME_LEFT_IN_WEEK
    monkeypatch.setattr(prometheus, "calendar_period", lambda s: None)
    with pytest.raises(AssertionError):
        prometheus.time_left_expr(month)


@needs_promtool
def test_the_calendar_time_left_expressions_count_to_the_next_1st_and_monday(tmp_path):
    """promtool evaluates them at fixed instants: 1970-01-01 00:00 was a Thursday, in a 31-day
    month; 1970-02-10 06:00 lies in a 28-day February, a Tuesday."""
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    feb = 40 * DAY + 6 * 3600
    cases = [
        (prometheus.TIME_LEFT_IN_MONTH, "0s", 31 * DAY),
        (prometheus.TIME_LEFT_IN_MONTH, "966h", 19 * DAY - 6 * 3600),  # to 1970-03-01
        (prometheus.TIME_LEFT_IN_WEEK, "0s", 4 * DAY),  # to Monday 1970-01-05
        (prometheus.TIME_LEFT_IN_WEEK, "966h", 6 * DAY - 6 * 3600),  # to Monday 1970-02-16
    ]
    assert feb == 966 * 3600
    tests = {
        "rule_files": ["rules.yml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [],
                "promql_expr_test": [
                    {
                        "expr": f"vector({expr})",
                        "eval_time": at,
                        "exp_samples": [{"labels": "{}", "value": value}],
                    }
                    for expr, at, value in cases
                ],
            }
        ],
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(tests))
    import subprocess

    proc = subprocess.run(
        ["promtool", "test", "rules", "t.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_forecast_maths_on_a_steady_burn(tmp_path):
    """99.9% over 30d, within 3d: a steady burn b from a full budget leaves 30d / b - d after d
    days; the critical burn is 30d / (1d + 3d) = 7.5x."""
    found, _ = model(tmp_path, "exhaustion: {within: 3d}")
    service = found.services[0]
    slo = service.slos[0]
    tests = forecast.ForecastTests(service, slo, plan_inputs(slo), 5)
    assert tests.critical == Fraction(15, 2)
    burn = Fraction(15, 2)
    per_minute = 1000
    steps = 3 * 288
    timeline = Timeline.build(
        [(steps, burn * Fraction(slo.error_budget) * per_minute, per_minute)], 5
    )
    sim = forecast.Forecast(service, slo, timeline)
    assert sim.lag == 3  # 5m base + 2 x 5m period group: 15m
    # the period record ends 2 days in: 30d / 7.5 - 2d = 2d left, exactly
    assert sim.seconds_left(2 * 288 + sim.lag) == 2 * DAY
    # 12h in, the 1d pace window half full: (30d - 7.5 x 12h) / (7.5 x 12h / 1d) = 7d
    assert sim.seconds_left(144 + sim.lag) == 7 * DAY and not sim.condition(144 + sim.lag)
    assert sim.condition(2 * 288 + sim.lag)
    # no errors at all: nothing to divide by, no value, never fires
    clean = forecast.Forecast(service, slo, Timeline.build([(steps, 0, per_minute)], 5))
    assert clean.seconds_left(2 * 288) is None and not clean.condition(2 * 288)


def test_an_exhausted_budget_forecasts_zero_seconds(tmp_path):
    found, _ = model(tmp_path, "exhaustion: {within: 3d}")
    service, slo = found.services[0], found.services[0].slos[0]
    # 100% errors for two days spend 60 budgets: clamped, the budget runs out "now"
    sim = forecast.Forecast(service, slo, Timeline.build([(2 * 288, 1000, 1000)], 5))
    assert sim.seconds_left(2 * 288) == 0 and sim.condition(2 * 288)


def test_the_generated_tests_burn_above_and_below_the_critical_rate():
    text = GOLDEN / "forecast" / "out" / "prometheus" / "tests" / "checkout.burn.test.yml"
    doc = yaml.safe_load(text.read_text())
    assert doc["group_eval_order"] == ["slo-checkout-sli", "slo-checkout-period"]
    names = [t["name"] for t in doc["tests"]]
    assert "availability ErrorBudgetExhaustion: fires at 0.825% errors" in names  # 1.1 x 7.5
    assert "availability ErrorBudgetExhaustion: silent at 0.675% errors" in names  # 0.9 x 7.5
    assert "latency ErrorBudgetExhaustion: fires at 3.08% errors" in names  # 1.1 x 2.8
    fires = next(t for t in doc["tests"] if t["name"].startswith("availability ErrorBudgetEx"))
    before, at = fires["alert_rule_test"]
    assert before["exp_alerts"] == [] and len(at["exp_alerts"]) == 1
    description = at["exp_alerts"][0]["exp_annotations"]["description"]
    assert description.startswith("At the error rate of the last 1d, the remaining error budget")


def test_a_test_of_an_alert_reading_the_period_gets_a_clean_period_before_it_on_vmalert():
    def case(name: str, alertname: str) -> vmtest.Case:
        series = vmtest.Series((("__name__", "x"),), ((0, 1.0), (3600, 2.0)))
        return vmtest.Case(name, (series,), (vmtest.AlertCheck(3600, alertname, ()),), ())

    suite = vmtest.Suite(
        "t.yml", ("s",), (case("a", "Burn"), case("b", "Forecast"), case("c", "Burn"))
    )
    rules = vmtest.Rules(reach=3 * DAY, intervals={60, 300})
    rules.period_reach["Forecast"] = 30 * DAY + DAY
    slots, _, _ = vmtest.layout([suite], rules, now=400 * DAY)
    a, b, c = (slot.start for slot in slots)
    assert b - (a + 3600) >= 31 * DAY + 3600  # the forecast's test: a clean period before it
    assert 3 * DAY + 3600 <= c - (b + 3600) < 4 * DAY + 3600  # the others: their reach


def test_vmtest_reads_the_period_of_each_slo_from_its_rule_file():
    groups = yaml.safe_load(
        (GOLDEN / "forecast" / "out" / "vmalert" / "rules" / "checkout.rules.yml").read_text()
    )["groups"]
    assert vmtest.periods_of(groups) == {
        "availability": 30 * DAY,
        "latency": 7 * DAY,
        "regional": 30 * DAY,
    }
    rules = vmtest.load_rules(GOLDEN / "forecast" / "out", ["checkout"])
    assert rules.period_reach["ErrorBudgetExhaustion"] > 30 * DAY
    assert "ErrorBudgetBurn" not in rules.period_reach


@pytest.mark.binaries
@needs_promtool
def test_the_forecast_tests_catch_a_changed_within_and_for(tmp_path):
    """The generated tests have teeth: `within` x1.5 or x0.67, or `for` doubled, make one of
    the forecast's test groups fail (and each passes on the rules as compiled)."""
    mutations = bench_script("mutations")
    out = tmp_path / "out"
    compile_into(GOLDEN / "forecast" / "slo", out)
    every, context = mutations.plan(out, services=["checkout"])
    picked = [
        m
        for m in every
        if m.alert["alertname"] == "ErrorBudgetExhaustion"
        and m.alert["slo"] == "availability"
        and m.kind in ("threshold_x1.5", "threshold_x0.67", "for_doubled")
    ]
    assert len(picked) == 3
    original, groups = context["checkout"]
    forecast_groups = [g for g in groups if "ErrorBudgetExhaustion" in g.title]
    assert len(forecast_groups) == 4
    results = mutations.run(picked, {"checkout": (original, forecast_groups)}, tmp_path, 2)
    assert all(m.caught_by for m in results), [m.title for m in results if not m.caught_by]


def test_a_pace_window_past_a_week_gets_a_warning_not_a_slow_test(tmp_path):
    found, _ = model(tmp_path, "exhaustion: {over: 8d, within: 3d}")
    service, slo = found.services[0], found.services[0].slos[0]
    tests, warnings = forecast.forecast_tests(service, slo, plan_inputs(slo), 5)
    assert tests == []
    assert "ErrorBudgetExhaustion has no generated tests: its pace window" in warnings[0].message
