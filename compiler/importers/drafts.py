"""Imported services before they are written: merged by service name, rendered as slo/v1 YAML.

A draft holds plain slo/v1 mappings (what the spec file will say), plus where each SLO came from
so the written file can point back at its source line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from compiler.core import conventions
from compiler.core.diagnostics import Diagnostic, Position, error, warning
from compiler.text.yamltext import Comment, dump


@dataclass
class Objective:
    """One SLO or threshold: its slo/v1 mapping (name first) and its source."""

    name: str
    body: dict[str, Any]  # every key but `name`, in the order the spec shows them
    origin: Position
    notes: tuple[str, ...] = ()  # comment lines written above it

    def mapping(self, order: tuple[str, ...]) -> dict[str, Any]:
        """The slo/v1 mapping, keys in the order the README's spec reference lists them."""
        body = dict(self.body)
        if set(body) - set(order) or set(body.get("alerting") or ()) - set(ALERTING_ORDER):
            raise ValueError(
                f"{self.name}: an importer produced keys outside slo/v1: {sorted(body)}"
            )  # a bug, not input
        if isinstance(body.get("alerting"), dict):
            body["alerting"] = {
                k: body["alerting"][k] for k in ALERTING_ORDER if k in body["alerting"]
            }
        return {"name": self.name, **{k: body[k] for k in order if k in body}}


SLO_ORDER = ("objective", "period", "description", "labels", "by", "indicator", "alerting")
THRESHOLD_ORDER = (
    "description",
    "expr",
    "above",
    "below",
    "for",
    "severity",
    "unit",
    "runbook_url",
    "labels",
    "annotations",
    "slo",
)
ALERTING_ORDER = (
    "name",
    "page",
    "ticket",
    "runbook_url",
    "min_events",
    "labels",
    "annotations",
    "windows",
)


@dataclass
class ServiceDraft:
    name: str
    origin: Position
    team: str | None = None
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    slos: list[Objective] = field(default_factory=list)
    thresholds: list[Objective] = field(default_factory=list)


def merge(drafts: list[ServiceDraft]) -> tuple[list[ServiceDraft], list[Diagnostic]]:
    """One draft per service name (several source files may describe one service), sorted by
    name."""
    merged: dict[str, ServiceDraft] = {}
    found: list[Diagnostic] = []
    for draft in drafts:
        into = merged.get(draft.name)
        if into is None:
            merged[draft.name] = ServiceDraft(
                draft.name,
                draft.origin,
                draft.team,
                draft.description,
                dict(draft.labels),
                draft.outputs,
            )
            into = merged[draft.name]
        else:
            into.team = _agree(found, draft.origin, "team", into.team, draft.team)
            into.description = into.description or draft.description
            outputs: dict[str, Any] | None = _agree(
                found, draft.origin, "outputs", into.outputs or None, draft.outputs or None
            )
            into.outputs = outputs or {}
            for key, value in draft.labels.items():
                into.labels[key] = _agree(
                    found, draft.origin, f"label '{key}'", into.labels.get(key, value), value
                )
        taken = {o.name: o.origin for o in into.slos + into.thresholds}
        for kind, items in (("slos", draft.slos), ("thresholds", draft.thresholds)):
            for item in items:
                if item.name in taken:
                    first = taken[item.name]
                    found.append(
                        error(
                            item.origin,
                            "import/duplicate-name",
                            f"service '{draft.name}' already has an objective named '{item.name}' "
                            f"(from {first.file}:{first.line}); import these files separately "
                            "or rename one",
                        )
                    )
                    continue
                taken[item.name] = item.origin
                getattr(into, kind).append(item)
    for draft in merged.values():
        if draft.team is None and (draft.slos or draft.thresholds):
            found.append(
                warning(
                    draft.origin,
                    "import/team",
                    f"service '{draft.name}': the source names no owning team; imported as "
                    f"'{conventions.UNOWNED_TEAM}' (pass --team, or edit the spec)",
                )
            )
            draft.team = conventions.UNOWNED_TEAM
    return [merged[n] for n in sorted(merged)], found


T = TypeVar("T")


def _agree(found: list[Diagnostic], where: Position, what: str, kept: T, other: T) -> T:
    """The value imported first; a later source that says otherwise gets a warning."""
    if kept is None:
        return other
    if other is not None and other != kept:
        found.append(
            warning(
                where,
                "import/conflict",
                f"{what}: {other!r} differs from {kept!r} imported before; keeping {kept!r}",
            )
        )
    return kept


def render(draft: ServiceDraft, source_format: str, sources: list[str]) -> str:
    header = (
        f"# Imported by `slo import --from {source_format}` from {', '.join(sources)}.\n"
        "# `slo import` printed what it could not carry over. "
        "From now on this file is the source: edit it.\n"
    )
    document: dict[str, Any] = {"apiVersion": "slo/v1", "service": draft.name, "team": draft.team}
    if draft.description:
        document["description"] = draft.description
    if draft.labels:
        document["labels"] = dict(sorted(draft.labels.items()))
    if draft.outputs:
        document["outputs"] = draft.outputs
    for key, items, order in (
        ("slos", draft.slos, SLO_ORDER),
        ("thresholds", draft.thresholds, THRESHOLD_ORDER),
    ):
        if items:
            document[key] = [line for item in items for line in _with_comments(item, order)]
    return dump(document, header)


def _with_comments(item: Objective, order: tuple[str, ...]) -> list[Comment | dict[str, Any]]:
    origin = item.origin
    return [
        Comment(f"{item.name}: from {origin.file}:{origin.line}"),
        *map(Comment, item.notes),
        item.mapping(order),
    ]
