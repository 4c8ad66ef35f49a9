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


def forecast_mutants_missed(tmp_path: Path, specs: Path, slo: str, test_groups: int) -> list:
    """Compile ``specs`` and run its forecast tests (exactly ``test_groups`` test groups)
    against three mutants of ``slo``'s ErrorBudgetExhaustion: `within` x1.5 or x0.67, `for`
    doubled. The mutants that no test group failed on (each group passes on the rules as
    compiled)."""
    mutations = bench_script("mutations")
    out = tmp_path / "out"
    compile_into(specs, out)
    every, context = mutations.plan(out, services=["checkout"])
    picked = [
        m
        for m in every
        if m.alert["alertname"] == "ErrorBudgetExhaustion"
        and m.alert["slo"] == slo
        and m.kind in ("threshold_x1.5", "threshold_x0.67", "for_doubled")
    ]
    assert len(picked) == 3
    original, groups = context["checkout"]
    forecast_groups = [g for g in groups if "ErrorBudgetExhaustion" in g.title]
    assert len(forecast_groups) == test_groups
    results = mutations.run(picked, {"checkout": (original, forecast_groups)}, tmp_path, 2)
    return [m.title for m in results if not m.caught_by]


@pytest.mark.binaries
@needs_promtool
def test_the_forecast_tests_catch_a_changed_within_and_for(tmp_path):
    """The generated tests have teeth: `within` x1.5 or x0.67, or `for` doubled, make one of
    the forecast's test groups fail (and each passes on the rules as compiled)."""
    specs = GOLDEN / "forecast" / "slo"
    assert forecast_mutants_missed(tmp_path, specs, "availability", test_groups=4) == []


# The SLO above, grouped by region, with a rolling 3-day forecast.
GROUPED = SPEC.replace("    objective: 99.9\n", "    objective: 99.9\n    by: [region]\n").replace(
    "ALERTING", "      exhaustion: {within: 3d}"
)


def test_a_grouped_slo_runs_both_scenarios_in_one_test_each_in_its_own_group(tmp_path):
    result = compile_into(write_files(tmp_path / "slo", {"svc.yaml": GROUPED}), tmp_path / "out")
    doc = yaml.safe_load(result.artifacts["prometheus/tests/checkout.burn.test.yml"])
    tests = [t for t in doc["tests"] if "ErrorBudgetExhaustion" in t["name"]]
    assert [t["name"] for t in tests] == [
        "availability ErrorBudgetExhaustion: fires at 0.825% errors, silent at 0.675%"
    ]
    regions = {s["series"].split('region="')[1].split('"')[0] for s in tests[0]["input_series"]}
    assert regions == {"failing", "healthy", "slow"}
    checks = tests[0]["alert_rule_test"]
    # absent a step before it fires, then only the failing region, still at the silent horizon
    assert checks[0]["exp_alerts"] == []
    assert [[a["exp_labels"]["region"] for a in c["exp_alerts"]] for c in checks[1:]] == [
        ["failing"],
        ["failing"],
    ]


@pytest.mark.binaries
@needs_promtool
def test_the_grouped_forecast_test_catches_a_changed_within_and_for(tmp_path):
    """One test holds both scenarios, so it alone must catch `within` x1.5 (the slow region
    fires) and x0.67 or `for` doubled (the failing one is late)."""
    specs = write_files(tmp_path / "slo", {"svc.yaml": GROUPED})
    assert forecast_mutants_missed(tmp_path, specs, "availability", test_groups=1) == []


def test_a_pace_window_past_a_week_gets_a_warning_not_a_slow_test(tmp_path):
    found, _ = model(tmp_path, "exhaustion: {over: 8d, within: 3d}")
    service, slo = found.services[0], found.services[0].slos[0]
    tests, warnings = forecast.forecast_tests(service, slo, plan_inputs(slo), 5)
    assert tests == []
    assert "ErrorBudgetExhaustion has no generated tests: its pace window" in warnings[0].message


def test_a_calendar_forecast_with_within_gets_a_warning_not_a_wrong_test(tmp_path):
    """Its period record restarts at the boundary, which the rolling model of the burn tests
    does not know: a warning, and no test that would expect the wrong step."""
    spec = SPEC.replace("    alerting:\nALERTING\n", "    period: month\n    alerting:\nALERTING\n")
    spec = spec.replace("ALERTING", "      exhaustion: {within: 3d}")
    found, text = load_tree(write_files(tmp_path / "slo", {"svc.yaml": spec}))
    assert found is not None, text
    service, slo = found.services[0], found.services[0].slos[0]
    assert slo.calendar == "month" and slo.alerting.exhaustion.within == 3 * DAY
    tests, warnings = forecast.forecast_tests(service, slo, plan_inputs(slo), 5)
    assert tests == []
    assert "a calendar month's forecast with 'within' is not modelled yet" in warnings[0].message


# --- a calendar period's forecast, which looks until the period ends --------------------------
def calendar_model(tmp_path: Path, period: str):
    spec = SPEC.replace("    alerting:\nALERTING\n", f"    period: {period}\n")
    found, text = load_tree(write_files(tmp_path / "slo", {"svc.yaml": spec}))
    assert found is not None, text
    return found.services[0], found.services[0].slos[0]


def closed_form(burn: Fraction, length: int, end: int, step: int) -> bool:
    """The forecast at step ``step`` (5 minutes) of a steady ``burn`` from t=0, from the rule's
    formula by hand: the calendar record read 5m old counts (0, t - 5m] (S = t - 5m, so the
    budget is the whole ``length``'s), the pace is the 1d errors read 15m old over 1d."""
    t = step * 300
    if t - 900 < 300:
        return False
    left = max(Fraction(0), length - burn * (t - 300))  # in budget-seconds of traffic
    pace = burn * min(t - 900, DAY) / DAY
    return left / pace < end - t


@pytest.mark.parametrize(
    ("period", "length", "end", "fires_at"),
    [
        # 1970-01-01 starts a 31-day month: 2x fires at 12h05m + the hour of `for`
        ("month", 31 * DAY, 31 * DAY, 12 * 12 + 1),
        # a Thursday: the week began on Monday 1969-12-29, 4 days left; above 7/4x it runs out
        ("week", 7 * DAY, 4 * DAY, 20 * 12 + 6),
    ],
)
def test_the_calendar_forecast_model_matches_the_formula_by_hand(
    tmp_path, period, length, end, fires_at
):
    service, slo = calendar_model(tmp_path, period)
    assert slo.alerting.exhaustion == Exhaustion(over=DAY, within=None)
    horizon = 2 * 288
    first = {}
    for burn in (Fraction(2), Fraction(1, 2)):
        ratio = burn * Fraction(slo.error_budget)
        sim = forecast.CalendarForecast(
            service, slo, Timeline.build([(horizon, ratio * 1000, 1000)], 5)
        )
        assert sim.record_lag == 1 and sim.lag == 3  # the rolling record's would be 3 and 3
        for t in range(horizon + 1):
            assert sim.condition(t) == closed_form(burn, length, end, t), (burn, t)
        first[burn] = next((t for t in range(horizon + 1) if sim.condition(t)), None)
    assert first == {Fraction(2): fires_at, Fraction(1, 2): None}


def test_the_calendar_record_counts_since_the_period_began_up_to_its_evaluation(tmp_path):
    """1970-01-01 00:00 UTC: the record at 2h30m sums the hour tiles (0, 1h] and (1h, 2h]
    and this hour's six 5-minute tiles: 2h30m of events and of seconds with data."""
    service, slo = calendar_model(tmp_path, "month")
    sim = forecast.CalendarForecast(service, slo, Timeline.build([(40, 1, 100)], 5))
    errors, total, seconds = sim.record(30)
    assert (errors, total, seconds) == (150, 15000, 9000)
    assert sim.time_left(30) == 31 * DAY - 9000


def test_a_calendar_forecast_gets_tests_in_the_calendar_file_and_no_warning(tmp_path):
    out = tmp_path / "out"
    for period, name in (("month", "a"), ("week", "b")):
        spec = SPEC.replace("    alerting:\nALERTING\n", f"    period: {period}\n")
        result = compile_into(write_files(tmp_path / name, {"svc.yaml": spec}), out / name)
        assert not [d for d in result.diagnostics if "ErrorBudgetExhaustion" in d.message]
        doc = yaml.safe_load(
            (out / name / "prometheus" / "tests" / "checkout.calendar.test.yml").read_text()
        )
        tests = [t for t in doc["tests"] if "ErrorBudgetExhaustion" in t["name"]]
        assert [t["name"].split(": ")[1] for t in tests] == [
            f"a steady 2x burn spends the {period}'s budget before it ends",
            f"a steady 0.5x burn leaves budget at the {period}'s end",
        ]
        fires, silent = (t["alert_rule_test"] for t in tests)
        expected = {"month": ("13h", "13h5m"), "week": ("21h25m", "21h30m")}[period]
        assert [c["eval_time"] for c in fires] == list(expected)
        assert fires[0]["exp_alerts"] == [] and len(fires[1]["exp_alerts"]) == 1
        assert all(c["exp_alerts"] == [] for c in silent)
        assert silent[-1]["eval_time"] == {"month": "15h5m", "week": "23h30m"}[period]


@pytest.mark.binaries
@needs_promtool
def test_the_calendar_forecast_tests_catch_a_wrong_month_length_or_time_left(tmp_path):
    """The month's tests pass on the rules as compiled and fail when the budget is a 30-day
    month's, when the time left is counted to the end of a 30-day month, or with `for` doubled."""
    import subprocess

    spec = SPEC.replace("    alerting:\nALERTING\n", "    period: month\n")
    out = tmp_path / "out"
    compile_into(write_files(tmp_path / "slo", {"svc.yaml": spec}), out)
    rules_file = out / "prometheus" / "rules" / "checkout.rules.yml"
    original = rules_file.read_text()
    doc = yaml.safe_load((out / "prometheus" / "tests" / "checkout.calendar.test.yml").read_text())
    doc["tests"] = [t for t in doc["tests"] if "ErrorBudgetExhaustion" in t["name"]]
    assert len(doc["tests"]) == 2
    (out / "prometheus" / "tests" / "forecast.test.yml").write_text(yaml.safe_dump(doc))

    def passes(text: str) -> bool:
        rules_file.write_text(text)
        proc = subprocess.run(
            ["promtool", "test", "rules", "forecast.test.yml"],
            cwd=out / "prometheus" / "tests",
            capture_output=True,
            text=True,
            timeout=120,
        )
        return proc.returncode == 0

    assert passes(original)
    month = "* scalar(days_in_month() * 86400)"
    left = "< scalar((days_in_month() - day_of_month())"
    assert original.count(month) == 1 and original.count(left) == 1
    assert not passes(original.replace(month, "* 2592000"))
    assert not passes(original.replace(left, "< scalar((30 - day_of_month())"))
    assert not passes(original.replace("for: 1h", "for: 2h"))
