"""What a target is: a name, an ``emit(model) -> Emitted``, and the proofs it offers on out/.

Every target module ends with one ``TARGET = Target(...)``; ``compiler.targets.REGISTRY`` lists
them. The compile, its cache, the consistency check and `slo test` read only what is declared
here, so adding a target touches its module, its line in the registry and its tests.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.core.diagnostics import Diagnostic
from compiler.core.model import Model


class Holds(enum.Enum):
    """What a generated file holds that the consistency check reads (checks/consistency.py)."""

    RULE_GROUPS = "rule groups"  # a Prometheus rule file: what it records, what its rules read
    DASHBOARD = "dashboard"  # a Grafana dashboard's JSON: what its queries read


@dataclass(frozen=True)
class Document:
    """A generated file the consistency check reads, tagged with what it holds."""

    holds: Holds
    # The data the file's text was written from, when the target has it: the YAML writer reads
    # back as exactly its input, so the check reads this instead of parsing the text again.
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Emitted:
    """What a target gives for a model: files by their path under out/, diagnostics about what
    it could not express, and which of its files the consistency check reads."""

    files: dict[str, str] = field(default_factory=dict)
    diagnostics: tuple[Diagnostic, ...] = ()
    documents: dict[str, Document] = field(default_factory=dict)


# --- proofs: what `slo test` runs on a target's files in out/ ------------------------------------
@dataclass(frozen=True)
class ToolRun:
    """Run ``tool`` (found on PATH) with ``args``; the proof holds when it exits with 0.

    ``inputs``: every file the run reads. With them, `slo test` does not repeat a run that
    passed while they, the tool's version and the arguments are unchanged (its result cache);
    a run without inputs is never cached.

    ``prepare``: given a scratch directory, writes a leaner equivalent of what the run reads
    there and returns the arguments to run with instead (a unit test file and only the rule
    groups its tests evaluate); the outcome must be the plain run's. A prepare that fails
    leaves the plain run."""

    title: str
    tool: str
    args: tuple[str, ...]
    inputs: tuple[Path, ...] = ()
    prepare: Callable[[Path], tuple[str, ...]] | None = None


@dataclass(frozen=True)
class EachFile:
    """``tool args FILE...`` for a check that proves each file on its own (`promtool check
    rules`): a file that passed is not checked again while it and the tool are unchanged, and
    the others are checked together, in one run (one process for thousands of files)."""

    title: str
    tool: str
    args: tuple[str, ...]
    files: tuple[Path, ...]
    prefix: str = ""  # before each file's path, in its argument (vmalert's "-rule=")


@dataclass(frozen=True)
class EmbeddedRuleGroups:
    """`promtool check rules` on rule groups that sit inside other YAML documents (a
    PrometheusRule's ``spec.groups``, ...): promtool reads only plain rule files, so each
    document's groups are copied into one first. `slo test` checks all of them in one run."""

    files: tuple[Path, ...]
    groups_of: Callable[[Any], Any]  # one YAML document -> its list of rule groups


@dataclass(frozen=True)
class RouteTable:
    """Every case of a routing table (alertmanager's routing-tests file) through
    `amtool config routes test --verify.receivers`; it reads the table and the config it names."""

    table: Path
    config: Path


Proof = ToolRun | EachFile | EmbeddedRuleGroups | RouteTable


def no_proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    return []


def matching(files: Sequence[str], pattern: str) -> list[str]:
    """The paths of ``files`` (relative to out/, with "/") that match ``pattern`` as a glob
    would: ``*`` never crosses a "/"."""
    parts = pattern.split("/")
    return [
        path
        for path in files
        if len(path.split("/")) == len(parts)
        and all(fnmatch.fnmatchcase(p, q) for p, q in zip(path.split("/"), parts))
    ]


@dataclass(frozen=True)
class Target:
    name: str
    emit: Callable[[Model], Emitted]
    # True when its files for a service depend on that service alone: the compile then emits
    # them where the service is built, in parallel, cached with its spec file; ``emit`` is
    # called with a model of that one service (and no routing).
    per_service: bool
    # out/ and the paths of its files (relative, with "/") -> what `slo test` runs on them.
    proofs: Callable[[Path, Sequence[str]], list[Proof]] = no_proofs
