"""The pure core of `slo backfill`: a service's raw events -> every series its rules record.

Input: for each SLO, raw window and kind (``total``, ``errors``), the value its raw recording
rule would have recorded at each instant of the SLI group's evaluation grid (the rule's own
expression, run through the query API). Output: every series the SLI and period groups record
(``compiler/targets/prometheus.py``), computed exactly as the rules compute them: a window is its
head plus pieces read at exact offsets, a missing piece is a hole, ratios are weighted by the
seconds that had data, the period reads weekly and one-day pieces on its own group's grid, and so
do the slow tiers' windows and ratios (windows.slow_tier), from the SLI grid one base window back.

Each value depends on its instant alone, so what this computes equals what live rules on the
same grid would have recorded had they run over the whole range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import SLO, Service
from compiler.core.windows import (
    DAY,
    MONTH,
    Layout,
    base_window,
    calendar_tiles,
    current_burn_window,
    layout,
    month_length,
    period_group_interval,
    period_pieces,
    service_windows,
    slos_by_window,
    slow_ratio_windows,
    slow_sizes,
    unit_of,
)

RAW_KINDS = (names.TOTAL, names.ERRORS)  # queried; ``seconds`` follows from the total

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, the metric name included
Values = list[float | None]  # one slot per grid instant; None where no sample is recorded
# The raw events by (SLO, window, kind), or for one group of a grouped SLO by (SLO, window, kind,
# its group labels as sorted (name, value) pairs).
RawKey = tuple[Any, ...]
# An SLO's series: (SLO name, group labels), () for an ungrouped SLO.
Member = tuple[str, Labels]


@dataclass(frozen=True)
class Grid:
    """Evaluation instants ``start + n * step`` for n < ``count``, in milliseconds."""

    start: int
    step: int
    count: int

    def times(self) -> range:
        return range(self.start, self.start + self.step * self.count, self.step)

    def at_or_before(self, t: int) -> int:
        """The index of the last instant at or before ``t`` (may be out of range)."""
        return (t - self.start) // self.step


def grid(phase: int, step: int, since: int, until: int) -> Grid:
    """The instants on ``phase + n * step`` (ms) within [since, until]."""
    first = since + (phase - since) % step
    count = max(0, (until - first) // step + 1)
    return Grid(first, step, count)


@dataclass(frozen=True)
class Series:
    labels: Labels
    grid: Grid
    values: Values

    def samples(self) -> Iterator[tuple[int, float]]:
        for t, value in zip(self.grid.times(), self.values):
            if value is not None:
                yield t, value


@dataclass
class History:
    """Every recorded series of one service, by labels (metric name included)."""

    series: dict[Labels, Series] = field(default_factory=dict)

    def add(self, name: str, labels: Mapping[str, str], g: Grid, values: Values) -> None:
        if any(v is not None for v in values):
            key = tuple(sorted({"__name__": name, **labels}.items()))
            self.series[key] = Series(key, g, values)


def raw_windows(service: Service) -> tuple[int, ...]:
    """The windows the raw rules of ``service`` read (the base and any shorter one)."""
    return service_layout(service).raw


def service_layout(service: Service, current: bool = True) -> Layout:
    """The windows the rules of ``service`` record: Prometheus' layout, or with ``current``
    False vmalert's (windows.Layout)."""
    return layout(service.evaluation_interval, service_windows(service), current)


def _divide(a: float, b: float) -> float:
    """IEEE division as PromQL does it: x/0 is ±Inf, 0/0 NaN."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _members(service: Service, raw: Mapping[RawKey, Values]) -> list[Member]:
    """Every (SLO, group) that has raw events, in the SLOs' order: each group of a grouped
    SLO is an SLO of its own."""
    groups: dict[str, set[Labels]] = {slo.name: set() for slo in service.slos}
    for key in raw:
        if key[0] in groups:
            groups[key[0]].add(tuple(key[3]) if len(key) == 4 else ())
    members: list[Member] = []
    for slo in service.slos:
        found = groups[slo.name] if slo.by else {()}
        members += [(slo.name, group) for group in sorted(found)]
    return members


def _raw(raw: Mapping[RawKey, Values], member: Member, window: int, kind: str) -> Values | None:
    name, group = member
    return raw.get((name, window, kind, group) if group else (name, window, kind))


def compute(
    service: Service,
    raw: Mapping[RawKey, Values],
    sli: Grid,
    period: Grid,
    left_closed: bool = True,
    current: bool = True,
) -> History:
    """Every series the rules of ``service`` record on ``sli`` (its SLI group's instants) and
    ``period`` (its period group's), from ``raw[(slo, window, kind)]`` on ``sli`` (for a
    grouped SLO ``raw[(slo, window, kind, group labels)]``, one per group).

    ``left_closed``: ranges include their first instant (PromQL; MetricsQL's exclude it), which
    matters only where a body read one base window back falls back to an older one.
    ``current``: the rules' windows read shorter ones recorded in the same evaluation
    (Prometheus'; vmalert's read the head and older pieces only).
    """
    lay = service_layout(service, current)
    ms = 1000
    step = sli.step
    out = History()
    members = _members(service, raw)
    # events[(slo, group, kind)][window seconds] on the SLI grid
    events: dict[tuple[str, Labels, str], dict[int, Values]] = {}
    for member in members:
        for window in lay.raw:
            totals = list(_raw(raw, member, window, names.TOTAL) or [None] * sli.count)
            errors = list(_raw(raw, member, window, names.ERRORS) or [None] * sli.count)
            seconds: Values = [None if v is None else float(window) for v in totals]
            events.setdefault((*member, names.TOTAL), {})[window] = totals
            events.setdefault((*member, names.ERRORS), {})[window] = errors
            events.setdefault((*member, names.SECONDS), {})[window] = seconds

    base = lay.base
    moved = set(slow_sizes(lay, service)) if lay.current else set()
    for size in lay.sizes:
        if size in moved:  # recorded by the period group: _slow
            continue
        reach = base * ms if lay.single_body(size) else step - 1
        terms = [(p.size, p.offset * ms) for p in lay.pieces(size)]
        for per_window in events.values():
            head = per_window[base]
            values: Values = []
            for n in range(sli.count):
                t = sli.start + n * step
                values.append(
                    _sum_present(
                        ([] if lay.current else [head[n]])
                        + [
                            _last_in(per_window[piece], sli, t - offset, reach, left_closed)
                            for piece, offset in terms
                        ]
                    )
                )
            per_window[size] = values

    for key, per_window in events.items():
        for window, values in per_window.items():
            labels = _events_labels(service, key, format_duration(window))
            out.add(names.EVENTS, labels, sli, values)

    for slo in service.slos:  # the cardinality guard: groups whose base total exists
        if slo.by:
            bases = [events[(slo.name, g, names.TOTAL)][base] for m, g in members if m == slo.name]
            live = [sum(1 for series in bases if series[i] is not None) for i in range(sli.count)]
            count: Values = [float(c) if c else None for c in live]
            out.add(names.GROUPS, {names.SERVICE: service.name, names.SLO: slo.name}, sli, count)

    slow, own = _slow(service, lay, moved, events, sli, period, out)
    ratios: dict[tuple[str, Labels, int], Values] = {}
    for window, slos in slos_by_window(service):
        if window in slow:
            continue
        for slo in slos:
            for name, group in members:
                if name != slo.name:
                    continue
                err = events[(name, group, names.ERRORS)][window]
                tot = events[(name, group, names.TOTAL)][window]
                sec = events[(name, group, names.SECONDS)][window]
                values = [
                    None if e is None or t is None or s is None else _divide(e, t) * (s / window)
                    for e, t, s in zip(err, tot, sec)
                ]
                ratios[(name, group, window)] = values
                labels = {**dict(group), names.SERVICE: service.name, names.SLO: name}
                out.add(names.error_ratio(window), labels, sli, values)
    for slo in service.slos:
        window = current_burn_window(slo)
        budget = float(names.number(slo.error_budget))
        for name, group in members:
            if name != slo.name:
                continue
            burn = [
                None if v is None else _divide(v, budget) for v in ratios[(name, group, window)]
            ]
            labels = {
                **dict(group),
                names.SERVICE: service.name,
                names.SLO: name,
                names.WINDOW: format_duration(window),
            }
            out.add(names.CURRENT_BURN_RATE, labels, sli, burn)

    ms, pin_sli, pin_group = 1000, sli.step - 1, period.step - 1

    def day_at(key: tuple[str, Labels, str], end: int) -> float | None:
        """The 1d window the SLI group recorded at the last instant up to ``end``, read from
        the period group's record when it keeps the day (one base window later there)."""
        if DAY in moved:
            return _last_in(own[key][DAY], period, end + base * ms, pin_group, True)
        return _last_in(events[key][DAY], sli, end, pin_sli, True)

    _period(service, members, events, day_at, sli, period, out)
    return out


def _slow(
    service: Service,
    lay: Layout,
    moved: set[int],
    events: Mapping[tuple[str, Labels, str], Mapping[int, Values]],
    sli: Grid,
    period: Grid,
    out: History,
) -> tuple[set[int], dict[tuple[str, Labels, str], dict[int, Values]]]:
    """The windows the period group records and the slow tiers' error ratios, on the period
    grid: each reads the sizes the period group records at their offsets, and the SLI group's
    as they were one base window earlier (targets/prometheus.py, ``slow_read``). Returns the
    windows of those ratios and the recorded windows by (SLO, group labels, kind)."""
    own: dict[tuple[str, Labels, str], dict[int, Values]] = {key: {} for key in events}
    if not lay.current:  # vmalert's rules record every window in the SLI group
        return set(), own
    ms = 1000
    pin_sli, pin_group, back = sli.step - 1, period.step - 1, lay.base * ms

    def read(key: tuple[str, Labels, str], size: int, t: int) -> float | None:
        if size in moved:
            return _last_in(own[key][size], period, t, pin_group, True)
        return _last_in(events[key][size], sli, t - back, pin_sli, True)

    for size in lay.sizes:
        if size not in moved:
            continue
        pieces = lay.pieces(size)
        for key in events:
            values = [
                _sum_present(read(key, p.size, t - p.offset * ms) for p in pieces)
                for t in period.times()
            ]
            own[key][size] = values
            labels = _events_labels(service, key, format_duration(size))
            out.add(names.EVENTS, labels, period, values)
    windows = slow_ratio_windows(service)
    for window, slos in slos_by_window(service):
        if window not in windows:
            continue
        reading = {slo.name for slo in slos}
        for slo_name, group, kind in events:
            if slo_name not in reading or kind != names.TOTAL:
                continue
            ratio: Values = []
            for t in period.times():
                e, tot, sec = (
                    read((slo_name, group, k), window, t)
                    for k in (names.ERRORS, names.TOTAL, names.SECONDS)
                )
                ratio.append(
                    None
                    if e is None or tot is None or sec is None
                    else _divide(e, tot) * (sec / window)
                )
            labels = {**dict(group), names.SERVICE: service.name, names.SLO: slo_name}
            out.add(names.error_ratio(window), labels, period, ratio)
    return windows, own


def _events_labels(service: Service, key: tuple[str, Labels, str], window: str) -> dict[str, str]:
    """The labels of the events series of ``key`` (SLO, group labels, kind) over ``window``."""
    slo_name, group, kind = key
    return {
        **dict(group),
        names.SERVICE: service.name,
        names.SLO: slo_name,
        names.KIND: kind,
        names.WINDOW: window,
    }


def _last_in(values: Values, g: Grid, end: int, reach: int, left_closed: bool) -> float | None:
    """``last_over_time(x[reach] @ end)`` for a series on grid ``g``: the newest sample in
    [end - reach, end] (or (end - reach, end])."""
    n = g.at_or_before(end)
    lowest = end - reach
    while n >= 0:
        t = g.start + n * g.step
        if t < lowest or (t == lowest and not left_closed):
            return None
        if n < g.count and values[n] is not None:
            return values[n]
        n -= 1
    return None


def _sum_present(terms: Iterable[float | None]) -> float | None:
    """What ``sum(a or b or ...)`` records: the sum of the terms that exist, nothing if none."""
    present = [term for term in terms if term is not None]
    return sum(present) if present else None


def _period(
    service: Service,
    members: Sequence[Member],
    events: Mapping[tuple[str, Labels, str], Mapping[int, Values]],
    day_at: Callable[[tuple[str, Labels, str], int], float | None],
    sli: Grid,
    period: Grid,
    out: History,
) -> None:
    """The period group: the weekly record, each period length's record, and per SLO (and
    group) its ratio, budget remaining and constants, on the period group's own grid; the 1d
    window as ``day_at`` reads it."""
    ms = 1000
    interval = service.evaluation_interval
    base, group_interval = base_window(interval), period_group_interval(interval)
    pin_sli, pin_group = sli.step - 1, period.step - 1
    days = sorted({slo.period // DAY for slo in service.slos if not slo.calendar})
    week: dict[tuple[str, Labels, str], Values] = {}
    if days and days[-1] >= 7:
        for key in events:
            values: Values = []
            for t in period.times():
                values.append(
                    _sum_present(day_at(key, t - (base + k * DAY) * ms) for k in range(7))
                )
            week[key] = values
            out.add(names.EVENTS, _events_labels(service, key, names.WEEK_WINDOW), period, values)
    whole: dict[tuple[str, Labels, str], Values] = {}
    for length in days:
        lengths = {
            slo.name for slo in service.slos if slo.period // DAY == length and not slo.calendar
        }
        pieces = period_pieces(length * DAY, base, group_interval)
        for name, group in members:
            if name not in lengths:
                continue
            for kind in names.EVENT_KINDS:
                key = (name, group, kind)
                values = []
                for t in period.times():
                    values.append(
                        _sum_present(
                            _last_in(week[key], period, t - offset * ms, pin_group, True)
                            if piece == "week"
                            else day_at(key, t - offset * ms)
                            for piece, offset in pieces
                        )
                    )
                whole[key] = values
                labels = _events_labels(service, key, names.PERIOD_WINDOW)
                out.add(names.EVENTS, labels, period, values)
    calendars = {slo.name: slo.calendar for slo in service.slos if slo.calendar}
    for name, group in members:
        if name not in calendars:
            continue
        for kind in names.EVENT_KINDS:
            key = (name, group, kind)
            whole[key] = _calendar(calendars[name], events[key], base, sli, period, pin_sli)
            labels = _events_labels(service, key, names.PERIOD_WINDOW)
            out.add(names.EVENTS, labels, period, whole[key])
    for slo in service.slos:
        _period_slo(service, slo, [g for n, g in members if n == slo.name], whole, period, out)


def _calendar(
    calendar: str, per_window: Mapping[int, Values], base: int, sli: Grid, period: Grid, pin: int
) -> Values:
    """A calendar SLO's events since its period began, on the period grid, as its rule sums
    them (windows.calendar_tiles): per tile size, the record read at each subquery step (a
    multiple of the size, within its reach) whose unit, one second before the step, is the
    unit now."""
    ms = 1000
    out: Values = []
    for t in period.times():
        terms: list[float | None] = []
        for tile in calendar_tiles(calendar, base):
            step, now = tile.size * ms, unit_of(tile.unit, calendar, t / ms)
            first = -(-(t - tile.reach * ms) // step) * step
            found = [
                _last_in(per_window[tile.size], sli, at, pin, True)
                for at in range(first, t + 1, step)
                if unit_of(tile.unit, calendar, at / ms - 1) == now
            ]
            terms.append(_sum_present(found))
        out.append(_sum_present(terms))
    return out


def _period_slo(
    service: Service,
    slo: SLO,
    groups: Sequence[Labels],
    whole: Mapping[tuple[str, Labels, str], Values],
    period: Grid,
    out: History,
) -> None:
    labels = {names.SERVICE: service.name, names.SLO: slo.name}
    info = {**labels, names.TEAM: service.team, **dict(service.labels), **dict(slo.labels)}
    constant = [(names.OBJECTIVE, info, slo.objective)]
    constant = [*constant, (names.ERROR_BUDGET, labels, slo.error_budget)]
    if slo.calendar != MONTH:
        constant.append((names.PERIOD, labels, Decimal(slo.period)))
    else:  # this month's length: days_in_month() * 1d
        out.add(
            names.PERIOD, labels, period, [float(month_length(t / 1000)) for t in period.times()]
        )
    for name, these, value in constant:  # one per SLO: its groups share them
        out.add(name, these, period, [float(names.number(value))] * period.count)
    budget = float(names.number(slo.error_budget))
    for group in groups:
        ratio = [
            None if e is None or t is None else _divide(e, t)
            for e, t in zip(
                whole[(slo.name, group, names.ERRORS)], whole[(slo.name, group, names.TOTAL)]
            )
        ]
        these = {**dict(group), **labels}
        out.add(names.PERIOD_ERROR_RATIO, these, period, ratio)
        out.add(
            names.BUDGET_REMAINING,
            these,
            period,
            [None if r is None else 1 - _divide(r, budget) for r in ratio],
        )


def raw_keys(service: Service) -> Sequence[tuple[SLO, int, str]]:
    """(SLO, window, kind) of every raw series the core needs, in rule order."""
    return [
        (slo, w, kind) for slo in service.slos for w in raw_windows(service) for kind in RAW_KINDS
    ]
