"""Mimir / Cortex ruler files for `mimirtool rules load|diff|sync` (and cortextool).

One file per service holding one `namespace:` document; the namespace carries the prefix this
tool owns, so `mimirtool rules sync --namespaces=...` never touches anyone else's rules. The
groups are targets.prometheus.service_groups, the same rules promtool checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler.core import conventions as names
from compiler.core.model import Model
from compiler.targets.prometheus import service_groups
from compiler.targets.protocol import EmbeddedRuleGroups, Emitted, Proof, Target, matching
from compiler.text.yamltext import dump


def emit(model: Model) -> Emitted:
    files = {}
    for service in model.services:
        if not service.outputs.mimir:
            continue
        groups = service_groups(service)
        if groups:
            document = {"namespace": names.mimir_namespace(service.name), "groups": groups}
            files[names.mimir_rule_file(service.name)] = dump(
                document, names.header(service.source_file)
            )
    return Emitted(files)


def rule_groups(document: dict[str, Any]) -> Any:
    return document["groups"]


def proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    found = matching(files, names.mimir_rule_file("*"))
    return [EmbeddedRuleGroups(tuple(out_dir / p for p in found), rule_groups)] if found else []


TARGET = Target("mimir", emit, per_service=True, proofs=proofs)
