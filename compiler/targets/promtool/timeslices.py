"""promtool tests for time-slice SLOs: a threshold's condition per minute, as an SLO.

The SLO's events are slices (minutes), so its test drives the threshold's own gauges minute by
minute: good values (5% on the good side of the threshold) first, then bad ones (5% on the bad
side) until every tier has fired, then good again until every tier has cleared. The minutes
each tier fires at, the alerts at each checked minute and their values come from simulate.py,
which counts exactly what the rules count: one event per minute with data, one error per bad
minute (the rules' subquery steps are whole minutes, as promtool evaluates at whole minutes).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from compiler.core import conventions as names
from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.durations import format_duration
from compiler.core.model import SLO, Service, TimesliceIndicator
from compiler.targets.promtool import gauges, scenarios
from compiler.targets.promtool.humanize import humanize_percentage, stable
from compiler.targets.promtool.simulate import Simulation, Timeline
from compiler.targets.promtool.synth import series_text
from compiler.targets.promtool.testfiles import InputSeries, Tests, TierTests
from compiler.text.yamltext import Comment

SLICE = 60  # the slice the tests can drive: one input sample per slice, at promtool's step
GOOD_FIRST = 10  # minutes of good slices before the bad ones
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

    def __init__(self, service: Service, slo: SLO, found: list[gauges.Input]):
        assert isinstance(slo.indicator, TimesliceIndicator)
        self.found = found
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
        """What each SLO's rules count: a slice per minute its expression has series, an error
        per minute its condition holds."""
        shared = {
            (i.metric, frozenset(i.labels)): i for i in self.found
        }  # one sample per minute each
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
            out.append(Simulation(slo, Timeline(errors, total), self.service.evaluation_interval))
        return out

    def expect(self, sims: list[Simulation], t: int) -> scenarios.Expect | None:
        """Every alert firing at minute t, or None when a value is too close to call there."""
        if not all(sim.clear(t) for sim in sims):
            return None
        firing = []
        for i, sim in enumerate(sims):
            for j, tier in enumerate(sim.slo.alerting.tiers):
                if sim.firing(tier, t):
                    ratio = sim.ratio(tier.long, t)
                    assert ratio is not None  # a firing tier's long window has data
                    if not stable(humanize_percentage, float(ratio)):
                        return None
                    firing.append((i, j, float(ratio)))
        return scenarios.Expect(t, tuple(firing))

    def tests(self) -> Tests:
        tiers = self.slo.alerting.tiers
        probe = self.sims([None] + [False] * GOOD_FIRST + [True] * MAX_BAD)[0]
        fires = {}
        for j, tier in enumerate(tiers):
            fire = next(
                (
                    t
                    for t in range(GOOD_FIRST + 1, GOOD_FIRST + MAX_BAD + 1)
                    if probe.firing(tier, t)
                ),
                None,
            )
            if fire is not None:
                fires[j] = fire
        if not fires:
            return []
        stop = max(fires.values())  # the last bad minute
        # Shown clearing: the tiers with the shortest short window, one window after the last
        # bad slice (the others' clearing takes hours of steps; the ratio SLOs' tests show it).
        clear_after = min(tiers[j].short for j in fires) // 60 + 1
        phases: list[bool | None] = [None] + [False] * GOOD_FIRST
        phases += [True] * (stop - GOOD_FIRST) + [False] * (clear_after + 5)
        sims = self.sims(phases)
        wanted = {GOOD_FIRST} | {t for f in fires.values() for t in (f - 1, f)}
        quick = [tiers[j] for j in fires if tiers[j].short // 60 + 1 == clear_after]
        cleared = next(
            (
                t
                for t in range(stop + clear_after, len(phases))
                if not any(sims[0].firing(tier, t) for tier in quick) and sims[0].clear(t)
            ),
            None,
        )
        if cleared is not None:
            wanted.add(cleared)
        expects = [e for e in (self.expect(sims, t) for t in sorted(wanted)) if e is not None]
        last = max(e.step for e in expects)
        samples = self.samples(phases[: last + 1])
        ind = self.slo.indicator
        assert isinstance(ind, TimesliceIndicator)
        side = "above" if ind.op == ">" else "below"
        marks = [
            f"  {self.tier_label(j)} fires at {_minutes(fire)}" for j, fire in sorted(fires.items())
        ]
        return [
            Comment(
                f"{self.slo.name}: good slices until {_minutes(GOOD_FIRST)}, then every slice "
                f"{side} {names.number(ind.value)} until {_minutes(stop)}, good again after; "
                "each tier fires at the minute its windows cross its threshold:"
            ),
            *(Comment(line) for line in marks),
            *(
                [
                    Comment(
                        f"  {', '.join(self.tier_label(j) for j in fires if tiers[j] in quick)} "
                        f"cleared by {_minutes(cleared)}"
                    )
                ]
                if cleared is not None
                else []
            ),
            {
                "name": f"{self.slo.name}: bad slices fire every tier, good ones clear them",
                "interval": _minutes(1),
                "input_series": [
                    {"series": series, "values": _values(values)}
                    for series, values in samples.items()
                ],
                "alert_rule_test": [self.check(e, 1) for e in expects],
            },
        ]


def timeslice_tests(service: Service, slo: SLO) -> tuple[Tests, list[Diagnostic]]:
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
    return TimesliceTests(service, slo, found).tests(), []
