"""promtool tests for time-slice SLOs: a threshold's condition per minute, as an SLO.

The SLO's events are slices (minutes), so its test drives the threshold's own gauges minute by
minute: good values (5% on the good side of the threshold) for an hour, then bad ones (5% on the
bad side) until every tier has fired, then good again until every tier has shown clearing. The
rules are evaluated as the service's burn-rate tests evaluate them (every 5 minutes when its
windows allow; the slices stay one a minute), and while bad only the last minute of each
evaluation step is bad when that fires every tier: each evaluation then adds one bad slice, so
each tier fires at the step its long window crosses its threshold and one bad slice more or less
would fire it a step sooner or later (checked absent the step before, present at it, as the
ratio SLOs' scenarios check it). Each tier is shown cleared one short window after the last bad
slice while its long window is still above its threshold. The steps each tier fires and clears
at, the alerts at each checked step and their values come from simulate.py, which counts exactly
what the rules count: one event per minute with data, one error per bad minute (the rules'
subquery steps are whole minutes, whatever the evaluation interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from compiler.core import conventions as names
from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.durations import format_duration
from compiler.core.model import SLO, Service, TimesliceIndicator
from compiler.targets.promtool import gauges, scenarios
from compiler.targets.promtool.simulate import Simulation, Timeline
from compiler.targets.promtool.synth import series_text
from compiler.targets.promtool.testfiles import InputSeries, Tests, TierTests
from compiler.text.yamltext import Comment

SLICE = 60  # the slice the tests can drive: one input sample per slice, at promtool's step
# Minutes of good slices before the bad ones: an hour, so that the 1h window is full when they
# start (its ratio is then bad slices / 60 exactly; a younger window counts its missing time as
# good only to the next 5m piece, which would let one more or one fewer bad slice fire it).
GOOD_FIRST = 60
MAX_BAD = 6 * 60  # minutes of bad slices at most: tiers that need more are not shown firing


def _minutes(t: int) -> str:
    return format_duration(t * 60) if t else "0s"


def _values(samples: list[Decimal | None]) -> str:
    """Gauge samples in promtool's notation: '_ 0.95x9 1.05x20' ('axn' is n+1 samples of a)."""
    parts: list[str] = []
    i = 0
    while i < len(samples):
        j = i
        while j + 1 < len(samples) and samples[j + 1] == samples[i]:
            j += 1
        value = samples[i]
        text = "_" if value is None else names.number(value)
        parts.append(f"{text}x{j - i}" if j > i else text)
        i = j + 1
    return " ".join(parts)


class TimesliceTests(TierTests):
    """The burn-rate tests of one time-slice SLO, with every other time-slice SLO of the
    service that reads the same gauges simulated beside it (their alerts share the name)."""

    def __init__(self, service: Service, slo: SLO, found: list[gauges.Input], step: int = 1):
        assert isinstance(slo.indicator, TimesliceIndicator)
        self.found = found
        self.step = step  # minutes between rule evaluations (the test file's)
        reads = [
            other
            for other in service.slos
            if other is not slo
            and other.alerting.tiers
            and isinstance(other.indicator, TimesliceIndicator)
            and any(gauges.reads(other.indicator, i.metric, dict(i.labels)) for i in found)
        ]
        inputs = [InputSeries(i.metric, dict(i.labels), "gauge") for i in found]
        super().__init__(service, slo, inputs)
        self.slos = [slo] + reads
        self.solo = not reads

    def samples(self, phases: list[bool | None]) -> dict[str, list[Decimal | None]]:
        """Each input series' sample per minute: absent (None), bad (True) or good (False)."""
        return {
            series_text(i.metric, dict(i.labels)): [
                None if bad is None else (i.bad if bad else i.good) for bad in phases
            ]
            for i in self.found
        }

    def sims(self, phases: list[bool | None]) -> list[Simulation]:
        """What each SLO's rules count, evaluated every ``self.step`` minutes: a slice per
        minute its expression has series, an error per minute its condition holds."""
        shared = {
            (i.metric, frozenset(i.labels)): i for i in self.found
        }  # one sample per minute each
        step = self.step
        out = []
        for slo in self.slos:
            indicator = slo.indicator
            assert isinstance(indicator, TimesliceIndicator)
            errors, total = [0], [0]
            for bad in phases[1:]:
                values = {
                    key: Fraction(i.bad if bad else i.good)
                    for key, i in shared.items()
                    if bad is not None
                }
                verdict = gauges.bad(indicator, values) if values else None
                total.append(0 if verdict is None else 1)
                errors.append(1 if verdict else 0)
            # per evaluation: the minutes since the one before
            per_step = [
                [0] + [sum(minutes[k - step + 1 : k + 1]) for k in range(step, len(minutes), step)]
                for minutes in (errors, total)
            ]
            timeline = Timeline(per_step[0], per_step[1], step)
            out.append(Simulation(slo, timeline, self.service.evaluation_interval))
        return out

    def phases(self, good: int, dense: int, blocks: int) -> list[bool | None]:
        """Absent at 0, good for ``good`` minutes, then ``blocks`` evaluation steps with the
        last ``dense`` minutes of each bad."""
        block = [False] * (self.step - dense) + [True] * dense
        return [None] + [False] * good + block * blocks

    def plan(self, good: int, dense: int) -> _Plan | None:
        """Good slices for ``good`` minutes, then ``dense`` bad slices per evaluation step
        until the last tier fires, then good ones until the last tier shows cleared. None
        when a check would be too close to call or a tier does not show clearing."""
        tiers = self.slo.alerting.tiers
        step, start = self.step, good // self.step
        probe = scenarios.Run(self.sims(self.phases(good, dense, MAX_BAD // step)))
        fires = {}
        for j, tier in enumerate(tiers):
            fire = probe.onset(tier, start + 1, start + MAX_BAD // step)
            if fire is not None:
                fires[j] = fire
        if not fires:
            return _Plan(good, dense, 0, [], {}, {}, [])
        stop = max(fires.values())  # the last step with bad slices
        shorts = {j: tiers[j].short // 60 // step for j in fires}
        phases = self.phases(good, dense, stop - start)
        phases += [False] * step * (max(shorts.values()) + 1)
        run = scenarios.Run(self.sims(phases))
        clears = {}
        for j in fires:
            at = run.cleared(tiers[j], stop, shorts[j])
            if at is None:
                return None
            clears[j] = at
        wanted = {start} | {t for f in fires.values() for t in (f - 1, f)} | set(clears.values())
        if not all(run.clear(t) for t in wanted):
            return None
        expects = [run.expect(t) for t in sorted(wanted)]
        phases = phases[: max(wanted) * step + 1]
        return _Plan(good, dense, stop, phases, fires, clears, expects)

    def tests(self) -> Tests | None:
        """One test group; None when no start and density give checks safe to call."""
        step = self.step
        plans = (
            self.plan(good, dense)
            for dense in range(1, step + 1)
            for good in range(GOOD_FIRST, GOOD_FIRST + 5 * step, step)
        )
        plan = next((p for p in plans if p is not None), None)
        if plan is None:
            return None
        if not plan.fires:  # no tier can fire within MAX_BAD minutes of bad slices
            return []
        ind = self.slo.indicator
        assert isinstance(ind, TimesliceIndicator)
        side = f"{'above' if ind.op == '>' else 'below'} {names.number(ind.value)}"
        which = (
            "every slice"
            if plan.dense == step
            else f"the last {plan.dense} of every {step} slices"
            if plan.dense > 1
            else f"the last of every {step} slices"
        )
        return [
            Comment(
                f"{self.slo.name}: good slices until {_minutes(plan.good)}, then {which} "
                f"{side} until {_minutes(plan.stop * step)}, good again after; each tier fires "
                "at the evaluation its long window crosses its threshold (one bad slice more "
                "or less would fire it sooner or later) and clears by its short window while "
                "the long one is still above it:"
            ),
            *(
                Comment(
                    f"  {self.tier_label(j)} fires at {_minutes(fire * step)}, cleared by "
                    f"{_minutes(plan.clears[j] * step)}"
                )
                for j, fire in sorted(plan.fires.items())
            ),
            {
                "name": f"{self.slo.name}: bad slices fire every tier, good ones clear them",
                "interval": _minutes(1),
                "input_series": [
                    {"series": series, "values": _values(values)}
                    for series, values in self.samples(plan.phases).items()
                ],
                "alert_rule_test": [self.check(e, step) for e in plan.expects],
            },
        ]


@dataclass(frozen=True)
class _Plan:
    good: int  # minutes of good slices first
    dense: int  # bad slices per evaluation step while bad
    stop: int  # the last step with bad slices
    phases: list[bool | None]  # per minute: absent (None), bad (True) or good (False)
    fires: dict[int, int]  # tier index -> the step it fires at
    clears: dict[int, int]  # tier index -> the step it shows cleared at
    expects: list[scenarios.Expect]


def timeslice_tests(service: Service, slo: SLO, step: int = 1) -> tuple[Tests, list[Diagnostic]]:
    """The tests of a time-slice SLO, or a warning saying why it has none."""
    ind = slo.indicator
    assert isinstance(ind, TimesliceIndicator)
    reason = None
    found = None
    if ind.slice != SLICE or service.evaluation_interval != SLICE:
        reason = (
            f"its slices are {format_duration(ind.slice)} long; the generated tests drive "
            f"{format_duration(SLICE)} slices"
        )
    else:
        found = gauges.inputs(ind)
        if found is None:
            reason = (
                "cannot synthesise gauge values for its expression (selectors with offset or @, "
                "range functions or PromQL the test generator does not model)"
            )
    if found is None:
        return [], [
            warning(
                slo.source,
                "tests/uncovered",
                f"time-slice SLO '{slo.name}': {reason}; its alerts have no generated tests",
            )
        ]
    tests = TimesliceTests(service, slo, found, step).tests()
    if tests is None:
        return [], [
            warning(
                slo.source,
                "tests/uncovered",
                f"time-slice SLO '{slo.name}': no scenario checks its alerts clear of float "
                "noise; its alerts have no generated tests",
            )
        ]
    return tests, []
