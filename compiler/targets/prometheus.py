"""Prometheus rule files: SLI recording rules, SLO metadata, burn-rate and threshold alerts.

How the windows stay exact and cheap (README, "How the rules are built"; windows.layout):
  1. Per SLO, the errors, total and covered seconds over the base window (5m) are recorded as
     increases: the only rules that read the raw, possibly high-cardinality counters.
  2. Every longer window W of the service is one more series of slo:sli_events:increase: the
     raw head (t-5m, t] plus windows recorded earlier, read exactly as long ago as they end
     (``last_over_time(x[interval - 1ms] offset o)``). They tile (t-W, t] without overlap, so a
     window counts the events it names: no 5m-rate lag, and the same value whatever the phase
     of the group. One rule per service records every size for every SLO and kind.
  3. Error ratios weight errors/total by the share of the window that had data, so a window
     that a gap shortened never pages sooner than a whole one would.
  4. The period SLI lives in a group evaluated every 5 minutes, from weekly and daily pieces.
     So do the ticket tiers with windows of hours (windows.slow_tier), with the windows and
     ratios only they read: from the SLI group's records as they were one base window ago.
"""

from __future__ import annotations

import posixpath
from collections.abc import Container, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, NotRequired, TypedDict

from compiler.core import conventions as names
from compiler.core.calendar import calendar_bounds, clock_minutes
from compiler.core.durations import format_duration
from compiler.core.model import (
    SLO,
    BurnTier,
    Counter,
    LatencyIndicator,
    Maintenance,
    Matcher,
    Model,
    RatioIndicator,
    Service,
    Threshold,
    TimesliceIndicator,
)
from compiler.core.windows import (
    DAY,
    FIRST_MONDAY,
    HOUR,
    MONTH,
    REFERENCE_PERIOD,
    WEEK,
    WEEK_PERIOD,
    Layout,
    Piece,
    base_window,
    calendar_period,
    calendar_tiles,
    current_burn_window,
    layout,
    period_group_interval,
    period_pieces,
    period_text,
    service_windows,
    slos_by_window,
    slow_ratio_windows,
    slow_sizes,
    slow_tier,
)
from compiler.spec.promql import WINDOW_PLACEHOLDER, render_selector
from compiler.targets.protocol import (
    Document,
    EachFile,
    Emitted,
    Holds,
    Proof,
    Target,
    matching,
)
from compiler.text.promtext import (
    escape_template,
    format_threshold,
    go_float,
    python_float,
    quote_label_value,
)
from compiler.text.yamltext import Comment, dump


class RecordingRule(TypedDict):
    record: str
    expr: str
    labels: NotRequired[dict[str, str]]


# Every generated alert has all of these keys but "for" (a Python keyword, hence this form of
# TypedDict). Not total: the keys are written in this order, so a rule is built key by key.
AlertingRule = TypedDict(
    "AlertingRule",
    {
        "alert": str,
        "expr": str,
        "for": str,
        "labels": dict[str, str],
        "annotations": dict[str, str],
    },
    total=False,
)
# What a group's ``rules`` list holds: rules, and comments the YAML writer writes as such.
RuleItem = Comment | RecordingRule | AlertingRule


class ThresholdRules(NamedTuple):
    """The rules of one threshold objective, in the order they are written."""

    comment: Comment
    record: RecordingRule
    alert: AlertingRule


# --- PromQL building blocks ---------------------------------------------------------------
def series(metric: str, service: str, slo: str) -> str:
    service_matcher = f"{names.SERVICE}={quote_label_value(service)}"
    return f"{metric}{{{service_matcher},{names.SLO}={quote_label_value(slo)}}}"


def pin(interval: int) -> str:
    """A range one millisecond shorter than ``interval``: it holds the one sample recorded at
    the instant it ends, and never an older one (which would count an interval twice)."""
    return f"{format_duration(interval - 1)}999ms" if interval > 1 else "999ms"


def events(
    service: str, window: str, slo: str | None = None, kind: str | None = None, slos: str = ""
) -> str:
    """The events series of ``service`` for ``window``; ``slos`` a ready ``slo`` matcher."""
    matchers = [f"{names.SERVICE}={quote_label_value(service)}"]
    if slo is not None:
        matchers.append(f"{names.SLO}={quote_label_value(slo)}")
    elif slos:
        matchers.append(slos)
    if kind is not None:
        matchers.append(f"{names.KIND}={quote_label_value(kind)}")
    matchers.append(f"{names.WINDOW}={quote_label_value(window)}")
    return f"{names.EVENTS}{{{','.join(matchers)}}}"


def by_clause(labels: Sequence[str]) -> str:
    """`` by (a, b) `` for a grouped SLO's sums, "" for an ungrouped one's (a plain ``sum``)."""
    return f" by ({', '.join(labels)})" if labels else ""


def service_by(service: Service) -> tuple[str, ...]:
    """Every group label of the SLOs of ``service``, sorted: the sums that serve all its SLOs
    keep them all (an SLO without a label has it empty, which a ``sum by`` drops again)."""
    return tuple(sorted({label for slo in service.slos for label in slo.by}))


def counter_increase(counter: Counter, window: int, by: Sequence[str] = ()) -> str:
    w, grouping = format_duration(window), by_clause(by)
    if counter.selector is not None:
        return f"sum{grouping}(increase({render_selector(counter.selector)}[{w}]))"
    # A $window expression gives a rate (README, spec reference): times the window, its events.
    return f"sum{grouping}({counter.text.strip().replace(WINDOW_PLACEHOLDER, w)}) * {window}"


def le_matcher(threshold: Decimal) -> Matcher:
    """Match the bucket boundary however the client library printed it ("2" from Go, "2.0" from
    Python)."""
    forms = sorted({go_float(threshold), python_float(threshold)}, key=lambda s: (len(s), s))
    if len(forms) == 1:
        return Matcher("le", "=", forms[0])
    return Matcher("le", "=~", "|".join(f.replace(".", "\\.").replace("+", "\\+") for f in forms))


def latency_bucket(indicator: LatencyIndicator) -> str:
    sel = indicator.histogram
    return render_selector(sel, f"{sel.metric}_bucket", (le_matcher(indicator.threshold),))


def latency_count(indicator: LatencyIndicator) -> str:
    sel = indicator.histogram
    return render_selector(sel, f"{sel.metric}_count")


def bad_slices(indicator: TimesliceIndicator) -> str:
    """The threshold's condition: the series of its gauge that are bad at one instant."""
    return f"({indicator.expr}) {indicator.op} {names.number(indicator.value)}"


def slices(gauge: str, window: int, slice_: int, left_open: bool = False) -> str:
    """The slices in (t-window, t] where ``gauge`` has a series: a subquery's steps are
    multiples of its step in absolute time, so it holds exactly window/slice of them whatever
    the group's phase, and the base windows recorded one after another tile time without
    overlap. Prometheus 2 reads a range [t-range, t], so the range is one millisecond shorter
    than the window; ``left_open``: an engine that reads (t-range, t] (VictoriaMetrics)."""
    reach = format_duration(window) if left_open else pin(window)
    return f"count_over_time(count({gauge})[{reach}:{format_duration(slice_)}])"


def total_increase(slo: SLO, window: int) -> str:
    ind = slo.indicator
    if isinstance(ind, TimesliceIndicator):
        return slices(ind.expr, window, ind.slice)
    if isinstance(ind, RatioIndicator):
        return counter_increase(ind.total, window, slo.by)
    return f"sum{by_clause(slo.by)}(increase({latency_count(ind)}[{format_duration(window)}]))"


def errors_increase(slo: SLO, window: int, total: str) -> str:
    """The errors over ``window``; ``total`` reads the total recorded just before, so the raw
    total series (often the SLO's largest selection) are read once per evaluation, not twice."""
    ind, on = slo.indicator, f"on({', '.join(slo.by)})"
    if isinstance(ind, TimesliceIndicator):
        # no bad slice yet: 0, while there are slices at all
        return f"{slices(bad_slices(ind), window, ind.slice)} or {on} 0 * {total}"
    if isinstance(ind, RatioIndicator):
        if ind.errors is not None:
            # No error series exists until the first error: count it as 0, but only while the
            # total exists. A bare `or vector(0)` would also record zeros while there is no
            # traffic data at all (before the first scrapes, while the target is down). Per
            # group for a grouped SLO: a region without errors yet gets its zero too.
            return f"{counter_increase(ind.errors, window, slo.by)} or {on} 0 * {total}"
        assert ind.good is not None  # exactly one of errors / good: the builder sees to it
        good = counter_increase(ind.good, window, slo.by)
    else:
        good = f"sum{by_clause(slo.by)}(increase({latency_bucket(ind)}[{format_duration(window)}]))"
    if slo.by:
        # One good sum per group, matched to the group's total; a group with no good events
        # yet gets a zero from its total.
        return f"{total} - {on} ({good} or {on} 0 * {total})"
    # The good events have no labels (a sum), the recorded total has the SLO's.
    return f"{total} - on() group_left() ({good} or vector(0))"


def _bracket(expr: str) -> str:
    """A multi-line operand, indented inside its own brackets."""
    return "(\n  " + expr.replace("\n", "\n  ") + "\n)"


class Term(NamedTuple):
    """One term of a window's sum: ``expr`` reads a series whose window label is ``window``."""

    name: str
    window: str
    expr: str


def _sum_of_terms(terms: Sequence[Term], by: Sequence[str] = ()) -> str:
    """The sum, per SLO, kind (and group: ``by``), of whichever ``terms`` exist: a missing
    piece is a hole in the window (fewer events and seconds), never a reason to drop the whole
    window. Inside the ``or``, terms read from the same window would have the same labels: all
    but the first carry a ``piece`` label to keep them apart (only those: label_replace costs a
    copy of each series)."""
    seen: set[str] = set()
    parts = []
    for term in terms:
        if term.window in seen:
            parts.append(f'label_replace({term.expr}, "{names.PIECE}", "{term.name}", "", "")')
        else:
            parts.append(term.expr)
        seen.add(term.window)
    inner = "\n  or ".join(parts)
    return f"sum by ({', '.join((names.SLO, names.KIND, *by))}) (\n    {inner}\n)"


def size_expr(service: Service, lay: Layout, size: int, head: str | None = None) -> str:
    """Events of every SLO and kind of ``service`` in (t-size, t]: this evaluation's head plus
    the pieces, each read exactly as long ago as it ends. ``head``: the raw head's events per
    SLO and kind, for an engine that cannot read what this evaluation recorded (vmalert);
    by default the base window recorded earlier in the group."""
    base = format_duration(lay.base)
    pin_ = pin(lay.interval)
    if lay.current:  # the first piece was recorded earlier in this evaluation
        assert head is None, "an engine given a head reads no window of this evaluation"
        now = lay.pieces(size)[0]
        w = format_duration(now.size)
        terms = [Term("now", w, f"last_over_time({events(service.name, w)}[{pin_}])")]
        pieces = lay.pieces(size)[1:]
    else:
        if head is None:
            head = f"last_over_time({events(service.name, base)}[{pin_}])"
        terms = [Term("head", base, head)]
        pieces = lay.pieces(size)
    # A lone body one base window back may come from further back (a hole, never an overlap).
    reach = base if lay.single_body(size) else pin_
    terms += [
        Term(
            format_duration(p.offset),
            format_duration(p.size),
            f"last_over_time({events(service.name, format_duration(p.size))}[{reach}] "
            f"offset {format_duration(p.offset)})",
        )
        for p in pieces
    ]
    return _sum_of_terms(terms, service_by(service))


def service_selector(service: Service, slos: Sequence[SLO]) -> str:
    """An ``slo`` matcher for ``slos`` of ``service``, or "" when they are all its SLOs."""
    if len(slos) == len(service.slos):
        return ""
    # SLO names are lowercase letters, digits and hyphens: nothing a regex would read specially.
    op = "=" if len(slos) == 1 else "=~"
    return f"{names.SLO}{op}{quote_label_value('|'.join(slo.name for slo in slos))}"


def ratio_expr(
    service: Service, slos: Sequence[SLO], window: int, here: Container[int] | None = None
) -> str:
    """errors/total over ``window`` times the share of it that had data (1 when nothing is
    missing): missing time counts as good, so a shortened window pages later, never sooner.
    ``here``: run in the period group, which records these sizes (``window_read``)."""
    w = format_duration(window)
    only = service_selector(service, slos)

    def read(kind: str) -> str:
        return window_read(service, events(service.name, w, kind=kind, slos=only), window, here)

    return (
        f"sum without ({names.WINDOW}) (\n"
        f"  (\n    {read(names.ERRORS)}\n  / ignoring({names.KIND})\n    {read(names.TOTAL)}\n  )\n"
        f"  * ignoring({names.KIND})\n  ({read(names.SECONDS)} / {window})\n)"
    )


def events_in(service: Service, slo: SLO, window: int, here: Container[int] | None = None) -> str:
    """Events (the total) in the last ``window``, for the low-traffic guard (``here`` as for
    ``ratio_expr``)."""
    selector = events(slo.service, format_duration(window), slo.name, names.TOTAL)
    read = window_read(service, selector, window, here)
    return f"sum without ({names.KIND}, {names.WINDOW}) ({read})"


def window_read(service: Service, selector: str, window: int, here: Container[int] | None) -> str:
    """The record of ``window`` that ``selector`` picks, as a rule of the SLI group reads it
    (``here`` None: this evaluation's) or one of the period group, which records the sizes in
    ``here`` (``slow_read``)."""
    if here is None:
        return f"last_over_time({selector}[{pin(service.evaluation_interval)}])"
    return slow_read(service, selector, window in here)


def piece_text(p: Piece) -> str:
    """A piece as the rules' comments write it: ``1d@2d`` (size@offset), ``1d`` at offset 0."""
    return format_duration(p.size) + (f"@{format_duration(p.offset)}" if p.offset else "")


# --- the slow tiers, in the period group -------------------------------------------------------
def slow_window_sizes(service: Service) -> tuple[int, ...]:
    """The window sizes the period group records for the slow tiers (windows.slow_sizes)."""
    lay = layout(service.evaluation_interval, service_windows(service), current=True)
    return slow_sizes(lay, service)


def slow_read(service: Service, selector: str, here: bool, offset: int = 0) -> str:
    """A record as a period-group rule reads it, ``offset`` seconds before the windows it sums
    end: one recorded by the period group itself (``here``) at that offset (at 0, the one made
    earlier in this evaluation); one recorded by the SLI group, as the SLI group recorded it one
    base window earlier still. Every window the period group builds thus ends at the same SLI
    evaluation, whatever the phase of either group: a base window ago, never one the SLI group
    may still be running (promtool, evaluating every group at every step of 1 or 5 minutes,
    finds it at that offset too)."""
    interval = service.evaluation_interval
    if here:
        reach, ago = pin(period_group_interval(interval)), offset
    else:
        reach, ago = pin(interval), base_window(interval) + offset
    return f"last_over_time({selector}[{reach}]{f' offset {format_duration(ago)}' if ago else ''})"


def slow_size_expr(service: Service, lay: Layout, size: int) -> str:
    """Events of every SLO and kind of ``service`` over ``size``, as the period group records
    them: the pieces of ``lay`` (a shorter window and its copies), each read by ``slow_read``."""
    here = slow_sizes(lay, service)
    terms = [
        Term(
            format_duration(p.offset) if p.offset else "now",
            format_duration(p.size),
            slow_read(
                service, events(service.name, format_duration(p.size)), p.size in here, p.offset
            ),
        )
        for p in lay.pieces(size)
    ]
    return _sum_of_terms(terms, service_by(service))


def slow_size_rules(service: Service) -> list[RuleItem]:
    """The windows the period group records (windows.slow_sizes), first in the group: the
    period's pieces and the slow tiers read them in the same evaluation."""
    lay = layout(service.evaluation_interval, service_windows(service), current=True)
    rules: list[RuleItem] = []
    sizes = slow_sizes(lay, service)
    if sizes:
        rules.append(
            Comment("windows the SLI group does not read, as of one base window ago (size@offset)")
        )
    for size in sizes:
        pieces = " + ".join(map(piece_text, lay.pieces(size)))
        rules.append(Comment(f"{format_duration(size)} = {pieces}"))
        rules.append(
            {
                "record": names.EVENTS,
                "expr": slow_size_expr(service, lay, size),
                "labels": {names.SERVICE: service.name, names.WINDOW: format_duration(size)},
            }
        )
    return rules


def slow_rules(service: Service) -> list[RuleItem]:
    """The slow tiers' ratios and alerts (windows.slow_tier), last in the period group."""
    rules: list[RuleItem] = []
    slow = slow_ratio_windows(service)
    ratios = [(w, slos) for w, slos in slos_by_window(service) if w in slow]
    if ratios:
        rules.append(Comment("ticket tiers of hours: error ratios over the windows only they read"))
    for window, slos in ratios:
        rules.append(
            {
                "record": names.error_ratio(window),
                "expr": ratio_expr(service, slos, window, slow_window_sizes(service)),
                "labels": {names.SERVICE: service.name},
            }
        )
    return rules + alert_rules(service, slow=True)


# --- maintenance windows that exclude events -------------------------------------------------
def _either(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)


def _between(value: str, first: int | str, last: int | str) -> str:
    if first == last:
        return f"{value} == {first}"
    return f"{value} >= {first} and {value} <= {last}"


def _day_bound(day: str, now: str, bound: int, op: str) -> str:
    """The day of the month against a bound of days_of_month (negative: from the month's end,
    -1 its last day), as Alertmanager reads it."""
    if bound > 0:
        return f"{day} {op} {bound}"
    return f"{day} - days_in_month({now}) {op} {bound + 1}"


def inside(window: Maintenance, at: str) -> str:
    """A vector without labels exactly when the instant ``at`` (a scalar expression, seconds)
    is inside ``window``, else nothing; in UTC, to the minute, as Alertmanager matches a time
    interval (every field given must match: a time, a weekday, a day, a month, a year)."""
    now = f"vector({at})"
    if window.recurring is None:
        assert window.start is not None and window.end is not None  # one-off: the builder
        return f"{now} >= {window.start} and {now} < {window.end}"
    r = window.recurring
    fields = []
    if r.times:
        minute = f"hour({now}) * 60 + minute({now})"
        fields.append(
            _either(
                [
                    f"{minute} >= {clock_minutes(a)} and {minute} < {clock_minutes(b)}"
                    for a, b in r.times
                ]
            )
        )
    for key, function in (("weekdays", "day_of_week"), ("months", "month"), ("years", "year")):
        entries = getattr(r, key)
        if entries:
            value = f"{function}({now})"
            fields.append(_either([_between(value, *calendar_bounds(key, e)) for e in entries]))
    if r.days_of_month:
        day = f"day_of_month({now})"
        alternatives = []
        for entry in r.days_of_month:
            first, last = calendar_bounds("days_of_month", entry)
            alternatives.append(
                f"{_day_bound(day, now, first, '>=')} and {_day_bound(day, now, last, '<=')}"
            )
        fields.append(_either(alternatives))
    return fields[0] if len(fields) == 1 else " and ".join(f"({f})" for f in fields)


def excluding(slo: SLO, window: int, expr: str) -> str:
    """``expr``, the SLO's events over (t-window, t], unless that span overlaps a window that
    excludes events: dropped when t or t-window is inside one (windows are no shorter than
    the base window, so those two instants see every overlap). A dropped record is a hole in
    every longer window, as missing data is: it counts neither errors nor traffic, and its
    seconds count as good time (README, "Maintenance windows")."""
    if not slo.excluded:
        return expr
    conditions = [inside(w, at) for w in slo.excluded for at in ("time()", f"time() - {window}")]
    gate = "\n  or ".join(f"({c})" for c in conditions)
    return f"(\n  {expr}\n)\nunless on() (\n  {gate}\n)"


# --- labels and annotations -----------------------------------------------------------------
def _labels(*sources: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for source in sources:
        merged.update(source)
    return merged


def _escape_all(mapping: dict[str, str]) -> dict[str, str]:
    return {k: escape_template(v) for k, v in mapping.items()}


def slo_series_labels(slo: SLO) -> dict[str, str]:
    return {names.SERVICE: slo.service, names.SLO: slo.name}


VALUE_TEMPLATES = {
    "ratio": "{{ $value | humanizePercentage }}",
    "percent": '{{ printf "%.4g" $value }}%',
    "seconds": "{{ $value | humanizeDuration }}",
    "days": '{{ printf "%.4g" $value }} days',
    "bytes": "{{ $value | humanize1024 }}B",
    "none": '{{ printf "%.4g" $value }}',
}


def month_note(slo: SLO) -> str:
    """After a month's threshold: it is a 30-day month's (factors scale with the month)."""
    return " in a 30-day month, scaled to this month's days" if slo.calendar == MONTH else ""


def burn_threshold(slo: SLO, tier: BurnTier) -> str:
    """The error ratio a tier fires above: a calendar month's is its 30-day reference's scaled
    to this month's days (the factor is budget_fraction * the month's length / long)."""
    threshold = names.number(tier.threshold)
    if slo.calendar != MONTH:
        return threshold
    days = REFERENCE_PERIOD // DAY
    return f"{threshold} * scalar(days_in_month()) / {days}"


def burn_alert(service: Service, slo: SLO, tier: BurnTier) -> AlertingRule:
    long, short = format_duration(tier.long), format_duration(tier.short)
    threshold = burn_threshold(slo, tier)
    slow = slow_tier(tier)
    here = slow_ratio_windows(service)

    def ratio(window: int) -> str:
        selector = series(names.error_ratio(window), slo.service, slo.name)
        if slow and window not in here:  # recorded by the SLI group
            return slow_read(service, selector, False)
        return selector  # recorded earlier in this evaluation of this rule's group

    expr = f"{ratio(tier.long)} > {threshold}\nand\n{ratio(tier.short)} > {threshold}"
    if slo.alerting.min_events is not None:
        guard = events_in(service, slo, tier.long, slow_window_sizes(service) if slow else None)
        expr += f"\nand\n{guard} >= {names.number(slo.alerting.min_events)}"
    labels = _labels(
        service.labels,
        slo.labels,
        slo.alerting.labels,
        slo.alerting.labels_for(tier.severity),
        {
            names.SEVERITY: tier.severity,
            names.SERVICE: slo.service,
            names.SLO: slo.name,
            names.TEAM: service.team,
            names.OBJECTIVE_KIND: "slo",
            names.LONG_WINDOW: long,
            names.SHORT_WINDOW: short,
        },
    )
    return {
        "alert": slo.alerting.name,
        "expr": expr,
        "labels": dict(sorted(_escape_all(labels).items())),
        "annotations": dict(sorted(burn_annotations(service, slo, tier).items())),
    }


def group_text(slo: SLO) -> str:
    """The group an alert of a grouped SLO is about, as a template: ``region={{ $labels.region
    }}`` (label names are PromQL names: nothing in them to escape)."""
    return ", ".join(f"{label}={{{{ $labels.{label} }}}}" for label in slo.by)


def burn_annotations(service: Service, slo: SLO, tier: BurnTier) -> dict[str, str]:
    long, short = format_duration(tier.long), format_duration(tier.short)
    factor = names.number(tier.factor)
    budget_share = names.number(tier.budget_fraction * 100)
    summary = escape_template(f"{slo.service} {slo.name}")
    within = ""
    if slo.by:  # which group burns: its labels come with the alert's series
        summary += f" [{group_text(slo)}]"
        within = f" in {group_text(slo)}"
    summary += escape_template(f": error budget burning {factor}x too fast")
    description = (
        f"Error ratio over the last {long}{within} is {{{{ $value | humanizePercentage }}}}, above "
        f"{names.number(tier.threshold * 100)}%{month_note(slo)} (also over {short}). "
        f"Objective {names.number(slo.objective_percent)}% over {period_text(slo)}: "
        f"at this rate {budget_share}% of the error budget is spent in {long}."
    )
    if slo.description:
        description = escape_template(slo.description.strip()) + "\n" + description
    annotations = _escape_all(
        {**dict(slo.alerting.annotations), **slo.alerting.annotations_for(tier.severity)}
    )
    annotations.update(
        {
            "summary": summary,
            "description": description,
            "dashboard": escape_template(
                names.dashboard_link(service.grafana_url, slo.service, slo.name)
            ),
        }
    )
    if slo.alerting.runbook_url:
        annotations["runbook_url"] = escape_template(slo.alerting.runbook_url)
    return annotations


# How long a grouped SLO must have more groups than max_groups before the guard tickets: a
# deploy or a scrape briefly doubling the series does not, a label that explodes does.
GROUPS_FOR = 15 * 60


def groups_count(service: Service, slo: SLO) -> RecordingRule:
    """The live groups of a grouped SLO: how many series its base-window coverage records.
    (The coverage, not the total: on VictoriaMetrics a total exists one sample sooner, while
    the coverage is recorded under the same condition on both engines.)"""
    base = format_duration(base_window(service.evaluation_interval))
    covered = events(slo.service, base, slo.name, names.SECONDS)
    return {"record": names.GROUPS, "expr": f"count({covered})", "labels": slo_series_labels(slo)}


def groups_alert(service: Service, slo: SLO) -> AlertingRule:
    """The cardinality guard: a ticket when a grouped SLO has more live groups than it may."""
    labels = _labels(
        service.labels,
        slo.labels,
        slo.alerting.labels,
        {
            names.SEVERITY: "ticket",
            names.SERVICE: slo.service,
            names.SLO: slo.name,
            names.TEAM: service.team,
            names.OBJECTIVE_KIND: "slo",
        },
    )
    by = ", ".join(slo.by)
    summary = (
        escape_template(f"{slo.service} {slo.name}: ")
        + '{{ printf "%.4g" $value }}'
        + escape_template(f" groups by {by}, more than max_groups ({slo.max_groups})")
    )
    description = escape_template(
        f"Each value of {by} is an SLO of its own, with its own rules, series and alerts. "
        f"More than {slo.max_groups} for {format_duration(GROUPS_FOR)}: a label that takes a "
        "value per request, user or process makes thousands and slows Prometheus down. Group "
        "by a bounded label, or raise max_groups if these groups are real."
    )
    annotations = {
        "summary": summary,
        "description": description,
        "dashboard": escape_template(
            names.dashboard_link(service.grafana_url, slo.service, slo.name)
        ),
    }
    if slo.alerting.runbook_url:
        annotations["runbook_url"] = escape_template(slo.alerting.runbook_url)
    return {
        "alert": names.GROUPS_ALERT,
        "expr": f"{series(names.GROUPS, slo.service, slo.name)} > {slo.max_groups}",
        "for": format_duration(GROUPS_FOR),
        "labels": dict(sorted(_escape_all(labels).items())),
        "annotations": dict(sorted(annotations.items())),
    }


# --- the budget-exhaustion forecast -------------------------------------------------------------
# How long the forecast must hold before the ticket: the pace over a day moves slowly, but a
# burst at the edge of its window can tip it across `within` for a few evaluations.
EXHAUSTION_FOR = 3600

# Seconds from now until the next 1st of the month, 00:00 UTC (and until the next Monday 00:00
# UTC): the time left of a calendar period. A scalar, so it compares with any labelled series.
TIME_LEFT_IN_MONTH = "scalar((days_in_month() - day_of_month()) * 86400 + 86400 - time() % 86400)"
TIME_LEFT_IN_WEEK = "scalar((7 - (day_of_week() + 6) % 7) * 86400 - time() % 86400)"


def time_left_expr(slo: SLO) -> str:
    """How far ahead the forecast looks, in seconds, as PromQL: the constant ``within`` of a
    rolling period; a calendar period without ``within`` looks until the period ends."""
    exhaustion = slo.alerting.exhaustion
    assert exhaustion is not None  # only SLOs with a forecast get here
    if exhaustion.within is not None:
        return str(exhaustion.within)
    calendar = calendar_period(slo)  # the builder allows no `within` on a calendar period only
    assert calendar is not None, f"{slo.name}: a rolling period's forecast needs `within`"
    return TIME_LEFT_IN_WEEK if calendar == "week" else TIME_LEFT_IN_MONTH


def forecast_expr(service: Service, slo: SLO) -> str:
    """Seconds until the remaining error budget runs out at the current pace, compared with the
    time the forecast looks ahead. Each read is one period-group evaluation old, so the rule
    means the same on every engine (vmalert cannot read what its own evaluation recorded):

        R = budget * T * period / S - E     the budget left, in events: the period's total T,
                                            errors E and seconds with data S (missing time
                                            counts as good traffic at the covered pace, as in
                                            every window of the alert core); never below 0
        e = errors over `over` / `over`     the current pace, errors per second
        R / e < time left                   +Inf when e = 0, 0 when the budget is spent

    The `over` window ends where the period record read ends (base + 2 group intervals ago)."""
    exhaustion = slo.alerting.exhaustion
    assert exhaustion is not None  # only SLOs with a forecast get here
    interval = service.evaluation_interval
    base, group = base_window(interval), period_group_interval(interval)
    drop = f"sum without ({names.KIND}, {names.WINDOW})"

    def period(kind: str) -> str:
        selector = events(slo.service, names.PERIOD_WINDOW, slo.name, kind)
        return f"{drop} (last_over_time({selector}[{pin(group)}] offset {format_duration(group)}))"

    over = format_duration(exhaustion.over)
    paced = events(slo.service, over, slo.name, names.ERRORS)
    pace = (
        f"{drop} (last_over_time({paced}[{pin(interval)}] "
        f"offset {format_duration(base + 2 * group)}))"
    )
    budget = names.number(slo.error_budget)
    # a calendar month's length is this month's (a week's is its reference, 7d)
    length = "scalar(days_in_month() * 86400)" if slo.calendar == MONTH else str(slo.period)
    left = (
        f"clamp_min(\n  {budget} * {period(names.TOTAL)}\n  * {length}\n"
        f"  / {period(names.SECONDS)}\n  - {period(names.ERRORS)},\n  0\n)"
    )
    return f"{left}\n/\n({pace} / {exhaustion.over})\n< {time_left_expr(slo)}"


def forecast_alert(service: Service, slo: SLO) -> AlertingRule:
    exhaustion = slo.alerting.exhaustion
    assert exhaustion is not None  # only SLOs with a forecast get here
    labels = _labels(
        service.labels,
        slo.labels,
        slo.alerting.labels,
        slo.alerting.labels_for("ticket"),
        {
            names.SEVERITY: "ticket",
            names.SERVICE: slo.service,
            names.SLO: slo.name,
            names.TEAM: service.team,
            names.OBJECTIVE_KIND: "slo",
        },
    )
    over = format_duration(exhaustion.over)
    ahead = (
        f"within {format_duration(exhaustion.within)}"
        if exhaustion.within is not None
        else "before the period ends"
    )
    summary = escape_template(f"{slo.service} {slo.name}")
    where = ""
    if slo.by:
        summary += f" [{group_text(slo)}]"
        where = f" in {group_text(slo)}"
    summary += escape_template(f": error budget runs out {ahead} at this rate")
    description = (
        f"At the error rate of the last {over}{where}, the remaining error budget runs out in "
        "{{ $value | humanizeDuration }} (0s: it is spent already). "
        f"Objective {names.number(slo.objective_percent)}% over {period_text(slo)}."
    )
    if slo.description:
        description = escape_template(slo.description.strip()) + "\n" + description
    annotations = _escape_all(
        {**dict(slo.alerting.annotations), **slo.alerting.annotations_for("ticket")}
    )
    annotations.update(
        {
            "summary": summary,
            "description": description,
            "dashboard": escape_template(
                names.dashboard_link(service.grafana_url, slo.service, slo.name)
            ),
        }
    )
    if slo.alerting.runbook_url:
        annotations["runbook_url"] = escape_template(slo.alerting.runbook_url)
    return {
        "alert": names.EXHAUSTION_ALERT,
        "expr": forecast_expr(service, slo),
        "for": format_duration(EXHAUSTION_FOR),
        "labels": dict(sorted(_escape_all(labels).items())),
        "annotations": dict(sorted(annotations.items())),
    }


def forecast_alerts(service: Service) -> list[RuleItem]:
    """In the period group, after the period records: the forecast of each SLO that has one."""
    alerts: list[RuleItem] = []
    for slo in service.slos:
        exhaustion = slo.alerting.exhaustion
        if exhaustion is None:
            continue
        ahead = (
            format_duration(exhaustion.within) if exhaustion.within is not None else "period end"
        )
        alerts.append(
            Comment(
                f"{slo.name}: budget-exhaustion forecast at the pace of the last "
                f"{format_duration(exhaustion.over)}, looking {ahead} ahead"
            )
        )
        alerts.append(forecast_alert(service, slo))
    return alerts


def threshold_rules(service: Service, th: Threshold) -> ThresholdRules:
    selected = series(names.THRESHOLD_VALUE, th.service, th.name)
    record: RecordingRule = {
        "record": names.THRESHOLD_VALUE,
        "expr": th.expr,
        "labels": {names.SERVICE: th.service, names.SLO: th.name},
    }
    side = "above" if th.op == ">" else "below"
    value = VALUE_TEMPLATES[th.unit]
    static = format_threshold(th.value, th.unit)
    summary = (
        f"{th.service} {th.name}: {value} is {side} {escape_template(static)}"
        "{{ with $labels.instance }} on {{ . }}{{ end }}"
    )
    annotations = _escape_all(dict(th.annotations))
    annotations["summary"] = summary
    if th.description:
        annotations["description"] = escape_template(th.description.strip())
    if th.runbook_url:
        annotations["runbook_url"] = escape_template(th.runbook_url)
    annotations["dashboard"] = escape_template(
        names.dashboard_link(service.grafana_url, th.service, th.name)
    )
    labels = _labels(
        service.labels,
        th.labels,
        {
            names.SEVERITY: th.severity,
            names.SERVICE: th.service,
            names.SLO: th.name,
            names.TEAM: service.team,
            names.OBJECTIVE_KIND: "threshold",
        },
    )
    alert: AlertingRule = {
        "alert": names.threshold_alert(th.name),
        "expr": f"{selected} {th.op} {names.number(th.value)}",
    }
    if th.for_:
        alert["for"] = format_duration(th.for_)
    alert["labels"] = dict(sorted(_escape_all(labels).items()))
    alert["annotations"] = dict(sorted(annotations.items()))
    held = f" for {format_duration(th.for_)}" if th.for_ else ""
    return ThresholdRules(Comment(f"{th.name}: {side} {static}{held}"), record, alert)


# --- groups -----------------------------------------------------------------------------------
def raw_rules(service: Service, slo: SLO, lay: Layout, seconds: bool = True) -> list[RuleItem]:
    """The SLO's events over the raw windows: total first, then what reads it (without
    ``seconds``, the seconds are ``seconds_rules``' for every SLO at once)."""
    rules: list[RuleItem] = [
        Comment(f"{slo.name}: {names.number(slo.objective_percent)}% over {period_text(slo)}")
    ]
    interval = pin(lay.interval)
    for window in lay.raw:
        w = format_duration(window)
        total = f"last_over_time({events(service.name, w, slo.name, names.TOTAL)}[{interval}])"
        for kind, expr in (
            (names.TOTAL, total_increase(slo, window)),
            (names.ERRORS, errors_increase(slo, window, total)),
            # the seconds the window had data: all of it whenever the total exists
            (names.SECONDS, f"{total} * 0 + {window}"),
        ):
            if kind == names.SECONDS and not seconds:
                continue
            labels = {**slo_series_labels(slo), names.KIND: kind, names.WINDOW: w}
            expr = excluding(slo, window, expr)
            rules.append({"record": names.EVENTS, "expr": expr, "labels": labels})
    return rules


def seconds_rules(service: Service, lay: Layout) -> list[RuleItem]:
    """The seconds each raw window had data, for every SLO of ``service`` in one rule per raw
    window: all of it wherever the SLO's total exists (per group, for a grouped SLO). The same
    series as one rule per SLO would record (the total is already gone where a maintenance
    window excludes the events), at a fifth of the rules for a service of five SLOs."""
    rules: list[RuleItem] = [Comment("every SLO above: the seconds its raw windows had data")]
    interval = pin(lay.interval)
    for window in lay.raw:
        w = format_duration(window)
        total = f"last_over_time({events(service.name, w, kind=names.TOTAL)}[{interval}])"
        rules.append(
            {
                "record": names.EVENTS,
                "expr": f"{total} * 0 + {window}",
                "labels": {names.KIND: names.SECONDS},
            }
        )
    return rules


def sizes_rule(
    service: Service, lay: Layout, head: str | None = None, sizes: Sequence[int] | None = None
) -> list[RuleItem]:
    """Every longer window of every SLO and kind, one rule per window size, shortest first:
    each piece selector serves all the SLOs of the service (``head`` as in ``size_expr``).

    Not one rule for all sizes: Prometheus gives a query one storage reader over the union of
    its lookups' time ranges, so a 5m piece sharing a query with a 3d piece searches every block
    of the last 3 days (measured: 11.1 ms an evaluation as one rule, 4.2 ms as one per size)."""

    form = "a shorter window + its copies" if lay.current else "head + pieces"
    rules: list[RuleItem] = [Comment(f"every SLO above: events per window, {form} (size@offset)")]
    for size in lay.sizes if sizes is None else sizes:
        w = format_duration(size)
        pieces = " + ".join(map(piece_text, lay.pieces(size)))
        rules.append(Comment(f"{w} = {pieces}" if lay.current else f"{w} = head + {pieces}"))
        rules.append(
            {
                "record": names.EVENTS,
                "expr": size_expr(service, lay, size, head),
                "labels": {names.SERVICE: service.name, names.WINDOW: w},
            }
        )
    return rules


def ratio_rules(service: Service) -> list[RuleItem]:
    """One rule per window for all the SLOs that read it: a rule costs about as much to run
    for one series as for a few, and every SLO's series keeps its own labels."""
    rules: list[RuleItem] = [Comment("every SLO above: error ratios over its alert windows")]
    slow = slow_ratio_windows(service)
    for window, slos in slos_by_window(service):
        if window in slow:  # in the period group (slow_rules)
            continue
        rules.append(
            {
                "record": names.error_ratio(window),
                "expr": ratio_expr(service, slos, window),
                "labels": {names.SERVICE: service.name},
            }
        )
    for slo in service.slos:  # one each: the window and the error budget are the SLO's own
        window = current_burn_window(slo)
        ratio = series(names.error_ratio(window), slo.service, slo.name)
        rules.append(
            {
                "record": names.CURRENT_BURN_RATE,
                "expr": f"{ratio} / {names.number(slo.error_budget)}",
                "labels": {**slo_series_labels(slo), names.WINDOW: format_duration(window)},
            }
        )
    return rules


def alert_rules(service: Service, slow: bool = False) -> list[RuleItem]:
    """In the SLI group, after the ratios: they read this evaluation's windows, whatever the
    phase of any other group. ``slow``: the slow tiers instead, for the period group."""
    alerts: list[RuleItem] = []
    for slo in service.slos:
        tiers = [tier for tier in slo.alerting.tiers if slow_tier(tier) == slow]
        if tiers:
            what = "ticket tiers of hours" if slow else "multiwindow multi-burn-rate alerts"
            alerts.append(Comment(f"{slo.name}: {what}"))
        alerts += [burn_alert(service, slo, tier) for tier in tiers]
    return alerts


def guard_records(service: Service) -> list[RuleItem]:
    """The live groups of each grouped SLO (after its raw rules: it counts their series)."""
    grouped = [slo for slo in service.slos if slo.by]
    if not grouped:
        return []
    rules: list[RuleItem] = [Comment("grouped SLOs above: live groups (cardinality guard)")]
    return rules + [groups_count(service, slo) for slo in grouped]


def guard_alerts(service: Service) -> list[RuleItem]:
    alerts: list[RuleItem] = []
    for slo in service.slos:
        if slo.by:
            alerts.append(
                Comment(f"{slo.name}: more than {slo.max_groups} groups by {', '.join(slo.by)}")
            )
            alerts.append(groups_alert(service, slo))
    return alerts


def sli_rules(service: Service) -> list[RuleItem]:
    """Raw events first, then the windows built from them, the ratios and the alerts."""
    lay = layout(service.evaluation_interval, service_windows(service), current=True)
    rules = [r for slo in service.slos for r in raw_rules(service, slo, lay, seconds=False)]
    rules += seconds_rules(service, lay) + guard_records(service)
    moved = set(slow_sizes(lay, service))
    sizes = [size for size in lay.sizes if size not in moved]
    rules += sizes_rule(service, lay, sizes=sizes) + ratio_rules(service) + alert_rules(service)
    return rules + guard_alerts(service)


def day_in_period_group(service: Service) -> bool:
    """Whether the period group records the 1d window (windows.sli_sizes): its weekly and
    daily pieces then read that record, otherwise the SLI group's, with the same values."""
    return DAY in slow_window_sizes(service)


def period_events(service: Service, day_here: bool | None = None) -> list[RuleItem]:
    """The events of each period length of ``service`` (whole weeks of a weekly record, then
    days), ending one base window and one period-group interval ago. ``day_here``: the 1d
    window is recorded by this group (default ``day_in_period_group``)."""
    if day_here is None:
        day_here = day_in_period_group(service)
    day = format_duration(DAY)
    rules: list[RuleItem] = []
    days = sorted({slo.period // DAY for slo in service.slos if not slo.calendar})
    calendar = calendar_records(service)
    if not days:  # thresholds or calendar periods only
        return calendar
    if days[-1] >= 7:
        week = _sum_of_terms(
            [
                Term(f"{k}d", day, slow_read(service, events(service.name, day), day_here, k * DAY))
                for k in range(7)
            ],
            service_by(service),
        )
        rules.append(
            {
                "record": names.EVENTS,
                "expr": week,
                "labels": {names.SERVICE: service.name, names.WINDOW: names.WEEK_WINDOW},
            }
        )
    split = mixed_periods(service)
    for length in days:
        same = [slo for slo in service.slos if slo.period // DAY == length and not slo.calendar]
        for slos in [[slo] for slo in same] if split else [same]:
            rules.append(rolling_record(service, slos, length, split, day_here))
    return rules + calendar


def mixed_periods(service: Service) -> bool:
    """Whether the SLOs of ``service`` have different period records (lengths, calendar
    kinds). Each record would then be a rule with the static labels {service, window: period},
    which promtool's duplicate-rules lint reports; one rule per SLO, told apart by its static
    ``slo`` label (the series already carry it), keeps the rule file clean."""
    kinds = {slo.calendar or slo.period // DAY for slo in service.slos}
    return len(kinds) > 1


def period_labels(service: Service, slos: Sequence[SLO], split: bool) -> dict[str, str]:
    labels = {names.SERVICE: service.name, names.WINDOW: names.PERIOD_WINDOW}
    if split:
        labels[names.SLO] = slos[0].name
    return labels


def rolling_record(
    service: Service, slos: Sequence[SLO], length: int, split: bool, day_here: bool
) -> RuleItem:
    """The period record of ``slos``, whose rolling period is ``length`` days (``day_here`` as
    for ``period_events``)."""
    interval = service.evaluation_interval
    base, group = base_window(interval), period_group_interval(interval)
    day = format_duration(DAY)
    only = service_selector(service, slos)
    terms = []
    for piece, offset in period_pieces(length * DAY, base, group):
        if piece == "week":
            window = names.WEEK_WINDOW
            read = slow_read(service, events(service.name, window, slos=only), True, offset)
        else:  # ``offset`` counts from the SLI group's record: slow_read adds the base back
            window = day
            read = slow_read(
                service, events(service.name, window, slos=only), day_here, offset - base
            )
        terms.append(Term(format_duration(offset), window, read))
    return {
        "record": names.EVENTS,
        "expr": _sum_of_terms(terms, service_by(service)),
        "labels": period_labels(service, slos, split),
    }


# --- calendar periods -------------------------------------------------------------------------
def unit_index(unit: str, calendar: str, at: str) -> str:
    """A one-sample vector numbering the ``unit`` (period, day, hour) the instant ``at`` (a
    scalar expression) lies in: year*12+month, weeks since the first Monday, days, hours."""
    if unit == "period" and calendar == MONTH:
        return f"year(vector({at})) * 12 + month(vector({at}))"
    if unit == "period":
        return f"floor(vector(({at} - {FIRST_MONDAY}) / {WEEK}))"
    return f"floor(vector(({at}) / {DAY if unit == 'day' else HOUR}))"


def calendar_expr(service: Service, slos: Sequence[SLO], calendar: str) -> str:
    """Events of ``slos`` since their calendar period began, per SLO and kind: whole days,
    then today's whole hours, then this hour's base windows (windows.calendar_tiles). Each tile
    is a recorded window read at a subquery step (steps are multiples of the step in absolute
    time, on Prometheus and VictoriaMetrics alike), tagged with the unit the tile lies in (that
    of one second before the step: the tile ends at it), and kept when that is the unit of now.
    Each step reads the record made less than an SLI interval before it, so the tiles meet
    exactly and the period starts within one interval of its boundary, whatever the phase."""
    interval = service.evaluation_interval
    only = service_selector(service, slos)
    tag = names.TILE
    terms = []
    for tile in calendar_tiles(calendar, base_window(interval)):
        size = format_duration(tile.size)
        read = f"last_over_time({events(service.name, size, slos=only)}[{pin(interval)}])"
        then = unit_index(tile.unit, calendar, "time() - 1")
        now = unit_index(tile.unit, calendar, "time()")
        tagged = f'{read}\n* on() group_left({tag}) count_values("{tag}", {then})'
        expr = (
            f"sum_over_time({_bracket(tagged)}[{format_duration(tile.reach)}:{size}])\n"
            f'and on({tag}) count_values("{tag}", {now})'
        )
        terms.append(Term(tile.unit, size, expr.replace("\n", "\n    ")))
    return _sum_of_terms(terms, service_by(service))


def calendar_records(service: Service) -> list[RuleItem]:
    """The period record of each calendar SLO of ``service``: events since its period began."""
    rules: list[RuleItem] = []
    for calendar in (MONTH, WEEK_PERIOD):
        same = [slo for slo in service.slos if slo.calendar == calendar]
        if not same:
            continue
        rules.append(
            Comment(
                f"events since this calendar {calendar} began (whole days, hours, base windows)"
            )
        )
        split = mixed_periods(service)
        for slos in [[slo] for slo in same] if split else [same]:
            rules.append(
                {
                    "record": names.EVENTS,
                    "expr": calendar_expr(service, slos, calendar),
                    "labels": period_labels(service, slos, split),
                }
            )
    return rules


def period_ratio_expr(service: Service, slo: SLO, ago: int = 0) -> str:
    """The SLO's error ratio over its period record, as recorded ``ago`` seconds ago (0: in this
    evaluation of the period group)."""
    group = pin(period_group_interval(service.evaluation_interval))
    offset = f" offset {format_duration(ago)}" if ago else ""

    def read(kind: str) -> str:
        selector = events(slo.service, names.PERIOD_WINDOW, slo.name, kind)
        return f"last_over_time({selector}[{group}]{offset})"

    return (
        f"sum without ({names.WINDOW}) (\n  {read(names.ERRORS)}\n"
        f"/ ignoring({names.KIND})\n  {read(names.TOTAL)}\n)"
    )


def period_seconds(slo: SLO) -> str:
    """The period's length now: a calendar month's is this month's."""
    if slo.calendar == MONTH:
        return f"days_in_month() * {DAY}"
    return f"vector({slo.period})"


def period_rules(service: Service, slo: SLO) -> list[RuleItem]:
    labels = slo_series_labels(slo)
    info_labels = {**labels, names.TEAM: service.team, **dict(service.labels), **dict(slo.labels)}
    period_ratio = series(names.PERIOD_ERROR_RATIO, slo.service, slo.name)
    return [
        Comment(f"{slo.name}: {names.number(slo.objective_percent)}% over {period_text(slo)}"),
        {
            "record": names.OBJECTIVE,
            "expr": f"vector({names.number(slo.objective)})",
            "labels": dict(sorted(info_labels.items())),
        },
        {
            "record": names.ERROR_BUDGET,
            "expr": f"vector({names.number(slo.error_budget)})",
            "labels": labels,
        },
        {"record": names.PERIOD, "expr": period_seconds(slo), "labels": labels},
        {
            "record": names.PERIOD_ERROR_RATIO,
            "expr": period_ratio_expr(service, slo),
            "labels": labels,
        },
        {
            "record": names.BUDGET_REMAINING,
            "expr": f"1 - {period_ratio} / {names.number(slo.error_budget)}",
            "labels": labels,
        },
    ]


def service_groups(service: Service) -> list[dict[str, object]]:
    """The rule groups of ``service``: a group's ``rules`` hold ``RuleItem``s."""
    groups: list[dict[str, object]] = []
    interval = service.evaluation_interval
    if service.slos:
        groups.append(
            {
                "name": names.group_sli(service.name),
                "interval": format_duration(interval),
                "rules": sli_rules(service),
            }
        )
        groups.append(
            {
                "name": names.group_period(service.name),
                "interval": format_duration(period_group_interval(interval)),
                "rules": slow_size_rules(service)
                + period_events(service)
                + [r for slo in service.slos for r in period_rules(service, slo)]
                + forecast_alerts(service)
                + slow_rules(service),
            }
        )
    if service.thresholds:
        groups.append(
            {
                "name": names.group_thresholds(service.name),
                "rules": [r for th in service.thresholds for r in threshold_rules(service, th)],
            }
        )
    return groups


# --- the target ----------------------------------------------------------------------------
def emit(model: Model) -> Emitted:
    """One rule file per service; the consistency check reads the data each file is the YAML
    of (with ``Comment`` items) instead of parsing it back."""
    files, documents = {}, {}
    for service in model.services:
        groups = service_groups(service)
        if groups:
            path = names.rules_file(service.name)
            data = {"groups": groups}
            files[path] = dump(data, names.header(service.source_file))
            documents[path] = Document(Holds.RULE_GROUPS, data)
    return Emitted(files, (), documents)


def proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    rules = matching(files, posixpath.dirname(names.rules_file("*")) + "/*.yml")
    if not rules:
        return []
    return [
        EachFile(
            "promtool check rules",
            "promtool",
            ("check", "rules", "--lint-fatal"),  # a duplicate rule is an error too
            tuple(out_dir / path for path in rules),
        )
    ]


TARGET = Target("prometheus", emit, per_service=True, proofs=proofs)
