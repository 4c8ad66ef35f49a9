"""Prometheus Operator `PrometheusRule` objects, one per service that asks for them.

The operator writes `spec.groups` into a rule file verbatim, so the groups are exactly
targets.prometheus.service_groups: the rules promtool checks and unit-tests are the rules deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler.core import conventions as names
from compiler.core.model import KubernetesOutput, Model, Service
from compiler.targets.prometheus import service_groups
from compiler.targets.protocol import EmbeddedRuleGroups, Emitted, Proof, Target, matching
from compiler.text.yamltext import dump


def rule_object(service: Service, settings: KubernetesOutput, groups: list[dict]) -> dict:
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


def emit(model: Model) -> Emitted:
    files = {}
    for service in model.services:
        settings = service.outputs.kubernetes
        if settings is None:
            continue
        groups = service_groups(service)
        if groups:
            files[names.kubernetes_rule_file(service.name)] = dump(
                rule_object(service, settings, groups), names.header(service.source_file)
            )
    return Emitted(files)


def rule_groups(document: dict[str, Any]) -> Any:
    return document["spec"]["groups"]


def proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    found = matching(files, names.kubernetes_rule_file("*"))
    return [EmbeddedRuleGroups(tuple(out_dir / p for p in found), rule_groups)] if found else []


TARGET = Target("kubernetes", emit, per_service=True, proofs=proofs)
