"""Proofs with teeth: the generated promtool tests catch changed alerts (bench/mutations.py).

The mutations themselves are checked on a small rule file; then a sample of mutants of the
examples' freshly compiled rules, spread over every kind, must each make a generated test fail.
`python bench/mutations.py` runs every mutant of the examples and prints the score.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import yaml
from support import ROOT, bench_script, needs_promtool

mutations = bench_script("mutations")

# How many mutants of the examples the suite runs (one per kind first, then a second of each,
# ...). Each costs one or a few promtool runs of a single test group; raise it as the generated
# tests get faster (bench/mutations.py runs them all).
MUTANTS_IN_SUITE = len(mutations.KINDS)

BURN = {
    "alert": "ErrorBudgetBurn",
    "expr": 'slo:sli_error:ratio_rate1h{service="s",slo="a"} > 0.0144\n'
    "and\n"
    'slo:sli_error:ratio_rate5m{service="s",slo="a"} > 0.0144\n'
    "and\n"
    'avg_over_time(slo:sli_total:rate5m{service="s",slo="a"}[1h]) * 3600 >= 100',
    "labels": {
        "long_window": "1h",
        "service": "s",
        "severity": "page",
        "short_window": "5m",
        "slo": "a",
    },
}
THRESHOLD = {
    "alert": "DiskUsage",
    "expr": 'slo:threshold:value{service="s",slo="disk-usage"} < 1',
    "for": "15m",
    "labels": {"service": "s", "severity": "ticket", "slo": "disk-usage"},
}
RULES = {
    "groups": [
        {"name": "slo-s-sli", "rules": [{"record": "x", "expr": "vector(1) > 0.5"}]},
        {"name": "slo-s-alerts", "rules": [BURN, THRESHOLD]},
    ]
}


def test_thresholds_are_scaled_and_the_low_traffic_guard_is_not():
    new, equivalent = mutations.scale_thresholds(BURN, Decimal("1.5"))
    assert mutations.thresholds(new["expr"]) == [Decimal("0.0216"), Decimal("0.0216")]
    assert ">= 100" in new["expr"] and equivalent is None
    assert mutations.scale_thresholds(THRESHOLD, Decimal("0.67"))[0]["expr"].endswith("< 0.67")


def test_a_burn_rate_threshold_that_stays_unreachable_is_an_equivalent_mutant():
    unreachable = {**BURN, "expr": BURN["expr"].replace("0.0144", "1.44")}
    _, equivalent = mutations.scale_thresholds(unreachable, Decimal("1.5"))
    assert equivalent
    # ... but not one that becomes reachable (0.9648)
    _, equivalent = mutations.scale_thresholds(unreachable, Decimal("0.67"))
    assert equivalent is None


def test_windows_swapped_in_the_expression_and_the_labels():
    new = mutations.swap_windows(BURN)
    assert new["expr"].index("ratio_rate5m") < new["expr"].index("ratio_rate1h")
    assert (new["labels"]["long_window"], new["labels"]["short_window"]) == ("5m", "1h")
    assert BURN["labels"]["long_window"] == "1h"  # the original is untouched


def test_the_top_level_ands_of_an_expression():
    expr = 'a{x="and"} > 1 and (b and c) and on(x) sum(rate(d[5m]))'
    assert mutations.split_and(expr) == ['a{x="and"} > 1', "(b and c)", "on(x) sum(rate(d[5m]))"]
    assert mutations.split_and("android > 1") == ["android > 1"]
    new = mutations.drop_short_window(BURN)
    assert "ratio_rate5m" not in new["expr"] and new["expr"].count("\nand\n") == 1


def test_for_doubled_comparison_flipped_label_dropped():
    assert mutations.double_for(THRESHOLD)["for"] == "30m"
    assert mutations.double_for(BURN) is None
    assert mutations.flip_comparison(THRESHOLD)["expr"].endswith("> 1")
    flipped = mutations.flip_comparison(BURN)["expr"]
    assert flipped.splitlines()[0].endswith("< 0.0144") and flipped.splitlines()[2].endswith(
        "> 0.0144"
    )
    assert "severity" not in mutations.drop_label(BURN, "severity")["labels"]


def test_a_label_the_selected_series_carry_already_is_an_equivalent_drop():
    assert mutations.carried_by_series(BURN, "service")
    assert mutations.carried_by_series(THRESHOLD, "slo")
    assert not mutations.carried_by_series(BURN, "severity")
    other = {**THRESHOLD, "labels": {**THRESHOLD["labels"], "slo": "other"}}
    assert not mutations.carried_by_series(other, "slo")
    assert not mutations.carried_by_series({**BURN, "expr": "sum(x) > 1"}, "service")


def test_every_mutant_of_a_rule_file_changes_one_alert_only():
    text = yaml.safe_dump(RULES, sort_keys=False)
    mutants = list(mutations.mutants_of("s", text))
    kinds = [m.kind for m in mutants]
    assert kinds.count("label_dropped") == len(BURN["labels"]) + len(THRESHOLD["labels"])
    assert kinds.count("page_tier_removed") == 1  # the threshold alert is not a tier
    assert kinds.count("for_doubled") == 1 and kinds.count("windows_swapped") == 1
    assert set(kinds) == set(mutations.KINDS)
    original = yaml.safe_load(text)
    for m in mutants:
        changed = yaml.safe_load(m.text)
        assert changed["groups"][0] == original["groups"][0]  # recording rules untouched
        before, after = original["groups"][1]["rules"], changed["groups"][1]["rules"]
        if m.kind == "page_tier_removed":
            assert after == before[1:]
        else:
            differing = [i for i in range(2) if before[i] != after[i]]
            assert len(differing) == 1, m.title
    assert yaml.safe_load(text) == original  # the source was never modified


def test_a_sample_spreads_over_the_kinds_and_skips_what_does_not_count():
    mutants = list(mutations.mutants_of("s", yaml.safe_dump(RULES)))
    mutants[0].equivalent = "because"
    picked = mutations.sample(mutants, len(mutations.KINDS))
    assert [m.kind for m in picked] == list(mutations.KINDS)
    assert mutants[0] not in picked
    assert len(mutations.sample(mutants, 1000)) == sum(1 for m in mutants if m.counts)


@pytest.fixture(scope="module")
def examples_out(tmp_path_factory):
    """The examples compiled afresh (not the committed out/)."""
    return mutations.compile_examples(ROOT / "slo", tmp_path_factory.mktemp("mutations") / "out")


@pytest.mark.binaries
@needs_promtool
def test_the_generated_tests_catch_a_sample_of_mutants_of_the_examples(examples_out, tmp_path):
    every, context = mutations.plan(examples_out)
    assert sorted(context) == ["blkout-api", "enterprise-scanner", "fitness-api", "pizza-api"]
    picked = mutations.sample(every, MUTANTS_IN_SUITE)
    assert {m.kind for m in picked} == set(mutations.KINDS)
    results = mutations.run(picked, context, tmp_path / "runs", jobs=2)
    missed = [m.title for m in results if not m.caught_by]
    assert not missed, f"mutants no generated test caught: {missed}"
    found = mutations.score(results)
    assert found["score"] == 1.0 and found["counted"] == MUTANTS_IN_SUITE


@pytest.mark.binaries
@needs_promtool
def test_a_mutant_the_tests_cannot_see_is_not_counted_as_caught(examples_out, tmp_path):
    """The check itself has teeth: a 'mutant' identical to the original is caught by nothing."""
    every, context = mutations.plan(examples_out, services=["pizza-api"], kinds=["for_doubled"])
    (first, *_) = every
    original, groups = context["pizza-api"]
    first.source = yaml.safe_load(original)
    first.replacement = first.source["groups"][first.where[0]]["rules"][first.where[1]]
    # only the cheapest groups, so that this stays fast: they would catch a doubled `for`
    cheap = sorted(groups, key=lambda g: g.cost)[:3]
    runner = mutations.Runner(tmp_path / "runs", "promtool")
    assert runner.check(first, cheap, original).caught_by is None
    assert first.runs == len(cheap)


@pytest.mark.binaries
@needs_promtool
def test_the_bench_script_prints_and_writes_the_score(tmp_path, capsys):
    result = tmp_path / "m.json"
    argv = ["--services", "pizza-api", "--kinds", "page_tier_removed", "--limit", "1"]
    assert mutations.main([*argv, "--json", str(result)]) == 0
    assert "mutation score: 1/1 = 100.0%" in capsys.readouterr().out
    found = json.loads(result.read_text())
    assert found["score"] == 1.0 and found["mutants_run"][0]["caught_by"]


FORECAST = {
    "alert": "ErrorBudgetExhaustion",
    "expr": "clamp_min(\n"
    '  0.01 * sum without (kind, window) (x{service="s",slo="a",kind="total"})\n'
    '  - sum without (kind, window) (x{service="s",slo="a",kind="errors"}),\n  0\n)\n'
    '/\n(sum without (kind, window) (x{service="s",slo="a",window="1d"}) / 86400)\n'
    "< 259200",
    "for": "1h",
    "labels": {"service": "s", "severity": "ticket", "slo": "a"},
}


def test_a_label_every_selector_keeps_is_an_equivalent_drop():
    """The forecast's expression starts with clamp_min, not a selector: its series still carry
    the service and slo of every selector it reads."""
    assert mutations.carried_by_series(FORECAST, "service")
    assert mutations.carried_by_series(FORECAST, "slo")
    assert not mutations.carried_by_series(FORECAST, "severity")
    summed = {**FORECAST, "expr": FORECAST["expr"].replace("without (kind, window)", "by (kind)")}
    assert not mutations.carried_by_series(summed, "slo")
    dropped = {**FORECAST, "expr": FORECAST["expr"].replace("(kind, window)", "(slo)")}
    assert not mutations.carried_by_series(dropped, "slo")
    other = {**FORECAST, "labels": {**FORECAST["labels"], "slo": "b"}}
    assert not mutations.carried_by_series(other, "slo")
    kinds = [kind for kind, _, _, same in mutations.rule_mutants(FORECAST) if same is None]
    assert kinds.count("threshold_x1.5") == 1 and "for_doubled" in kinds
