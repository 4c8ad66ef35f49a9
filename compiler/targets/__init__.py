"""Targets: each a pure function model -> {relative path under out/: file text}.

Targets never read files, the network or the clock, so the same model always gives the same
bytes. A target may return diagnostics (e.g. something it cannot express) as warnings.
"""

from __future__ import annotations

import dataclasses

from compiler.cache import Cache
from compiler.diagnostics import Diagnostic
from compiler.model import Model
from compiler.targets import (
    alertmanager,
    grafana_dashboards,
    kubernetes,
    mimir,
    prometheus_rules,
    promtool_tests,
)

# name -> emit(model) -> ({path: text}, [diagnostics])
TARGETS = {
    "alertmanager": alertmanager.emit,
    "prometheus": lambda model: (prometheus_rules.emit(model), []),
    "promtool-tests": promtool_tests.emit,
    "grafana": grafana_dashboards.emit_services,
    "grafana-overview": grafana_dashboards.emit_overview,
    "kubernetes": lambda model: (kubernetes.emit(model), []),
    "mimir": lambda model: (mimir.emit(model), []),
}


# Targets whose files for a service depend on that service alone: with a cache they run once
# per changed spec file instead of once per compile.
PER_SERVICE = frozenset({"prometheus", "promtool-tests", "grafana", "kubernetes", "mimir"})


def _emit(name: str, model: Model, cache: Cache | None, keys: dict[str, str] | None):
    if cache is None or name not in PER_SERVICE or keys is None:
        return TARGETS[name](model)
    files: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for service in model.services:
        key = cache.key("emit", name, keys[service.name])
        hit = cache.get(key)
        if not (isinstance(hit, tuple) and len(hit) == 2):
            hit = TARGETS[name](dataclasses.replace(model, services=(service,), routing=None))
            cache.put(key, hit)
        files.update(hit[0])
        diagnostics.extend(hit[1])
    return files, diagnostics


def emit_all(
    model: Model, cache: Cache | None = None, keys: dict[str, str] | None = None
) -> tuple[dict[str, str], list[Diagnostic]]:
    """Every target's files; ``keys`` maps each service to the cache key of its spec file."""
    artifacts: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for name in sorted(TARGETS):
        files, found = _emit(name, model, cache, keys)
        overlap = artifacts.keys() & files.keys()
        if overlap:  # a bug in conventions, not in user input
            raise RuntimeError(f"target {name} writes {sorted(overlap)} that another target also writes")
        artifacts.update(files)
        diagnostics.extend(found)
    return dict(sorted(artifacts.items())), diagnostics
