"""Targets: each a pure function model -> {relative path under out/: file text}.

Targets never read files, the network or the clock, so the same model always gives the same
bytes. A target may return diagnostics (e.g. something it cannot express) as warnings.
"""

from __future__ import annotations

from compiler.core.diagnostics import Diagnostic
from compiler.core.model import Model, Service
from compiler.targets import alertmanager, kubernetes, mimir
from compiler.targets import prometheus as prometheus_rules
from compiler.targets.grafana import dashboards as grafana_dashboards
from compiler.targets.promtool import testfiles as promtool_tests

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


# Targets whose files for a service depend on that service alone: the compile runs them where
# the service is built, in parallel and cached per spec file (pipeline.py).
PER_SERVICE = frozenset({"prometheus", "promtool-tests", "grafana", "kubernetes", "mimir"})

Emitted = tuple[dict[str, str], list[Diagnostic]]


def emit_service(service: Service) -> tuple[dict[str, Emitted], dict[str, dict]]:
    """Every per-service target's files for one service, by target name; and for the rule file,
    the data it is the YAML of (so the consistency check need not read the YAML back)."""
    alone = Model((service,), None)
    emitted = {name: TARGETS[name](alone) for name in sorted(PER_SERVICE - {"prometheus"})}
    files, documents = prometheus_rules.emit_with_documents(alone)
    emitted["prometheus"] = (files, [])
    return emitted, documents


def emit_all(model: Model, per_service: dict[str, dict[str, Emitted]] | None = None) -> Emitted:
    """Every target's files; ``per_service``: what ``emit_service`` gave for every service."""
    artifacts: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for name in sorted(TARGETS):
        if per_service is not None and name in PER_SERVICE:
            files, found = {}, []
            for service in model.services:
                files.update(per_service[service.name][name][0])
                found.extend(per_service[service.name][name][1])
        else:
            files, found = TARGETS[name](model)
        overlap = artifacts.keys() & files.keys()
        if overlap:  # a bug in conventions, not in user input
            raise RuntimeError(
                f"target {name} writes {sorted(overlap)} that another target also writes"
            )
        artifacts.update(files)
        diagnostics.extend(found)
    return dict(sorted(artifacts.items())), diagnostics
