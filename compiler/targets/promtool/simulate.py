"""Predict, exactly, what Prometheus 2.x computes from our SLI rules for a synthetic scenario.

Generated promtool tests assert which burn-rate alerts fire at which minute. Rather than hope,
we compute it: counters sampled every step from t=0, rules evaluated every step, and
Prometheus' own semantics for the rules we generate:
  * rate(x[5m]) at t: (c[t] - c[t-5m]) / 300. In 2.x a range includes its start, so with samples
    every 1 or 5 minutes there is always a sample at t-5m and no extrapolation; before 5m the
    counter starts at 0 and extrapolation stops at zero, which gives the same formula.
  * avg_over_time(r[W]) at t: the mean of r's samples in [t-W, t].
  * a tiled window W at t (windows.tiled): the events of every evaluation in (t-W, t], each
    rate * seconds since the evaluation before. The first evaluation with a rate has no earlier
    one, so the tiles count from the second. With no gaps the tile arithmetic is exact, so the
    hour boundaries do not appear here (targets/prometheus.py, events_expr).
Arithmetic is exact: counters are scaled to integers, ratios compared by cross-multiplication.
Time is counted in steps (1 or 5 minutes); methods take and return step indexes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from compiler.core.model import SLO, BurnTier
from compiler.core.windows import BASE_RATE_WINDOW, tiled

MINUTE = 60
BASE = BASE_RATE_WINDOW // MINUTE
FIRST_RATE = 1  # the first step with a 5m rate: a rate needs two samples
# the first step whose events the tiles count: one rate sample before it
FIRST_TILED = FIRST_RATE + 1
# quantities closer than one part in 10^9 to a threshold are "too close to call"
MARGIN = 10**9

Rate = Fraction | int
Segment = tuple[int, Rate, Rate]  # (steps, errors per minute, total per minute)
# (sums, counts): prefix sums of per-step values and of the steps that had one
Prefix = tuple[list[int], list[int]]


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
    def __init__(self, slo: SLO, timeline: Timeline):
        self.slo = slo
        self.timeline = timeline
        self.step = step = timeline.step
        if BASE % step:
            raise ValueError(f"a {step}m step does not divide the {BASE}m base window")
        n, base = timeline.steps, BASE // step
        c_err, c_tot = _cumulative(timeline.errors), _cumulative(timeline.total)
        # 5m rates times (300 * scale): integers; the factor cancels in every ratio.
        err = [c_err[k] - c_err[max(0, k - base)] for k in range(n + 1)]
        tot = [c_tot[k] - c_tot[max(0, k - base)] for k in range(n + 1)]
        # A rate needs two samples, so nothing is recorded at t=0; the errors rate included:
        # it is 0 without error series only while the total exists (targets/prometheus.py,
        # errors_rate_expr).
        self._err = self._prefix(err, first=FIRST_RATE)
        self._tot = self._prefix(tot, first=FIRST_RATE)
        self._err_tiled = self._prefix(err, first=FIRST_TILED)
        self._tot_tiled = self._prefix(tot, first=FIRST_TILED)
        self._err_rate, self._tot_rate = err, tot

    @staticmethod
    def _prefix(values: list[int], first: int) -> Prefix:
        sums, counts = [0] * (len(values) + 1), [0] * (len(values) + 1)
        for k, v in enumerate(values):
            present = k >= first
            sums[k + 1] = sums[k] + (v if present else 0)
            counts[k + 1] = counts[k] + (1 if present else 0)
        return sums, counts

    @staticmethod
    def _window(prefix: Prefix, lo: int, hi: int) -> tuple[int, int]:
        sums, counts = prefix
        lo = max(lo, 0)
        return sums[hi + 1] - sums[lo], counts[hi + 1] - counts[lo]

    def _tiled_sum(self, prefix: Prefix, w: int, t: int) -> int:
        """The tiles' sum over the w steps (t-w, t]: the step one window ago is the oldest
        tile's."""
        return self._window(prefix, t - w + 1, t)[0]

    def _ratio_parts(self, window: int, t: int) -> tuple[int, int] | None:
        """(numerator, denominator) of the error ratio over ``window`` at step t, or None if
        absent."""
        if window == BASE_RATE_WINDOW:
            if t < 1:
                return None
            e, tot = self._err_rate[t], self._tot_rate[t]
            return (e, tot) if tot else None
        w = window // MINUTE // self.step
        if tiled(window):
            if t < FIRST_TILED:
                return None
            se, st = self._tiled_sum(self._err_tiled, w, t), self._tiled_sum(self._tot_tiled, w, t)
            return (se, st) if st else None  # no events at all: 0/0, NaN in Prometheus
        se, ce = self._window(self._err, t - w, t)
        st, ct = self._window(self._tot, t - w, t)
        if not ce or not ct or not st:
            return None
        return se * ct, st * ce

    def ratio(self, window: int, t: int) -> Fraction | None:
        parts = self._ratio_parts(window, t)
        return None if parts is None else Fraction(*parts)

    def _events_parts(self, window: int, t: int) -> tuple[int, int] | None:
        """Events in ``window`` as the alert computes them: the tiles' sum of rate * seconds
        between evaluations, or else the mean total rate * window seconds."""
        w = window // MINUTE // self.step
        if tiled(window):
            if t < FIRST_TILED:
                return None
            events = self._tiled_sum(self._tot_tiled, w, t) * self.step * MINUTE
            return events, BASE * MINUTE * self.timeline.scale
        st, ct = self._window(self._tot, t - w, t)
        if not ct:
            return None
        return st * window, ct * BASE * MINUTE * self.timeline.scale

    def _compare(self, tier: BurnTier, t: int) -> Iterator[tuple[tuple[int, int] | None, Fraction]]:
        """Yield ((value numerator, value denominator) or None when absent, limit) per
        condition."""
        threshold = Fraction(tier.threshold)
        for window in (tier.long, tier.short):
            parts = self._ratio_parts(window, t)
            yield (None if parts is None else parts), threshold
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
