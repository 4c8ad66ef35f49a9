"""Test scenarios for burn-rate alerts, planned by simulation and independent of names.

A plan says: drive the error/total counters like this (segments), and at these steps expect
exactly these tiers to fire with these long-window error ratios. Rendering a plan into promtool
YAML (labels, annotations, input series) is testfiles.py's job.

Plans depend only on an SLO's numbers (objective, period, tiers, low-traffic guard, indicator
form), so SLOs that share them share one plan: computed once, cached.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from compiler.core.diagnostics import Position
from compiler.core.model import (
    SLO,
    Alerting,
    BurnTier,
    Counter,
    Indicator,
    LatencyIndicator,
    RatioIndicator,
    Selector,
    TimesliceIndicator,
)
from compiler.core.windows import DAY, MONTH, REFERENCE_PERIOD
from compiler.targets.promtool.humanize import humanize_percentage, stable
from compiler.targets.promtool.simulate import BASE, Segment, Simulation, Timeline

TRAFFIC = 1000  # requests per minute in generated scenarios
ABOVE, BELOW = Decimal("1.1"), Decimal("0.9")
# A "fires" scenario reaches its threshold within about this long (see fire_ratio).
FIRE_WITHIN = Decimal(6 * 3600)
# "below" scenarios fill the long window with errors at 0.9x the threshold. Past 6h that costs
# promtool more than every other test of the service together; the exact firing step of the
# "fires" scenario already shows that no lower ratio fires.
BELOW_MAX_WINDOW = 6 * 3600

Segments = tuple[Segment, ...]  # (steps, errors per minute, total per minute)
SimsFactory = Callable[[Timeline], list[Simulation]]  # the target SLO's simulation first


@dataclass(frozen=True)
class Expect:
    step: int
    # (simulation index, tier index, long-window error ratio)
    firing: tuple[tuple[int, int, float], ...]


@dataclass(frozen=True)
class Plan:
    kind: str  # tiers | fires | below | quiet
    segments: Segments
    step: int  # minutes per step
    ratio: Fraction  # the error ratio driven
    expects: tuple[Expect, ...]
    fire: int = 0  # steps, for "fires"
    stop: int = 0
    end: int = 0
    # for "tiers": (tier index, the step it fires at, the step it shows cleared), by tier
    marks: tuple[tuple[int, int, int], ...] = ()


def nice(value: Decimal) -> Fraction:
    """Four significant digits, so inputs stay short and exact in decimal."""
    return Fraction(str(+value.normalize().quantize(Decimal(1).scaleb(value.adjusted() - 3))))


def traffic(slo: SLO) -> int:
    """Requests per minute: enough that every long window passes the low-traffic guard twice
    over."""
    per_minute = TRAFFIC
    if slo.alerting.min_events is not None and slo.alerting.tiers:
        shortest = min(t.long for t in slo.alerting.tiers) // 60
        while per_minute * shortest < 2 * slo.alerting.min_events:
            per_minute *= 10
    return per_minute


def _first(predicate: Callable[[int], bool], start: int, stop: int) -> int | None:
    for t in range(max(start, 0), stop + 1):
        if predicate(t):
            return t
    return None


class Run:
    """What the rules do in one scenario: every simulated SLO's alerts, step by step (the
    target SLO's simulation first)."""

    def __init__(self, sims: list[Simulation]):
        self.sims = sims
        self.target = sims[0]

    def firing(self, t: int) -> tuple[tuple[int, int, float], ...]:
        out = []
        for i, sim in enumerate(self.sims):
            for j, tier in enumerate(sim.slo.alerting.tiers):
                if sim.firing(tier, t):
                    ratio = sim.tier_ratio(tier, t)
                    assert ratio is not None  # a firing tier's long window has data
                    out.append((i, j, float(ratio)))
        return tuple(out)

    def clear(self, t: int) -> bool:
        """Safe to assert at step t: nothing is within float noise of a threshold, and every
        rendered error ratio is stable under that noise."""
        if t < 0 or not all(sim.clear(t) for sim in self.sims):
            return False
        return all(stable(humanize_percentage, value) for _, _, value in self.firing(t))

    def expect(self, t: int) -> Expect:
        return Expect(t, self.firing(t))

    def onset(self, tier: BurnTier, start: int, stop: int) -> int | None:
        """The first step in [start, stop] the target's ``tier`` fires at."""
        return _first(functools.partial(self.target.firing, tier), start, stop)

    def cleared(self, tier: BurnTier, stop: int, short: int) -> int | None:
        """The step one short window (``short`` steps) after the last error (step ``stop``),
        or the next, at which ``tier`` shows cleared by its short window: not firing while its
        long window is still above its threshold, so a tier without the short window's
        condition would fire on. None when neither step shows that safely."""
        short += self.target.lag(tier)  # a slow tier sees the short window that much later
        at = _first(self.clear, stop + short, stop + short + 1)
        if at is None or self.target.firing(tier, at):
            return None
        long_ratio = self.target.tier_ratio(tier, at)
        if long_ratio is None or long_ratio <= Fraction(tier.threshold):
            return None
        return at


class _Run(Run):
    def __init__(self, factory: SimsFactory, segments: Segments, step: int):
        self.segments = segments
        super().__init__(factory(Timeline.build(list(segments), step)))


def fire_ratio(tier: BurnTier, nudge: Decimal = Decimal(1)) -> Fraction:
    """The error ratio a "fires" scenario drives: 1.1x the threshold, or more for windows so
    long that 1.1x would take days of simulated time to fill them. The alert must fire at the
    exact step its long window crosses the threshold, not one step sooner, which pins the
    threshold and the window as tightly as 1.1x would."""
    margin = max(ABOVE, Decimal(tier.long) / FIRE_WITHIN) * nudge
    return min(nice(Decimal(tier.threshold) * margin), Fraction(1))


# Tried in turn when a ratio makes a window land exactly on a threshold at a step (an onset
# float noise could move) or equal another tier's threshold.
NUDGES = tuple(Decimal(n) for n in ("1", "1.05", "0.95", "1.1", "0.9"))


def _onset(
    factory: SimsFactory, tier: BurnTier, per_minute: Fraction, long_s: int, step: int
) -> tuple[Fraction | None, int | None]:
    """(the ratio driven, the first step the tier fires at), such that nothing is too close to
    call at that step and the step before: the test then shows the alert absent, then present."""
    horizon = long_s + 60 // step + _lag(factory, tier, step)
    ratio = None
    for nudge in NUDGES:
        ratio = fire_ratio(tier, nudge)
        if ratio <= Fraction(tier.threshold):
            return None, None
        probe = _Run(factory, ((horizon, ratio * per_minute, per_minute),), step)
        fire = _first(functools.partial(probe.target.firing, tier), 1, horizon)
        if fire is not None and probe.clear(fire) and probe.clear(fire - 1):
            return ratio, fire
    return ratio, None


def _lag(factory: SimsFactory, tier: BurnTier, step: int) -> int:
    """The steps ``tier``'s alert trails its windows (Simulation.lag)."""
    return factory(Timeline.build([(1, 0, 1)], step))[0].lag(tier)


def plan_tiers(factory: SimsFactory, step: int) -> Plan | None:
    """Every reachable tier of the SLO in one scenario, so that promtool evaluates the rules
    once over the longest tier's span rather than once per tier (it evaluates every rule of
    the file at every step: the steps are the cost).

    Errors at one ratio from t=0: each tier fires at the exact step its long window crosses
    its threshold (checked absent the step before, present at it). Errors stop one step after
    the last onset; each tier is shown cleared one short window later while its long window is
    still above its threshold, so only its short window's condition can have cleared it.
    Every check lists every alert of the name, so a tier firing early, late or not clearing
    fails it. None when no ratio satisfies all of that (a tier per scenario then)."""
    probe_slo = factory(Timeline.build([(1, 0, 1)], step))[0].slo
    tiers = [(i, t) for i, t in enumerate(probe_slo.alerting.tiers) if t.threshold < 1]
    if len(tiers) < 2:
        return None
    per_minute = Fraction(traffic(probe_slo))
    for nudge in NUDGES:
        ratio = max(fire_ratio(tier, nudge) for _, tier in tiers)
        if all(ratio > Fraction(tier.threshold) for _, tier in tiers):
            plan = _tiers_at(factory, tiers, ratio, per_minute, step)
            if plan is not None:
                return plan
    return None


def _tiers_at(
    factory: SimsFactory,
    tiers: list[tuple[int, BurnTier]],
    ratio: Fraction,
    per_minute: Fraction,
    step: int,
) -> Plan | None:
    lags = {i: _lag(factory, tier, step) for i, tier in tiers}
    horizon = max(tier.long // 60 // step + lags[i] for i, tier in tiers) + 60 // step
    probe = _Run(factory, ((horizon, ratio * per_minute, per_minute),), step)
    fires = {}
    for i, tier in tiers:
        fire = probe.onset(tier, 1, horizon)
        if fire is None:
            return None
        fires[i] = fire
    stop = max(fires.values()) + 1
    shorts = {i: max(tier.short // 60 // step, 1) for i, tier in tiers}
    run = _Run(
        factory,
        (
            (stop, ratio * per_minute, per_minute),
            (max(shorts[i] + lags[i] for i, _ in tiers) + 2, 0, per_minute),
        ),
        step,
    )
    clears = {}
    for i, tier in tiers:
        at = run.cleared(tier, stop, shorts[i])
        if at is None:
            return None
        clears[i] = at
    onsets = {t for fire in fires.values() for t in (fire - 1, fire)}
    if not all(run.clear(t) for t in onsets):
        return None
    end = max(clears.values())
    expects = tuple(run.expect(t) for t in sorted(onsets | set(clears.values())))
    segments = ((stop, ratio * per_minute, per_minute), (end - stop, 0, per_minute))
    marks = tuple((i, fires[i], clears[i]) for i, _ in tiers)
    return Plan("tiers", segments, step, ratio, expects, stop=stop, end=end, marks=marks)


def plan_tier(factory: SimsFactory, tier_index: int, step: int) -> tuple[Plan, ...]:
    """fires from a clean start, then clears; never fires at 0.9x with full windows.

    Errors start at t=0: a window younger than itself counts its missing time as good
    (seconds/W), so the ratio climbs exactly as after a clean long window, at no cost.
    """
    return plan_fires(factory, tier_index, step) + plan_below(factory, tier_index, step)


def plan_fires(factory: SimsFactory, tier_index: int, step: int) -> tuple[Plan, ...]:
    """One tier alone: fires from a clean start at the step predicted, then clears."""
    probe_slo = factory(Timeline.build([(1, 0, 1)], step))[0].slo
    tier = probe_slo.alerting.tiers[tier_index]
    per_minute = Fraction(traffic(probe_slo))
    long_s, short_s = tier.long // 60 // step, tier.short // 60 // step
    plans = []

    above, fire = _onset(factory, tier, per_minute, long_s, step)
    if above is not None and fire is not None:
        # When the alert should clear, the long window must still be above the threshold, so
        # that only the short window's condition can clear it (a tier without it would fire
        # on). A window younger than itself keeps its ratio once errors stop (errors and
        # covered time over W); one that would slide past them meanwhile gets a short window
        # more of errors first.
        stop = fire + 1 if fire + 1 + short_s < long_s else fire + max(short_s, 1)
        # The short window holds no error one short window after they stop: the alert is
        # gone then, while the long window is still above the threshold.
        bound = short_s + _lag(factory, tier, step)
        end = stop + bound
        run = _Run(
            factory,
            ((stop, above * per_minute, per_minute), (bound + 1, 0, per_minute)),
            step,
        )
        if _first(lambda t: not run.target.firing(tier, t), stop, end) is None:
            raise AssertionError(
                f"tier {tier_index}: still firing {bound * step}m after errors stop"
            )
        expects = [run.expect(fire - 1), run.expect(fire)]
        after = _first(run.clear, end, end + 1)
        if after is not None:
            expects.append(run.expect(after))
        plans.append(Plan("fires", run.segments, step, above, tuple(expects), fire, stop, end))
    return tuple(plans)


def plan_below(factory: SimsFactory, tier_index: int, step: int) -> tuple[Plan, ...]:
    """One tier never fires at 0.9x its threshold with full windows (windows up to 6h)."""
    probe_slo = factory(Timeline.build([(1, 0, 1)], step))[0].slo
    tier = probe_slo.alerting.tiers[tier_index]
    if tier.long > BELOW_MAX_WINDOW:
        return ()
    per_minute = Fraction(traffic(probe_slo))
    long_s, short_s, base_s = tier.long // 60 // step, tier.short // 60 // step, BASE // step
    below = nice(Decimal(tier.threshold) * BELOW)
    steady = long_s + short_s + base_s + _lag(factory, tier, step)
    run = _Run(factory, ((steady + 2, below * per_minute, per_minute),), step)
    expects = []
    for t in sorted({long_s // 2, steady}):
        at = _first(run.clear, t, t + 2)
        if at is not None:
            expect = run.expect(at)
            if any(i == 0 and j == tier_index for i, j, _ in expect.firing):
                raise AssertionError(f"tier {tier_index}: fires below its threshold")
            expects.append(expect)
    if expects:
        return (Plan("below", run.segments, step, below, tuple(expects)),)
    return ()


def plan_quiet(factory: SimsFactory, step: int = 1) -> Plan | None:
    """A total outage with under a quarter of min_events per window: nothing may fire."""
    slo = factory(Timeline.build([(1, 0, 1)], step))[0].slo
    guard = slo.alerting.min_events
    assert guard is not None  # planned only for SLOs with a low-traffic guard
    longest = max(t.long for t in slo.alerting.tiers) // 60
    rate = nice(guard / (4 * longest))
    steps = (min(t.long for t in slo.alerting.tiers) // 60 + 10) // step
    run = _Run(factory, ((steps, rate, rate),), step)
    expects = tuple(run.expect(t) for t in (10 // step, steps) if run.clear(t))
    if not expects or any(e.firing for e in expects):
        return None
    return Plan("quiet", run.segments, step, Fraction(1), expects)


# --- caching by shape ---------------------------------------------------------------------
_ANY = Counter("", None)


# promtool's tests run in January 1970, 31 days long: a calendar month's alerts compare with
# their 30-day thresholds scaled by days_in_month() / 30.
EPOCH_MONTH_DAYS = 31


def as_tested(slo: SLO) -> SLO:
    """``slo`` with the tiers its alerts have during the tests (a calendar month's scaled to
    January's length; anyone else's as they are)."""
    if slo.calendar != MONTH:
        return slo
    scale = Decimal(EPOCH_MONTH_DAYS) / Decimal(REFERENCE_PERIOD // DAY)
    tiers = tuple(
        dataclasses.replace(t, factor=t.factor * scale, threshold=t.threshold * scale)
        for t in slo.alerting.tiers
    )
    return dataclasses.replace(slo, alerting=dataclasses.replace(slo.alerting, tiers=tiers))


def shape(slo: SLO) -> SLO:
    """``slo`` with every name and text blanked: all that a plan depends on (its tiers as
    tested)."""
    slo = as_tested(slo)
    ind = slo.indicator
    neutral: Indicator
    if isinstance(ind, LatencyIndicator):
        neutral = LatencyIndicator(Selector(""), Decimal(0), "")
    elif isinstance(ind, TimesliceIndicator):
        neutral = TimesliceIndicator("", ind.op, Decimal(0), ind.slice)
    else:
        neutral = RatioIndicator(
            total=_ANY,
            errors=_ANY if ind.errors is not None else None,
            good=_ANY if ind.good is not None else None,
        )
    alerting = Alerting(name="", tiers=slo.alerting.tiers, min_events=slo.alerting.min_events)
    return dataclasses.replace(
        slo,
        service="",
        name="",
        description="",
        labels=(),
        source=Position(""),
        indicator=neutral,
        alerting=alerting,
    )


def _solo(slo: SLO, interval: int) -> SimsFactory:
    return lambda timeline: [Simulation(slo, timeline, interval)]


@functools.lru_cache(maxsize=4096)
def solo_tiers_plan(shaped: SLO, step: int, interval: int) -> Plan | None:
    return plan_tiers(_solo(shaped, interval), step)


@functools.lru_cache(maxsize=4096)
def solo_below_plans(shaped: SLO, tier_index: int, step: int, interval: int) -> tuple[Plan, ...]:
    return plan_below(_solo(shaped, interval), tier_index, step)


@functools.lru_cache(maxsize=4096)
def solo_tier_plans(shaped: SLO, tier_index: int, step: int, interval: int) -> tuple[Plan, ...]:
    return plan_tier(_solo(shaped, interval), tier_index, step)


@functools.lru_cache(maxsize=4096)
def solo_quiet_plan(shaped: SLO, interval: int, step: int) -> Plan | None:
    return plan_quiet(_solo(shaped, interval), step)


# --- one scenario for several tiers ---------------------------------------------------------
def _per_step(plan: Plan) -> list[tuple[Fraction, Fraction]]:
    return [(Fraction(e), Fraction(t)) for n, e, t in plan.segments for _ in range(n)]


def extends(longer: Plan, shorter: Plan) -> bool:
    """Whether ``longer`` drives the same traffic as ``shorter`` for all of ``shorter``'s
    steps: what the rules do up to its end is then the same in both (they read no later
    sample), and ``shorter``'s checks hold in ``longer`` too."""
    if longer.step != shorter.step:
        return False
    mine = _per_step(shorter)
    return _per_step(longer)[: len(mine)] == mine


def joined(longer: Plan, shorter: Plan) -> Plan:
    """``longer`` with ``shorter``'s checks added (``extends(longer, shorter)``)."""
    expects = {e.step: e for e in longer.expects}
    for e in shorter.expects:
        if expects.setdefault(e.step, e) != e:  # the same simulation up to there
            raise AssertionError(f"step {e.step}: two plans disagree on the same traffic")
    return dataclasses.replace(longer, expects=tuple(expects[t] for t in sorted(expects)))
