"""Prometheus Operator `PrometheusRule` objects, one per service that asks for them.

The operator writes `spec.groups` into a rule file verbatim, so the groups are exactly
prometheus_rules.service_groups: the rules promtool checks and unit-tests are the rules deployed.
"""

from __future__ import annotations

from compiler.core import conventions as names
from compiler.core.model import Model, Service
from compiler.targets.prometheus import service_groups
from compiler.text.yamltext import dump


def rule_object(service: Service, groups: list[dict]) -> dict:
    settings = service.outputs.kubernetes
    metadata: dict = {"name": names.kubernetes_rule_name(service.name)}
    if settings.namespace:
        metadata["namespace"] = settings.namespace
    metadata["labels"] = dict(
        sorted({**dict(settings.labels), **names.KUBERNETES_MANAGED_LABELS}.items())
    )
    return {
        "apiVersion": names.KUBERNETES_RULE_API_VERSION,
        "kind": names.KUBERNETES_RULE_KIND,
        "metadata": metadata,
        "spec": {"groups": groups},
    }


def emit(model: Model) -> dict[str, str]:
    out = {}
    for service in model.services:
        if service.outputs.kubernetes is None:
            continue
        groups = service_groups(service)
        if groups:
            out[names.kubernetes_rule_file(service.name)] = dump(
                rule_object(service, groups), names.header(service.source_file)
            )
    return out
