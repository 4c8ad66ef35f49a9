"""What keeps `slo test` within its CPU budget without proving less: every burn-rate tier of an
SLO in one scenario, and promtool loading only the rule groups a test file evaluates."""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from support import compile_into, needs_promtool, ratio_slo

from compiler.checks import toolrun
from compiler.core.model import SLO, BurnTier
from compiler.targets.promtool import scenarios
from compiler.targets.promtool.simulate import Simulation, Timeline
from compiler.targets.promtool.testfiles import needed_rules, only_ordered_groups, proofs

DAY = 86400
STEP = 5  # minutes: the burn tests' step
CASES = [(30, "0.999"), (365, "0.999"), (365, "0.99")]


def simulate(slo: SLO, segments: scenarios.Segments) -> Simulation:
    return Simulation(slo, Timeline.build(list(segments), STEP))


def plan_for(slo: SLO) -> scenarios.Plan:
    plan = scenarios.plan_tiers(lambda timeline: [Simulation(slo, timeline)], STEP)
    assert plan is not None
    return plan


@pytest.mark.parametrize(("days", "objective"), CASES)
def test_one_scenario_shows_every_tier_fire_on_time_and_clear_by_its_short_window(days, objective):
    slo = ratio_slo(days, objective)
    tiers: tuple[BurnTier, ...] = slo.alerting.tiers
    plan = plan_for(slo)
    sim = simulate(slo, plan.segments)
    checked = {e.step: {j for _, j, _ in e.firing} for e in plan.expects}
    assert [i for i, _, _ in plan.marks] == list(range(len(tiers)))
    for i, fire, clear in plan.marks:
        tier = tiers[i]
        # absent the step before its long window crosses the threshold, present at it
        assert i not in checked[fire - 1] and i in checked[fire]
        assert not sim.firing(tier, fire - 1) and sim.firing(tier, fire)
        assert fire < plan.stop  # while errors still flow
        # gone one short window after errors stop (a step later if a value sits on a
        # threshold then) while the long window is still above the threshold: only the short
        # window's condition can have cleared it
        short = tier.short // 60 // STEP
        assert plan.stop + short <= clear <= plan.stop + short + 1
        assert i not in checked[clear]
        long_ratio = sim.ratio(tier.long, clear)
        assert long_ratio is not None and long_ratio > Fraction(tier.threshold)
    # the input ends at the last check: promtool evaluates no step it does not need
    assert sim.timeline.steps == max(checked)


def test_one_scenario_costs_the_longest_tier_not_the_sum():
    slo = ratio_slo(365, "0.999")
    plan = plan_for(slo)
    steps = Timeline.build(list(plan.segments), STEP).steps
    longest_short = max(t.short for t in slo.alerting.tiers) // 60 // STEP
    assert steps <= plan.stop + longest_short + 1
    one_per_tier = [
        p.end
        for i in range(len(slo.alerting.tiers))
        for p in scenarios.plan_fires(lambda timeline: [Simulation(slo, timeline)], i, STEP)
    ]
    # as long as the longest scenario of one tier alone, not all of them one after another
    assert steps <= max(one_per_tier) + 1 < sum(one_per_tier)


RULES = """\
groups:
- name: wanted
  rules:
  - record: a
    expr: vector(1)
- name: unwanted
  rules:
  - record: b
    expr: vector(2)
"""

TEST = """\
# generated
rule_files:
- rules.yml
evaluation_interval: 1m
group_eval_order:
- wanted
tests:
- interval: 1m
  input_series: []
  promql_expr_test:
  - expr: a
    eval_time: 1m
    exp_samples:
    - labels: a
      value: 1
"""


def test_the_lean_run_loads_only_the_groups_the_test_file_orders(tmp_path):
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "x.test.yml").write_text(TEST)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = only_ordered_groups(tmp_path / "x.test.yml", scratch)
    lean = Path(args[-1])
    assert args[:2] == ("test", "rules") and lean.parent == scratch
    [rule_file] = yaml.safe_load(lean.read_text())["rule_files"]
    groups = yaml.safe_load(Path(rule_file).read_text())["groups"]
    assert groups == [{"name": "wanted", "rules": [{"record": "a", "expr": "vector(1)"}]}]
    # the rest of the test file is as written
    assert lean.read_text().replace(f"- {rule_file}\n", "- rules.yml\n") == TEST


SLOW_RULES = {
    "name": "period",
    "rules": [
        {"record": "ev", "expr": "vector(1)", "labels": {"window": "3d"}},
        {"record": "ev", "expr": "vector(2)", "labels": {"window": "period"}},
        {"record": "ratio_period", "expr": 'ev{window="period"}'},
        {"alert": "Exhausted", "expr": "ratio_period > 1"},
        {"record": "ratio_3d", "expr": 'ev{window=~"3d|1d"} / 2'},
        {"alert": "Burn", "expr": "ratio_3d > 0 and last_over_time(fast[1m] offset 5m) > 0"},
    ],
}
FAST_RULES = {"name": "sli", "rules": [{"record": "fast", "expr": "vector(3)"}]}


def test_an_alert_test_keeps_only_the_rules_its_alerts_read():
    """A burn test of a slow tier: the tier's windows and ratio (of the period group) and the SLI
    group's ratio it reads at an offset; not the period record nor the forecast's alert."""
    kept = needed_rules([FAST_RULES, SLOW_RULES], {"Burn"})
    assert kept[0] == FAST_RULES
    assert [r.get("record") or r.get("alert") for r in kept[1]["rules"]] == [
        "ev",
        "ratio_3d",
        "Burn",
    ]
    assert kept[1]["rules"][0]["labels"] == {"window": "3d"}
    # the forecast's test keeps its record chain instead
    kept = needed_rules([FAST_RULES, SLOW_RULES], {"Exhausted"})
    assert kept[0]["rules"] == []
    assert [r.get("record") or r.get("alert") for r in kept[1]["rules"]] == [
        "ev",
        "ratio_period",
        "Exhausted",
    ]


def test_a_regex_python_cannot_read_may_match():
    rule = {"record": "ev", "expr": "vector(1)", "labels": {"window": "3d"}}
    groups = [{"name": "g", "rules": [rule, {"alert": "A", "expr": 'ev{window=~"\\\\pN"} > 0'}]}]
    assert needed_rules(groups, {"A"}) == groups


def test_a_read_by_name_pattern_keeps_every_rule():
    groups = [
        {
            "name": "g",
            "rules": [*SLOW_RULES["rules"], {"alert": "Any", "expr": '{__name__=~"e.*"}'}],
        }
    ]
    assert needed_rules(groups, {"Any"}) == groups


def test_without_an_order_the_test_file_runs_as_written(tmp_path, monkeypatch):
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "x.test.yml").write_text(TEST.replace("group_eval_order:\n- wanted\n", ""))
    with pytest.raises(ValueError, match="no group_eval_order"):
        only_ordered_groups(tmp_path / "x.test.yml", tmp_path)
    seen: list[list[str]] = []

    def record(title: str, argv: list[str], cwd: Path | None = None) -> toolrun.ToolResult:
        seen.append(argv)
        return toolrun.ToolResult(title, True, "")

    monkeypatch.setattr(toolrun, "run", record)
    proof = toolrun.ToolRun(
        "t",
        "promtool",
        ("test", "rules", str(tmp_path / "x.test.yml")),
        (),
        lambda scratch: only_ordered_groups(tmp_path / "x.test.yml", scratch),
    )
    toolrun._tool_run("promtool", proof)
    assert seen == [["promtool", "test", "rules", str(tmp_path / "x.test.yml")]]


YEARLY = """\
apiVersion: slo/v1
kind: Service
service: yearly-api
team: platform
slos:
  - name: availability
    objective: 99.9
    period: 365d
    indicator:
      ratio:
        errors: 'http_requests_total{job="yearly",code=~"5.."}'
        total: 'http_requests_total{job="yearly"}'
    alerting:
      page: true
      ticket: true
"""


@pytest.mark.binaries
@needs_promtool
def test_a_365d_slo_s_generated_tests_pass_in_one_burn_scenario(tmp_path):
    """The proofs `slo test` runs for a year-long SLO (its 14d/3d tier needs 3 days of 5-minute
    steps to show the short window clearing): one scenario, and they pass."""
    specs = tmp_path / "slo"
    specs.mkdir()
    (specs / "yearly.yaml").write_text(textwrap.dedent(YEARLY))
    out = tmp_path / "out"
    compile_into(specs, out)
    burn = out / "prometheus" / "tests" / "yearly-api.burn.test.yml"
    document = yaml.safe_load(burn.read_text())
    # the period group runs the slow tiers; `slo test` loads only the rules they read
    assert document["group_eval_order"] == ["slo-yearly-api-sli", "slo-yearly-api-period"]
    assert [t["name"] for t in document["tests"]] == [
        "availability: every tier fires at 15.33% errors, clears after"
    ]
    found = proofs(out, toolrun.out_files(out))
    results = toolrun.run_proofs(found)
    assert results and all(r.ok for r in results), [r.output for r in results if not r.ok]


def test_the_go_tools_run_with_a_lazier_collector_unless_the_user_set_one(monkeypatch):
    show = ["sh", "-c", 'echo "GOGC=$GOGC"']
    monkeypatch.delenv("GOGC", raising=False)
    assert toolrun.run("env", show).output.strip() == "GOGC=400"
    monkeypatch.setenv("GOGC", "off")
    assert toolrun.run("env", show).output.strip() == "GOGC=off"
