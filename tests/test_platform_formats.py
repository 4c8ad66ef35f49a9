"""PrometheusRule and Mimir outputs, generated for the seed examples and checked: the CRD's
spec.groups shape, promtool on the embedded groups, mimirtool-style namespace documents; and
the spec keys that ask for them."""

import dataclasses
import functools

import jsonschema
import pytest
import yaml
from support import ROOT, needs_promtool, write_files

from compiler import compile_tree, load_tree, targets
from compiler.checks import toolrun
from compiler.core import conventions
from compiler.core.diagnostics import CompileError
from compiler.core.model import KubernetesOutput, Outputs
from compiler.pipeline.output import write_tree

# The structural part of the Prometheus Operator's PrometheusRule CRD (monitoring.coreos.com/v1),
# transcribed from its openAPIV3Schema, with additionalProperties: false added: the API server
# would silently prune a field it does not know, so no such field may be generated at all.
DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?)$",
}
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "properties": {
        "record": {"type": "string"},
        "alert": {"type": "string"},
        "expr": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "for": DURATION,
        "keep_firing_for": {**DURATION, "minLength": 1},
        "labels": STRINGS,
        "annotations": STRINGS,
    },
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
}
GROUP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "interval": DURATION,
        "limit": {"type": "integer"},
        "query_offset": DURATION,
        "labels": STRINGS,
        "partial_response_strategy": {
            "type": "string",
            "pattern": "(?i)^(abort|warn)?$",
        },  # Python wants (?i) first
        "rules": {"type": "array", "items": RULE},
    },
}
PROMETHEUS_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": STRINGS,
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"groups": {"type": "array", "items": GROUP}},
        },
    },
}
# mimirtool's RuleNamespace: `namespace` and `groups`, parsed with KnownFields(true).
MIMIR_NAMESPACE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["namespace", "groups"],
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "groups": {"type": "array", "items": GROUP},
    },
}


@functools.cache
def seeds_with_both_outputs():
    """The seed examples compiled as if every service asked for a PrometheusRule and a Mimir file
    (the rule targets only: the promtool tests target is the slow one and adds nothing here)."""
    model, _ = load_tree(ROOT / "slo")
    settings = Outputs(
        KubernetesOutput("monitoring", (("release", "kube-prometheus-stack"),)), mimir=True
    )
    model = dataclasses.replace(
        model, services=tuple(dataclasses.replace(s, outputs=settings) for s in model.services)
    )
    artifacts = {}
    for name in ("prometheus", "kubernetes", "mimir"):
        artifacts.update(targets.by_name(name).emit(model).files)
    return model, artifacts


def test_seed_examples_as_prometheus_rules_match_the_crd_and_the_plain_rule_files():
    model, artifacts = seeds_with_both_outputs()
    assert model.services
    for service in model.services:
        text = artifacts[conventions.kubernetes_rule_file(service.name)]
        assert text.startswith(conventions.header(service.source_file))
        obj = yaml.safe_load(text)
        jsonschema.validate(obj, PROMETHEUS_RULE)
        assert obj["metadata"] == {
            "name": f"slo-{service.name}",
            "namespace": "monitoring",
            "labels": {"app.kubernetes.io/managed-by": "slo", "release": "kube-prometheus-stack"},
        }
        # The operator writes spec.groups out verbatim: they are the rules promtool tests.
        plain = yaml.safe_load(artifacts[conventions.rules_file(service.name)])
        assert obj["spec"]["groups"] == plain["groups"]
        names = [g["name"] for g in obj["spec"]["groups"]]
        assert len(names) == len(set(names))  # listType=map keyed by name


def test_seed_examples_as_mimir_namespace_files():
    model, artifacts = seeds_with_both_outputs()
    namespaces = []
    for service in model.services:
        documents = list(yaml.safe_load_all(artifacts[conventions.mimir_rule_file(service.name)]))
        assert len(documents) == 1
        for document in documents:
            jsonschema.validate(document, MIMIR_NAMESPACE)
            names = [g["name"] for g in document["groups"]]
            assert len(names) == len(set(names)), (
                "mimirtool: group name repeated in the same namespace"
            )
            assert (
                document["groups"]
                == yaml.safe_load(artifacts[conventions.rules_file(service.name)])["groups"]
            )
            namespaces.append(document["namespace"])
    # `mimirtool rules sync` refuses one namespace in two files, and only ours carry the prefix.
    assert len(namespaces) == len(set(namespaces))
    assert all(n.startswith(conventions.MIMIR_NAMESPACE_PREFIX) for n in namespaces)


@needs_promtool
def test_seed_examples_embedded_groups_pass_promtool(tmp_path):
    _, artifacts = seeds_with_both_outputs()
    write_tree(artifacts, tmp_path / "out")
    results = toolrun.test_output(tmp_path / "out", only={"kubernetes", "mimir"})
    assert len(results) == 1 and results[0].ok, results[0].output
    assert "(8 files)" in results[0].title  # 4 services x (PrometheusRule + Mimir file)


@needs_promtool
def test_embedded_check_fails_on_a_broken_rule(tmp_path):
    out = tmp_path / "out" / "kubernetes"
    out.mkdir(parents=True)
    broken = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "x"},
        "spec": {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum(("}]}]},
    }
    (out / "x.prometheusrule.yml").write_text(yaml.safe_dump(broken))
    results = toolrun.test_output(tmp_path / "out", only={"kubernetes", "mimir"})
    assert len(results) == 1 and not results[0].ok and "parse error" in results[0].output
    (out / "x.prometheusrule.yml").write_text(yaml.safe_dump({"kind": "ConfigMap"}))
    results = toolrun.test_output(tmp_path / "out", only={"kubernetes", "mimir"})
    assert (
        len(results) == 1
        and not results[0].ok
        and "no rule groups where expected" in results[0].output
    )


def test_seed_examples_ask_for_no_platform_outputs():
    """The shipped examples run on AWS and plain droplets; out/ holds no Kubernetes or Mimir
    files."""
    artifacts = compile_tree(ROOT / "slo").artifacts
    assert not [n for n in artifacts if n.startswith(("kubernetes/", "mimir/"))]


# --- the spec keys -------------------------------------------------------------------------------
BASE = """apiVersion: slo/v1
service: shop
team: web
{extra}thresholds:
  - name: up
    expr: up{{job="shop"}}
    below: 1
    severity: page
"""


def compiled(tmp_path, extra: str):
    return compile_tree(write_files(tmp_path / "slo", {"shop.yaml": BASE.format(extra=extra)}))


def errors_of(tmp_path, extra: str) -> list[str]:
    with pytest.raises(CompileError) as caught:
        compiled(tmp_path, extra)
    return [d.render() for d in caught.value.diagnostics]


def test_outputs_key_selects_the_files(tmp_path):
    files = compiled(tmp_path, "outputs:\n  kubernetes: true\n").artifacts
    assert "kubernetes/shop.prometheusrule.yml" in files and "mimir/shop.rules.yml" not in files
    assert "namespace:" not in files["kubernetes/shop.prometheusrule.yml"].split("spec:")[0]
    files = compiled(tmp_path, "outputs:\n  mimir: true\n  kubernetes: false\n").artifacts
    assert "mimir/shop.rules.yml" in files and not any(n.startswith("kubernetes/") for n in files)
    assert files["mimir/shop.rules.yml"].splitlines()[1] == "namespace: slo-shop"


def test_outputs_errors_name_file_line_and_field(tmp_path):
    assert errors_of(tmp_path, "outputs:\n  kubernetes:\n    namespace: Monitoring_NS\n") == [
        'slo/shop.yaml:6:16: error [schema/pattern] outputs.kubernetes.namespace: "Monitoring_NS" '
        "is not valid: a Kubernetes namespace: lowercase letters, digits and hyphens, at most 63 "
        "characters"
    ]
    reserved = errors_of(
        tmp_path, "outputs:\n  kubernetes:\n    labels:\n      app.kubernetes.io/managed-by: helm\n"
    )
    assert reserved == [
        "slo/shop.yaml:7:7: error [spec/reserved-label] "
        "outputs.kubernetes.labels.app.kubernetes.io/managed-by: label "
        "'app.kubernetes.io/managed-by' is set by the compiler"
    ]
    assert errors_of(tmp_path, "outputs:\n  mimir: yes please\n")[0].startswith(
        "slo/shop.yaml:5:10: error [schema/type] outputs.mimir: expected boolean, got a string "
        '"yes please"'
    )
    assert errors_of(tmp_path, "outputs:\n  grafana: true\n")[0].startswith(
        "slo/shop.yaml:5:3: error [schema/unknown-key] outputs.grafana"
    )


SLO = """slos:
  - name: api
    objective: 99
    indicator:
      ratio:
        errors: http_requests_total{{job="shop",code=~"5.."}}
        total: http_requests_total{{job="shop"}}
    alerting:
{alerting}"""


def test_severity_blocks_add_labels_to_that_severity_only(tmp_path):
    alerting = (
        "      labels: {route: common}\n      page:\n        labels: {route: pager}\n"
        "      ticket: {annotations: {channel: '#shop'}}\n"
    )
    rules = yaml.safe_load(
        compiled(tmp_path, SLO.format(alerting=alerting)).artifacts[
            "prometheus/rules/shop.rules.yml"
        ]
    )
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ErrorBudgetBurn"]
    assert {(a["labels"]["severity"], a["labels"]["route"]) for a in alerts} == {
        ("page", "pager"),
        ("ticket", "common"),
    }
    assert {
        a["labels"]["severity"] for a in alerts if a["annotations"].get("channel") == "#shop"
    } == {"ticket"}


def test_severity_block_errors(tmp_path):
    reserved = errors_of(
        tmp_path, SLO.format(alerting="      page:\n        labels: {severity: critical}\n")
    )
    assert reserved == [
        "slo/shop.yaml:13:18: error [spec/reserved-label] slos[0].alerting.page.labels.severity: "
        "label 'severity' is set by the compiler; choose another name"
    ]
    unknown = errors_of(tmp_path, SLO.format(alerting="      ticket:\n        lables: {a: b}\n"))
    assert unknown[0].startswith(
        "slo/shop.yaml:13:9: error [schema/unknown-key] slos[0].alerting.ticket.lables: unknown "
        "key 'lables'; did you mean 'labels'?"
    )
    wrong = errors_of(tmp_path, SLO.format(alerting="      page: sometimes\n"))
    assert wrong[0].startswith(
        "slo/shop.yaml:12:13: error [schema/type] slos[0].alerting.page: expected boolean or object"
    )


def test_page_false_still_drops_the_page_tiers(tmp_path):
    rules = yaml.safe_load(
        compiled(tmp_path, SLO.format(alerting="      page: false\n")).artifacts[
            "prometheus/rules/shop.rules.yml"
        ]
    )
    alerts = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ErrorBudgetBurn"]
    assert len(alerts) == 2 and {a["labels"]["severity"] for a in alerts} == {"ticket"}
