"""Cross-target consistency: every series a generated rule or dashboard reads exists.

For grouped SLOs (``by``), every rule of the SLO, and every rule that serves all SLOs of its
service, must keep the group labels (``grouping``): a sum that drops one would add the groups
back into one SLI, silently; and each of the SLO's alerts must name its group.

A series exists when a generated recording rule records it (``ALERTS`` when any alerting rule
exists) or when the spec names it as a source metric: counter selectors and ``$window``
expressions, a histogram's ``_bucket`` and ``_count`` series, threshold expressions. Anything else
is a compile error: a dashboard panel or rule reading a name nothing produces shows "no data" or
never fires, and nobody notices until the day it matters.

The check reads the files the targets tag as rule groups or dashboards (targets/protocol.py),
as emitted: rule files as the exact data the YAML writer wrote them from (or the YAML itself when
the text is not that), dashboards as their JSON. So it judges exactly what would be written. A
spec expression reading a name in the compiler's own ``slo:`` namespace that no rule records is
reported at the spec.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from compiler.core import conventions as names
from compiler.core.diagnostics import Diagnostic, Position, error
from compiler.core.model import SLO, LatencyIndicator, Model, RatioIndicator, Service
from compiler.spec import promql
from compiler.spec.yaml_source import load_documents
from compiler.targets.protocol import Holds
from compiler.text.yamltext import strip_comments

# The C loader without positions: generated files are read in full on every compile, and
# positions are needed only for the rare diagnostic (then the file is read again, see check).
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Series Prometheus itself writes for every alerting rule.
ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
# Grafana's interval macros are not PromQL; any duration stands in for them when parsing.
_GRAFANA_RANGE = re.compile(r"\[\$\{?__\w+\}?\]")
_EXPR_VALUE = re.compile(r'"expr": ("(?:[^"\\\n]|\\.)*")')


@dataclass(frozen=True)
class Query:
    """One PromQL expression in a generated file, and where it is (read only for a file that
    gets a diagnostic: positions cost several times more than the expressions alone)."""

    position: Position
    # e.g. 'panel 7 "Burn rate per alert window"' or 'group slo-x-sli, rule 3 (record slo:...)'
    where: str
    expr: str


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
                        found.append(
                            SpecExpr(
                                slo.source,
                                f"SLO '{slo.name}' indicator.ratio.{field}",
                                counter.text,
                            )
                        )
            elif isinstance(ind, LatencyIndicator):
                for suffix in ("_bucket", "_count"):
                    text = promql.render_selector(ind.histogram, ind.histogram.metric + suffix)
                    found.append(
                        SpecExpr(slo.source, f"SLO '{slo.name}' indicator.latency.histogram", text)
                    )
        for th in service.thresholds:
            found.append(SpecExpr(th.source, f"threshold '{th.name}' expr", th.expr))
    return found


# An equality matcher's value never names a series (``__name__`` aside) and is not validated by
# the parser, so expressions that differ only there (one per service and SLO) parse once.
# The pattern starts at the "=" (a "!" before it stays as it is): a literal first character lets
# the regex engine skip to each "=" instead of trying every position, 2.8x faster on our queries.
_EQUALITY_VALUE = re.compile(r"""=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)""")
_names_by_shape: dict[str, frozenset[str]] = {}


def _names_in(expr: str) -> frozenset[str]:
    text = _GRAFANA_RANGE.sub("[5m]", expr)
    shape = text if "__name__" in text else _EQUALITY_VALUE.sub('=""', text)
    names = _names_by_shape.get(shape)
    if names is None:
        try:
            names = frozenset(promql.metric_names(promql.parse(shape)))
        except promql.PromQLError:
            names = frozenset(
                promql.metric_names(promql.parse(text))
            )  # the error, as the text has it
        if len(_names_by_shape) < 100_000:  # bounded: a long-lived process compiles many trees
            _names_by_shape[shape] = names
    return names


# --- what the generated files read and record ----------------------------------------------
_UNREADABLE = (
    "the generated file does not read back as YAML{}; this is a bug in slo, please report it"
)


def _rule_contents(
    path: str, text: str, data: dict | None
) -> tuple[list[str], set[str], bool, list[Diagnostic]]:
    """Every rule expression of a rule file, the names it records, whether it holds alerts, and
    why the file does not read back (a bug in a target: no rule of it could be checked).

    ``data``: what the rule target wrote ``text`` from; the YAML writer reads back as exactly
    its input (tests/test_injection.py), so reading the text again would give the same."""
    try:
        documents = (
            [strip_comments(data)]
            if data is not None
            else [d for d in yaml.load_all(text, Loader=_FastLoader) if d is not None]
        )
    except yaml.YAMLError:
        _, problems = load_documents(path, text)  # the same failure, with its position
        found = [
            error(d.position, "consistency/generated-file", _UNREADABLE.format(f" ({d.message})"))
            for d in problems
        ]
        return (
            [],
            set(),
            False,
            found or [error(Position(path), "consistency/generated-file", _UNREADABLE.format(""))],
        )
    exprs, recorded, alerts = [], set(), False
    for rule in (r for d in documents for g in d.get("groups") or [] for r in g.get("rules") or []):
        if "record" in rule:
            recorded.add(rule["record"])
        else:
            alerts = True
        exprs.append(str(rule["expr"]))
    return exprs, recorded, alerts, []


def _dashboard_exprs(text: str) -> list[str]:
    """Every query of a dashboard. Dashboards are written with sorted keys and one key per line,
    so every query is a line ``"expr": "..."``: reading those lines gives every query, exactly,
    without building the whole document. Text in any other layout is read as JSON."""
    if text.startswith("{\n"):
        return [json.loads(value) for _, _, value in _expr_lines(text)]
    return [expr for _, expr in _walk_dashboard(text)]


def _expr_lines(text: str) -> list[tuple[int, int, str]]:
    """(offset of the line, indent, the JSON string) of every line holding an ``"expr"`` key."""
    found = []
    for m in _EXPR_VALUE.finditer(text):
        line = text.rfind("\n", 0, m.start()) + 1
        if (
            text[line : m.start()].strip(" \t") == ""
        ):  # the key starts its line: not text inside a value
            found.append((line, m.start() - line, m.group(1)))
    return found


def rule_queries(path: str, text: str) -> list[Query]:
    """Every rule expression of a rule file with its position (the file reads back: see extract)."""
    documents, _ = load_documents(path, text)
    return [
        Query(
            doc.at(("groups", gi, "rules", ri, "expr")),
            f"group {group['name']}, rule {ri + 1} ({kind} {rule.get(kind)})",
            str(rule["expr"]),
        )
        for doc in documents
        for gi, group in enumerate(doc.data.get("groups") or [])
        for ri, rule in enumerate(group.get("rules") or [])
        for kind in ["record" if "record" in rule else "alert"]
    ]


def dashboard_queries(path: str, text: str) -> list[Query]:
    """Every query of a dashboard (annotations and panel targets) with its panel and line; in
    another layout than ours, the file is named without a line."""
    walked = _walk_dashboard(text)
    lines = _expr_lines(text) if text.startswith("{\n") else []
    if len(lines) != len(walked):
        return [Query(Position(path), where, expr) for where, expr in walked]
    return [
        Query(Position(path, text.count("\n", 0, offset) + 1, indent + 1), where, expr)
        for (where, expr), (offset, indent, _) in zip(walked, lines)
    ]


def _walk_dashboard(text: str) -> list[tuple[str, str]]:
    """(where, expression) of every query, walking the document in sorted-key order."""
    data = json.loads(text)
    found: list[tuple[str, str]] = []
    row = ""  # title of the last row met: panels follow their row in the panel list

    def walk(node: dict | list, where: str) -> None:
        nonlocal row
        if isinstance(node, dict):
            if node.get("type") == "row":
                row = node.get("title", "")
            elif "gridPos" in node and "type" in node:  # a panel
                where = f'panel {node.get("id")} "{node.get("title", "")}"' + (
                    f' (row "{row}")' if row else ""
                )
            elif where == "annotations" and "name" in node:
                where = f'annotation "{node["name"]}"'
            if isinstance(node.get("expr"), str):
                found.append((where, node["expr"]))
            for key in sorted(node):
                value = node[key]
                if (
                    type(value) is dict or type(value) is list
                ):  # scalars hold no query: skip the call
                    walk(value, where)
        else:
            for item in node:
                if type(item) is dict or type(item) is list:
                    walk(item, where)

    for key in sorted(data):
        if type(data[key]) is dict or type(data[key]) is list:
            walk(data[key], key)
    return found


# --- the check -----------------------------------------------------------------------------
def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


@dataclass(frozen=True)
class Extract:
    """What the check needs of one generated file, read once: the text it was read from, every
    name its queries read (each query's own names are worked out again only for a file that reads
    something unknown), whether some query does not parse, what the file records, whether it
    alerts, and why it does not read back."""

    text: str
    kind: Holds
    reads: frozenset[str]
    unparsable: bool = False
    records: frozenset[str] = frozenset()
    alerts: bool = False
    unreadable: tuple[Diagnostic, ...] = ()


def extract(kind: Holds, path: str, text: str, data: dict | None = None) -> Extract:
    """Read one generated file. The expensive part of the check, and mostly per service: the
    compile runs it where the service's files are generated, in parallel and cached with them
    (pipeline/prepare.py)."""
    if kind is Holds.RULE_GROUPS:
        exprs, records, alerts, unreadable = _rule_contents(path, text, data)
    else:
        exprs, records, alerts, unreadable = _dashboard_exprs(text), set(), False, []
    names_read: set[str] = set()
    unparsable = False
    for expr in exprs:
        try:
            names_read |= _names_in(expr)
        except promql.PromQLError:
            unparsable = True
    return Extract(
        text, kind, frozenset(names_read), unparsable, frozenset(records), alerts, tuple(unreadable)
    )


def check(
    model: Model, artifacts: dict[str, str], checked: Mapping[str, Extract]
) -> list[Diagnostic]:
    """Every diagnostic about series read and never produced. ``checked``: what was read of
    each generated file the check covers (``extract``); a file whose text in ``artifacts`` is no
    longer the text it was read from is read again."""

    def read(path: str, known: Extract) -> Extract:
        text = artifacts[path]
        if known.text is text or known.text == text:
            return known
        return extract(known.kind, path, text)

    covered = sorted((path, known) for path, known in checked.items() if path in artifacts)
    rules = [
        (path, read(path, known)) for path, known in covered if known.kind is Holds.RULE_GROUPS
    ]
    recorded: set[str] = set()
    any_alerts = False
    diagnostics: list[Diagnostic] = []
    for _, found in rules:
        recorded |= found.records
        any_alerts |= found.alerts
        diagnostics += found.unreadable
    if diagnostics:
        # What the unreadable file records is unknown: any other report would mislead.
        return diagnostics
    produced = recorded | (set(ALERT_SERIES) if any_alerts else set())

    sources: set[str] = set()
    for spec in spec_expressions(model):
        names_read = _names_in(spec.expr)  # the spec was parsed when built, so this cannot fail
        sources |= names_read
        for name in sorted(
            n for n in names_read - produced if n.startswith(names.SERIES_NAMESPACE)
        ):
            diagnostics.append(
                error(
                    spec.position,
                    "consistency/unknown-series",
                    f"{spec.where} reads {name}, which is in the compiler's "
                    f"{names.SERIES_NAMESPACE} namespace but no generated recording rule "
                    f"records it{_hint(name, produced)}",
                )
            )

    dashboards = [
        (path, read(path, known)) for path, known in covered if known.kind is Holds.DASHBOARD
    ]
    known_series = produced | sources
    for path, found in rules + dashboards:
        if not found.unparsable and found.reads <= known_series:
            continue  # the common case: nothing to report, no need to know which query read what
        queries = (
            rule_queries(path, artifacts[path])
            if found.kind is Holds.RULE_GROUPS
            else dashboard_queries(path, artifacts[path])
        )
        for query in queries:
            try:
                read_names = _names_in(query.expr)
            except promql.PromQLError as exc:
                diagnostics.append(
                    error(
                        query.position,
                        "consistency/promql",
                        f"{query.where}: invalid PromQL: {exc}",
                    )
                )
                continue
            for name in sorted(read_names - known_series):
                diagnostics.append(
                    error(
                        query.position,
                        "consistency/unknown-series",
                        f"{query.where} reads {name}, which no generated recording rule records "
                        f"and no spec names{_hint(name, known_series)}",
                    )
                )
    return diagnostics + grouping(model, artifacts)


# --- grouped SLOs ---------------------------------------------------------------------------
# Rules of a grouped SLO that are one series per SLO on purpose: constants, and the group count.
_PER_SLO = frozenset({names.OBJECTIVE, names.ERROR_BUDGET, names.PERIOD, names.GROUPS})


def _drops(expr: str, keep: frozenset[str], service_wide: bool) -> list[str]:
    """How ``expr`` loses a label of ``keep`` (promql.label_losses)."""
    return promql.label_losses(promql.parse(expr), keep, per_slo_only=service_wide)


def _group_problems(service: Service, rule: Mapping) -> list[str]:
    """What is wrong with one generated rule of ``service`` for its grouped SLOs."""
    grouped = {slo.name: slo for slo in service.slos if slo.by}
    labels = rule.get("labels") or {}
    slo: SLO | None = grouped.get(labels.get(names.SLO, ""))
    name = rule.get("record") or rule.get("alert")
    if "record" in rule:
        if name in _PER_SLO or (slo is None and names.SLO in labels):
            return []
        keep = frozenset(slo.by if slo is not None else (b for s in grouped.values() for b in s.by))
        return _drops(str(rule["expr"]), keep, slo is None)
    if slo is None or name != slo.alerting.name:
        return []
    problems = _drops(str(rule["expr"]), frozenset(slo.by), False)
    annotations = rule.get("annotations") or {}
    for key in ("summary", "description"):
        missing = [b for b in slo.by if f"$labels.{b} " not in str(annotations.get(key, ""))]
        if missing:
            problems.append(f"its {key} does not name the group ({', '.join(missing)})")
    return problems


def grouping(model: Model, artifacts: Mapping[str, str]) -> list[Diagnostic]:
    """Every rule of a grouped SLO, and every rule serving all SLOs of its service, keeps the
    group labels; every alert of the SLO names its group. Read from the rule files of the
    services that have grouped SLOs only (the others cannot be wrong this way)."""
    diagnostics: list[Diagnostic] = []
    for service in model.services:
        if not any(slo.by for slo in service.slos):
            continue
        for path in (names.rules_file(service.name), names.vmalert_rules_file(service.name)):
            text = artifacts.get(path)
            if text is None:
                continue
            try:
                data = yaml.load(text, Loader=_FastLoader) or {}
            except yaml.YAMLError:
                continue  # reported by check() as consistency/generated-file
            for group in data.get("groups") or []:
                for index, rule in enumerate(group.get("rules") or []):
                    for problem in _group_problems(service, rule):
                        kind = "record" if "record" in rule else "alert"
                        diagnostics.append(
                            error(
                                Position(path),
                                "consistency/group-labels",
                                f"group {group.get('name')}, rule {index + 1} ({kind} "
                                f"{rule.get(kind)}): {problem}; a grouped SLO's rules keep "
                                "its group labels (this is a bug in slo, please report it)",
                            )
                        )
    return diagnostics
