"""Grouped SLOs (`by:`): every rule keeps the group labels, alerts name their group, the
cardinality guard counts the groups, and the consistency check refuses a rule that drops one."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from support import bench_script, needs_promtool, write_files

from compiler import compile_tree
from compiler.checks import consistency

SPEC = """\
apiVersion: slo/v1
service: shop
team: web
engines: [prometheus, vmalert]
slos:
  - name: availability
    objective: 99.9
    by: [region]
    indicator:
      ratio:
        errors: http_requests_total{job="shop",code=~"5.."}
        total: http_requests_total{job="shop"}
  - name: fast
    objective: 99
    by: [region, endpoint]
    max_groups: 10
    alerting: {min_events: 100}
    indicator:
      latency:
        histogram: http_request_duration_seconds{job="shop"}
        threshold: 1s
  - name: good
    objective: 99
    indicator:
      ratio:
        good: ok_total{job="shop"}
        total: all_total{job="shop"}
"""
RULES = "prometheus/rules/shop.rules.yml"
VMALERT = "vmalert/rules/shop.rules.yml"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_tree(write_files(tmp_path_factory.mktemp("groups"), {"shop.yaml": SPEC}))


def rules_of(text: str) -> list[dict]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_raw_sums_window_sizes_and_the_period_keep_the_group_labels(compiled):
    rules = rules_of(compiled.artifacts[RULES])
    raw = {
        (r["labels"]["slo"], r["labels"]["kind"]): r["expr"]
        for r in rules
        if r.get("labels", {}).get("window") == "5m"
    }
    assert raw[("availability", "total")].startswith("sum by (region)(increase(")
    assert " or on(region) 0 * " in raw[("availability", "errors")]
    assert raw[("fast", "errors")].count("on(region, endpoint)") == 2
    # the ungrouped SLO of the same service: exactly as without any grouped one
    assert raw[("good", "total")] == 'sum(increase(all_total{job="shop"}[5m]))'
    assert "- on() group_left() (" in raw[("good", "errors")]
    shared = [
        r
        for r in rules
        if r.get("record") == "slo:sli_events:increase" and "slo" not in r["labels"]
    ]
    # the seconds of every SLO's raw window: its total's series, group labels and all, * 0 + 300
    (seconds,) = [r["expr"] for r in shared if r["labels"].get("kind") == "seconds"]
    assert seconds.startswith('last_over_time(slo:sli_events:increase{service="shop",kind="total"')
    sums = [r["expr"] for r in shared if "kind" not in r["labels"]]
    # every window size (30m 1h 2h 6h 1d 3d), the week and the period, summed per group
    assert len(sums) == 8
    assert all(e.startswith("sum by (slo, kind, endpoint, region) (") for e in sums)


def test_alerts_name_their_group_and_the_guard_counts_groups(compiled):
    rules = rules_of(compiled.artifacts[RULES])
    (page,) = [
        r
        for r in rules
        if r.get("alert") == "ErrorBudgetBurn"
        and r["labels"]["slo"] == "fast"
        and r["labels"]["long_window"] == "1h"
    ]
    assert page["annotations"]["summary"] == (
        "shop fast [region={{ $labels.region }}, endpoint={{ $labels.endpoint }}]: "
        "error budget burning 14.4x too fast"
    )
    assert (
        "in region={{ $labels.region }}, endpoint={{ $labels.endpoint }} is"
        in (page["annotations"]["description"])
    )
    # the low-traffic guard counts each group's own events
    assert "sum without (kind, window) (" in page["expr"]
    counts = {r["labels"]["slo"]: r["expr"] for r in rules if r.get("record") == "slo:groups:count"}
    assert counts == {
        slo: f'count(slo:sli_events:increase{{service="shop",slo="{slo}",kind="seconds",'
        'window="5m"})'
        for slo in ("availability", "fast")
    }
    guards = {r["labels"]["slo"]: r for r in rules if r.get("alert") == "SLOGroupsOverLimit"}
    assert sorted(guards) == ["availability", "fast"]
    assert guards["fast"]["expr"] == 'slo:groups:count{service="shop",slo="fast"} > 10'
    assert guards["availability"]["expr"].endswith(" > 50")  # the default max_groups
    assert guards["fast"]["for"] == "15m"
    assert guards["fast"]["labels"]["severity"] == "ticket"


def test_the_vmalert_rules_keep_the_group_labels_too(compiled):
    rules = rules_of(compiled.artifacts[VMALERT])
    assert consistency.grouping(compiled.model, compiled.artifacts) == []
    sizes = [
        r["expr"]
        for r in rules
        if r.get("record") == "slo:sli_events:increase" and r["labels"].get("window") == "1h"
    ]
    assert sizes and all("sum by (slo, kind, endpoint, region) (" in e for e in sizes)
    (page,) = [
        r
        for r in rules
        if r.get("alert") == "ErrorBudgetBurn"
        and r["labels"]["slo"] == "availability"
        and r["labels"]["long_window"] == "1h"
    ]
    assert "sum by (slo, endpoint, region)" in page["expr"]
    assert any(r.get("alert") == "SLOGroupsOverLimit" for r in rules)


@pytest.mark.parametrize(
    "path, old, new, problem",
    [
        (RULES, "sum by (slo, kind, endpoint, region)", "sum by (slo, kind, region)", "drops"),
        (RULES, "or on(region) 0", "or on() 0", "matches across region"),
        (RULES, "sum without (window)", "sum without (window, region)", "drops region"),
        (RULES, "in region={{ $labels.region }}", "in region", "does not name the group"),
        (
            RULES,
            'sum by (region)(increase(http_requests_total{job="shop"}[5m]))',
            'sum(increase(http_requests_total{job="shop"}[5m]))',
            "sum drops region",
        ),
        (VMALERT, "sum by (slo, kind, endpoint, region)", "sum by (slo, kind)", "drops"),
    ],
)
def test_the_consistency_check_refuses_a_rule_that_drops_a_group_label(
    compiled, path, old, new, problem
):
    artifacts = dict(compiled.artifacts)
    assert old in artifacts[path]
    artifacts[path] = artifacts[path].replace(old, new, 1)
    found = consistency.grouping(compiled.model, artifacts)
    assert found and all(d.check_id == "consistency/group-labels" for d in found)
    assert problem in found[0].message and found[0].position.file == path


# --- the generated tests -------------------------------------------------------------------------
BURN_TESTS = "prometheus/tests/shop.burn.test.yml"
TESTS = "prometheus/tests/shop.test.yml"


def test_generated_burn_tests_fail_one_group_and_keep_another_healthy(compiled):
    groups = yaml.safe_load(compiled.artifacts[BURN_TESTS])["tests"]
    fires = [g for g in groups if g["name"].startswith("availability: every tier fires")]
    (test,) = fires
    series = [s["series"] for s in test["input_series"]]
    assert series == [
        'http_requests_total{code="500",job="shop",region="failing"}',
        'http_requests_total{code="200",job="shop",region="failing"}',
        # the healthy group: traffic, no error series at all
        'http_requests_total{code="200",job="shop",region="healthy"}',
    ]
    alerts = [a for check in test["alert_rule_test"] for a in check["exp_alerts"]]
    assert alerts and all(a["exp_labels"]["region"] == "failing" for a in alerts)
    assert alerts[0]["exp_annotations"]["summary"].startswith(
        "shop availability [region=failing]: "
    )
    assert test["alert_rule_test"][-1]["exp_alerts"] == []  # and it clears
    (fast,) = [g for g in groups if g["name"].startswith("fast: every tier fires")]
    labels = [a["exp_labels"] for c in fast["alert_rule_test"] for a in c["exp_alerts"]]
    assert labels and all((x["region"], x["endpoint"]) == ("failing", "failing") for x in labels)


def test_the_guard_is_proven_above_and_at_its_limit(compiled):
    groups = yaml.safe_load(compiled.artifacts[TESTS])["tests"]
    by_name = {g["name"]: g for g in groups}
    above, at = (
        by_name["fast: 11 groups by region fires after 15m"],
        by_name["fast: 10 groups by region never fires"],
    )
    assert len({s["series"] for s in above["input_series"]}) == 11 * 2  # bucket and count
    assert [c["eval_time"] for c in above["alert_rule_test"]] == ["15m", "16m"]
    assert [len(c["exp_alerts"]) for c in above["alert_rule_test"]] == [0, 1]
    assert above["alert_rule_test"][1]["exp_alerts"][0]["exp_annotations"]["summary"] == (
        "shop fast: 11 groups by region, endpoint, more than max_groups (10)"
    )
    assert [c["exp_alerts"] for c in at["alert_rule_test"]] == [[], []]


def test_a_guard_too_large_to_test_is_warned_without_building_its_groups(tmp_path, monkeypatch):
    """max_groups may be huge (the schema sets no upper bound): the guard then gets a warning,
    and the test generator never builds a value per group (a hypothesis example with
    max_groups 100000 once spent a minute of CPU there)."""
    from compiler.targets.promtool import groups as guard

    asked: list[int] = []
    real = guard.label_values

    def spy(slo, label, wanted):
        asked.append(len(wanted))
        return real(slo, label, wanted)

    monkeypatch.setattr(guard, "label_values", spy)
    spec = SPEC.replace("max_groups: 10", "max_groups: 100000")
    result = compile_tree(write_files(tmp_path, {"shop.yaml": spec}))
    warned = [d.message for d in result.diagnostics if d.check_id == "tests/uncovered"]
    assert any("SLOGroupsOverLimit guard has no generated test (more than" in m for m in warned)
    assert asked and max(asked) <= guard.MAX_GUARD_GROUPS


def test_a_selector_that_fixes_the_group_label_gets_one_group(tmp_path):
    spec = SPEC.replace(
        'errors: http_requests_total{job="shop",code=~"5.."}',
        'errors: http_requests_total{job="shop",code=~"5..",region=~"eu-.*"}',
    )
    result = compile_tree(write_files(tmp_path, {"shop.yaml": spec}))
    groups = yaml.safe_load(result.artifacts[BURN_TESTS])["tests"]
    (test,) = [g for g in groups if g["name"].startswith("availability: every tier fires")]
    regions = {s["series"].split('region="')[1].split('"')[0] for s in test["input_series"]}
    # values the selector selects: an example of its regex, with and without the suffixes
    assert all(r.startswith("eu-") for r in regions) and len(regions) == 2


@pytest.mark.binaries
@needs_promtool
def test_the_generated_tests_of_grouped_slos_pass_and_catch_summed_groups(tmp_path):
    # the two grouped SLOs, page tiers only: the ticket tiers' days of simulated time prove
    # nothing more about groups
    spec = SPEC.split("  - name: good")[0].replace(
        "    by: [region]\n", "    by: [region]\n    alerting: {ticket: false}\n"
    )
    spec = spec.replace("{min_events: 100}", "{min_events: 100, ticket: false}")
    compiled = compile_tree(write_files(tmp_path / "slo", {"shop.yaml": spec}))
    out = tmp_path / "out"
    for rel, text in compiled.artifacts.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)

    def promtool(test: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["promtool", "test", "rules", str(out / test)],
            capture_output=True,
            text=True,
            timeout=600,
        )

    for test in (TESTS, BURN_TESTS):
        run = promtool(test)
        assert run.returncode == 0, run.stdout + run.stderr
    # a rule file that adds the groups of one window size together fails them
    rules = out / RULES
    summed = rules.read_text().replace(
        "sum by (slo, kind, endpoint, region) (", "sum by (slo, kind) ("
    )
    assert summed != rules.read_text()
    rules.write_text(summed)
    assert promtool(BURN_TESTS).returncode != 0


def test_the_eval_bench_groups_every_slo_of_its_specs(tmp_path):
    gen_specs = bench_script("gen_specs")
    spec = gen_specs.service_spec(0, thresholds=False, by=("instance",))
    result = compile_tree(write_files(tmp_path, {"svc.yaml": spec}))
    slos = result.model.services[0].slos
    assert [(s.by, s.max_groups) for s in slos] == [(("instance",), 1000)] * 3
