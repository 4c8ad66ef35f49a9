"""Rule groups as parsed data, so that live and generated groups compare by meaning, not text.

Prometheus' /api/v1/rules prints each expression back from its parsed form (matchers sorted,
spacing normalised), and a ruler may re-serialise YAML. Both sides are therefore reduced to a
canonical form: expressions re-printed by promql-parser, durations in seconds, labels as dicts.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import promql_parser
import yaml

from compiler.push.transport import PushError
from compiler.spec.yaml_source import load_data


@dataclass(frozen=True)
class RuleFile:
    name: str  # file name, e.g. checkout.rules.yml
    text: str
    groups: tuple[dict, ...]  # as in the file


def load_rule_files(directory: Path) -> dict[str, RuleFile]:
    """Every *.yml rule file in ``directory`` by name (empty when there is none)."""
    found = {}
    for path in sorted(Path(directory).glob("*.yml")):
        text = path.read_text("utf-8")
        found[path.name] = RuleFile(path.name, text, parse_groups(text, str(path)))
    return found


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside, for reading YAML whose objects all stay alive.

    The collector walked the growing heap again and again: a Mimir tenant's rules in one answer
    (20 MiB for 3,996 groups) took 13 s to read and 3.9 s without it; the 999 rule files of out/
    6.7 s and 3.2 s inside `slo push` (bench/README.md, push throughput). A cycle (a YAML alias
    inside itself) is still collected, once the collector is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Rule files parsed in this process, by content: Prometheus and Mimir read the same files of out/.
# Callers treat the groups as read-only.
_parsed: dict[str, tuple[dict, ...]] = {}


def parse_groups(text: str, where: str) -> tuple[dict, ...]:
    if text in _parsed:
        return _parsed[text]
    groups = _parse_groups(text, where)
    if len(_parsed) < 100_000:
        _parsed[text] = groups
    return groups


def _parse_groups(text: str, where: str) -> tuple[dict, ...]:
    try:
        with gc_paused():
            data = load_data(text) or {}
    except yaml.YAMLError as exc:
        raise PushError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "name" in g for g in groups):
        raise PushError(
            f"{where}: not a Prometheus rule file (expected `groups:` with named groups)"
        )
    return tuple(groups)


def seconds(value: object) -> float | None:
    """A duration from a rule file ("5m") or an API (300) in seconds; None when absent."""
    if value in (None, "", 0, "0s"):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return promql_parser.parse_duration(str(value)).total_seconds()
    except ValueError:
        return None


def canonical_expr(expr: str) -> str:
    try:
        return promql_parser.parse(str(expr)).prettify()
    except BaseException as exc:  # ValueError, or a panic in the Rust extension
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return " ".join(str(expr).split())


def _strings(mapping: dict | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (mapping or {}).items()}


def canonical_rule(rule: dict) -> dict:
    """A rule as written in a rule file (Prometheus or a Mimir/Cortex ruler)."""
    kind = "alerting" if "alert" in rule else "recording"
    return {
        "type": kind,
        "name": rule.get("alert") or rule.get("record"),
        "expr": canonical_expr(rule.get("expr", "")),
        "for": seconds(rule.get("for")),
        "keep_firing_for": seconds(rule.get("keep_firing_for")),
        "labels": _strings(rule.get("labels")),
        "annotations": _strings(rule.get("annotations")),
    }


def canonical_group(group: dict) -> dict:
    return {
        "name": group["name"],
        "interval": seconds(group.get("interval")),
        "limit": int(group.get("limit") or 0),
        "rules": [canonical_rule(r) for r in group.get("rules") or []],
    }


def canonical_api_group(group: dict) -> dict:
    """A group as Prometheus' /api/v1/rules shows it (durations in seconds, `query` for expr)."""
    return {
        "name": group["name"],
        "interval": seconds(group.get("interval")),
        "limit": int(group.get("limit") or 0),
        "rules": [
            {
                "type": r.get("type"),
                "name": r.get("name"),
                "expr": canonical_expr(r.get("query", "")),
                "for": seconds(r.get("duration")),
                "keep_firing_for": seconds(r.get("keepFiringFor")),
                "labels": _strings(r.get("labels")),
                "annotations": _strings(r.get("annotations")),
            }
            for r in group.get("rules") or []
        ],
    }


def differences(desired: dict, live: dict) -> list[str]:
    """How ``live`` differs from ``desired`` (both canonical), in words; empty when equal.

    A group without an interval runs at the server's global interval, whatever it is.
    """
    found = []
    if desired["interval"] is not None and desired["interval"] != live["interval"]:
        found.append(f"interval {_duration(live['interval'])} -> {_duration(desired['interval'])}")
    if desired["limit"] != live["limit"]:
        found.append(f"limit {live['limit']} -> {desired['limit']}")
    want, have = desired["rules"], live["rules"]
    if len(want) != len(have):
        found.append(f"{len(have)} rules -> {len(want)} rules")
    for i, (w, h) in enumerate(zip(want, have)):
        fields = [key for key in w if w[key] != h.get(key)]
        if fields:
            verb = "differs" if len(fields) == 1 else "differ"
            found.append(f"rule {i + 1} ({w['name']}): {', '.join(fields)} {verb}")
    return found


def _duration(value: float | None) -> str:
    return "default" if value is None else f"{value:g}s"
