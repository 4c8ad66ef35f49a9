"""Multiwindow, multi-burn-rate alert windows (SRE Workbook ch. 5), as data.

The defaults state how much of the error budget may burn within a window before we alert,
for a 30-day reference period. For another period the windows scale with it and snap to a
ladder of round durations; the burn-rate factor is then derived from the snapped windows, so
the budget share stays what the table says:

    factor    = budget_fraction * period / long_window
    threshold = factor * (1 - objective)          (an error ratio)

30d gives the Workbook's 14.4 / 6 / 3 / 1; 28d keeps the windows and gives
13.44 / 5.6 / 2.8 / 0.933.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from compiler.core.durations import UNITS, format_duration
from compiler.core.model import SLO, BurnTier, Service

MINUTE, HOUR, DAY = UNITS["m"], UNITS["h"], UNITS["d"]

REFERENCE_PERIOD = 30 * DAY
DEFAULT_PERIOD = 30 * DAY
MIN_PERIOD = 1 * DAY
# The period is read from weekly and daily pieces, so its cost hardly grows with its length;
# a year is the longest budget anyone reviews.
MAX_PERIOD = 365 * DAY

# The shortest window the rules read raw counters over (Prometheus' increase() needs a few
# scrapes inside it). Every longer window is a sum of recorded pieces (see ``layout``).
BASE_RATE_WINDOW = 5 * MINUTE

# Rule groups are evaluated every minute unless a service says otherwise (evaluation_interval).
DEFAULT_EVALUATION_INTERVAL = 1 * MINUTE
MIN_EVALUATION_INTERVAL, MAX_EVALUATION_INTERVAL = 10, 10 * MINUTE
# The period SLI changes little in a minute: its group runs every 5 minutes (or at the SLI
# group's interval, when that is longer).
PERIOD_GROUP_INTERVAL = 5 * MINUTE
WEEK = 7 * DAY
# The sizes every service records besides its windows: one-day pieces build the period, and the
# hour is the fastest default page window (both also shorten the chains of other sizes).
ALWAYS_RECORDED = (1 * HOUR, 1 * DAY)


@dataclass(frozen=True)
class TierSpec:
    severity: str
    long: int
    short: int
    budget_fraction: Decimal


# SRE Workbook table 5-8 plus its 1d/2h ticket pair: 2% in 1h, 5% in 6h page; 10% in 1d, 10% in
# 3d ticket.
DEFAULT_TIERS = (
    TierSpec("page", 1 * HOUR, 5 * MINUTE, Decimal("0.02")),
    TierSpec("page", 6 * HOUR, 30 * MINUTE, Decimal("0.05")),
    TierSpec("ticket", 1 * DAY, 2 * HOUR, Decimal("0.10")),
    TierSpec("ticket", 3 * DAY, 6 * HOUR, Decimal("0.10")),
)

# Round durations that scaled windows snap to (nearest on a log scale).
LADDER = (
    tuple(m * MINUTE for m in (5, 10, 15, 30))
    + tuple(h * HOUR for h in (1, 2, 3, 6, 12))
    + tuple(d * DAY for d in (1, 2, 3, 4, 7, 14))
)


def snap(seconds: float) -> int:
    return min(LADDER, key=lambda step: (abs(math.log(step / seconds)), step))


def scaled_tiers(period: int) -> tuple[TierSpec, ...]:
    if period == REFERENCE_PERIOD:
        return DEFAULT_TIERS
    scale = period / REFERENCE_PERIOD
    return tuple(
        TierSpec(
            t.severity,
            snap(t.long * scale),
            min(snap(t.short * scale), snap(t.long * scale)),
            t.budget_fraction,
        )
        for t in DEFAULT_TIERS
    )


def burn_tier(spec: TierSpec, period: int, objective: Decimal) -> BurnTier:
    factor = spec.budget_fraction * Decimal(period) / Decimal(spec.long)
    return BurnTier(
        severity=spec.severity,
        long=spec.long,
        short=spec.short,
        budget_fraction=spec.budget_fraction,
        factor=factor,
        threshold=factor * (1 - objective),
    )


def unreachable(tier: BurnTier) -> bool:
    """An error ratio above 100% can never be observed, so such a tier never fires."""
    return tier.threshold >= 1


def calendar_period(slo: SLO) -> str | None:
    """ "month" or "week" for an SLO whose period is a calendar one, None for a rolling period
    (the forecast's time left, targets/prometheus.py ``time_left_expr``, branches on it)."""
    return slo.calendar or None


# The budget-exhaustion forecast's pace: the errors of the last day, unless `over` says otherwise.
DEFAULT_FORECAST_OVER = 1 * DAY

# --- the windows the generated rules and dashboards read ------------------------------------
# The "current burn rate" of an SLO without tiers: its window, since no page window is defined.
CURRENT_BURN_FALLBACK = 1 * HOUR


def current_burn_window(slo: SLO) -> int:
    """The "current burn rate" uses the fastest page window, or 1h when no tier defines one."""
    longs = [t.long for t in slo.alerting.tiers]
    return min(longs) if longs else CURRENT_BURN_FALLBACK


def windows_of(slo: SLO) -> list[int]:
    """Every window the alerts read, shortest first (the base window included)."""
    found = {BASE_RATE_WINDOW}
    for tier in slo.alerting.tiers:
        found.update((tier.long, tier.short))
    found.add(current_burn_window(slo))
    return sorted(found)


def slos_by_window(service: Service) -> list[tuple[int, list[SLO]]]:
    """(window, the SLOs of ``service`` that read it), shortest window first."""
    users: dict[int, list[SLO]] = {}
    for slo in service.slos:
        for window in windows_of(slo):
            users.setdefault(window, []).append(slo)
    return sorted(users.items())


def tier_windows(slo: SLO) -> list[int]:
    """The windows of ``slo``'s tiers, shortest first; without tiers, the current burn window."""
    found = {w for tier in slo.alerting.tiers for w in (tier.long, tier.short)}
    return sorted(found or {current_burn_window(slo)})


# --- how windows are built from pieces -------------------------------------------------------
# Each window W is recorded as the events in (t-W, t]: the raw increase over the base window b
# (the head, t-b..t) plus pieces, windows recorded earlier and read exactly ``offset`` ago. A
# piece read o ago covers (t-o-size, t-o], so the head and the pieces tile the window without
# overlap. Every value depends on t alone, never on when earlier evaluations ran: the same on
# any engine, at any group phase, and computable by a backfill.


@dataclass(frozen=True)
class Piece:
    size: int  # seconds: a recorded window ...
    offset: int  # ... read this long ago


@dataclass(frozen=True)
class Layout:
    """Which windows a service records and how each is tiled from pieces.

    Two forms. Without ``current`` (vmalert's): a window is the head, the raw base window of
    this evaluation, plus pieces read at least one base window ago, so that no rule reads a
    value recorded in the same evaluation. With ``current`` (Prometheus'): a window is a
    shorter window recorded earlier in this evaluation (a piece at offset 0, the base window
    for the shortest) plus copies of it read exactly as long ago as they end: 3d = 1d + 1d@1d
    + 1d@2d. Fewer rules and lookups; Prometheus runs a group's rules in order, each seeing
    the samples of the ones before it at the same timestamp."""

    interval: int  # the SLI group's evaluation interval
    base: int  # the raw window: the smallest multiple of 5m and of the interval
    raw: tuple[int, ...]  # windows read raw from the counters: the base and any shorter
    sizes: tuple[int, ...]  # recorded windows longer than the base, in dependency order
    chains: tuple[tuple[int, tuple[Piece, ...]], ...]  # (size, its pieces, oldest last)
    current: bool = False  # pieces at offset 0 stand for the head (see above)

    def pieces(self, size: int) -> tuple[Piece, ...]:
        return dict(self.chains)[size]

    def single_body(self, size: int) -> bool:
        """A size that is the head plus one piece read one base window ago. Such a body may be
        read from further back when the exact one is missing: that leaves a hole, never an
        overlap, since nothing lies beyond it."""
        pieces = self.pieces(size)
        return not self.current and len(pieces) == 1 and pieces[0].offset == self.base

    def level(self, size: int) -> int:
        """0 for the raw base; otherwise one more than the deepest piece it reads (the order in
        which a one-pass-per-level backfill or a replay must compute them)."""
        if size <= self.base:
            return 0
        return 1 + max((self.level(p.size) for p in self.pieces(size)), default=0)


def base_window(interval: int) -> int:
    return math.lcm(BASE_RATE_WINDOW, interval)


def period_group_interval(interval: int) -> int:
    return max(PERIOD_GROUP_INTERVAL, base_window(interval))


def layout(interval: int, windows: Iterable[int], current: bool = False) -> Layout:
    """The recorded sizes for ``windows`` at ``interval`` (see ``_layout``; with ``current``,
    ``_current_layout``)."""
    wanted = tuple(sorted(set(windows)))
    return _current_layout(interval, wanted) if current else _layout(interval, wanted)


@functools.lru_cache(maxsize=256)  # services share a handful of window sets
def _layout(interval: int, windows: tuple[int, ...]) -> Layout:
    """The recorded sizes for ``windows`` at ``interval``: each window and each window less one
    base window (the body a window adds its head to), so every size is short to build."""
    base = base_window(interval)
    wanted = set(windows)
    raw = tuple(sorted({base} | {w for w in wanted if w < base}))
    big = {w for w in wanted | set(ALWAYS_RECORDED) if w > base}
    sizes = big | {w - base for w in big if w - base > base}
    chains = {size: _chain(size, base, sizes) for size in sorted(sizes)}
    order: list[int] = []
    done = {base}
    while len(order) < len(chains):
        for size in sorted(chains):
            if size not in done and {p.size for p in chains[size]} <= done:
                order.append(size)
                done.add(size)
                break
    return Layout(interval, base, raw, tuple(order), tuple((s, chains[s]) for s in order))


def _chain(size: int, base: int, sizes: set[int]) -> tuple[Piece, ...]:
    """The fewest pieces (recorded sizes shorter than ``size``, or the base) that tile
    (t-size, t-base]; ties go to the larger first piece."""
    n = size // base
    usable = sorted({base} | {s for s in sizes if s < size})
    # best[k]: (pieces needed to tile k base windows after the head, the last piece's size)
    best: dict[int, tuple[int, int]] = {1: (0, 0)}
    for k in range(2, n + 1):
        options = [(best[k - s // base][0] + 1, -s) for s in usable if k - s // base in best]
        if options:
            count, neg = min(options)
            best[k] = (count, -neg)
    pieces, k = [], n
    while k > 1:
        piece = best[k][1]
        k -= piece // base
        pieces.append(Piece(piece, k * base))
    return tuple(sorted(pieces, key=lambda p: p.offset))


# What a window recorded in between costs beyond its lookups, in lookups: its rule's own
# overhead (measured on Prometheus 2.42: 0.08 ms a rule; a copy read at an offset about 0.2 ms,
# its lookup and its place in the sum), rounded up, so that a window in between must save a
# lookup net.
EXTRA_RULE_COST = 1


@functools.lru_cache(maxsize=256)
def _current_layout(interval: int, windows: tuple[int, ...]) -> Layout:
    """Each window W, shortest first, as k copies of the recorded window P that divides it
    with the fewest copies: P this evaluation, then P read P, 2P, ... ago. Where no recorded
    window gives fewer copies than a new one in between would (the new one's copies of a
    recorded window, plus ``EXTRA_RULE_COST``), that one is recorded too."""
    base = base_window(interval)
    raw = tuple(sorted({base} | {w for w in windows if w < base}))
    wanted = sorted({w for w in set(windows) | set(ALWAYS_RECORDED) if w > base})
    recorded = [base]
    chains: dict[int, tuple[Piece, ...]] = {}

    def copies(size: int, among: Iterable[int]) -> tuple[int, int]:
        """(copies, piece size) of the largest of ``among`` that divides ``size``."""
        piece = max(p for p in among if size % p == 0 and p < size)
        return size // piece, piece

    def record(size: int, piece: int) -> None:
        chains[size] = tuple(Piece(piece, k * piece) for k in range(size // piece))
        recorded.append(size)

    for size in wanted:
        if size % base:
            raise ValueError(f"{size}s is not a multiple of the {base}s base window")
        n, piece = copies(size, recorded)
        best: tuple[int, int, int] | None = None  # (cost, middle, its piece)
        for middle in range(piece + base, size, base):
            if size % middle or middle % base:
                continue
            m, under = copies(middle, recorded)
            cost = size // middle + m + EXTRA_RULE_COST
            if cost < n and (best is None or cost < best[0]):
                best = (cost, middle, under)
        if best is not None:
            record(best[1], best[2])
            piece = best[1]
        record(size, piece)
    sizes = tuple(recorded[1:])
    return Layout(interval, base, raw, sizes, tuple((s, chains[s]) for s in sizes), True)


def period_pieces(period: int, base: int, group_interval: int) -> tuple[tuple[str, int], ...]:
    """The period's events up to ``base + group_interval`` ago, as (piece, offset) read by the
    period group: whole weeks of its own weekly record, then one-day pieces."""
    weeks, days = divmod(period // DAY, 7)
    return tuple(("week", group_interval + w * WEEK) for w in range(weeks)) + tuple(
        ("day", base + group_interval + (weeks * 7 + d) * DAY) for d in range(days)
    )


def forecast_windows(slo: SLO) -> set[int]:
    """The window whose errors give the exhaustion forecast its pace (none without one)."""
    exhaustion = slo.alerting.exhaustion
    return {exhaustion.over} if exhaustion is not None else set()


def service_windows(service: Service) -> list[int]:
    """Every window the alerts and the current burn rate of ``service`` read."""
    found = {w for slo in service.slos for w in windows_of(slo)}
    return sorted(found.union(*(forecast_windows(slo) for slo in service.slos)))


# --- which group evaluates a tier ------------------------------------------------------------
# A ticket whose short window is an hour or more fires hours into a slow burn: it needs no
# minute resolution. Such tiers (their alerts, and the windows and ratios only they read) run in
# the period group, every period-group interval, with every size no SLI-group rule reads (the 1d
# window of the period's pieces, unless a page, the current burn rate or the forecast reads it).
# They read the SLI group's windows as it recorded them one base window ago (exactly, as the
# period does). A slow tier answers at most a base window plus a period-group interval (10
# minutes at the default 1m) after a tier on the SLI group would, and the SLI group, which runs
# every minute, no longer carries them (bench/README.md, "Rule cost").
SLOW_MIN_SHORT = 1 * HOUR


def slow_tier(tier: BurnTier) -> bool:
    """Whether ``tier`` is evaluated in the period group (see above); pages never are."""
    return tier.severity != "page" and tier.short >= SLOW_MIN_SHORT


def fast_windows(slo: SLO) -> set[int]:
    """The windows ``slo`` reads in the SLI group: the base, its page (and fast ticket) tiers'
    windows, the current burn window and the forecast's pace."""
    found = {BASE_RATE_WINDOW, current_burn_window(slo)} | forecast_windows(slo)
    for tier in slo.alerting.tiers:
        if not slow_tier(tier):
            found.update((tier.long, tier.short))
    return found


def sli_sizes(lay: Layout, service: Service) -> set[int]:
    """The recorded sizes of ``lay`` the SLI group keeps: the windows its rules read and their
    pieces, down to the base, and the sizes a calendar period's tiles read (at subquery steps,
    from the SLI group's grid: the day and the hour). Every other size, the always-recorded
    ones included, is recorded by the period group (``slow_tier``): by default the 3d window,
    and the 1d window that the period's weekly and daily pieces read there."""
    wanted = {w for slo in service.slos for w in fast_windows(slo)}
    for slo in service.slos:
        if slo.calendar:
            wanted.update(tile.size for tile in calendar_tiles(slo.calendar, lay.base))
    keep: set[int] = set()
    todo = [size for size in lay.sizes if size in wanted]
    while todo:
        size = todo.pop()
        if size not in keep:
            keep.add(size)
            todo += [p.size for p in lay.pieces(size) if p.size in lay.sizes]
    return keep


def slow_sizes(lay: Layout, service: Service) -> tuple[int, ...]:
    """The recorded sizes of ``lay`` the period group records, in dependency order."""
    keep = sli_sizes(lay, service)
    return tuple(size for size in lay.sizes if size not in keep)


def slow_ratio_windows(service: Service) -> set[int]:
    """The windows whose error-ratio rule runs in the period group: those only slow tiers read."""
    fast = {w for slo in service.slos for w in fast_windows(slo)}
    return {
        w
        for slo in service.slos
        for tier in slo.alerting.tiers
        if slow_tier(tier)
        for w in (tier.long, tier.short)
        if w not in fast
    }


# --- calendar periods ------------------------------------------------------------------------
# A calendar period starts at 00:00 UTC: on the 1st ("month") or on a Monday ("week"). Its
# windows and tiers are those of its reference length; a month's burn-rate factors scale with
# its actual length (28-31 days), which the alert computes with days_in_month().
MONTH, WEEK_PERIOD = "month", "week"
CALENDAR_REFERENCE = {MONTH: 30 * DAY, WEEK_PERIOD: WEEK}
# The shortest each gets: no window may be longer.
CALENDAR_SHORTEST = {MONTH: 28 * DAY, WEEK_PERIOD: WEEK}
# 1970-01-05, the first Monday after the epoch, in seconds.
FIRST_MONDAY = 4 * DAY


@dataclass(frozen=True)
class Tiles:
    """The events since a calendar period began, as tiles of recorded windows: each tile is the
    window ``size`` read at a step of a subquery whose steps are multiples of ``size`` in
    absolute time, over ``reach``, kept when the step's tile lies in the same ``unit`` as now
    (the period, the day, the hour). Consecutive steps tile exactly: each reads the record the
    SLI group made less than one interval before the step."""

    size: int
    reach: int
    unit: str  # "period", "day" or "hour"


def calendar_tiles(calendar: str, base: int) -> tuple[Tiles, ...]:
    """Whole days of the period, whole hours of today, whole base windows of this hour."""
    days = 31 * DAY if calendar == MONTH else WEEK
    return (Tiles(DAY, days, "period"), Tiles(HOUR, DAY, "day"), Tiles(base, HOUR, "hour"))


def period_text(slo: SLO) -> str:
    """The period in words after "over": ``30d``, ``a calendar month``, ``a calendar week``."""
    return f"a calendar {slo.calendar}" if slo.calendar else format_duration(slo.period)


def unit_of(unit: str, calendar: str, seconds: float) -> int:
    """The number the rules' tags give the ``unit`` (period, day, hour) that the instant
    ``seconds`` lies in: year*12+month or weeks since the first Monday; days; hours."""
    if unit == "period" and calendar == MONTH:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        return moment.year * 12 + moment.month
    if unit == "period":
        return math.floor((seconds - FIRST_MONDAY) / WEEK)
    return math.floor(seconds / (DAY if unit == "day" else HOUR))


def month_length(seconds: float) -> int:
    """The length in seconds of the month the instant ``seconds`` lies in (days_in_month())."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return calendar.monthrange(moment.year, moment.month)[1] * DAY
