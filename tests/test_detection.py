"""The core of the detection bench (bench/alert_timing.py) and the bench script on one scenario.

The formula is checked against the SRE Workbook's published numbers, the promtool plumbing
against a hand-written rule whose firing times are known to the second.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from support import bench_script, needs_promtool, write_files

from compiler import compile_tree

at = bench_script("alert_timing")
detection = bench_script("detection")

M, H, D = 60, 3600, 86400


# --- the formula ---------------------------------------------------------------------------------
def test_formula_gives_the_workbook_burn_rates_and_the_issues_page_times():
    tiers = at.tiers(30 * D, Fraction("0.999"))
    assert [t.factor for t in tiers] == [Fraction("14.4"), 6, 3, 1]
    assert [t.threshold for t in tiers] == [Fraction(x) for x in ("0.0144", "0.006", "0.003")] + [
        Fraction("0.001")
    ]
    minutes = {
        r: at.time_to_page(tiers, Fraction(r)) for r in ("1", "0.1", "0.02", "0.007", "0.005")
    }
    # issue 17's table: 0.9, 8.6, 43.2, 308.6 minutes, never.
    assert minutes["1"] == Fraction("51.84")  # seconds: 1h x 1.44% / 100%
    assert minutes["0.1"] == Fraction("518.4")
    assert minutes["0.02"] == Fraction(2592)  # 43.2 min, the 6h tier: 1h x 1.44% / 2% > 60 min?
    assert minutes["0.007"] == Fraction(6 * H) * Fraction("0.006") / Fraction("0.007")
    assert minutes["0.005"] is None


def test_28_days_keep_the_windows_and_scale_the_burn_rates():
    tiers = at.tiers(28 * D, Fraction("0.99"))
    assert [(t.long, t.short) for t in tiers] == [
        (H, 5 * M),
        (6 * H, 30 * M),
        (D, 2 * H),
        (3 * D, 6 * H),
    ]
    assert [t.factor for t in tiers] == [Fraction("13.44"), Fraction("5.6"), Fraction("2.8")] + [
        Fraction(28, 30)
    ]


def test_a_tier_fires_when_both_windows_exceed_its_threshold():
    t = at.tier("page", H, 5 * M, Fraction(2, 100), 30 * D, Fraction("0.999"))
    assert at.time_to_fire(t, Fraction(1)) == Fraction("51.84")  # long window decides
    # A short window longer than the long one would decide instead.
    odd = at.tier("page", 5 * M, H, Fraction(2, 100), 30 * D, Fraction("0.999"))
    assert at.time_to_fire(odd, Fraction(1)) == H * odd.threshold
    assert at.time_to_fire(t, t.threshold) is None  # not above: never


def test_the_low_traffic_guard_keeps_a_tier_whose_long_window_holds_too_few_events_silent():
    tiers = at.tiers(30 * D, Fraction("0.999"))
    per_second = Fraction(100, 60)  # 6,000 an hour, 36,000 in 6h
    page = at.time_to_page(tiers, Fraction(1), per_second, min_events=10000)
    assert page == 6 * H * Fraction("0.006")  # the 6h tier; the 1h one never fires
    assert at.time_to_page(tiers, Fraction(1), per_second, min_events=10**6) is None
    assert at.paging_tiers(tiers, Fraction(1), 3 * M) == list(tiers[:2])
    assert at.paging_tiers(tiers, Fraction(1), M) == [tiers[0]]


# --- durations, numbers, input series ------------------------------------------------------------
def test_durations_read_and_written_as_prometheus_does():
    assert at.parse_duration("6h2m15s") == 6 * H + 2 * M + 15
    assert at.parse_duration("1d") == D and at.parse_duration("0s") == 0
    assert at.parse_duration("1m500ms") == Fraction(121, 2)
    with pytest.raises(ValueError):
        at.parse_duration("6 h")
    assert [at.duration(s) for s in (90, H, D, 3 * D, 30 * M, 0)] == [
        "1m30s",
        "1h",
        "1d",
        "3d",
        "30m",
        "0s",
    ]


def test_numbers_are_exact_decimals_where_they_can_be():
    assert at.number(Fraction(7, 4)) == "1.75"
    assert at.number(Fraction(250)) == "250"
    assert at.number(Fraction(7, 4000)) == "0.00175"
    assert at.number(Fraction(1, 3)) == repr(1 / 3)


def test_a_counter_grows_phase_by_phase_in_expanding_notation():
    # 0, then +5 at 2 scrapes (5, 10), then +1 at 3 scrapes (11, 12, 13)
    assert at.counter([(2, Fraction(5)), (3, Fraction(1))]) == "0 5+5x1 11+1x2"


def test_traffic_has_its_phases_and_refuses_what_promtool_could_not_scrape():
    traffic = at.Traffic(Fraction(1, 10), errors=2 * M, healthy=M, after=M, scrape=15)
    assert (traffic.onset, traffic.stop, traffic.end) == (60, 180, 240)
    assert traffic.phases() == [(4, 250, 0), (8, 225, 25), (4, 250, 0)]
    series = at.input_series("ratio", traffic)
    assert [s["series"] for s in series] == [
        'http_requests_total{job="api",code="500"}',
        'http_requests_total{job="api",code="200"}',
    ]
    assert series[0]["values"] == "0 0+0x3 25+25x7 200+0x3"
    latency = at.input_series("latency", traffic, job="x")
    assert [s["values"] for s in latency] == [
        "0 250+250x3 1225+225x7 3050+250x3",
        "0 250+250x3 1250+250x7 3250+250x3",
        "0 250+250x3 1250+250x7 3250+250x3",
    ]
    with pytest.raises(ValueError):
        at.Traffic(Fraction(1), errors=20, scrape=15)
    with pytest.raises(ValueError):
        at.Traffic(Fraction(2), errors=15, scrape=15)


def test_the_scenarios_spec_compiles_and_its_rules_select_the_input_series(tmp_path):
    specs = [
        at.SloSpec("a", "ratio", "99.9"),
        at.SloSpec("b", "latency", "99", "28d", {"min_events": 10}, job="other"),
    ]
    write_files(tmp_path, {"s.yaml": at.spec_text("svc", specs)})
    result = compile_tree(tmp_path)
    (rules,) = [t for p, t in result.artifacts.items() if p.startswith("prometheus/rules/")]
    assert 'http_requests_total{job="api",code=~"5.."}' in rules
    assert 'http_request_duration_seconds_bucket{job="other",le=~"1|1\\\\.0"}' in rules
    (b,) = [s for s in result.model.services[0].slos if s.name == "b"]
    assert b.period == 28 * D and b.alerting.min_events == 10


# --- reading promtool's report -------------------------------------------------------------------
REPORT = """Unit Testing:  t.yml
  FAILED:
    alertname: ErrorBudgetBurn, time: 6h2m,
        exp:[],
        got:[
            0:
              Labels:{alertname="ErrorBudgetBurn", severity="ticket", slo="a"}
              Annotations:{description="x}y"}
            ]

    alertname: ErrorBudgetBurn, time: 6h2m15s,
        exp:[],
        got:[
            0:
              Labels:{alertname="ErrorBudgetBurn", severity="ticket", slo="a"}
              Annotations:{},
            1:
              Labels:{alertname="ErrorBudgetBurn", severity="page", slo="say \\"a\\""}
              Annotations:{}
            ]

""".replace(",\n", ", \n")  # promtool ends these lines with a blank


def test_the_report_gives_the_alerts_firing_at_each_evaluation():
    timeline = at.parse_failures(REPORT)
    assert sorted(timeline) == [6 * H + 2 * M, 6 * H + 2 * M + 15]
    assert timeline[6 * H + 2 * M] == [
        {"alertname": "ErrorBudgetBurn", "severity": "ticket", "slo": "a"}
    ]
    assert timeline[6 * H + 2 * M + 15][1]["slo"] == 'say "a"'
    page = at.matching(severity="page")
    assert at.first_firing(timeline, page) == 6 * H + 2 * M + 15
    assert at.first_firing(timeline, at.matching(severity="ticket"), 6 * H + 2 * M + 1) == (
        6 * H + 2 * M + 15
    )
    assert at.first_firing(timeline, at.matching(severity="info")) is None


def test_cleared_is_the_first_evaluation_after_the_last_firing():
    grid = list(range(0, 600, 60))
    on = {"severity": "page"}
    timeline = {120: [on], 180: [on], 300: [on]}
    page = at.matching(severity="page")
    assert at.cleared(timeline, page, 150, grid) == 360  # fired again at 300: not cleared at 240
    assert at.cleared({}, page, 150, grid) == 180
    assert at.cleared({540: [on]}, page, 0, grid) is None  # still firing at the end


RULES = """groups:
- name: g
  rules:
  - alert: ErrorBudgetBurn
    expr: http_requests_total{code="500"} - http_requests_total{code="500"} offset 1m > 0
    labels: {severity: page}
"""


@pytest.mark.binaries
@needs_promtool
def test_promtool_timeline_of_a_rule_known_to_the_second(tmp_path):
    """Errors from minute 10 to 15 (scrapes every 15s): the rule sees the first at the
    evaluation of minute 11 (the first scrape with errors is at 10m15s) and none from minute 16
    on, when the counter has not moved for a minute."""
    traffic = at.Traffic(Fraction(1, 10), errors=5 * M, healthy=10 * M, after=5 * M, scrape=15)
    (tmp_path / "r.yml").write_text(RULES)
    grid = at.eval_grid(0, traffic.end, 60)
    test = tmp_path / "t.yml"
    test.write_text(
        at.test_file(
            ["r.yml"], ["g"], 60, 15, at.input_series("ratio", traffic), "ErrorBudgetBurn", grid
        )
    )
    timeline = at.run_promtool(test)
    assert sorted(timeline) == [m * M for m in range(11, 16)]
    assert timeline[11 * M] == [
        {"alertname": "ErrorBudgetBurn", "code": "500", "job": "api", "severity": "page"}
    ]
    page = at.matching(severity="page")
    assert at.cleared(timeline, page, traffic.stop, grid) == 16 * M


@pytest.mark.binaries
@needs_promtool
def test_promtool_failing_for_another_reason_is_an_error_not_a_quiet_timeline(tmp_path):
    (tmp_path / "r.yml").write_text("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: sum(\n")
    test = tmp_path / "t.yml"
    test.write_text(at.test_file(["r.yml"], ["g"], 60, 60, [], "X", [60]))
    with pytest.raises(at.PromtoolError, match="promtool failed"):
        at.run_promtool(test)


# --- the bench ---------------------------------------------------------------------------------
def row(**values):
    base = {
        "interval_s": 60,
        "formula_min": 1.0,
        "slo_page_min": 2.0,
        "sloth_page_min": 2.0,
        "slo_page_before_onset": False,
        "slo_clear_min": 5.0,
        "clear_bound_min": 6.0,
    }
    return {**base, **values}


def test_the_criteria_of_a_row():
    assert all(detection.checks(row()).values())
    late = detection.checks(row(slo_page_min=2.5, sloth_page_min=2.0))
    assert [k for k, ok in late.items() if not ok] == ["within_one_interval", "not_after_sloth"]
    silent = detection.checks(row(formula_min=None, slo_page_min=None, sloth_page_min=None))
    assert all(silent.values())
    noisy = detection.checks(row(formula_min=None, slo_page_min=30.0, sloth_page_min=None))
    assert not noisy["no_page_below_threshold"] and not noisy["within_one_interval"]
    missed = detection.checks(row(slo_page_min=None))
    assert not missed["within_one_interval"] and not missed["not_after_sloth"]
    slow_clear = detection.checks(row(slo_clear_min=7.0))
    assert [k for k, ok in slow_clear.items() if not ok] == ["clears_in_time"]
    assert not detection.checks(row(slo_clear_min=None))["clears_in_time"]
    assert not detection.checks(row(slo_page_before_onset=True))["no_page_before_onset"]


def test_errors_last_past_every_expected_page_or_fill_the_longest_page_window():
    fast = detection.scenario(Fraction(1), 60)
    # 99%/28d latency at 100%: 1h x 13.44% = 8.06 min, the later of the two SLOs; + 15 min
    assert fast.errors == 24 * M and fast.errors % 60 == 0
    never = detection.scenario(Fraction("0.005"), 15)
    assert never.errors == 6 * H + 15 * M
    assert never.after >= 30 * M + 15


@pytest.mark.binaries
@needs_promtool
def test_the_bench_on_one_scenario(tmp_path):
    out = tmp_path / "d.json"
    assert (
        detection.main(["--ratios", "1", "--intervals", "60", "--json", str(out), "-j", "1"]) == 0
    )
    result = json.loads(out.read_text())
    rows = {r["slo"]: r for r in result["rows"]}
    assert sorted(rows) == ["availability", "availability-by-region", "latency"]
    availability = rows["availability"]
    assert availability["formula_min"] == pytest.approx(0.864)
    # Both rule sets page, after the onset, and clear.
    for rule_set in ("slo", "sloth"):
        assert availability[f"{rule_set}_page_min"] >= 0.864
        assert availability[f"{rule_set}_clear_min"] is not None
    assert set(result["criteria"]) == set(availability["checks"]) | set(
        rows["availability-by-region"]["checks"]
    )
    # Grouped (issue 18's "done when"): by: [region] over three regions, eu-west-1 fails 100%
    # from the onset. It pages, with its region label, at the minute the ungrouped SLO with the
    # same traffic does; us-east-1 and ap-south-1 never alert; it clears.
    grouped = rows["availability-by-region"]
    assert grouped["slo_page_min"] == availability["slo_page_min"]
    assert grouped["other_groups_alerted"] == [] and not grouped["alert_without_region"]
    assert grouped["slo_clear_min"] is not None
    assert all(grouped["checks"].values())


def test_the_compact_table_has_a_line_per_slo_and_ratio_with_every_interval():
    base = {
        "objective_percent": "99.9",
        "period": "30d",
        "kind": "ratio",
        "error_ratio": 0.1,
        "sloth_clear_min": 3.0,
        "checks": {},
    }
    rows = [
        row(**base, interval_s=15, slo_page_min=1.25),
        row(**base, interval_s=60, slo_page_min=2.0, sloth_page_min=None),
    ]
    lines = detection.compact_table(rows).splitlines()
    assert lines[0].startswith(
        "| SLO | error ratio | formula | slo (15s/1m) | Sloth-style (15s/1m)"
    )
    assert lines[2:] == [
        "| 99.9%/30d ratio | 10% | 1.00 | 1.25 / 2.00 | 2.00 / never | 5.00 / 5.00 |"
    ]


def test_the_criteria_of_the_grouped_row():
    base = {
        "slo_page_min": 1.0,
        "ungrouped_page_min": 1.0,
        "other_groups_alerted": [],
        "alert_without_region": False,
        "slo_page_before_onset": False,
        "slo_clear_min": 30.0,
        "clear_bound_min": 31.0,
    }
    assert all(detection.grouped_checks(base).values())
    late = detection.grouped_checks({**base, "slo_page_min": 2.0})
    assert [k for k, ok in late.items() if not ok] == ["as_fast_as_ungrouped"]
    for noisy in ({"other_groups_alerted": ["us-east-1"]}, {"alert_without_region": True}):
        found = detection.grouped_checks({**base, **noisy})
        assert [k for k, ok in found.items() if not ok] == ["other_groups_silent"]
    assert detection.summary([{"checks": {"a": True}}, {"checks": {"b": False}}]) == {
        "a": True,
        "b": False,
    }
