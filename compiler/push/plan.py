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


@dataclass(frozen=True)
class Restore:
    """What a pusher's restore() put back after a push that did not land, as read back."""

    restored: str  # what is true when all went back: "the previous rules are live again"
    objects: int  # how many objects were written again or deleted
    problems: tuple[str, ...] = ()  # what is still not as before the push; empty when all is
    declined: str = ""  # why nothing was put back although the push failed

    def summary(self) -> str:
        if self.declined:
            return f"not restored: {self.declined}"
        if not self.objects and not self.problems:
            return "nothing to restore: the push changed no object"
        if not self.problems:
            return f"restored: {self.restored} ({self.objects} object(s) put back)"
        return (
            f"not restored: {len(self.problems)} object(s) are not as before the push "
            f"({self.objects} put back)"
        )


class Pusher(Protocol):
    """One live system. plan() only reads; apply() writes what plan() found (keeping what it
    overwrites), then verify() reads back; when objects are not in place, restore() puts back
    what apply() changed."""

    name: str

    def preflight(self) -> None:
        """Checks that need no change (promtool, health, configuration); raises PushError."""

    def plan(self) -> Plan: ...

    def apply(self, plan: Plan, progress: Progress) -> None: ...

    def verify(self) -> list[str]:
        """Problems found after apply (empty when the live state is what out/ says)."""

    def restore(self, plan: Plan) -> Restore:
        """Put back every object apply() overwrote, created or deleted as it was before, reload
        where that is how the server takes it, and read back (restore.py); raises PushError
        when it cannot even start."""


@dataclass
class TargetReport:
    target: str
    status: str  # skipped | planned | pushed | failed | not-run
    plan: Plan = field(default_factory=Plan)
    errors: list[str] = field(default_factory=list)
    restore: Restore | None = None  # after a failed push: what was put back

    @property
    def changed(self) -> bool:
        return bool(self.plan.pending)

    def summary(self) -> str:
        c = self.plan.counts()
        return (
            f"{c['created']} created, {c['updated']} updated, {c['deleted']} deleted, "
            f"{c['unchanged']} unchanged"
        )
