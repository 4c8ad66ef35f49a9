"""Pyrra `ServiceLevelObjective` objects (pyrra.dev/v1alpha1) -> slo/v1.

Pyrra has no services: each SLO becomes a service of its own name (or all go into `--service`),
and keeps its name, so the `slo` label of its series does not change. Labels prefixed `pyrra.dev/`
are the ones Pyrra puts on its rules; the others and the namespace select the PrometheusRule,
so they become `outputs.kubernetes`. Pyrra's absent alerts become `absent(...)` thresholds.
Pyrra's burn-rate tiers are fixed (not in the spec), so slo's own tiers for the period apply.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from compiler.core import conventions, windows
from compiler.core.durations import format_duration, parse_duration
from compiler.core.model import Selector
from compiler.importers import common, queries
from compiler.importers.common import Node, Options, Report
from compiler.importers.drafts import Objective, ServiceDraft
from compiler.spec import promql
from compiler.spec.yaml_source import SourceDocument

API_VERSION = "pyrra.dev/v1alpha1"
KIND = "ServiceLevelObjective"
PREFIX = "pyrra.dev/"
SEVERITIES = {"critical": "page", "warning": "ticket", "info": "info"}
# Pyrra's default severity per tier (fast, medium, slow, long-term) and for absent alerts.
MAX_GROUP_LABELS = 10  # the most labels slo/v1 groups an SLO by
TIER_DEFAULTS = {
    "fastBurn": "critical",
    "mediumBurn": "critical",
    "slowBurn": "warning",
    "longTermBurn": "warning",
}


def convert(
    documents: list[SourceDocument], options: Options, report: Report
) -> list[ServiceDraft]:
    drafts: list[ServiceDraft] = []
    for doc in documents:
        node = Node(doc)
        data = doc.data
        if (
            not isinstance(data, dict)
            or data.get("apiVersion") != API_VERSION
            or data.get("kind") != KIND
        ):
            report.fail(
                node,
                "import/format",
                f"not a Pyrra SLO: expected apiVersion {API_VERSION}, kind {KIND}",
            )
        elif not node.has("spec") or not node.has("metadata") or not node["metadata"].has("name"):
            report.fail(node, "import/format", "a Pyrra SLO needs metadata.name and spec")
        else:
            drafts.append(service(node, report))
    return drafts


def service(obj: Node, report: Report) -> ServiceDraft:
    metadata, spec = obj["metadata"], obj["spec"]
    team = metadata.mapping("labels").get(PREFIX + "team")
    team = team if isinstance(team, str) and common.valid_name(team) == team else None
    name = common.name(report, metadata["name"])
    draft = ServiceDraft(
        name=name, origin=metadata["name"].position, team=team, outputs=_outputs(metadata, report)
    )
    for key in ("partial_response_strategy", "performanceOverAccuracy", "ruleOutput"):
        if spec.has(key) and spec.get(key) not in ("", False, "abort"):
            report.warn(spec[key], "import/dropped", f"{key} has no slo equivalent; not imported")
    converted = objective(spec, report)
    if converted is None:
        return draft
    body, absent_selectors = converted
    # Pyrra copies `pyrra.dev/<label>` onto every rule and alert as <label>.
    slo_labels = common.labels(
        report, metadata.pick("labels"), skip=("team",) if team else (), prefix=PREFIX
    )
    for label in [label for label in body.get("by", ()) if label in slo_labels]:
        report.warn(
            metadata["labels"][PREFIX + label],
            "import/dropped",
            f"the SLO is grouped by '{label}': each group keeps its own value, so this fixed "
            "one is not set",
            key=True,
        )
        del slo_labels[label]
    if slo_labels:
        body["labels"] = slo_labels
    alerting, absent_severity = alerts(spec, report)
    annotations, runbook = common.alert_annotations(
        report, metadata.pick("annotations"), prefix=PREFIX
    )
    if annotations:
        alerting["annotations"] = annotations
    if runbook:
        alerting["runbook_url"] = runbook
    if alerting:
        body["alerting"] = alerting
    draft.slos.append(Objective(name, body, metadata["name"].position, (TIERS_NOTE,)))
    if absent_severity is not None and absent_selectors:
        threshold = absent_threshold(name, body, absent_selectors, absent_severity)
        draft.thresholds.append(
            Objective(
                conventions.absent_threshold(name),
                threshold,
                metadata["name"].position,
                (ABSENT_NOTE,),
            )
        )
    return draft


TIERS_NOTE = "Pyrra's fixed burn-rate tiers (14/7/2/1) are replaced by slo's tiers for this period"
ABSENT_NOTE = "stands in for Pyrra's SLOMetricAbsent alert"


def _outputs(metadata: Node, report: Report) -> dict[str, Any]:
    """Pyrra's controller writes a PrometheusRule into the SLO's namespace with its other labels;
    a plain Pyrra file (no namespace, no such labels) asks for no Kubernetes output."""
    plain = [k for k in metadata.mapping("labels") if not k.startswith(PREFIX)]
    if not metadata.has("namespace") and not plain:
        return {}
    return common.kubernetes_output(report, metadata, skip_prefix=PREFIX)


def objective(spec: Node, report: Report) -> tuple[dict[str, Any], list[str]] | None:
    """(slo/v1 SLO body without name, selectors whose absence Pyrra alerts on)."""
    target = (
        common.objective(report, spec["target"], common.decimal(spec.get("target")))
        if spec.has("target")
        else None
    )
    window = common.seconds(spec.get("window", "")) if spec.has("window") else None
    if not spec.has("target"):
        report.warn(spec, "import/unsupported", "no target; SLO not imported")
    if window is None:
        report.warn(
            spec["window"] if spec.has("window") else spec,
            "import/unsupported",
            "needs a window such as 28d or 4w; SLO not imported",
        )
    elif window < windows.MIN_PERIOD:
        report.warn(
            spec["window"], "import/unsupported", "slo periods are at least 1d; SLO not imported"
        )
        window = None
    elif window > windows.MAX_PERIOD:
        report.warn(
            spec["window"],
            "import/unsupported",
            f"slo periods are at most {format_duration(windows.MAX_PERIOD)}; SLO not imported",
        )
        window = None
    converted = sli(spec["indicator"], report) if spec.has("indicator") else None
    if not spec.has("indicator"):
        report.warn(spec, "import/unsupported", "no indicator; SLO not imported")
    if target is None or window is None or converted is None:
        return None
    indicator, absent_selectors, by = converted
    body: dict[str, Any] = {"objective": target, "period": format_duration(window)}
    if spec.get("description"):
        body["description"] = str(spec.get("description")).strip()
    if by:
        body["by"] = by
    body["indicator"] = indicator
    return body, absent_selectors


def _selector(node: Node, report: Report) -> Selector | None:
    try:
        selector = promql.as_selector(promql.parse(str(node.value)))
    except promql.PromQLError as exc:
        report.warn(node, "import/unsupported", f"invalid PromQL: {exc}; SLO not imported")
        return None
    if selector is None:
        report.warn(
            node, "import/unsupported", "Pyrra needs a vector selector here; SLO not imported"
        )
    return selector


def grouping(node: Node, report: Report) -> list[str]:
    """Pyrra's ``grouping`` (an SLO per combination of these labels' values) as slo's ``by``:
    the labels slo can group by, each dropped one a warning."""
    if not node.has("grouping") or not node.get("grouping"):
        return []
    if not isinstance(node.get("grouping"), list):
        report.warn(node["grouping"], "import/dropped", "grouping must be a list of label names")
        return []
    found: list[str] = []
    for item in node.elements("grouping"):
        label = item.value
        if not common.is_label_name(label):
            report.warn(item, "import/dropped", f"{label!r} is not a label name; not grouped by")
        elif label in conventions.GROUP_RESERVED_LABELS or label.startswith("__"):
            report.warn(
                item,
                "import/dropped",
                f"slo sets '{label}' on every series of an SLO, so it cannot group by it: "
                f"each group sums the series of every '{label}'",
            )
        elif label in found:
            continue
        elif len(found) == MAX_GROUP_LABELS:
            report.warn(item, "import/dropped", f"slo groups by at most {MAX_GROUP_LABELS} labels")
        else:
            found.append(label)
    return found


def sli(node: Node, report: Report) -> tuple[dict[str, Any], list[str], list[str]] | None:
    """(slo/v1 indicator, the selectors Pyrra's absent alerts watch, the labels it groups by)."""
    kinds = ("ratio", "latency", "latencyNative", "bool_gauge")
    chosen = node.pick(*kinds)
    by = grouping(chosen, report) if chosen is not None else []
    converted = _indicator(node, report, by)
    return None if converted is None else (*converted, by)


def _indicator(
    node: Node, report: Report, by: list[str]
) -> tuple[dict[str, Any], list[str]] | None:
    """(slo/v1 indicator, the selectors Pyrra's absent alerts watch); an expression keeps the
    ``by`` labels."""
    ratio, latency, native, gauge = (
        node.pick(k) for k in ("ratio", "latency", "latencyNative", "bool_gauge")
    )
    if ratio is not None:
        errors, total = _metrics(ratio, ("errors", "total"), report)
        if errors is None or total is None:
            return None
        watched = [total] if errors.metric == total.metric else [total, errors]
        return {
            "ratio": {
                "errors": queries.selector_text(errors),
                "total": queries.selector_text(total),
            }
        }, _texts(watched)
    if latency is not None:
        success, total = _metrics(latency, ("success", "total"), report)
        if success is None or total is None:
            return None
        found = queries.histogram_latency(success, total)
        if found is not None:
            histogram, bound = found
            indicator = {
                "latency": {
                    "histogram": queries.selector_text(histogram),
                    "threshold": common.yaml_number(bound),
                }
            }
        else:  # not one histogram's bucket and count: still a ratio of two counters
            indicator = {
                "ratio": {
                    "good": queries.selector_text(success),
                    "total": queries.selector_text(total),
                }
            }
        return indicator, _texts([total, success])
    if native is not None:
        (total,) = _metrics(native, ("total",), report)
        seconds = _seconds_decimal(str(native.get("latency", "")))
        if seconds is None:
            report.warn(
                native, "import/unsupported", "needs a latency such as 200ms; SLO not imported"
            )
        if total is None or seconds is None:
            return None
        summed = f"sum by ({', '.join(by)}) " if by else "sum"
        rates = f"{summed}(rate({queries.selector_text(total)}[$window]))"
        count = f"histogram_count({rates})"
        # Pyrra generates no absent alert for native histograms either.
        return {
            "ratio": {
                "good": f"histogram_fraction(0, {seconds}, {rates}) * {count}",
                "total": count,
            }
        }, []
    if gauge is not None:
        if not gauge.has("metric"):
            report.warn(gauge, "import/unsupported", "needs a metric; SLO not imported")
            return None
        selector = _selector(gauge["metric"], report)
        if selector is None:
            return None
        text = queries.selector_text(selector)
        # A 0/1 gauge: every sample is an event, good when 1 (Pyrra's sum_over_time /
        # count_over_time).
        return {
            "ratio": {
                "good": f"sum_over_time({text}[$window])",
                "total": f"count_over_time({text}[$window])",
            }
        }, [text]
    report.warn(
        node,
        "import/unsupported",
        "needs one of ratio, latency, latencyNative or bool_gauge; SLO not imported",
    )
    return None


def _metrics(node: Node, keys: tuple[str, ...], report: Report) -> tuple[Selector | None, ...]:
    found: list[Selector | None] = []
    for key in keys:
        metric = node[key]["metric"] if node.has(key) and node[key].has("metric") else None
        if metric is None:
            report.warn(node, "import/unsupported", f"needs {key}.metric; SLO not imported")
        found.append(_selector(metric, report) if metric is not None else None)
    return tuple(found)


def _texts(selectors: list[Selector]) -> list[str]:
    return [queries.selector_text(s) for s in selectors]


def _seconds_decimal(text: str) -> str | None:
    """A Go duration as a number of seconds for PromQL: 200ms -> 0.2, 1s -> 1."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text.strip())
    if not match:
        return None
    scale = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60)}[match.group(2)]
    value = (Decimal(match.group(1)) * scale).normalize()
    return format(value, "f") if value > 0 else None


def alerts(spec: Node, report: Report) -> tuple[dict[str, Any], str | None]:
    """(slo/v1 alerting, severity of the absent alerts or None when they are off)."""
    node = spec["alerting"] if spec.has("alerting") else None
    out: dict[str, Any] = {}
    if node is None:
        return out, "page"
    if node.has("name"):
        out["name"] = common.alert_name(report, node["name"])
    if node.get("burnrates") is False or node.get("disabled") is True:
        out["page"] = out["ticket"] = False
    severities = node["severities"] if node.has("severities") else None
    if severities is not None:
        for tier, default in TIER_DEFAULTS.items():
            if severities.has(tier) and severities.get(tier) != default:
                report.warn(
                    severities[tier],
                    "import/dropped",
                    "slo's tiers keep their own severities (page for the fast ones, ticket for "
                    f"the slow); '{severities.get(tier)}' not imported",
                )
    absent = None
    if node.get("absent", True) is not False:
        chosen = (
            severities["absent"] if severities is not None and severities.has("absent") else None
        )
        raw = chosen.value if chosen is not None else "critical"
        absent = SEVERITIES.get(str(raw))
        if absent is None and chosen is not None:  # Pyrra's default, critical, is known
            report.warn(chosen, "import/changed", f"severity '{raw}' imported as page")
            absent = "page"
        if node.has("absentName"):
            report.warn(
                node["absentName"],
                "import/dropped",
                "slo names threshold alerts after the threshold; absentName not imported",
            )
    return out, absent


def absent_threshold(
    name: str, body: dict[str, Any], selectors: list[str], severity: str
) -> dict[str, Any]:
    """Pyrra's `absent(<metric>) == 1` alerts as one threshold, waiting as long as Pyrra does."""
    wait = absent_wait(Decimal(str(body["objective"])) / 100, parse_duration(body["period"]))
    threshold: dict[str, Any] = {
        "description": f"The metrics of SLO {name} are missing, so its SLI cannot be computed.",
        "expr": " or ".join(f"absent({s})" for s in selectors),
        "above": 0,
    }
    if wait:
        threshold["for"] = format_duration(wait)
    threshold["severity"] = severity
    return threshold


def absent_wait(objective: Decimal, period: int) -> int:
    """Pyrra's AbsentDuration: how long the fastest tier would take to fire on a total outage, plus
    its `for`; both scale with the window from 1h and 2m at 28d. Rounded to the minute."""
    long = _minute(period / (28 * 24))
    for_ = _minute(period / (28 * 24 * 30))
    return _minute(float(14 * (1 - objective)) * long + for_)


def _minute(seconds: float) -> int:
    """Go's Duration.Round(time.Minute): halves away from zero (Python's round() would go to
    even)."""
    return int(seconds / 60 + 0.5) * 60
