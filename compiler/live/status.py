"""`slo status`: every objective of the specs as the live Prometheus and Alertmanager see it now.

Per SLO: the SLI over its period against the objective, the error budget left, the burn rate of
each alert tier's long and short window, and the alerts of that SLO that are pending or firing
(with the receivers Alertmanager routed them to). Per threshold: its value against the limit and
its alerts. Series names come from ``core/conventions.py``: the same names the rules record.

The period SLI is built from one-day pieces through a weekly record and ends a few minutes ago,
so rules pushed a moment ago record it only after about a quarter of an hour, while their
windows have data within two minutes. Until then a row shows the SLI over the SLO's longest
recorded window that has data (its errors over its total, as the period SLI is computed), says
so (``sli_window``, ``period_complete``, a note) and how much data that window holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import SLO, Model, Threshold, TimesliceIndicator
from compiler.core.windows import ALWAYS_RECORDED, windows_of
from compiler.live.query import Alert, Alertmanager, LiveError, Prometheus

Group = tuple[tuple[str, str], ...]  # a grouped SLO's (label, value) pairs; () for the others
Key = tuple[str, str, Group]  # (service, slo or threshold, group)
ByOf = dict[tuple[str, str], tuple[str, ...]]  # (service, slo) -> its `by` labels
# (errors, total, seconds of data) per window label, per SLO: the events the windows record
Events = dict[Key, dict[str, dict[str, float | None]]]

# States, worst last: how a row is coloured and sorted in the report
OK, NO_DATA, BURNING, EXHAUSTED, FIRING = "ok", "no data", "burning", "exhausted", "firing"


@dataclass(frozen=True)
class WindowBurn:
    window: int  # seconds
    burn: float | None  # error ratio over the window / error budget


@dataclass(frozen=True)
class TierBurn:
    severity: str
    factor: float  # the burn rate at which the tier's alert fires
    long: WindowBurn
    short: WindowBurn

    @property
    def burning(self) -> bool:
        return all(w.burn is not None and w.burn > self.factor for w in (self.long, self.short))


@dataclass(frozen=True)
class AlertState:
    name: str
    severity: str
    state: str  # pending | firing
    receivers: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    service: str
    objective: str  # the SLO's or threshold's name
    kind: str  # slo | threshold
    target: str  # "99%" or "< 1"
    value: float | None  # the SLI over the period, or the threshold's value
    budget_remaining: float | None = None
    tiers: tuple[TierBurn, ...] = ()
    alerts: tuple[AlertState, ...] = ()
    problem: str | None = None  # why there is no data
    group: Group = ()  # a grouped SLO's row is one of its groups
    # The window ``value`` is over: the period's (complete) or, while the period SLI is still
    # filling, the longest window with data, holding ``covered`` seconds of data.
    sli_window: str | None = None
    period_complete: bool = True
    covered: int | None = None
    objective_ratio: float | None = None  # an SLO's objective as a ratio (0.999)

    @property
    def name(self) -> str:
        """service/objective, and the group of a grouped SLO's row: "api/avail [region=eu]"."""
        group = ", ".join(f"{k}={v}" for k, v in self.group)
        return f"{self.service}/{self.objective}" + (f" [{group}]" if group else "")

    @property
    def note(self) -> str | None:
        """Says what ``value`` is over when it is not the period."""
        if self.period_complete or self.sli_window is None:
            return None
        held = f" ({format_duration(self.covered)} of data)" if self.covered else ""
        return f"period SLI still filling: shown over {self.sli_window}{held}"

    @property
    def state(self) -> str:
        if any(a.state == "firing" for a in self.alerts):
            return FIRING
        if self.problem:
            return NO_DATA
        if self.budget_remaining is not None and self.budget_remaining <= 0:
            return EXHAUSTED
        if any(t.burning for t in self.tiers) or self.alerts:
            return BURNING
        if self.partial_below_objective:
            return BURNING
        return OK

    @property
    def partial_below_objective(self) -> bool:
        """While the period fills there is no budget to judge by; an SLI below the objective
        over the window that has data spends budget faster than the period allows."""
        return (
            not self.period_complete
            and self.value is not None
            and self.objective_ratio is not None
            and self.value < self.objective_ratio
        )

    @property
    def paging(self) -> bool:
        return any(a.state == "firing" and a.severity == "page" for a in self.alerts)


@dataclass
class Status:
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. Alertmanager unreachable

    @property
    def paging(self) -> bool:
        return any(row.paging for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "paging": self.paging,
            "warnings": self.warnings,
            "objectives": [
                {
                    "service": r.service,
                    "objective": r.objective,
                    "group": dict(r.group),
                    "kind": r.kind,
                    "target": r.target,
                    "state": r.state,
                    "value": r.value,
                    "sli_window": r.sli_window,
                    "period_complete": r.period_complete if r.kind == "slo" else None,
                    "sli_data_seconds": r.covered,
                    "note": r.note,
                    "budget_remaining": r.budget_remaining,
                    "problem": r.problem,
                    "tiers": [
                        {
                            "severity": t.severity,
                            "factor": t.factor,
                            "burning": t.burning,
                            "windows": {
                                format_duration(w.window): w.burn for w in (t.long, t.short)
                            },
                        }
                        for t in r.tiers
                    ],
                    "alerts": [
                        {
                            "alertname": a.name,
                            "severity": a.severity,
                            "state": a.state,
                            "receivers": list(a.receivers),
                        }
                        for a in r.alerts
                    ],
                }
                for r in self.rows
            ],
        }


def selected(model: Model, service: str | None, slo: str | None) -> list[SLO | Threshold]:
    found: list[SLO | Threshold] = []
    for s in model.services:
        if service in (None, s.name):
            found += [o for o in s.slos if slo in (None, o.name)]
            found += [o for o in s.thresholds if slo in (None, o.name)]
    return found


def key_of(labels: dict[str, str], by_of: ByOf) -> Key:
    """The row a series or alert belongs to: its SLO's, and for a grouped SLO its group."""
    service, slo = labels.get(names.SERVICE, ""), labels.get(names.SLO, "")
    group = tuple((label, labels.get(label, "")) for label in by_of.get((service, slo), ()))
    return service, slo, group if any(value for _, value in group) else ()


def _by_key(
    samples: list[tuple[dict[str, str], float | None]], by_of: ByOf
) -> dict[Key, float | None]:
    return {key_of(m, by_of): v for m, v in samples}


def groups_of(slo: SLO, *found: dict[Key, Any]) -> list[Group]:
    """The groups of a grouped SLO that any of ``found`` holds, sorted; [()] when none does (or
    the SLO is not grouped): one row, which then says what is missing."""
    if not slo.by:
        return [()]
    seen = {
        key[2] for keys in found for key in keys if key[:2] == (slo.service, slo.name) and key[2]
    }
    return sorted(seen) or [()]


def _selector(objectives: list[SLO | Threshold]) -> str:
    services = sorted({o.service for o in objectives})
    return "{" + f'{names.SERVICE}=~"{"|".join(services)}"' + "}"


def collect(
    model: Model,
    prometheus: Prometheus,
    alertmanager: Alertmanager | None,
    service: str | None = None,
    slo: str | None = None,
) -> Status:
    """Read everything the rows need: one query per series name, then the alerts."""
    objectives = selected(model, service, slo)
    status = Status()
    if not objectives:
        return status
    where = _selector(objectives)
    by_of: ByOf = {(o.service, o.name): o.by for o in objectives if isinstance(o, SLO)}
    objective_series = _by_key(prometheus.query(names.OBJECTIVE + where), by_of)
    period = _by_key(prometheus.query(names.PERIOD_ERROR_RATIO + where), by_of)
    remaining = _by_key(prometheus.query(names.BUDGET_REMAINING + where), by_of)
    thresholds = _by_key(prometheus.query(names.THRESHOLD_VALUE + where), by_of)
    windows = sorted(
        {
            w
            for o in objectives
            if isinstance(o, SLO)
            for t in o.alerting.tiers
            for w in (t.long, t.short)
        }
    )
    ratios = {w: _by_key(prometheus.query(names.error_ratio(w) + where), by_of) for w in windows}
    events: Events = {}
    complete = {key[:2] for key, value in period.items() if value is not None}
    if any((o.service, o.name) not in complete for o in objectives if isinstance(o, SLO)):
        events = _events(prometheus, objectives, by_of)
    receivers: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}
    if alertmanager is not None:
        try:
            receivers = alertmanager.receivers()
        except LiveError as exc:  # the status is still worth showing without receivers
            status.warnings.append(str(exc))
    alerts = _alerts(prometheus.alerts(), receivers, by_of)
    pushed = {key[:2] for key in objective_series}
    for objective in objectives:
        if isinstance(objective, SLO):
            found: list[dict[Key, Any]] = [period, remaining, events, alerts, *ratios.values()]
            for group in groups_of(objective, *found):
                key = (objective.service, objective.name, group)
                status.rows.append(
                    _slo_row(objective, key, pushed, period, remaining, ratios, events, alerts)
                )
        else:
            key = (objective.service, objective.name, ())
            status.rows.append(_threshold_row(objective, key, thresholds, alerts))
    return status


def fallback_windows(slo: SLO) -> list[int]:
    """The windows recorded for ``slo`` that the period SLI may fall back to, longest first: its
    alert windows and those every service records."""
    return sorted(set(windows_of(slo)) | set(ALWAYS_RECORDED), reverse=True)


def _events(prometheus: Prometheus, objectives: list[SLO | Threshold], by_of: ByOf) -> Events:
    """The errors, total and seconds of data of every fallback window of the SLOs: one query."""
    slos = [o for o in objectives if isinstance(o, SLO)]
    if not slos:
        return {}
    labels = sorted({format_duration(w) for o in slos for w in fallback_windows(o)})
    services = sorted({o.service for o in slos})
    expr = (
        f'{names.EVENTS}{{{names.SERVICE}=~"{"|".join(services)}",'
        f'{names.KIND}=~"{"|".join(names.EVENT_KINDS)}",{names.WINDOW}=~"{"|".join(labels)}"}}'
    )
    found: Events = {}
    for metric, value in prometheus.query(expr):
        key = key_of(metric, by_of)
        window = found.setdefault(key, {}).setdefault(metric.get(names.WINDOW, ""), {})
        window[metric.get(names.KIND, "")] = value
    return found


@dataclass(frozen=True)
class Partial:
    """The SLI over a window shorter than the period, while the period SLI is still filling."""

    value: float
    window: int
    covered: int | None  # seconds of data the window holds


def longest_with_data(slo: SLO, events: dict[str, dict[str, float | None]]) -> Partial | None:
    """The SLI over the longest fallback window that holds events (errors over total, as the
    period SLI is computed), or None when none does."""
    for window in fallback_windows(slo):
        found = events.get(format_duration(window), {})
        errors, total = found.get(names.ERRORS), found.get(names.TOTAL)
        if errors is None or not total:
            continue
        seconds = found.get(names.SECONDS)
        return Partial(1 - errors / total, window, int(seconds) if seconds else None)
    return None


def _alerts(
    found: list[Alert], receivers: dict[tuple[tuple[str, str], ...], tuple[str, ...]], by_of: ByOf
) -> dict[Key, list[AlertState]]:
    out: dict[Key, list[AlertState]] = {}
    for alert in found:
        key = key_of(dict(alert.labels), by_of)
        out.setdefault(key, []).append(
            AlertState(
                alert.label("alertname"),
                alert.label(names.SEVERITY),
                alert.state,
                receivers.get(alert.labels, ()),
            )
        )
    return out


def _percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def _slo_row(
    slo: SLO,
    key: Key,
    pushed: set[tuple[str, str]],
    period: dict[Key, float | None],
    remaining: dict[Key, float | None],
    ratios: dict[int, dict[Key, float | None]],
    events: Events,
    alerts: dict[Key, list[AlertState]],
) -> Row:
    budget = float(slo.error_budget)

    def burn(window: int) -> WindowBurn:
        ratio = ratios[window].get(key)
        return WindowBurn(window, None if ratio is None else ratio / budget)

    tiers = tuple(
        TierBurn(t.severity, float(t.factor), burn(t.long), burn(t.short))
        for t in slo.alerting.tiers
    )
    error_ratio = period.get(key)
    partial = None if error_ratio is not None else longest_with_data(slo, events.get(key, {}))
    value: float | None = None
    window: int | None = None
    covered: int | None = None
    if error_ratio is not None:
        value, window = 1 - error_ratio, slo.period
    elif partial is not None:
        value, window, covered = partial.value, partial.window, partial.covered
    problem = None
    name = f"{slo.service}/{slo.name}"
    no_burn = all(w.burn is None for t in tiers for w in (t.long, t.short))
    if error_ratio is None and partial is None and no_burn:
        problem = f"no data for {name}: is the exporter scraped? ({_metric(slo)})"
        if key[:2] not in pushed:
            problem = (
                f"no data for {name}: are its rules pushed (slo push)? is {_metric(slo)} scraped?"
            )
    return Row(
        slo.service,
        slo.name,
        "slo",
        _percent(slo.objective),
        value,
        remaining.get(key),
        tiers,
        tuple(alerts.get(key, ())),
        problem,
        group=key[2],
        sli_window=None if window is None else period_window(slo, window),
        period_complete=error_ratio is not None,
        covered=covered,
        objective_ratio=float(slo.objective),
    )


def period_window(slo: SLO, window: int) -> str:
    """What the SLI is over: ``30d``, or ``this month`` / ``this week`` for a calendar period."""
    if slo.calendar and window == slo.period:
        return f"this {slo.calendar}"
    return format_duration(window)


def _metric(slo: SLO) -> str:
    indicator = slo.indicator
    if hasattr(indicator, "histogram"):
        return indicator.histogram.metric + "_bucket"
    if isinstance(indicator, TimesliceIndicator):
        return indicator.expr
    total = indicator.total
    return total.selector.metric if total.selector else total.text


def _threshold_row(
    threshold: Threshold,
    key: Key,
    values: dict[Key, float | None],
    alerts: dict[Key, list[AlertState]],
) -> Row:
    name = f"{threshold.service}/{threshold.name}"
    problem = None
    if key not in values:
        problem = f"no data for {name}: its expression returns nothing; is the exporter scraped?"
    return Row(
        threshold.service,
        threshold.name,
        "threshold",
        f"{threshold.op} {names.number(threshold.value)}",
        values.get(key),
        alerts=tuple(alerts.get(key, ())),
        problem=problem,
    )
