"""Prometheus rule files: SLI recording rules, SLO metadata, burn-rate and threshold alerts.

How the SLI rules stay cheap and exact (README, "How the rules are built"):
  1. Per SLO, the error and total *rates* over the 5m base window are recorded once: the only
     rules that read the raw, possibly high-cardinality counters.
  2. Short windows W are derived from those two series:
         avg_over_time(errors_rate5m[W]) / avg_over_time(total_rate5m[W])
     A ratio of mean rates is a ratio of event counts, so a busy hour weighs more than a quiet
     one (event-weighted), unlike averaging per-slice ratios.
  3. Long windows (windows.tiled) add up the same events from hourly tiles: each evaluation adds
     rate * seconds since the previous one to a count of the current hour, which is kept once an
     hour. Events in the last W = the tiles inside W + this hour so far - the part of the oldest
     tile before W. Exact, and a 30d window reads 720 samples per series instead of 43,200.
  4. The period SLI lives in a group evaluated every 5 minutes: it changes little in a minute.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, NotRequired, TypedDict

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import (
    SLO,
    BurnTier,
    Counter,
    LatencyIndicator,
    Matcher,
    Model,
    RatioIndicator,
    Service,
    Threshold,
)
from compiler.core.windows import (
    BASE_RATE_WINDOW,
    PREVIOUS_EVALUATION,
    TILE,
    TILED_MIN_WINDOW,
    current_burn_window,
    slos_by_window,
    tiled,
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

BASE = format_duration(BASE_RATE_WINDOW)


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


def slo_selector(slo: SLO) -> str:
    return series("", slo.service, slo.name)


def counter_rate(counter: Counter) -> str:
    if counter.selector is not None:
        return f"sum(rate({render_selector(counter.selector)}[{BASE}]))"
    return f"sum({counter.text.strip().replace(WINDOW_PLACEHOLDER, BASE)})"


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


def errors_rate_expr(slo: SLO) -> str:
    """The errors rate; the total it needs is read from its rule, recorded just before, so the
    raw total series (often the SLO's largest selection) are read once per evaluation, not
    twice."""
    ind = slo.indicator
    total = series(names.TOTAL_RATE, slo.service, slo.name)
    if isinstance(ind, RatioIndicator):
        if ind.errors is not None:
            # No error series exists until the first error: count it as 0, but only while the
            # total exists. A bare `or vector(0)` also records zeros while there is no traffic
            # data at all (before the first scrapes, while the target is down), and those zeros,
            # averaged against total samples that do not exist, bias every longer window's error
            # ratio low.
            return f"{counter_rate(ind.errors)} or on() 0 * {total}"
        assert ind.good is not None  # exactly one of errors / good: the builder sees to it
        good = counter_rate(ind.good)
    else:
        good = f"sum(rate({latency_bucket(ind)}[{BASE}]))"
    # The good events have no labels (a sum), the recorded total has the SLO's.
    return f"{total} - on() group_left() ({good} or vector(0))"


def total_rate_expr(slo: SLO) -> str:
    ind = slo.indicator
    if isinstance(ind, RatioIndicator):
        return counter_rate(ind.total)
    return f"sum(rate({latency_count(ind)}[{BASE}]))"


def ratio_expr(selector: str, window: int) -> str:
    """The error ratio over ``window`` of every SLO ``selector`` selects."""
    errors, total = f"{names.ERRORS_RATE}{selector}", f"{names.TOTAL_RATE}{selector}"
    if window == BASE_RATE_WINDOW:
        return f"{errors} / {total}"
    if tiled(window):
        errors_in = _bracket(events_expr(names.ERRORS_RATE, selector, window))
        return f"{errors_in}\n/\n{_bracket(events_expr(names.TOTAL_RATE, selector, window))}"
    w = format_duration(window)
    return f"avg_over_time({errors}[{w}]) / avg_over_time({total}[{w}])"


def events_expr(rate: str, selector: str, window: int) -> str:
    """Events in the last ``window`` (whole hours), from the hourly tiles of ``rate``'s events.

    The range stops 1s short of the window: Prometheus 2.x includes a range's first instant, and
    the tile recorded exactly one window ago counts the hour before the window. The ``or``s stand
    in zeros while the data is younger than the window.
    """
    this_hour = f"{names.EVENTS_THIS_HOUR[rate]}{selector}"
    per_hour = f"{names.EVENTS_PER_HOUR[rate]}{selector}"
    return (
        f"(sum_over_time({per_hour}[{format_duration(window - 1)}]) or {this_hour} * 0)\n"
        f"+ {this_hour}\n"
        f"- ({this_hour} offset {format_duration(window)} or {this_hour} * 0)"
    )


def _bracket(expr: str) -> str:
    """A multi-line operand, indented inside its own brackets."""
    return "(\n  " + expr.replace("\n", "\n  ") + "\n)"


def events_in(slo: SLO, window: int) -> str:
    """Events (the total) in the last ``window``, for the low-traffic guard."""
    if tiled(window):
        return _bracket(events_expr(names.TOTAL_RATE, slo_selector(slo), window))
    total = series(names.TOTAL_RATE, slo.service, slo.name)
    return f"avg_over_time({total}[{format_duration(window)}]) * {window}"


def service_selector(service: Service, slos: Sequence[SLO]) -> str:
    """Matchers for ``slos`` of ``service``: the service alone when they are all its SLOs."""
    matchers = [f"{names.SERVICE}={quote_label_value(service.name)}"]
    if len(slos) < len(service.slos):
        # SLO names are lowercase letters, digits and hyphens: nothing a regex would read specially.
        op = "=" if len(slos) == 1 else "=~"
        matchers.append(f"{names.SLO}{op}{quote_label_value('|'.join(slo.name for slo in slos))}")
    return "{" + ",".join(matchers) + "}"


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


def burn_alert(service: Service, slo: SLO, tier: BurnTier) -> AlertingRule:
    long, short = format_duration(tier.long), format_duration(tier.short)
    threshold = names.number(tier.threshold)
    expr = (
        f"{series(names.error_ratio(tier.long), slo.service, slo.name)} > {threshold}\n"
        f"and\n"
        f"{series(names.error_ratio(tier.short), slo.service, slo.name)} > {threshold}"
    )
    if slo.alerting.min_events is not None:
        expr += f"\nand\n{events_in(slo, tier.long)} >= {names.number(slo.alerting.min_events)}"
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


def burn_annotations(service: Service, slo: SLO, tier: BurnTier) -> dict[str, str]:
    long, short = format_duration(tier.long), format_duration(tier.short)
    factor = names.number(tier.factor)
    budget_share = names.number(tier.budget_fraction * 100)
    summary = f"{slo.service} {slo.name}: error budget burning {factor}x too fast"
    description = (
        f"Error ratio over the last {long} is {{{{ $value | humanizePercentage }}}}, above "
        f"{names.number(tier.threshold * 100)}% (also over {short}). "
        f"Objective {names.number(slo.objective_percent)}% over {format_duration(slo.period)}: "
        f"at this rate {budget_share}% of the error budget is spent in {long}."
    )
    if slo.description:
        description = escape_template(slo.description.strip()) + "\n" + description
    annotations = _escape_all(
        {**dict(slo.alerting.annotations), **slo.alerting.annotations_for(tier.severity)}
    )
    annotations.update(
        {
            "summary": escape_template(summary),
            "description": description,
            "dashboard": escape_template(
                names.dashboard_link(service.grafana_url, slo.service, slo.name)
            ),
        }
    )
    if slo.alerting.runbook_url:
        annotations["runbook_url"] = escape_template(slo.alerting.runbook_url)
    return annotations


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
def rate_rules(slo: SLO) -> list[RuleItem]:
    labels = slo_series_labels(slo)
    return [
        Comment(
            f"{slo.name}: {names.number(slo.objective_percent)}% over {format_duration(slo.period)}"
        ),
        {"record": names.TOTAL_RATE, "expr": total_rate_expr(slo), "labels": labels},
        {"record": names.ERRORS_RATE, "expr": errors_rate_expr(slo), "labels": labels},
    ]


def tile_rules(service: Service) -> list[RuleItem]:
    """Hourly tiles of the errors and of the total of every SLO of ``service``.

    Each evaluation adds the events since the previous one (rate x seconds between them) to the
    count of the current hour; an evaluation in minute 0 (TILE is an hour) records that count as
    a tile and starts again from zero. Every evaluation that starts again records the tile it
    ends, so the windows stay exact wherever the restarts fall, at any evaluation interval. The
    count so far is read back from up to a tile ago: a gap in the rates shorter than that loses
    nothing counted before it.
    """
    selector = service_selector(service, service.slos)
    previous = format_duration(PREVIOUS_EVALUATION)
    shortest = format_duration(TILED_MIN_WINDOW)
    rules: list[RuleItem] = [
        Comment(
            f"every SLO above: events per hour, from which windows of {shortest} and longer are "
            "summed"
        )
    ]
    for rate in (names.ERRORS_RATE, names.TOTAL_RATE):
        r = f"{rate}{selector}"
        this_hour = f"{names.EVENTS_THIS_HOUR[rate]}{selector}"
        so_far = f"last_over_time({this_hour}[{format_duration(TILE)}] offset {previous})"
        counted = _bracket(
            f"{r} * (time() - timestamp({r} offset {previous}))\n+ ({so_far} or {r} * 0)"
        )
        rules.append(
            {
                "record": names.EVENTS_THIS_HOUR[rate],
                "expr": f"{counted}\n* on() group_left() (minute() != bool 0)",
            }
        )
        rules.append(
            {"record": names.EVENTS_PER_HOUR[rate], "expr": f"{counted}\nand on() minute() == 0"}
        )
    return rules


def ratio_rules(service: Service) -> list[RuleItem]:
    """One rule per window for all the SLOs that read it: a rule costs about as much to run
    for one series as for a few, and every SLO's series keeps its own labels."""
    rules: list[RuleItem] = [Comment("every SLO above: error ratios over its alert windows")]
    for window, slos in slos_by_window(service):
        rules.append(
            {
                "record": names.error_ratio(window),
                "expr": ratio_expr(service_selector(service, slos), window),
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


def sli_rules(service: Service) -> list[RuleItem]:
    """Rates first, then the tiles built from them, then the windows that read both."""
    rules = [r for slo in service.slos for r in rate_rules(slo)]
    return rules + tile_rules(service) + ratio_rules(service)


def period_rules(service: Service, slo: SLO) -> list[RuleItem]:
    labels = slo_series_labels(slo)
    info_labels = {**labels, names.TEAM: service.team, **dict(service.labels), **dict(slo.labels)}
    period_ratio = series(names.PERIOD_ERROR_RATIO, slo.service, slo.name)
    return [
        Comment(
            f"{slo.name}: {names.number(slo.objective_percent)}% over {format_duration(slo.period)}"
        ),
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
        {"record": names.PERIOD, "expr": f"vector({slo.period})", "labels": labels},
        {
            "record": names.PERIOD_ERROR_RATIO,
            "expr": ratio_expr(slo_selector(slo), slo.period),
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
    if service.slos:
        groups.append({"name": names.group_sli(service.name), "rules": sli_rules(service)})
        groups.append(
            {
                "name": names.group_period(service.name),
                "interval": format_duration(names.PERIOD_GROUP_INTERVAL),
                "rules": [r for slo in service.slos for r in period_rules(service, slo)],
            }
        )
        alerts: list[RuleItem] = []
        for slo in service.slos:
            if slo.alerting.tiers:
                alerts.append(Comment(f"{slo.name}: multiwindow multi-burn-rate alerts"))
            for tier in slo.alerting.tiers:
                alerts.append(burn_alert(service, slo, tier))
        if alerts:
            groups.append({"name": names.group_alerts(service.name), "rules": alerts})
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
            ("check", "rules"),
            tuple(out_dir / path for path in rules),
        )
    ]


TARGET = Target("prometheus", emit, per_service=True, proofs=proofs)
