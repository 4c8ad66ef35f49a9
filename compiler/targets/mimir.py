"""Mimir / Cortex ruler files for `mimirtool rules load|diff|sync` (and cortextool).

One file per service holding one `namespace:` document; the namespace carries the prefix this
tool owns, so `mimirtool rules sync --namespaces=...` never touches anyone else's rules. The
groups are prometheus_rules.service_groups, the same rules promtool checks.
"""

from __future__ import annotations

from compiler.core import conventions as names
from compiler.core.model import Model
from compiler.targets.prometheus import service_groups
from compiler.text.yamltext import dump


def emit(model: Model) -> dict[str, str]:
    out = {}
    for service in model.services:
        if not service.outputs.mimir:
            continue
        groups = service_groups(service)
        if groups:
            document = {"namespace": names.mimir_namespace(service.name), "groups": groups}
            out[names.mimir_rule_file(service.name)] = dump(
                document, names.header(service.source_file)
            )
    return out
