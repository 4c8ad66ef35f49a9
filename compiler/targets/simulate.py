"""Predict, exactly, what Prometheus 2.x computes from our SLI rules for a synthetic scenario.

Generated promtool tests assert which burn-rate alerts fire at which minute. Rather than hope,
we compute it: counters sampled every minute from t=0, rules evaluated every minute, and
Prometheus' own semantics for the rules we generate:
  * rate(x[5m]) at t: (c[t] - c[t-5m]) / 300. In 2.x a range includes its start, so with
    one-minute samples there is always a sample at t-5m and no extrapolation; before 5m the
    counter starts at 0 and extrapolation stops at zero, which gives the same formula.
  * avg_over_time(r[W]) at t: the mean of r's samples in [t-W, t].
Time is counted in steps of 1 or 5 minutes (samples and evaluations share the step; 5 minutes
still leaves a sample exactly at t-5m). Methods take and return step indexes.
All arithmetic is in exact fractions; callers keep a margin from every threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from compiler.model import SLO, BurnTier
from compiler.targets.prometheus_rules import windows_of
from compiler.windows import BASE_RATE_WINDOW

MINUTE = 60
BASE = BASE_RATE_WINDOW // MINUTE


@dataclass
class Timeline:
    """Counter increments per sample step; index 0 is t=0 (value 0), index k the step to k*step minutes."""

    errors: list[Fraction]
    total: list[Fraction]
    step: int = 1  # minutes between samples and between rule evaluations; divides the 5m base window

    @classmethod
    def build(cls, segments: list[tuple[int, Fraction, Fraction]], step: int = 1) -> "Timeline":
        """segments: (steps, errors per minute, total per minute)."""
        errors, total = [Fraction(0)], [Fraction(0)]
        for steps, e, t in segments:
            errors += [Fraction(e) * step] * steps
            total += [Fraction(t) * step] * steps
        return cls(errors, total, step)

    @property
    def steps(self) -> int:
        return len(self.total) - 1

    def counter(self, increments: list[Fraction]) -> list[Fraction]:
        out, value = [], Fraction(0)
        for inc in increments:
            value += inc
            out.append(value)
        return out


class Simulation:
    def __init__(self, slo: SLO, timeline: Timeline):
        self.slo = slo
        self.timeline = timeline
        n = timeline.steps
        self.step = step = timeline.step
        if BASE % step:
            raise ValueError(f"a {step}m step does not divide the {BASE}m base window")
        base = BASE // step
        c_err, c_tot = timeline.counter(timeline.errors), timeline.counter(timeline.total)

        def rate(c, k):
            return (c[k] - c[max(0, k - base)]) / (BASE * MINUTE)

        # Every form needs two samples, the errors rate included: it is 0 without error series
        # only while the total exists (prometheus_rules.errors_rate_expr).
        self.err_rate: dict[int, Fraction] = {t: rate(c_err, t) for t in range(1, n + 1)}
        self.tot_rate: dict[int, Fraction] = {t: rate(c_tot, t) for t in range(1, n + 1)}
        self.windows = windows_of(slo)
        self._ratio_cache: dict[tuple[int, int], Fraction | None] = {}
        # prefix sums for O(1) window means
        self._err_prefix = self._prefix(self.err_rate, n)
        self._tot_prefix = self._prefix(self.tot_rate, n)

    @staticmethod
    def _prefix(samples: dict[int, Fraction], n: int):
        sums, counts = [Fraction(0)] * (n + 2), [0] * (n + 2)
        for t in range(0, n + 1):
            present = t in samples
            sums[t + 1] = sums[t] + (samples[t] if present else 0)
            counts[t + 1] = counts[t] + (1 if present else 0)
        return sums, counts

    @staticmethod
    def _mean(prefix, lo: int, hi: int) -> Fraction | None:
        sums, counts = prefix
        lo = max(lo, 0)
        count = counts[hi + 1] - counts[lo]
        if count == 0:
            return None
        return (sums[hi + 1] - sums[lo]) / count

    def ratio(self, window: int, t: int) -> Fraction | None:
        key = (window, t)
        if key not in self._ratio_cache:
            if window == BASE_RATE_WINDOW:
                e, tot = self.err_rate.get(t), self.tot_rate.get(t)
            else:
                w = window // MINUTE // self.step
                e, tot = self._mean(self._err_prefix, t - w, t), self._mean(self._tot_prefix, t - w, t)
            self._ratio_cache[key] = None if e is None or not tot else e / tot
        return self._ratio_cache[key]

    def events(self, window: int, t: int) -> Fraction | None:
        mean = self._mean(self._tot_prefix, t - window // MINUTE // self.step, t)
        return None if mean is None else mean * window

    def margins(self, tier: BurnTier, t: int) -> list[Fraction]:
        """Relative distance of every quantity the tier compares from its threshold."""
        threshold = Fraction(tier.threshold)
        out = []
        for window in (tier.long, tier.short):
            r = self.ratio(window, t)
            if r is not None:
                out.append(abs(r / threshold - 1))
        if self.slo.alerting.min_events is not None:
            ev = self.events(tier.long, t)
            if ev is not None:
                out.append(abs(ev / Fraction(self.slo.alerting.min_events) - 1))
        return out

    def firing(self, tier: BurnTier, t: int) -> bool:
        threshold = Fraction(tier.threshold)
        long, short = self.ratio(tier.long, t), self.ratio(tier.short, t)
        if long is None or short is None or not (long > threshold and short > threshold):
            return False
        if self.slo.alerting.min_events is not None:
            ev = self.events(tier.long, t)
            return ev is not None and ev >= Fraction(self.slo.alerting.min_events)
        return True

    def clear(self, t: int, margin: Fraction = Fraction(1, 10**9)) -> bool:
        """No tier is within ``margin`` of flipping at minute t (float noise cannot change the outcome)."""
        return all(m > margin for tier in self.slo.alerting.tiers for m in self.margins(tier, t))
