"""Push to a fake Mimir ruler and Alertmanager API: owned namespaces only, tenants, faults."""

import json
import subprocess
import sys

import pytest
import yaml
from fakes.mimir import FakeMimir
from support import needs_promtool
from support.outtrees import (
    SMALL_ALERTMANAGER_CONFIG,
    diff,
    push,
    specs,
    write_alertmanager,
    write_rules,
)

from compiler.core import conventions
from compiler.push import endpoints as ep
from compiler.push import rulegroups
from compiler.push.mimir import RECORD_LABEL, Mimir
from compiler.push.transport import Secret

TENANT = "team-a"
RECORD_NS = conventions.MIMIR_RECORD_NAMESPACE
FOREIGN_GROUP = {"name": "theirs", "rules": [{"record": "theirs:up:sum", "expr": "sum(up)"}]}


@pytest.fixture
def mimir():
    with FakeMimir(token="mimir-secret-token") as fake:
        yield fake


def endpoints_for(fake, timeout=10.0) -> ep.Endpoints:
    return ep.Endpoints({"mimir": Mimir(fake.url, TENANT, Secret(fake.token))}, timeout=timeout)


def out_tree(tmp_path, with_search=True):
    spec_dir = specs(tmp_path)
    if with_search:
        (spec_dir / "search.yaml").write_text(
            (specs(tmp_path / "b", "period-28d") / "search.yaml").read_text()
        )
    out = tmp_path / "out"
    return write_rules(spec_dir, out), out


def recorded(fake) -> set[tuple[str, str]]:
    """(namespace, group) pairs slo's record in the ruler lists."""
    (group,) = fake.rules[TENANT][RECORD_NS]
    listed = json.loads(group["rules"][0]["labels"][RECORD_LABEL])
    return {(ns, name) for ns, names in listed.items() for name in names}


def generated(out, service):
    return rulegroups.load_rule_files(out / "prometheus" / "rules")[f"{service}.rules.yml"].groups


@needs_promtool  # push checks the rule files with promtool first
def test_push_writes_one_namespace_per_service_then_changes_nothing(tmp_path, mimir):
    model, out = out_tree(tmp_path)
    report = push(endpoints_for(mimir), model, out)["mimir"]
    assert report.status == "pushed", report.errors
    namespaces = mimir.rules[TENANT]
    assert set(namespaces) == {
        conventions.mimir_namespace("checkout"),
        conventions.mimir_namespace("search"),
        conventions.MIMIR_RECORD_NAMESPACE,
    }
    written = {
        (ns, g["name"]) for ns, groups in namespaces.items() for g in groups if ns != RECORD_NS
    }
    assert recorded(mimir) == written
    for service in (
        "checkout",
        "search",
    ):  # groups are posted concurrently, so compare them by name
        by_name = {g["name"]: g for g in namespaces[conventions.mimir_namespace(service)]}
        assert by_name == {g["name"]: g for g in generated(out, service)}
    assert all(r.headers["X-Scope-OrgID"] == TENANT for r in mimir.log)
    assert all(r.headers["Content-Type"] == "application/yaml" for r in mimir.writes())
    assert report.plan.counts()["created"] == sum(len(g) for g in namespaces.values())

    writes = len(mimir.writes())
    again = push(endpoints_for(mimir), model, out)["mimir"]
    assert (
        again.status == "pushed"
        and again.plan.counts()["created"] == again.plan.counts()["updated"] == 0
    )
    assert len(mimir.writes()) == writes


@needs_promtool  # push checks the rule files with promtool first
def test_a_foreign_slo_namespace_survives_a_push_with_and_without_prune(tmp_path, mimir):
    """Before, every group in any slo-* namespace that out/ lacked was deleted on every push."""
    mimir.rules[TENANT] = {"team-x": [FOREIGN_GROUP], "slo-retired": [FOREIGN_GROUP]}
    mimir.rules["other-tenant"] = {"slo-checkout": [FOREIGN_GROUP]}
    model, out = out_tree(tmp_path)
    theirs = {**FOREIGN_GROUP, "name": "slo-checkout-old"}  # in a namespace slo writes
    mimir.rules[TENANT]["slo-checkout"] = [theirs]

    for prune in (False, True):
        report = push(endpoints_for(mimir), model, out, prune=prune)["mimir"]
        assert report.status == "pushed", report.errors
        assert not [c for c in report.plan.changes if c.kind == "deleted"]
        assert not [r for r in mimir.log if r.method == "DELETE"]
        assert mimir.rules[TENANT]["team-x"] == [FOREIGN_GROUP]
        assert mimir.rules[TENANT]["slo-retired"] == [FOREIGN_GROUP]
        assert theirs in mimir.rules[TENANT]["slo-checkout"]
        assert mimir.rules["other-tenant"] == {"slo-checkout": [FOREIGN_GROUP]}
    assert [n.split(" is in a ")[0] for n in report.plan.notes] == [
        "group slo-checkout-old (namespace slo-checkout)",
        "group theirs (namespace slo-retired)",
    ], "with --prune the report names what it leaves alone"
    assert ("slo-retired", "theirs") not in recorded(mimir)


@needs_promtool  # push checks the rule files with promtool first
def test_groups_slo_recorded_and_no_longer_generates_go_only_with_prune(tmp_path, mimir):
    model, out = out_tree(tmp_path)
    assert push(endpoints_for(mimir), model, out)["mimir"].status == "pushed"
    search = {g["name"] for g in mimir.rules[TENANT]["slo-search"]}
    model, out = out_tree(tmp_path / "without-search", with_search=False)

    kept = push(endpoints_for(mimir), model, out)["mimir"]
    assert kept.status == "pushed" and kept.plan.counts()["deleted"] == 0, kept.errors
    assert len([n for n in kept.plan.notes if "--prune deletes it" in n]) == len(search)
    assert {g["name"] for g in mimir.rules[TENANT]["slo-search"]} == search
    assert {name for ns, name in recorded(mimir) if ns == "slo-search"} == search

    pruned = push(endpoints_for(mimir), model, out, prune=True)["mimir"]
    assert pruned.status == "pushed", pruned.errors
    deleted = [c for c in pruned.plan.changes if c.kind == "deleted"]
    assert sorted(c.object for c in deleted) == [
        f"group {name} (namespace slo-search)" for name in sorted(search)
    ]
    assert all(
        c.details
        == (
            "slo's: listed in its record (group slo_push_record in namespace slo_push_record) "
            "as written by slo push; out/ no longer has it",
        )
        for c in deleted
    )
    assert "slo-search" not in mimir.rules[TENANT]
    assert not [ns for ns, _ in recorded(mimir) if ns == "slo-search"]
    assert not diff(endpoints_for(mimir), model, out, prune=True)["mimir"].changed


@needs_promtool  # push checks the rule files with promtool first
def test_entries_of_the_record_that_are_not_groups_slo_could_have_written_are_ignored(
    tmp_path, mimir
):
    model, out = out_tree(tmp_path, with_search=False)
    assert push(endpoints_for(mimir), model, out)["mimir"].status == "pushed"
    mimir.rules[TENANT]["team-x"] = [FOREIGN_GROUP]
    mimir.rules[TENANT]["../x"] = [FOREIGN_GROUP]
    rule = mimir.rules[TENANT][RECORD_NS][0]["rules"][0]
    planted = json.loads(rule["labels"][RECORD_LABEL])
    planted.update(
        {"team-x": ["theirs"], "../x": ["theirs"], "slo-a": ["a/b", "..", 7], "slo-b": "x"}
    )
    rule["labels"][RECORD_LABEL] = json.dumps(planted)

    report = push(endpoints_for(mimir), model, out, prune=True)["mimir"]
    assert report.status == "pushed", report.errors
    ignored = [n for n in report.plan.notes if "not a group slo could have written" in n]
    assert len(ignored) == 6
    assert not [r for r in mimir.log if r.method == "DELETE"]
    assert mimir.rules[TENANT]["team-x"] == [FOREIGN_GROUP] == mimir.rules[TENANT]["../x"]
    assert {ns for ns, _ in recorded(mimir)} == {"slo-checkout"}, "written again without them"


@needs_promtool  # push checks the rule files with promtool first
def test_the_alertmanager_config_goes_to_the_tenant_and_is_compared_parsed(tmp_path, mimir):
    model, out = out_tree(tmp_path, with_search=False)
    write_alertmanager(out)
    report = push(endpoints_for(mimir), model, out)["mimir"]
    assert ("created", "alertmanager config") in [(c.kind, c.object) for c in report.plan.changes]
    assert yaml.safe_load(mimir.alertmanager[TENANT]["alertmanager_config"]) == yaml.safe_load(
        SMALL_ALERTMANAGER_CONFIG
    )

    mimir.alertmanager[TENANT]["alertmanager_config"] = yaml.safe_dump(
        yaml.safe_load(SMALL_ALERTMANAGER_CONFIG)
    )
    assert not diff(endpoints_for(mimir), model, out)["mimir"].changed, (
        "re-serialised YAML is the same config"
    )

    write_alertmanager(
        out, SMALL_ALERTMANAGER_CONFIG.replace("repeat_interval: 4h", "repeat_interval: 12h")
    )
    changed = diff(endpoints_for(mimir), model, out)["mimir"]
    assert [(c.kind, c.object, c.details) for c in changed.plan.pending] == [
        ("updated", "alertmanager config", ("route.repeat_interval differs",))
    ]


@needs_promtool  # push checks the rule files with promtool first
def test_push_converges_through_faults_and_reports_a_persistent_one(tmp_path, mimir):
    model, out = out_tree(tmp_path)
    mimir.fail("POST", "/prometheus/config/v1/rules/slo-search", status=503, times=2)
    mimir.drop("POST", "/prometheus/config/v1/rules/slo-checkout", times=1)
    mimir.slow("GET", "/prometheus/config/v1/rules", delay=1.0, times=1)
    report = push(endpoints_for(mimir, timeout=0.3), model, out)["mimir"]
    assert report.status == "pushed", report.errors
    assert not diff(endpoints_for(mimir), model, out)["mimir"].changed

    group = mimir.rules[TENANT]["slo-checkout"][0]
    group["rules"][0] = {
        **group["rules"][0],
        "expr": "vector(1)",
    }  # changed by hand: one group to write
    mimir.fail("POST", "/prometheus/config/v1/rules/slo-checkout", status=500, times=4)
    failed = push(endpoints_for(mimir), model, out)["mimir"]
    assert failed.status == "failed"
    assert failed.errors[0].startswith("1 of 1 Mimir writes failed")
    assert "HTTP 500" in failed.errors[0] and "after 4 attempts" in failed.errors[0]
    assert push(endpoints_for(mimir), model, out)["mimir"].status == "pushed"


@needs_promtool  # push checks the rule files with promtool first
def test_a_missing_token_or_tenant_is_refused_and_the_token_never_shows(tmp_path, mimir):
    model, out = out_tree(tmp_path, with_search=False)
    wrong = ep.Endpoints({"mimir": Mimir(mimir.url, TENANT, Secret("not-the-token"))})
    report = push(wrong, model, out)["mimir"]
    assert report.status == "failed" and "HTTP 401" in report.errors[0]
    assert "not-the-token" not in report.errors[0]
    with pytest.raises(ep.EndpointError) as exc:
        ep.resolve({}, {"SLO_MIMIR_URL": mimir.url})
    assert "SLO_MIMIR_TENANT" in exc.value.diagnostics[0].render()


def test_an_answer_nested_100000_levels_deep_is_an_error_not_a_crash(tmp_path):
    """libyaml's composer overflows the C stack on such nesting: a segfault, so this runs apart."""
    script = """
from compiler.push import alertmanager, mimir, rulegroups
from compiler.push.transport import PushError
deep = "groups: " + "[" * 100000 + "]" * 100000

class Answer:
    text = deep

parsers = (
    lambda: mimir._yaml(Answer(), "list rule groups"),
    lambda: alertmanager.parse_config(deep, "live config"),
    lambda: rulegroups.parse_groups(deep, "x.yml"),
)
for parse in parsers:
    try:
        parse()
    except PushError as exc:
        print(exc)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-500:]}"
    assert proc.stdout.splitlines() == [
        "list rule groups: the answer is not YAML",
        "live config: not valid YAML: nested deeper than 1000 levels",
        "x.yml: not valid YAML: nested deeper than 1000 levels",
    ]


def test_a_posted_group_reads_back_exactly_whatever_its_strings_hold():
    from compiler.push.mimir import group_body

    tricky = [
        "héllo — ünïcode ✓",
        "line one\nline two\n",
        "  leading and trailing  ",
        "'single' \"double\" `back`",
        "{{ $labels.service }}: {{ $value | humanizePercentage }}",
        "yes",
        "no",
        "null",
        "~",
        "0x1F",
        "1e3",
        "-",
        "- item",
        "key: value",
        "# not a comment",
        "tab\there",
        "x" * 500,
        "a: b\n  c: [d, e]\n",
    ]
    group = {
        "name": "slo-checkout-alerts",
        "interval": "1m",
        "rules": [
            {
                "alert": f"A{i}",
                "expr": f'sum(rate(x{{job="{i}"}}[5m])) > 0',
                "for": "2m",
                "labels": {"severity": "page"},
                "annotations": {"summary": s},
            }
            for i, s in enumerate(tricky)
        ],
    }
    assert yaml.safe_load(group_body(group)) == group


def test_reading_an_answer_pauses_the_garbage_collector_and_restores_it_even_on_errors():
    import gc

    from compiler.push.rulegroups import gc_paused

    assert gc.isenabled()
    with pytest.raises(ValueError):
        with gc_paused():
            assert not gc.isenabled()
            raise ValueError("a bad answer")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled(), "left as the caller had it"
    finally:
        gc.enable()
