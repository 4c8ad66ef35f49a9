"""Targets: each a pure function model -> {relative path under out/: file text}.

Targets never read files, the network or the clock, so the same model always gives the same
bytes. A target may return diagnostics (e.g. something it cannot express) as warnings.
"""

from __future__ import annotations

from compiler.diagnostics import Diagnostic
from compiler.model import Model
from compiler.targets import kubernetes, mimir, prometheus_rules, promtool_tests

# name -> emit(model) -> ({path: text}, [diagnostics])
TARGETS = {
    "prometheus": lambda model: (prometheus_rules.emit(model), []),
    "promtool-tests": promtool_tests.emit,
    "kubernetes": lambda model: (kubernetes.emit(model), []),
    "mimir": lambda model: (mimir.emit(model), []),
}


def emit_all(model: Model) -> tuple[dict[str, str], list[Diagnostic]]:
    artifacts: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for name in sorted(TARGETS):
        files, found = TARGETS[name](model)
        overlap = artifacts.keys() & files.keys()
        if overlap:  # a bug in conventions, not in user input
            raise RuntimeError(f"target {name} writes {sorted(overlap)} that another target also writes")
        artifacts.update(files)
        diagnostics.extend(found)
    return dict(sorted(artifacts.items())), diagnostics
