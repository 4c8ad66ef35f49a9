"""Smaller generated tests that prove as much (issue 17): every alert listed in full at one
step of its file, counted per tier at the other steps it fires; plans at one ratio share a
scenario; and what `slo test` and `slo test --engine vmalert` make of such counts. The mutation
check (test_mutations.py) shows the counts still catch every changed alert; the size itself is
a benchmark (bench/test_size.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import GOLDEN, GOLDEN_CASES, ROOT, ratio_slo

from compiler import compile_tree
from compiler.checks import vmtest
from compiler.spec import promql
from compiler.targets.promtool import scenarios
from compiler.targets.promtool.simulate import Simulation
from compiler.targets.promtool.testfiles import alerts_checked, in_full

TREES = [ROOT / "slo", *(GOLDEN / case / "slo" for case in GOLDEN_CASES)]


def burn_files(tree: Path) -> dict[str, str]:
    return {
        path: text
        for path, text in compile_tree(tree).artifacts.items()
        if path.endswith(".burn.test.yml")
    }


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.parent.name)
def test_every_alert_a_file_counts_is_listed_in_full_in_that_file(tree):
    for path, text in burn_files(tree).items():
        document = yaml.safe_load(text)
        full = [
            {"alertname": check["alertname"], **alert["exp_labels"]}
            for test in document["tests"]
            for check in test.get("alert_rule_test") or []
            for alert in check["exp_alerts"]
        ]
        for test in document["tests"]:
            for check in test.get("promql_expr_test") or []:
                found = promql.as_alert_count(check["expr"])
                assert found is not None, (path, check["expr"])
                by, matchers = found
                selected = {m.name: m.value for m in matchers}
                assert selected.pop("alertstate") == "firing"
                for sample in check["exp_samples"]:
                    labels = dict(vmtest.parse_series(sample["labels"]))
                    matching = [
                        a
                        for a in full
                        if all(a.get(k) == v for k, v in selected.items())
                        and all(a.get(k, "") == labels.get(k, "") for k in by)
                    ]
                    assert matching, (path, sample)  # an alert listed in full
                    assert "long_window" in by
            if test.get("promql_expr_test"):
                assert "counted per tier" in text


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.parent.name)
def test_a_count_is_written_once_a_file_and_reads_back_the_same(tree):
    for path, text in burn_files(tree).items():
        exprs = [
            check["expr"]
            for test in yaml.safe_load(text)["tests"]
            for check in test.get("promql_expr_test") or []
        ]
        for expr in set(exprs):
            if exprs.count(expr) > 1:
                assert text.count(expr) == 1, path  # the anchor; the rest are aliases


def test_the_steps_listed_in_full_are_few_and_list_every_alert():
    a, b, c = ((("long_window", w),) for w in ("1h", "6h", "1d"))
    firing = [frozenset(s) for s in ({a}, {a, b}, {b, c}, {c}, set())]
    # {a, b} and {b, c} list two new alerts each: the earlier; then {c} alone, not {b, c}
    assert in_full(firing) == {1, 3}
    assert in_full([frozenset(), frozenset()]) == set()
    assert in_full([frozenset({a, b, c}), frozenset({a})]) == {0}


def test_slo_test_trims_rules_for_counts_of_firing_alerts_only():
    count = promql.firing_count("Burn", ("long_window",))
    assert count == ('count by (long_window) (ALERTS{alertname="Burn",alertstate="firing"})')
    checks = f"""\
tests:
- alert_rule_test:
  - eval_time: 1m
    alertname: Other
    exp_alerts: []
  promql_expr_test:
  - expr: &firing {count}
    eval_time: 2m
    exp_samples: []
  - expr: *firing
    eval_time: 3m
    exp_samples: []
"""
    assert alerts_checked(checks) == {"Burn", "Other"}
    assert alerts_checked(checks.replace("*firing", "slo:sli_error:ratio_rate5m")) is None
    without = 'count by (slo) (ALERTS{alertstate="firing"})'
    assert alerts_checked(checks.replace("*firing", without)) is None


def test_tickets_at_one_ratio_share_one_scenario_with_both_checks():
    slo = ratio_slo(30, "0.95")

    def factory(timeline):
        return [Simulation(slo, timeline)]

    day, three_days = (scenarios.plan_fires(factory, i, 5)[0] for i in (2, 3))
    assert day.ratio == three_days.ratio and day.end < three_days.end
    assert scenarios.extends(three_days, day) and not scenarios.extends(day, three_days)
    both = scenarios.joined(three_days, day)
    assert both.segments == three_days.segments
    steps = [e.step for e in both.expects]
    assert steps == sorted({e.step for e in day.expects + three_days.expects})
    # a plan at another ratio is not a prefix of either
    page = scenarios.plan_fires(factory, 1, 5)[0]
    assert not scenarios.extends(three_days, page) and not scenarios.extends(page, three_days)


def slot_with(count: vmtest.CountCheck) -> vmtest.Slot:
    case = vmtest.Case("c", (), (), (), (count,))
    return vmtest.Slot(vmtest.Suite("t.yml", ("s",), (case,)), case, 3600)


def test_vmalert_counts_the_firing_alerts_at_the_groups_last_evaluation():
    expr = promql.firing_count("Burn", ("long_window",))
    alertname, by, matchers = vmtest.counted_alerts(expr)
    assert (alertname, by, matchers) == ("Burn", ("long_window",), ())
    assert vmtest.counted_alerts('count by (a) (ALERTS{alertname="Burn"})') is None  # pending too
    assert vmtest.counted_alerts("count by (a) (up)") is None
    rules = vmtest.Rules(group_of={("s", "Burn"): [("g", 60)]})
    one_hour = (("long_window", "1h"), ("slo", "a"))
    firing = {
        ("g", "Burn", 3600 + 120): [one_hour, (("long_window", "6h"), ("slo", "a"))],
        ("g", "Burn", 3600 + 180): [one_hour],
    }
    wanted = ((("long_window", "1h"),), 1.0), ((("long_window", "6h"),), 1.0)
    at_2m = vmtest.CountCheck(150, expr, "Burn", by, (), wanted)
    assert vmtest._check_counts(slot_with(at_2m), rules, firing) == []
    at_3m = vmtest.CountCheck(180, expr, "Burn", by, (), wanted)
    [problem] = vmtest._check_counts(slot_with(at_3m), rules, firing)
    assert "time: 3m" in problem and 'got: [{long_window="1h"} 1.0]' in problem
