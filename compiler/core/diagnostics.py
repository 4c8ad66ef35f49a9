"""Diagnostics as data.

Every problem found anywhere in the pipeline becomes a Diagnostic. Nothing below the CLI
prints or exits; the CLI renders them as ``file:line:col: severity [check-id] message``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Position:
    file: str
    line: int = 0  # 1-based; 0 when the whole file is meant
    col: int = 0  # 1-based


@dataclass(frozen=True)
class Diagnostic:
    position: Position
    severity: Severity
    check_id: str
    message: str

    def render(self) -> str:
        p = self.position
        where = p.file if not p.line else f"{p.file}:{p.line}:{p.col}"
        return f"{where}: {self.severity} [{self.check_id}] {self.message}"

    def sort_key(self) -> tuple:
        return (self.position, -self.severity, self.check_id, self.message)


def shown(text: str, limit: int = 60) -> str:
    """``text`` as a one-line message may quote it: control characters (a newline, a tab, an
    escape sequence) written as escapes, and text beyond ``limit`` characters cut."""
    cut = text[:limit]
    if not cut.isprintable():
        cut = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return cut + ("..." if len(text) > limit else "")


def error(position: Position, check_id: str, message: str) -> Diagnostic:
    return Diagnostic(position, Severity.ERROR, check_id, message)


def warning(position: Position, check_id: str, message: str) -> Diagnostic:
    return Diagnostic(position, Severity.WARNING, check_id, message)


@dataclass
class Diagnostics:
    """An ordered, de-duplicated collection that every stage appends to.

    Duplicates are found through a set beside the list: a file with 10,000 errors costs 10,000
    lookups, not 50 million comparisons."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set[Diagnostic] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unique = list(dict.fromkeys(self.items))
        self.items[:] = unique
        self._seen.update(unique)

    def add(self, diagnostic: Diagnostic) -> None:
        if diagnostic not in self._seen:
            self._seen.add(diagnostic)
            self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            self.add(d)

    @property
    def has_errors(self) -> bool:
        return any(d.severity >= Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)


class CompileError(Exception):
    """Raised by the pipeline when any error diagnostic was collected."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(f"{sum(d.severity >= Severity.ERROR for d in diagnostics)} error(s)")
        self.diagnostics = diagnostics
