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

import math
from dataclasses import dataclass
from decimal import Decimal

from compiler.core.durations import UNITS
from compiler.core.model import SLO, BurnTier, Service

MINUTE, HOUR, DAY = UNITS["m"], UNITS["h"], UNITS["d"]

REFERENCE_PERIOD = 30 * DAY
DEFAULT_PERIOD = 30 * DAY
MIN_PERIOD = 1 * DAY
# The period rules scan the whole period. The generated promtool tests of a 365d period pass; at
# 500w promtool's sample limit refuses them ("query processing would load too many samples").
MAX_PERIOD = 365 * DAY

# Every longer window is derived from rates over this window (see README, "How the rules are
# built").
BASE_RATE_WINDOW = 5 * MINUTE

# Long windows are sums of hourly tiles of events rather than scans of every 5m rate sample:
# a 30d window then reads 720 samples per series instead of 43,200. Shorter windows scan so few
# samples that tiling would not pay.
TILE = 1 * HOUR
TILED_MIN_WINDOW = 6 * HOUR
# The tiles add what each evaluation saw since the one before, which an offset this short
# reaches whatever the evaluation interval (every interval is a whole number of seconds).
PREVIOUS_EVALUATION = 1


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


def tiled(window: int) -> bool:
    """Whether the rules sum ``window`` from hourly tiles (whole hours only) or scan its rate
    samples."""
    return window >= TILED_MIN_WINDOW and window % TILE == 0


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
