"""OpenSLO -> slo/v1.

Reads `openslo/v1` objects (SLO, SLI, AlertPolicy, AlertCondition, AlertNotificationTarget,
DataSource, Service) from every file at once, as `---` documents or YAML lists, so references
(indicatorRef, alertPolicyRef, conditionRef, targetRef, metricSourceRef) may cross files; and the
older `openslo/v1alpha` SLOs that Sloth reads.

How OpenSLO maps onto slo/v1 (README, "Migration and platform formats"):
  * ratioMetric good/bad/total -> ratio good/errors/total; `raw` -> the ratio itself as errors,
    with `count(...)` of it as total, so every window averages it;
  * thresholdMetric -> the share of samples meeting `op value`, counted with subqueries;
  * Timeslices on a thresholdMetric with 1m slices -> a threshold with `slo:` (a time-slice SLO);
  * Timeslices / RatioTimeslices -> per-slice success ratios from subqueries stepped by the
    slice window: the share of bad slices, or the mean shortfall of each slice;
  * each AlertCondition (burnrate `threshold` over `lookbackWindow`) -> a custom alert window,
    long = lookbackWindow, short = lookbackWindow / 12 (the SRE Workbook's ratio).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from compiler.core import windows
from compiler.core.durations import format_duration
from compiler.importers import common, queries
from compiler.importers.common import Node, Options, Report
from compiler.importers.drafts import Objective, ServiceDraft
from compiler.spec import promql
from compiler.spec.yaml_source import SourceDocument

API_VERSION = "openslo/v1"
ALPHA_VERSION = "openslo/v1alpha"
KINDS = (
    "SLO",
    "SLI",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
    "DataSource",
    "Service",
)
PROMETHEUS_SOURCES = {"prometheus", "thanos", "mimir", "cortex", "victoriametrics"}
# duration-shorthand; m is minutes, M months. Calendar units become fixed lengths (with a warning).
_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")
_SHORTHAND_SECONDS = {
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "M": 30 * 86400,
    "Q": 90 * 86400,
    "Y": 365 * 86400,
}
_ALPHA_UNITS = {
    "Second": 1,
    "Minute": 60,
    "Hour": 3600,
    "Day": 86400,
    "Week": 7 * 86400,
    "Month": 30 * 86400,
    "Quarter": 90 * 86400,
    "Year": 365 * 86400,
}
_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# OpenSLO severities are free text; these read as "wake someone up" or "look at it soon".
PAGE_SEVERITIES = {"page", "critical", "high", "sev1", "p1", "emergency"}
TICKET_SEVERITIES = {
    "ticket",
    "warning",
    "medium",
    "low",
    "info",
    "sev2",
    "sev3",
    "sev4",
    "p2",
    "p3",
    "p4",
}
SHORT_WINDOW_DIVISOR = 12  # SRE Workbook: short window = 1/12 of the long one


class Index:
    """Every OpenSLO object of the import by (kind, name), and which ones SLOs used."""

    def __init__(self, objects: list[Node], report: Report) -> None:
        self.objects: dict[tuple[str, str], Node] = {}
        self.used: set[tuple[str, str]] = set()
        for obj in objects:
            key = (obj.get("kind"), str(obj["metadata"].get("name")))
            if key in self.objects:
                first = self.objects[key].position
                report.warn(
                    obj,
                    "import/conflict",
                    f"a second {key[0]} named '{key[1]}' "
                    f"(first at {first.file}:{first.line}); the first is used",
                )
            else:
                self.objects[key] = obj

    def resolve(self, kind: str, ref: Node, report: Report) -> Node | None:
        key = (kind, str(ref.value))
        if key not in self.objects:
            report.warn(
                ref, "import/reference", f"no {kind} named '{ref.value}' among the imported files"
            )
            return None
        self.used.add(key)
        return self.objects[key]

    def inline_or_ref(self, node: Node, kind: str, ref_key: str, report: Report) -> Node | None:
        """An inline object (with `spec`) or a reference to one, as the object's node."""
        if node.has(ref_key):
            return self.resolve(kind, node[ref_key], report)
        return node if node.has("spec") else None


def convert(
    documents: list[SourceDocument], options: Options, report: Report
) -> list[ServiceDraft]:
    objects: list[Node] = []
    for doc in documents:
        items = (
            [Node(doc, (i,)) for i in range(len(doc.data))]
            if isinstance(doc.data, list)
            else [Node(doc)]
        )
        for obj in items:
            version, kind = (
                (obj.get("apiVersion"), obj.get("kind"))
                if isinstance(obj.value, dict)
                else (None, None)
            )
            if version not in (API_VERSION, ALPHA_VERSION) or kind not in KINDS:
                report.fail(
                    obj,
                    "import/format",
                    f"not an OpenSLO object: expected apiVersion {API_VERSION} and a kind among "
                    f"{', '.join(KINDS)}",
                )
            elif not obj.has("spec") or not obj.has("metadata") or not obj["metadata"].has("name"):
                report.fail(obj, "import/format", f"{kind} needs metadata.name and spec")
            else:
                objects.append(obj)
    index = Index(objects, report)
    drafts: list[ServiceDraft] = []
    for obj in objects:
        if obj.get("kind") == "SLO":
            draft = (alpha_slo if obj.get("apiVersion") == ALPHA_VERSION else slo)(
                obj, index, report
            )
            if draft is not None:
                drafts.append(draft)
    for (kind, name), obj in sorted(index.objects.items(), key=lambda item: item[1].position):
        if kind in ("SLI", "AlertPolicy", "AlertCondition") and (kind, name) not in index.used:
            report.warn(
                obj,
                "import/dropped",
                f"{kind} '{name}' is not used by any imported SLO; nothing imported from it",
            )
    return drafts


# --- SLO ------------------------------------------------------------------------------------------
def slo(obj: Node, index: Index, report: Report) -> ServiceDraft | None:
    spec, metadata = obj["spec"], obj["metadata"]
    draft = service_draft(obj, spec, index, report)
    period = time_window(spec, report)
    calendar = calendar_period(spec, report) if period is not None else ""
    budgeting = spec.get("budgetingMethod", "Occurrences")
    if budgeting not in ("Occurrences", "Timeslices", "RatioTimeslices"):
        report.warn(
            spec["budgetingMethod"],
            "import/unsupported",
            f"budgetingMethod '{budgeting}' is not an OpenSLO method; SLO not imported",
        )
        return draft
    objectives = spec.elements("objectives")
    if not objectives:
        report.warn(spec, "import/unsupported", "SLO without objectives; not imported")
    if period is None:
        return draft
    alerting = alert_policies(spec, period, index, report)
    slo_labels = common.labels(report, metadata.pick("labels"), skip=("team",))
    base = str(metadata.get("name", "unnamed"))
    for i, objective_node in enumerate(objectives):
        indicator_obj = indicator_of(objective_node, spec, index, report)
        if indicator_obj is None:
            continue
        if objective_node.has("compositeWeight"):
            report.warn(
                objective_node["compositeWeight"],
                "import/dropped",
                "composite weights have no slo equivalent: each objective is its own SLO",
            )
        target = objective_target(objective_node, report)
        gauge = None
        if budgeting == "Timeslices" and target is not None:
            gauge = timeslice_threshold(indicator_obj["spec"], objective_node, index, report)
        indicator = (
            None
            if gauge is not None
            else sli(indicator_obj["spec"], objective_node, budgeting, index, report)
        )
        if target is None or (indicator is None and gauge is None):
            continue
        raw_name = base if len(objectives) == 1 else f"{base}-{i + 1}"
        name = common.name(
            report, metadata["name"] if len(objectives) == 1 else objective_node, raw_name
        )
        body: dict[str, Any] = {"objective": target, "period": calendar or format_duration(period)}
        if spec.get("description"):
            body["description"] = str(spec.get("description"))
        if slo_labels:
            body["labels"] = slo_labels
        if gauge is not None:  # a threshold whose time slices are the SLO
            gauge["slo"] = {**body, "alerting": alerting}
            draft.thresholds.append(
                Objective(name, gauge, objective_node.position, (TIMESLICE_NOTE,))
            )
            continue
        body["indicator"] = indicator
        body["alerting"] = alerting
        notes = (
            ()
            if alerting.get("windows")
            else (
                "the source defines no alert policies; "
                "drop page/ticket: false for the SRE Workbook tiers",
            )
        )
        draft.slos.append(Objective(name, body, objective_node.position, notes))
    return draft


def indicator_of(objective_node: Node, spec: Node, index: Index, report: Report) -> Node | None:
    """The SLI object of an objective: composite SLOs name one per objective, others one per SLO."""
    for owner in (objective_node, spec):
        if owner.has("indicator") or owner.has("indicatorRef"):
            found = index.inline_or_ref(
                owner["indicator"] if owner.has("indicator") else owner,
                "SLI",
                "indicatorRef",
                report,
            )
            if found is not None and not found.has("spec"):
                report.warn(found, "import/unsupported", "an SLI without spec; SLO not imported")
                return None
            return found
    report.warn(spec, "import/unsupported", "no indicator or indicatorRef; SLO not imported")
    return None


def service_draft(obj: Node, spec: Node, index: Index, report: Report) -> ServiceDraft:
    service_node = spec["service"] if spec.has("service") else None
    draft = ServiceDraft(
        name=common.name(report, service_node)
        if service_node is not None
        else common.name(report, obj["metadata"]["name"]),
        origin=(service_node or obj).position,
        team=team(obj, report),
    )
    described = index.objects.get(("Service", str(spec.get("service"))))
    if described is not None:
        index.used.add(("Service", str(spec.get("service"))))
        draft.description = str(described["spec"].get("description", ""))
    return draft


def team(obj: Node, report: Report) -> str | None:
    labels = obj["metadata"].mapping("labels") if obj.has("metadata") else {}
    value = labels.get("team")
    teams = value if isinstance(value, list) else [value] if value is not None else []
    if not teams:
        return None
    chosen = common.valid_name(teams[0])
    if len(teams) > 1 or chosen != teams[0]:
        report.warn(
            obj["metadata"]["labels"]["team"],
            "import/changed",
            f"slo has one owning team per service; imported as team '{chosen}'",
        )
    return chosen


def time_window(spec: Node, report: Report) -> int | None:
    windows_ = spec.elements("timeWindow")
    if len(windows_) != 1:
        report.warn(spec, "import/unsupported", "needs exactly one timeWindow; SLO not imported")
        return None
    window = windows_[0]
    calendar = _calendar_of(window)
    if calendar:  # a calendar month or week: slo has those (calendar_period says how)
        return windows.CALENDAR_REFERENCE[calendar]
    period = shorthand(window["duration"], report) if window.has("duration") else None
    if period is None:
        return None
    if window.has("calendar") or window.get("isRolling") is False:
        report.warn(
            window,
            "import/approximated",
            f"calendar-aligned window imported as a rolling {format_duration(period)} window: "
            "slo periods roll",
        )
    if period < windows.MIN_PERIOD:
        report.warn(
            window["duration"],
            "import/unsupported",
            f"{window.get('duration')} is shorter than slo's minimum period of 1d; "
            "SLO not imported",
        )
        return None
    if period > windows.MAX_PERIOD:
        report.warn(
            window["duration"],
            "import/unsupported",
            f"{window.get('duration')} is longer than slo's maximum period of "
            f"{format_duration(windows.MAX_PERIOD)}; SLO not imported",
        )
        return None
    return period


# OpenSLO calendar durations that are slo calendar periods.
_CALENDAR_DURATIONS = {"1M": windows.MONTH, "1w": windows.WEEK_PERIOD, "7d": windows.WEEK_PERIOD}


def _calendar_of(window: Node) -> str:
    """``month`` or ``week`` for a calendar-aligned window of one month or week, else ""."""
    if not (window.has("calendar") or window.get("isRolling") is False):
        return ""
    return _CALENDAR_DURATIONS.get(str(window.get("duration")), "")


def calendar_period(spec: Node, report: Report) -> str:
    """The SLO's calendar period ("" for a rolling one). slo's start at 00:00 UTC on the 1st or
    on Monday: another time zone or start is said to be approximated."""
    window = spec.elements("timeWindow")[0]
    calendar = _calendar_of(window)
    if not calendar or not window.has("calendar"):
        return calendar
    aligned = window["calendar"]
    zone = str(aligned.get("timeZone", "UTC"))
    if zone not in ("UTC", "Etc/UTC", "GMT"):
        report.warn(
            aligned["timeZone"],
            "import/approximated",
            f"{zone} imported as UTC: slo's calendar periods start at 00:00 UTC",
        )
    start = str(aligned.get("startTime", ""))
    midnight = re.fullmatch(r"\d{4}-\d{2}-(\d{2})[ T]00:00(:00)?Z?", start)
    if start and (midnight is None or (calendar == windows.MONTH and midnight.group(1) != "01")):
        report.warn(
            aligned["startTime"],
            "import/approximated",
            f"startTime {start} imported as the start of each calendar {calendar} "
            f"(00:00 UTC on {'the 1st' if calendar == windows.MONTH else 'Monday'})",
        )
    return calendar


def shorthand(node: Node, report: Report) -> int | None:
    match = _SHORTHAND.match(str(node.value))
    if not match:
        report.warn(
            node,
            "import/unsupported",
            f"'{node.value}' is not an OpenSLO duration (e.g. 28d, 4w, 1M); not imported",
        )
        return None
    amount, unit = int(match.group(1)), match.group(2)
    if unit in "MQY":
        report.warn(
            node,
            "import/approximated",
            f"{node.value} imported as {format_duration(amount * _SHORTHAND_SECONDS[unit])}: "
            "slo has no calendar units",
        )
    return amount * _SHORTHAND_SECONDS[unit]


def objective_target(node: Node, report: Report) -> int | float | None:
    if node.has("targetPercent"):
        return common.objective(
            report, node["targetPercent"], common.decimal(node.get("targetPercent"))
        )
    if node.has("target"):
        fraction = common.decimal(node.get("target"))
        return common.objective(
            report, node["target"], fraction * 100 if fraction is not None else None
        )
    report.warn(
        node, "import/unsupported", "objective without target or targetPercent; not imported"
    )
    return None


# --- indicators -----------------------------------------------------------------------------------
def sli(
    spec: Node, objective_node: Node, budgeting: str, index: Index, report: Report
) -> dict[str, Any] | None:
    ratio, threshold = spec.pick("ratioMetric"), spec.pick("thresholdMetric")
    if ratio is None and threshold is None:
        report.warn(
            spec, "import/unsupported", "needs a ratioMetric or a thresholdMetric; SLO not imported"
        )
        return None
    slices = slice_window(objective_node, budgeting, report)
    if budgeting != "Occurrences" and slices is None:
        return None
    if threshold is not None:
        return threshold_indicator(threshold, objective_node, slices, index, report)
    assert ratio is not None  # one of the two is set, checked above
    for key in ("op", "value"):
        if objective_node.has(key):
            report.warn(
                objective_node[key],
                "import/dropped",
                "only thresholdMetric objectives use op/value; ignored",
            )
    if ratio.has("raw"):
        query = metric_query(ratio["raw"], index, report)
        if query is None:
            return None
        success = ratio.get("rawType") == "success"
        if ratio.get("rawType") not in ("success", "failure"):
            report.warn(
                ratio,
                "import/unsupported",
                "raw needs rawType success or failure; SLO not imported",
            )
            return None
        value = (
            queries.with_placeholder(query)
            if queries.has_window(query)
            else f"avg_over_time(({query.strip()})[$window:])"
        )
        if slices is None:  # Occurrences
            errors = f"1 - ({value})" if success else value
            return {"ratio": {"errors": errors, "total": f"count({value})"}}
        per_slice = value.replace("$window", slices)
        return sliced(
            per_slice if success else f"1 - ({per_slice})",
            budgeting,
            objective_node,
            slices,
            report,
        )
    counter = ratio.get("counter", True) is not False
    parts: dict[str, str] = {}
    for key in ("good", "bad", "total"):
        if ratio.has(key):
            query = metric_query(ratio[key], index, report)
            part = counter_spec(ratio[key], query, counter, report) if query is not None else None
            if part is None:
                return None
            parts[key] = part
    if "total" not in parts or ("good" in parts) == ("bad" in parts):
        report.warn(
            ratio,
            "import/unsupported",
            "needs total and exactly one of good or bad; SLO not imported",
        )
        return None
    if slices is None:  # Occurrences
        good = parts.get("good")
        latency = _latency(good, parts["total"]) if good else None
        if latency is not None:
            return latency
        return {
            "ratio": {("good" if good else "errors"): good or parts["bad"], "total": parts["total"]}
        }
    total = rated(parts["total"], slices)
    success = (
        f"{rated(parts['good'], slices)} / {total}"
        if "good" in parts
        else f"1 - {rated(parts['bad'], slices)} / {total}"
    )
    return sliced(success, budgeting, objective_node, slices, report)


def _latency(good: str, total: str) -> dict[str, Any] | None:
    """good = h_bucket{le="x"}, total = h_count: the histogram latency SLI slo has a form for."""
    try:
        good_sel, total_sel = (
            promql.as_selector(promql.parse(good)),
            promql.as_selector(promql.parse(total)),
        )
    except promql.PromQLError:
        return None
    found = queries.histogram_latency(good_sel, total_sel) if good_sel and total_sel else None
    if found is None:
        return None
    histogram, bound = found
    return {
        "latency": {
            "histogram": queries.selector_text(histogram),
            "threshold": common.yaml_number(bound),
        }
    }


def counter_spec(node: Node, query: str, counter: bool, report: Report) -> str | None:
    """A slo/v1 ratio part: a counter selector, or an expression with $window."""
    if queries.has_window(query):
        selector = queries.rated_selector(query)
        return (
            queries.selector_text(selector)
            if selector is not None
            else queries.with_placeholder(query)
        )
    if not counter:  # gauges: average them over each window
        return f"avg_over_time(({query.strip()})[$window:])"
    selector, dropped = queries.counter_selector(query)
    if selector is None:
        report.warn(
            node,
            "import/unsupported",
            "a counter query must be a selector (optionally inside sum), or use {{.window}} "
            "for the rate window; SLO not imported",
        )
        return None
    if dropped:
        report.warn(
            node,
            "import/dropped",
            f"grouping by ({', '.join(dropped)}) dropped: "
            "slo sums every selected series into one SLI",
        )
    return queries.selector_text(selector)


def rated(part: str, window: str) -> str:
    """A ratio part as a rate over ``window``, for per-slice ratios."""
    if "$window" in part:
        return f"sum({part.replace('$window', window)})"
    return f"sum(rate({part}[{window}]))"


def sliced(
    success: str, budgeting: str, objective_node: Node, slices: str, report: Report
) -> dict[str, Any] | None:
    """Time-slice budgeting from a per-slice success ratio. Slices without data (0/0) count neither
    way: `>= 0` drops NaN."""
    valid = f"(({success}) >= 0)"
    total = f"count_over_time({valid}[$window:{slices}])"
    if budgeting == "Timeslices":
        target = common.decimal(objective_node.get("timeSliceTarget"))
        if target is None or not 0 < target <= 1:
            report.warn(
                objective_node["timeSliceTarget"],
                "import/unsupported",
                "timeSliceTarget must be in (0, 1]; SLO not imported",
            )
            return None
        errors = f"sum_over_time(({valid} < bool {target})[$window:{slices}])"
    else:
        errors = f"sum_over_time((1 - {valid})[$window:{slices}])"
    return {"ratio": {"errors": errors, "total": total}}


# The one slice length a threshold's time-slice SLO has by default: the evaluation interval.
TIMESLICE_WINDOW = windows.DEFAULT_EVALUATION_INTERVAL
TIMESLICE_NOTE = (
    "a time-slice SLO on a threshold: its own alert (info) fires while the condition holds; "
    "raise its severity or add 'for' as needed"
)
# good when `op value` -> bad when (above | below) value, and whether that is exact
_BAD_SIDE = {
    "lte": ("above", True),
    "lt": ("above", False),
    "gte": ("below", True),
    "gt": ("below", False),
}


def timeslice_threshold(
    spec: Node, objective_node: Node, index: Index, report: Report
) -> dict[str, Any] | None:
    """A Timeslices objective on a thresholdMetric with one-minute slices, as a threshold with
    ``slo:`` (README, "Time-slice SLOs"), or None (with a warning why) to import it as a ratio
    of slices. Such a slice is judged by the metric's latest value at the slice's end, not by
    the share of its samples that meet the condition: the same with a sample a minute."""
    threshold = spec.pick("thresholdMetric")
    if threshold is None:
        return None
    op, value = str(objective_node.get("op")), common.decimal(objective_node.get("value"))
    window = objective_node.get("timeSliceWindow")
    match = _SHORTHAND.match(str(window))
    seconds = (
        int(window) * 60
        if isinstance(window, int) and not isinstance(window, bool)
        else (int(match.group(1)) * _SHORTHAND_SECONDS[match.group(2)] if match else None)
    )
    if op not in _BAD_SIDE or value is None or seconds is None:
        return None  # the ratio import says what is missing
    query = metric_query(threshold, index, report)
    if query is None:
        return None
    if seconds != TIMESLICE_WINDOW or queries.has_window(query):
        why = (
            f"its slices are {format_duration(seconds)}, a threshold's are 1m"
            if seconds != TIMESLICE_WINDOW
            else "its query has a window"
        )
        report.warn(
            objective_node["timeSliceWindow"],
            "import/changed",
            f"not a threshold's time-slice SLO ({why}): imported as a ratio of slices",
        )
        return None
    side, exact = _BAD_SIDE[op]
    report.warn(
        objective_node["timeSliceTarget"],
        "import/approximated",
        "a threshold's time-slice SLO: each 1m slice is judged by the metric's latest value, "
        "not by the share of its samples meeting the condition",
    )
    if not exact:
        report.warn(
            objective_node["op"],
            "import/approximated",
            f"op '{op}' imported as '{side}: {value}': a value equal to it counts as good",
        )
    return {"expr": query, side: value, "severity": "info"}


def slice_window(objective_node: Node, budgeting: str, report: Report) -> str | None:
    if budgeting == "Occurrences":
        return None
    if not objective_node.has("timeSliceWindow"):
        report.warn(
            objective_node,
            "import/unsupported",
            f"{budgeting} needs timeSliceWindow; SLO not imported",
        )
        return None
    value = objective_node.get("timeSliceWindow")
    seconds = (
        int(value) * 60
        if isinstance(value, int) and not isinstance(value, bool)
        else shorthand(objective_node["timeSliceWindow"], report)
    )
    if budgeting == "Timeslices" and not objective_node.has("timeSliceTarget"):
        report.warn(
            objective_node,
            "import/unsupported",
            "Timeslices needs timeSliceTarget; SLO not imported",
        )
        return None
    return format_duration(seconds) if seconds else None


def threshold_indicator(
    node: Node, objective_node: Node, slices: str | None, index: Index, report: Report
) -> dict[str, Any] | None:
    query = metric_query(node, index, report)
    op = _OPS.get(str(objective_node.get("op")))
    value = common.decimal(objective_node.get("value"))
    if op is None or value is None:
        report.warn(
            objective_node,
            "import/unsupported",
            "a thresholdMetric objective needs op (lt, lte, gt, gte) and value; SLO not imported",
        )
        return None
    if query is None:
        return None
    samples = f"({queries.with_placeholder(query)})"
    step = f"$window:{slices}" if slices else "$window:"
    # Each sample of the metric is one event; it is good when it meets `op value`.
    return {
        "ratio": {
            "good": f"sum_over_time(({samples} {op} bool {value})[{step}])",
            "total": f"count_over_time({samples}[{step}])",
        }
    }


def metric_query(node: Node, index: Index, report: Report) -> str | None:
    """The PromQL of an OpenSLO metricSource, or None (with a warning) when there is none."""
    source = node["metricSource"] if node.has("metricSource") else None
    if source is None:
        report.warn(node, "import/unsupported", "no metricSource; SLO not imported")
        return None
    kind = source.get("type")
    if kind is None and source.has("metricSourceRef"):
        datasource = index.resolve("DataSource", source["metricSourceRef"], report)
        kind = datasource["spec"].get("type") if datasource is not None else None
    settings = source["spec"] if source.has("spec") else None
    query = settings.get("query") or settings.get("promql") if settings is not None else None
    if settings is None or not isinstance(query, str) or not query.strip():
        report.warn(
            source,
            "import/unsupported",
            f"no PromQL query in this {kind or 'untyped'} metric source; SLO not imported",
        )
        return None
    problem = queries.syntax_error(query)
    if problem:
        report.warn(
            settings,
            "import/unsupported",
            f"{kind or 'untyped'} query is not PromQL ({problem}); SLO not imported",
        )
        return None
    if str(kind).lower() not in PROMETHEUS_SOURCES:
        report.warn(
            source,
            "import/approximated",
            f"metric source type '{kind}' is not Prometheus; "
            "its query is imported as PromQL as written",
        )
    return query.strip()


# --- alerts ---------------------------------------------------------------------------------------
def alert_policies(spec: Node, period: int, index: Index, report: Report) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    targets: dict[str, set[str]] = {}
    for entry in spec.elements("alertPolicies"):
        policy = index.inline_or_ref(entry, "AlertPolicy", "alertPolicyRef", report)
        if policy is None:
            continue
        policy_spec = policy["spec"]
        if policy_spec.get("alertWhenBreaching") is False:
            report.warn(
                policy_spec,
                "import/dropped",
                "alertWhenBreaching is false: slo alerts only on burning budget; "
                "policy not imported",
            )
            continue
        if policy_spec.get("alertWhenNoData") is True:
            report.warn(
                policy_spec["alertWhenNoData"],
                "import/dropped",
                "slo alerts on burning budget only, not on missing data",
            )
        if policy_spec.get("alertWhenResolved") is True:
            report.warn(
                policy_spec["alertWhenResolved"],
                "import/dropped",
                "resolved notices are Alertmanager's (send_resolved), not the rules'",
            )
        names = sorted(
            str(
                target.get("targetRef")
                or (target["metadata"].get("name") if target.has("metadata") else "")
            )
            for target in policy_spec.elements("notificationTargets")
        )
        for ref in policy_spec.elements("notificationTargets"):
            if ref.has("targetRef"):
                index.resolve("AlertNotificationTarget", ref["targetRef"], report)
        for entry_condition in policy_spec.elements("conditions"):
            condition = index.inline_or_ref(
                entry_condition, "AlertCondition", "conditionRef", report
            )
            if condition is None:
                continue
            window = burn_window(condition, period, report)
            if window is None:
                continue
            if any(
                w["severity"] == window["severity"]
                and w["long"] == window["long"]
                and w["short"] == window["short"]
                for w in found
            ):
                report.warn(
                    condition,
                    "import/dropped",
                    "the same severity and windows as an earlier condition; not imported twice",
                )
                continue
            found.append(window)
            targets.setdefault(window["severity"], set()).update(n for n in names if n)
    if not found:
        return {"page": False, "ticket": False}
    out: dict[str, Any] = {}
    for severity in ("page", "ticket"):
        if targets.get(severity):
            # The OpenSLO spec suggests routing on the notification target's name.
            out[severity] = {"labels": {"notification_target": ",".join(sorted(targets[severity]))}}
    out["windows"] = found
    return out


def burn_window(condition: Node, period: int, report: Report) -> dict[str, Any] | None:
    spec = condition["spec"]
    rule = spec["condition"] if spec.has("condition") else None
    if rule is None or rule.get("kind", "burnrate") != "burnrate":
        report.warn(
            spec,
            "import/unsupported",
            "only burnrate conditions can be imported; condition not imported",
        )
        return None
    op, factor = rule.get("op"), common.decimal(rule.get("threshold"))
    if op not in ("gt", "gte"):
        report.warn(
            rule,
            "import/unsupported",
            f"op '{op}': slo alerts when the burn rate is above the threshold (gt/gte); "
            "condition not imported",
        )
        return None
    long = shorthand(rule["lookbackWindow"], report) if rule.has("lookbackWindow") else None
    if factor is None or factor <= 0 or long is None:
        report.warn(
            rule,
            "import/unsupported",
            "needs a positive threshold and a lookbackWindow; condition not imported",
        )
        return None
    base = windows.BASE_RATE_WINDOW
    if long < base or long > period:
        report.warn(
            rule["lookbackWindow"],
            "import/unsupported",
            f"lookbackWindow must be between {format_duration(base)} and the period "
            f"{format_duration(period)}; condition not imported",
        )
        return None
    budget = factor * long * 100 / period
    if budget > 100:
        report.warn(
            rule["threshold"],
            "import/unsupported",
            f"burn rate {factor} over {format_duration(long)} would spend "
            f"{common.yaml_number(budget.quantize(Decimal(1)))}% of the error budget: "
            "not a burn rate slo can alert on; condition not imported",
        )
        return None
    if rule.has("alertAfter") and shorthand(rule["alertAfter"], report):
        report.warn(
            rule["alertAfter"],
            "import/dropped",
            "slo burn-rate alerts have no 'for': the short window confirms the burn instead",
        )
    short = max(base, (long // SHORT_WINDOW_DIVISOR) // 60 * 60)
    return {
        "severity": severity(spec, report),
        "long": format_duration(long),
        "short": format_duration(short),
        "budget": common.yaml_number(budget.normalize()),
    }


def severity(spec: Node, report: Report) -> str:
    raw = str(spec.get("severity", "")).strip()
    lowered = raw.lower()
    if lowered in ("page", "ticket"):
        return lowered
    mapped = "page" if lowered in PAGE_SEVERITIES else "ticket"
    guessed = (
        "" if lowered in PAGE_SEVERITIES | TICKET_SEVERITIES else " (not a severity slo knows)"
    )
    report.warn(
        spec["severity"] if spec.has("severity") else spec,
        "import/changed",
        f"severity '{raw}'{guessed} imported as {mapped}",
    )
    return mapped


# --- openslo/v1alpha (Sloth's OpenSLO input) ------------------------------------------------------
def alpha_slo(obj: Node, index: Index, report: Report) -> ServiceDraft | None:
    spec, metadata = obj["spec"], obj["metadata"]
    draft = service_draft(obj, spec, index, report)
    windows_ = spec.elements("timeWindows")
    period = None
    if len(windows_) == 1:
        unit, count = windows_[0].get("unit"), windows_[0].get("count")
        if unit in _ALPHA_UNITS and isinstance(count, int) and count > 0:
            period = count * _ALPHA_UNITS[unit]
    if period is None or not windows.MIN_PERIOD <= period <= windows.MAX_PERIOD:
        report.warn(
            spec,
            "import/unsupported",
            "needs one timeWindows entry of 1 to 365 Days; SLO not imported",
        )
        return draft
    objectives = spec.elements("objectives")
    for i, objective_node in enumerate(objectives):
        metrics = objective_node.pick("ratioMetrics")
        target = objective_target(objective_node, report)
        if metrics is None:
            report.warn(
                objective_node,
                "import/unsupported",
                "only ratioMetrics objectives can be imported; not imported",
            )
            continue
        parts: dict[str, str | None] = {}
        usable = True
        for key in ("good", "bad", "total"):
            if metrics.has(key):
                part = metrics[key]
                query = part.get("query")
                if (
                    str(part.get("source", "prometheus")).lower()
                    not in PROMETHEUS_SOURCES | {"sloth"}
                    or not isinstance(query, str)
                    or queries.syntax_error(query)
                ):
                    report.warn(
                        part,
                        "import/unsupported",
                        "needs a Prometheus PromQL query; SLO not imported",
                    )
                    usable = False
                    break
                parts[key] = counter_spec(part, query, True, report)
        if (
            not usable
            or not parts
            or None in parts.values()
            or "total" not in parts
            or ("good" in parts) == ("bad" in parts)
            or target is None
        ):
            continue
        raw_name = (
            str(metadata.get("name")) if len(objectives) == 1 else f"{metadata.get('name')}-{i + 1}"
        )
        body: dict[str, Any] = {"objective": target, "period": format_duration(period)}
        if spec.get("description"):
            body["description"] = str(spec.get("description"))
        body["indicator"] = {
            "ratio": {
                ("good" if "good" in parts else "errors"): parts.get("good") or parts["bad"],
                "total": parts["total"],
            }
        }
        body["alerting"] = {"page": False, "ticket": False}
        notes = (
            "openslo/v1alpha defines no alerts; drop page/ticket: false for the SRE Workbook tiers",
        )
        draft.slos.append(
            Objective(
                common.name(report, metadata["name"], raw_name),
                body,
                objective_node.position,
                notes,
            )
        )
    return draft
