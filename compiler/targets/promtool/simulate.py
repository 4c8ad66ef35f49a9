"""Predict, exactly, what Prometheus 2.x computes from our SLI rules for a synthetic scenario.

Generated promtool tests assert which burn-rate alerts fire at which minute. Rather than hope,
we compute it. promtool samples the counters every step from t=0 (value 0) and evaluates every
rule every step, and the step divides the 5m base window. Then:
  * increase(x[5m]) at t is exactly c(t) - c(t-5m): a range includes its start, so a sample sits
    on both edges and nothing is extrapolated; before 5m the counter starts at 0, where
    extrapolation stops, which gives the same difference.
  * every longer window W is the head plus pieces read exactly as long ago as they end
    (targets/prometheus.py, size_expr): the events c(t) - c(t-W), with c = 0 before t=0.
  * the seconds a window covers: the base window for the head and for every piece recorded at
    step 1 or later (a piece needs two samples), so less than W while the data is younger.
  * the error ratio the alerts compare: errors/total x seconds/W.
  * a slow tier (windows.slow_tier), in the period group, reads every window as the SLI group
    recorded it one base window earlier: its conditions at t are those of t - base.
Arithmetic is exact: counters are scaled to integers, ratios compared by cross-multiplication.
Time is counted in steps (1 or 5 minutes); methods take and return step indexes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from compiler.core.model import SLO, BurnTier
from compiler.core.windows import BASE_RATE_WINDOW, base_window, slow_tier

MINUTE = 60
BASE = BASE_RATE_WINDOW // MINUTE
# quantities closer than one part in 10^9 to a threshold are "too close to call"
MARGIN = 10**9

Rate = Fraction | int
Segment = tuple[int, Rate, Rate]  # (steps, errors per minute, total per minute)


@dataclass
class Timeline:
    """Integer counter increments per step, all scaled by ``scale``; index 0 is t=0 (value 0)."""

    errors: list[int]
    total: list[int]
    # minutes between samples and between rule evaluations; divides the 5m base window
    step: int = 1
    scale: int = 1  # counter value = integer / scale

    @classmethod
    def build(cls, segments: Sequence[Segment], step: int = 1) -> Timeline:
        """segments: (steps, errors per minute, total per minute), rates as exact fractions."""
        per_step = [(n, Fraction(e) * step, Fraction(t) * step) for n, e, t in segments]
        scale = 1
        for _, e, t in per_step:
            scale = math.lcm(scale, e.denominator, t.denominator)
        errors, total = [0], [0]
        for n, e, t in per_step:
            errors += [int(e * scale)] * n
            total += [int(t * scale)] * n
        return cls(errors, total, step, scale)

    @property
    def steps(self) -> int:
        return len(self.total) - 1

    @property
    def good(self) -> list[int]:
        return [t - e for t, e in zip(self.total, self.errors)]


def _cumulative(increments: list[int]) -> list[int]:
    out: list[int] = []
    value = 0
    for inc in increments:
        value += inc
        out.append(value)
    return out


class Simulation:
    def __init__(self, slo: SLO, timeline: Timeline, interval: int = MINUTE):
        self.slo = slo
        self.timeline = timeline
        self.step = step = timeline.step
        if BASE % step:
            raise ValueError(f"a {step}m step does not divide the {BASE}m base window")
        # the raw window of the rules at the service's evaluation interval, in steps
        self.base = base_window(interval) // MINUTE // step
        self._errors = _cumulative(timeline.errors)
        self._total = _cumulative(timeline.total)

    def _steps(self, window: int) -> int:
        return window // MINUTE // self.step

    def _events(self, counter: list[int], window: int, t: int) -> int:
        return counter[t] - counter[max(0, t - self._steps(window))]

    def _covered(self, window: int, t: int) -> int:
        """Base windows of ``window`` that have data at step t (t >= 1): the head and every
        piece that ends at step 1 or later."""
        w = self._steps(window)
        if w <= self.base:
            return 1
        return min(w // self.base, (t - 1) // self.base + 1)

    def events(self, kind: str, window: int, t: int) -> int:
        """The (scaled) ``kind`` events, errors or total, recorded for ``window`` at step t."""
        return self._events(self._errors if kind == "errors" else self._total, window, t)

    def covered_seconds(self, window: int, t: int) -> int:
        """The seconds of ``window`` that have data at step t (t >= 1): its coverage record."""
        return self._covered(window, t) * self.base * self.step * MINUTE

    def _ratio_parts(self, window: int, t: int) -> tuple[int, int] | None:
        """(numerator, denominator) of the error ratio over ``window`` at step t, or None if
        absent (no increase before two samples; 0/0 is NaN, which fires nothing)."""
        if t < 1:
            return None
        errors, total = self._events(self._errors, window, t), self._events(self._total, window, t)
        if not total:
            return None
        w = self._steps(window)
        if w <= self.base:
            return errors, total
        return errors * self._covered(window, t) * self.base, total * w

    def ratio(self, window: int, t: int) -> Fraction | None:
        parts = self._ratio_parts(window, t)
        return None if parts is None else Fraction(*parts)

    def _events_parts(self, window: int, t: int) -> tuple[int, int] | None:
        """Events (the total) in ``window`` at step t, as (numerator, denominator)."""
        if t < 1:
            return None
        return self._events(self._total, window, t), self.timeline.scale

    def lag(self, tier: BurnTier) -> int:
        """The steps ``tier``'s alert trails its windows: a base window for a slow tier."""
        return self.base if slow_tier(tier) else 0

    def tier_ratio(self, tier: BurnTier, t: int) -> Fraction | None:
        """The long-window error ratio ``tier``'s alert reads at step t (its value)."""
        return self.ratio(tier.long, t - self.lag(tier))

    def _compare(self, tier: BurnTier, t: int) -> Iterator[tuple[tuple[int, int] | None, Fraction]]:
        """Yield ((value numerator, value denominator) or None when absent, limit) per
        condition."""
        threshold = Fraction(tier.threshold)
        t -= self.lag(tier)
        for window in (tier.long, tier.short):
            yield self._ratio_parts(window, t), threshold
        if self.slo.alerting.min_events is not None:
            yield self._events_parts(tier.long, t), Fraction(self.slo.alerting.min_events)

    def firing(self, tier: BurnTier, t: int) -> bool:
        conditions = list(self._compare(tier, t))
        for i, (parts, limit) in enumerate(conditions):
            if parts is None:
                return False
            a, b = parts
            left, right = a * limit.denominator, limit.numerator * b
            is_events = i == 2
            if not (left >= right if is_events else left > right):
                return False
        return True

    def clear(self, t: int) -> bool:
        """No quantity any tier compares is within one part in 10^9 of its limit at step t, so
        float noise in Prometheus cannot change the outcome."""
        for tier in self.slo.alerting.tiers:
            for parts, limit in self._compare(tier, t):
                if parts is None:
                    continue
                a, b = parts
                diff = abs(a * limit.denominator - limit.numerator * b)
                if diff * MARGIN <= limit.numerator * b:
                    return False
        return True
