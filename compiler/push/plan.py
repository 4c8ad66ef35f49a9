"""What a push would change, as data: the plan `slo diff` prints and `slo push` carries out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

KINDS = ("created", "updated", "deleted", "unchanged")
SYMBOLS = {"created": "+", "updated": "~", "deleted": "-", "unchanged": " "}

Progress = Callable[[int], None]  # called with how many more objects were written


@dataclass(frozen=True)
class Change:
    kind: str  # one of KINDS
    object: str  # what, in the target's words: "group slo-checkout-sli (checkout.rules.yml)"
    details: tuple[str, ...] = ()  # what differs; never secret values

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown change kind {self.kind!r}")


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth knowing that change nothing
    work: Any = None  # what apply() needs; private to the target, which alone knows its type
    steps: int = 0  # progress units apply() reports (files, requests); 0 = one per pending change

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.kind != "unchanged"]

    def counts(self) -> dict[str, int]:
        return {kind: sum(c.kind == kind for c in self.changes) for kind in KINDS}


class Pusher(Protocol):
    """One live system. plan() only reads; apply() writes what plan() found, then verify()
    reads back."""

    name: str

    def preflight(self) -> None:
        """Checks that need no change (promtool, health, configuration); raises PushError."""

    def plan(self) -> Plan: ...

    def apply(self, plan: Plan, progress: Progress) -> None: ...

    def verify(self) -> list[str]:
        """Problems found after apply (empty when the live state is what out/ says)."""


@dataclass
class TargetReport:
    target: str
    status: str  # skipped | planned | pushed | failed | not-run
    plan: Plan = field(default_factory=Plan)
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.plan.pending)

    def summary(self) -> str:
        c = self.plan.counts()
        return (
            f"{c['created']} created, {c['updated']} updated, {c['deleted']} deleted, "
            f"{c['unchanged']} unchanged"
        )
