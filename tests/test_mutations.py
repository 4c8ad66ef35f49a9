"""Proofs with teeth: the generated promtool tests catch changed alerts (bench/mutations.py).

The mutations themselves are checked on a small rule file. Then every mutant of every alert of
the examples' freshly compiled rules (all kinds, every alert name, ratio, latency, grouped SLOs
and thresholds) must make a generated test fail, and every mutant called equivalent must fire
exactly as the original at every evaluation of a test that covers it: the score is 100%. The
mutants run in batches (a test group once for many mutants, each in a renamed copy of its rule:
BatchRunner); a sample of one mutant per kind also runs one at a time, each against its own
rule file, and must get the same verdict, as must a "mutant" that changes nothing.
`python bench/mutations.py` prints the same score as a table.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
import yaml
from support import ROOT, bench_script, needs_promtool

mutations = bench_script("mutations")

# The sample that also runs one mutant at a time (sample(): one per kind).
MUTANTS_ONE_BY_ONE = len(mutations.KINDS)

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


def test_a_time_slice_threshold_below_one_bad_slice_is_an_equivalent_mutant():
    # 1m slices: one bad slice is an error ratio of at least 1/60 over 1h, 1/5 over 5m
    page = BURN
    _, equivalent = mutations.scale_thresholds(page, Decimal("0.67"), slice_seconds=60)
    assert equivalent  # 0.0144 and 0.0096 both fire on any bad slice
    # ... not 0.0216 (two bad slices in the hour), nor without slices
    assert mutations.scale_thresholds(page, Decimal("1.5"), slice_seconds=60)[1] is None
    assert mutations.scale_thresholds(page, Decimal("0.67"))[1] is None
    # ... nor a 6h window, where 0.006 takes three bad slices
    six = {**BURN, "expr": BURN["expr"].replace("1h", "6h").replace("0.0144", "0.006")}
    assert mutations.scale_thresholds(six, Decimal("0.67"), slice_seconds=60)[1] is None
    rules = {
        "groups": [
            {
                "name": "slo-s-sli",
                "rules": [
                    {
                        "record": "slo:sli_events:increase",
                        "expr": "count_over_time(count(x > 1)[4m59s999ms:1m])",
                        "labels": {"service": "s", "slo": "a", "kind": "total", "window": "5m"},
                    },
                ],
            },
            {"name": "slo-s-alerts", "rules": [BURN]},
        ]
    }
    assert mutations.slice_lengths(rules) == {"a": 60}
    mutants = mutations.mutants_of("s", yaml.safe_dump(rules))
    claimed = [m.kind for m in mutants if m.equivalent and m.kind.startswith("threshold")]
    assert claimed == ["threshold_x0.67"]


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
def test_the_generated_tests_catch_every_mutant_of_the_examples(examples_out, tmp_path):
    every, context = mutations.plan(examples_out)
    assert sorted(context) == ["blkout-api", "enterprise-scanner", "fitness-api", "pizza-api"]
    assert not [m.title for m in every if not m.covered], "alerts no generated test expects"
    counting = sum(1 for m in every if m.counts)
    claimed = [m for m in every if m.equivalent]
    results = mutations.run_batched(every, context, tmp_path / "runs", jobs=2)
    found = mutations.score(results)
    assert not found["missed"], f"mutants no generated test caught: {found['missed']}"
    # every mutant called equivalent fired exactly as the original in a test that covers it
    assert all(m.shown_equivalent and m.equivalent for m in claimed)
    assert found["score"] == 1.0 and found["counted"] == counting
    assert {k for k, n in found["kinds"].items() if n["caught"]} == set(mutations.KINDS)
    # every alert name of every service had mutants of every kind that applies to it, caught
    names = {(m.service, m.alert["alertname"]) for m in every}
    assert names == {(m.service, m.alert["alertname"]) for m in results if m.caught_by}
    assert {m.alert.get("objective_kind") for m in results if m.caught_by} >= {"slo", "threshold"}


@pytest.mark.binaries
@needs_promtool
def test_batches_judge_mutants_as_running_them_one_at_a_time_does(examples_out, tmp_path):
    """The batch's copies are a faithful stand-in: a sample judged both ways agrees, and a
    mutant that changes nothing is neither caught nor refuted as an equivalent."""
    every, context = mutations.plan(examples_out, services=["pizza-api"])
    picked = mutations.sample(every, MUTANTS_ONE_BY_ONE)
    assert {m.kind for m in picked} == set(mutations.KINDS)
    same, wrong = identity_mutant(every, context), wrong_equivalent(every)
    unclaimed = copy.copy(same)
    unclaimed.equivalent = None  # run alone, as any mutant
    alone = mutations.run([*map(copy.copy, picked), unclaimed], context, tmp_path / "alone", jobs=2)
    batched = mutations.run_batched([*picked, same, wrong], context, tmp_path / "b", jobs=2)
    assert [bool(m.caught_by) for m in alone] == [True] * len(picked) + [False]
    assert [bool(m.caught_by) for m in batched[: len(picked) + 1]] == [True] * len(picked) + [False]
    assert batched[len(picked)].shown_equivalent  # the unchanged rule fires as the original
    # a label drop wrongly called equivalent (severity: no series carries it) is refuted,
    # then counted, and caught
    assert wrong.equivalent is None and wrong.caught_by and not wrong.shown_equivalent


def identity_mutant(every, context):
    """A 'mutant' whose rule is the original, claimed equivalent."""
    first = next(m for m in every if m.kind == "for_doubled")
    same = copy.copy(first)
    same.replacement = first.source["groups"][first.where[0]]["rules"][first.where[1]]
    same.equivalent = "the rule unchanged"
    return same


def wrong_equivalent(every):
    wrong = next(m for m in every if m.kind == "label_dropped" and "severity" in m.detail)
    wrong = copy.copy(wrong)
    wrong.equivalent = "claimed, wrongly"
    return wrong


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


@pytest.mark.binaries
@needs_promtool
def test_an_equivalence_is_refuted_where_the_alerts_differ_between_the_checked_times(tmp_path):
    """The alert checks at 2m and 9m cannot see a rule that stops firing from 5m to 7m; the
    comparison at every evaluation can: the claimed equivalence is refuted and the mutant counts
    (not caught by this group). The unchanged rule is shown equivalent."""
    rule = {"alert": "Up", "expr": "up > 0", "labels": {"severity": "page"}}
    source = {"groups": [{"name": "g", "rules": [rule]}]}
    firing = [{"exp_labels": {"job": "x", "severity": "page"}}]
    test = {
        "interval": "1m",
        "input_series": [{"series": 'up{job="x"}', "values": "1+0x20"}],
        "alert_rule_test": [
            {"eval_time": t, "alertname": "Up", "exp_alerts": firing} for t in ("2m", "9m")
        ],
    }
    group = mutations.Group("g #1", {"evaluation_interval": "1m", "tests": [test]}, 9, [], {"Up"})
    gap = {**rule, "expr": "up > 0 unless on() (vector(time()) >= 300 and vector(time()) < 420)"}
    claims = [
        mutations.Mutant("s", "label_dropped", {"alertname": "Up"}, d, source, (0, 0), r, "claim")
        for d, r in (("gap", gap), ("same", rule))
    ]
    runner = mutations.BatchRunner(tmp_path, "promtool")
    runner.run_batch("s", group, claims, mutations.dump(source))
    refuted, same = claims
    assert refuted.equivalent is None and not refuted.caught_by and not refuted.shown_equivalent
    assert same.equivalent and same.shown_equivalent == "g #1" and not same.caught_by
