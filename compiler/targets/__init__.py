"""Targets: each a pure function model -> files under out/, declared once in the registry below.

Targets never read files, the network or the clock, so the same model always gives the same
bytes. A target may return diagnostics (e.g. something it cannot express). What a target
declares (its name, whether it is per service, its ``emit`` and its proofs) is in protocol.py;
each target module ends with its ``TARGET``.
"""

from __future__ import annotations

from collections.abc import Mapping

from compiler.core.diagnostics import Diagnostic
from compiler.core.model import Model, Service
from compiler.targets import alertmanager, kubernetes, mimir, prometheus, vmalert
from compiler.targets.grafana import dashboards
from compiler.targets.promtool import testfiles
from compiler.targets.protocol import Document, Emitted, Target

# Every target. The order is the order `slo test` reports their proofs in (rule files are
# checked before they are unit-tested); it changes no file.
REGISTRY: tuple[Target, ...] = (
    prometheus.TARGET,
    kubernetes.TARGET,
    mimir.TARGET,
    vmalert.TARGET,
    vmalert.REPLAY_TARGET,
    testfiles.TARGET,
    dashboards.TARGET,
    dashboards.OVERVIEW_TARGET,
    alertmanager.TARGET,
)


def by_name(name: str) -> Target:
    return next(t for t in REGISTRY if t.name == name)


def emit_service(service: Service) -> dict[str, Emitted]:
    """What every per-service target gives for one service, by target name."""
    alone = Model((service,), None)
    return {target.name: target.emit(alone) for target in REGISTRY if target.per_service}


def emit(model: Model, per_service: Mapping[str, Mapping[str, Emitted]] | None = None) -> Emitted:
    """Every target's files, sorted by path, with their diagnostics and documents.

    ``per_service``: what ``emit_service`` gave for every service of ``model`` (service name ->
    target name -> emitted), used instead of running the per-service targets again."""
    files: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    documents: dict[str, Document] = {}
    for target in REGISTRY:
        if per_service is not None and target.per_service:
            parts = [per_service[service.name][target.name] for service in model.services]
        else:
            parts = [target.emit(model)]
        written = {path for part in parts for path in part.files}
        overlap = files.keys() & written
        if overlap:  # a bug in conventions, not in user input
            raise RuntimeError(
                f"target {target.name} writes {sorted(overlap)} that another target also writes"
            )
        for part in parts:
            files.update(part.files)
            diagnostics.extend(part.diagnostics)
            documents.update(part.documents)
    return Emitted(dict(sorted(files.items())), tuple(diagnostics), documents)
