"""Grouped SLOs (`by:`): every rule keeps the group labels, alerts name their group, the
cardinality guard counts the groups, and the consistency check refuses a rule that drops one."""

from __future__ import annotations

import pytest
import yaml
from support import write_files

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
    sums = [
        r["expr"]
        for r in rules
        if r.get("record") == "slo:sli_events:increase" and "slo" not in r["labels"]
    ]
    # every window size, the week and the period: head and pieces summed per group
    assert len(sums) > 10
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
        slo: f'count(slo:sli_events:increase{{service="shop",slo="{slo}",kind="total",'
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
