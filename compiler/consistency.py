"""Cross-target consistency: every series a generated rule or dashboard reads exists.

A series exists when a generated recording rule records it (``ALERTS`` when any alerting rule
exists) or when the spec names it as a source metric: counter selectors and ``$window``
expressions, a histogram's ``_bucket`` and ``_count`` series, threshold expressions. Anything else
is a compile error: a dashboard panel or rule reading a name nothing produces shows "no data" or
never fires, and nobody notices until the day it matters.

The check reads the emitted files themselves (dashboard JSON; rule files as the exact data
the YAML writer wrote them from, or the YAML itself when the text is not that), so it judges
exactly what would be written. A spec expression reading a
name in the compiler's own ``slo:`` namespace that no rule records is reported at the spec.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

import yaml

from compiler import conventions as names
from compiler.diagnostics import Diagnostic, Position, error
from compiler.model import LatencyIndicator, Model, RatioIndicator
from compiler.spec import promql
from compiler.spec.yaml_source import load_documents
from compiler.targets.yamltext import strip_comments

# The C loader without positions: generated files are read in full on every compile, and
# positions are needed only for the rare diagnostic (then read again, see _Locator).
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Series Prometheus itself writes for every alerting rule.
ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
# Grafana's interval macros are not PromQL; any duration stands in for them when parsing.
_GRAFANA_RANGE = re.compile(r"\[\$\{?__\w+\}?\]")
_EXPR_VALUE = re.compile(r'"expr": ("(?:[^"\\\n]|\\.)*")')


@dataclass(frozen=True)
class Query:
    """One PromQL expression in a generated file, and how to name where it is.

    Where it is, as ``file:line:col``, is worked out only when a diagnostic needs it (see
    ``_Locator``): reading positions costs several times more than reading the data."""

    path: str
    where: str | None  # e.g. 'group slo-x-sli, rule 3 (record slo:...)'; None: ask _Locator.where
    expr: str
    locator: tuple  # rules: (document index, key path); dashboards: (n-th "expr" line, how many)


# --- what the spec names -------------------------------------------------------------------
@dataclass(frozen=True)
class SpecExpr:
    position: Position
    where: str
    expr: str


def spec_expressions(model: Model) -> list[SpecExpr]:
    found = []
    for service in model.services:
        for slo in service.slos:
            ind = slo.indicator
            if isinstance(ind, RatioIndicator):
                for field in ("errors", "good", "total"):
                    counter = getattr(ind, field)
                    if counter is not None:
                        found.append(SpecExpr(slo.source, f"SLO '{slo.name}' indicator.ratio.{field}", counter.text))
            elif isinstance(ind, LatencyIndicator):
                for suffix in ("_bucket", "_count"):
                    text = promql.render_selector(ind.histogram, ind.histogram.metric + suffix)
                    found.append(SpecExpr(slo.source, f"SLO '{slo.name}' indicator.latency.histogram", text))
        for th in service.thresholds:
            found.append(SpecExpr(th.source, f"threshold '{th.name}' expr", th.expr))
    return found


# An equality matcher's value never names a series (``__name__`` aside) and is not validated by
# the parser, so expressions that differ only there (one per service and SLO) parse once.
_EQUALITY_VALUE = re.compile(r"""(!?=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)""")
_names_by_shape: dict[str, frozenset[str]] = {}


def _names_in(expr: str) -> frozenset[str]:
    text = _GRAFANA_RANGE.sub("[5m]", expr)
    shape = text if "__name__" in text else _EQUALITY_VALUE.sub(r'\1""', text)
    names = _names_by_shape.get(shape)
    if names is None:
        try:
            names = frozenset(promql.metric_names(promql.parse(shape)))
        except promql.PromQLError:
            names = frozenset(promql.metric_names(promql.parse(text)))  # the error, as the text has it
        if len(_names_by_shape) < 100_000:  # bounded: a long-lived process compiles many trees
            _names_by_shape[shape] = names
    return names


# --- what the generated files read and record ----------------------------------------------
def rule_queries(path: str, text: str, data: dict | None = None) -> tuple[list[Query], set[str], bool, list[Diagnostic]]:
    """Every rule expression of a rule file, the names it records, whether it holds alerts, and
    why the file does not read back (a bug in a target: no rule of it could be checked).

    ``data``: what the rule target wrote ``text`` from; the YAML writer reads back as exactly
    its input (tests/test_injection.py), so reading the text again would give the same."""
    try:
        if data is not None:
            documents = [strip_comments(data)]
        else:
            documents = [d for d in yaml.load_all(text, Loader=_FastLoader) if d is not None]
    except yaml.YAMLError:
        _, problems = load_documents(path, text)  # the same failure, with its position
        return [], set(), False, [
            error(d.position, "consistency/generated-file", f"the generated file does not read back as YAML ({d.message}); this is a bug in slo, please report it")
            for d in problems
        ] or [error(Position(path), "consistency/generated-file", "the generated file does not read back as YAML; this is a bug in slo, please report it")]
    queries, recorded, alerts = [], set(), False
    for di, data in enumerate(documents):
        for gi, group in enumerate(data.get("groups") or []):
            for ri, rule in enumerate(group.get("rules") or []):
                kind, name = ("record", rule["record"]) if "record" in rule else ("alert", rule.get("alert"))
                if kind == "record":
                    recorded.add(name)
                else:
                    alerts = True
                where = f"group {group['name']}, rule {ri + 1} ({kind} {name})"
                queries.append(Query(path, where, str(rule["expr"]), (di, ("groups", gi, "rules", ri, "expr"))))
    return queries, recorded, alerts, []


def dashboard_queries(path: str, text: str) -> list[Query]:
    """Every query of a dashboard (annotations and panel targets), in document order.

    Dashboards are written with sorted keys and one key per line, so every query is a line
    ``"expr": "..."``: reading those lines gives every query, exactly, without building the
    whole document. Which panel a query belongs to is worked out only for a diagnostic.
    Text in any other layout is read as JSON.
    """
    if text.startswith("{\n"):
        found = []  # (offset of the line, indent, the JSON string)
        for m in _EXPR_VALUE.finditer(text):
            line = text.rfind("\n", 0, m.start()) + 1
            if text[line : m.start()].strip(" \t") == "":  # the key starts its line: not text inside a value
                found.append((line, m.start() - line, m.group(1)))
        return [Query(path, None, json.loads(value), (n, len(found), line, indent)) for n, (line, indent, value) in enumerate(found)]
    walked = _walk_dashboard(text)
    return [Query(path, where, expr, (n, len(walked))) for n, (where, expr) in enumerate(walked)]


def _walk_dashboard(text: str) -> list[tuple[str, str]]:
    """(where, expression) of every query, walking the document in sorted-key order."""
    data = json.loads(text)
    found: list[tuple[str, str]] = []
    row = ""  # title of the last row met: panels follow their row in the panel list

    def walk(node, where: str) -> None:
        nonlocal row
        if isinstance(node, dict):
            if node.get("type") == "row":
                row = node.get("title", "")
            elif "gridPos" in node and "type" in node:  # a panel
                where = f"panel {node.get('id')} \"{node.get('title', '')}\"" + (f" (row \"{row}\")" if row else "")
            elif where == "annotations" and "name" in node:
                where = f"annotation \"{node['name']}\""
            if isinstance(node.get("expr"), str):
                found.append((where, node["expr"]))
            for key in sorted(node):
                value = node[key]
                if type(value) is dict or type(value) is list:  # scalars hold no query: skip the call
                    walk(value, where)
        else:
            for item in node:
                if type(item) is dict or type(item) is list:
                    walk(item, where)

    for key in sorted(data):
        if type(data[key]) is dict or type(data[key]) is list:
            walk(data[key], key)
    return found


class _Locator:
    """Where a query is (``file:line:col``, and which rule or panel), worked out only when a
    diagnostic needs it, reading each file once."""

    def __init__(self, artifacts: dict[str, str]):
        self.artifacts = artifacts
        self.rules: dict[str, list] = {}
        self.dashboards: dict[str, list[tuple[str, str]]] = {}

    def where(self, query: Query) -> str:
        if query.where is not None:
            return query.where
        if query.path not in self.dashboards:
            self.dashboards[query.path] = _walk_dashboard(self.artifacts[query.path])
        walked = self.dashboards[query.path]
        n, total = query.locator[:2]
        return walked[n][0] if len(walked) == total else f"query {n + 1}"

    def __call__(self, query: Query) -> Position:
        text = self.artifacts[query.path]
        if isinstance(query.locator[1], tuple):  # a rule: (document, key path)
            if query.path not in self.rules:
                self.rules[query.path] = load_documents(query.path, text)[0]
            documents = self.rules[query.path]
            index, keys = query.locator
            return documents[index].at(keys) if index < len(documents) else Position(query.path)
        if len(query.locator) == 4:  # a dashboard line: (n, total, offset, indent)
            offset, indent = query.locator[2:]
            return Position(query.path, text.count("\n", 0, offset) + 1, indent + 1)
        return Position(query.path)  # a dashboard in another layout: name the file only


# --- the check -----------------------------------------------------------------------------
def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


Read = tuple[Query, "frozenset[str] | str"]  # the names a query reads, or why it does not parse


def _reads(queries: list[Query]) -> list[Read]:
    out: list[Read] = []
    for query in queries:
        try:
            out.append((query, _names_in(query.expr)))
        except promql.PromQLError as exc:
            out.append((query, str(exc)))
    return out


@dataclass(frozen=True)
class Extract:
    """What the check needs of one generated file, read once: the text it was read from, every
    name its queries read (each query's own names are worked out again only for a file that reads
    something unknown), whether some query does not parse, what the file records, whether it
    alerts, and why it does not read back."""

    text: str
    kind: str  # rules | dashboard
    reads: frozenset[str]
    unparsable: bool = False
    records: frozenset[str] = frozenset()
    alerts: bool = False
    unreadable: tuple[Diagnostic, ...] = ()


def _queries(kind: str, path: str, text: str, data: dict | None = None):
    if kind == "rules":
        return rule_queries(path, text, data)
    return dashboard_queries(path, text), set(), False, []


def extract(kind: str, path: str, text: str, data: dict | None = None) -> Extract:
    """Read one generated file, of kind "rules" or "dashboard". The expensive part of the
    check, and per service: the compile runs it where the service's files are generated, in
    parallel and cached with them (pipeline.py)."""
    found, records, alerts, unreadable = _queries(kind, path, text, data)
    reads = _reads(found)
    names_read = frozenset().union(*(r for _, r in reads if not isinstance(r, str)))
    unparsable = any(isinstance(r, str) for _, r in reads)
    return Extract(text, kind, names_read, unparsable, frozenset(records), alerts, tuple(unreadable))


def check(model: Model, artifacts: dict[str, str], extracts: dict[str, Extract] | None = None) -> list[Diagnostic]:
    """Every diagnostic about series read and never produced; ``extracts`` are files already
    read, used where the artifact still has the text they were read from."""
    extracts = extracts or {}

    def read(kind: str, path: str) -> Extract:
        known = extracts.get(path)
        text = artifacts[path]
        if known is not None and (known.text is text or known.text == text):
            return known
        return extract(kind, path, text)

    files: list[tuple[str, Extract]] = []
    recorded: set[str] = set()
    any_alerts = False
    diagnostics: list[Diagnostic] = []
    for service in model.services:
        path = names.rules_file(service.name)
        if path in artifacts:
            found = read("rules", path)
            files.append((path, found))
            recorded |= found.records
            any_alerts |= found.alerts
            diagnostics += found.unreadable
    if diagnostics:
        return diagnostics  # what the unreadable file records is unknown: any other report would mislead
    produced = recorded | (set(ALERT_SERIES) if any_alerts else set())

    sources: set[str] = set()
    for spec in spec_expressions(model):
        names_read = _names_in(spec.expr)  # the spec was parsed when built, so this cannot fail
        sources |= names_read
        for name in sorted(n for n in names_read - produced if n.startswith(names.SERIES_NAMESPACE)):
            diagnostics.append(
                error(
                    spec.position,
                    "consistency/unknown-series",
                    f"{spec.where} reads {name}, which is in the compiler's {names.SERIES_NAMESPACE} namespace "
                    f"but no generated recording rule records it{_hint(name, produced)}",
                )
            )

    dashboards = [names.dashboard_file(s.name) for s in model.services] + [names.OVERVIEW_DASHBOARD_FILE]
    for path in sorted(set(dashboards) & artifacts.keys()):
        files.append((path, read("dashboard", path)))

    known = produced | sources
    locate = _Locator(artifacts)
    for path, found in files:
        if not found.unparsable and found.reads <= known:
            continue  # the common case: nothing to report, no need to know which query read what
        for query, read_names in _reads(_queries(found.kind, path, artifacts[path])[0]):
            if isinstance(read_names, str):
                diagnostics.append(error(locate(query), "consistency/promql", f"{locate.where(query)}: invalid PromQL: {read_names}"))
                continue
            for name in sorted(read_names - known):
                diagnostics.append(
                    error(
                        locate(query),
                        "consistency/unknown-series",
                        f"{locate.where(query)} reads {name}, which no generated recording rule records "
                        f"and no spec names{_hint(name, known)}",
                    )
                )
    return diagnostics
