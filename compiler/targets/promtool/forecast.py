"""promtool tests of the budget-exhaustion forecast (ErrorBudgetExhaustion).

The forecast (targets/prometheus.py, ``forecast_expr``) fires when the remaining budget, spent at
the error rate of the last ``over``, runs out within ``within``. Its critical burn rate: a steady
burn b from a full budget leaves, once ``over`` has passed, a budget that lasts
``period / b - over``; that is ``within`` at

    b* = period / (over + within)          (99.9% over 30d, over 1d, within 3d: b* = 7.5)

Two scenarios per SLO, both burning from the first minute (the time before counts as good
traffic, so a two-day test stands for a month of clean history):
  * fires:  1.1 b*; absent one step before the predicted step, firing at it with the exact
            labels and the time left in its description;
  * silent: 0.9 b*; absent at the step the first fired at, and until just before its own
            forecast crosses ``within`` (a burn above 1x always does, in the end).
A grouped SLO burns in one group while another group has the same traffic and no errors; where
its selectors allow a third group, both scenarios run in one test, each in a group of its own
(a day and more of 5-minute steps through every rule of the file, paid once instead of twice).

Every expectation comes from ``Forecast`` below, the rule's arithmetic on the events the
recording rules record (simulate.py's exact model of them), in exact fractions.

A calendar period without ``within`` looks until the period ends: its tests (in the calendar
tests' file, whose times are dates on every engine) start at the epoch, the first instant of a
31-day month and a Thursday, and burn steadily from there: 2x fires at the step
``CalendarForecast`` predicts, 0.5x stays silent (``CalendarForecastTests``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import promql_parser

from compiler.core import conventions as names
from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.durations import format_duration
from compiler.core.model import SLO, RatioIndicator, Service
from compiler.core.windows import (
    DAY,
    FIRST_MONDAY,
    MONTH,
    WEEK,
    base_window,
    calendar_tiles,
    month_length,
    period_group_interval,
    unit_of,
)
from compiler.spec import promql
from compiler.targets import prometheus as rules
from compiler.targets.promtool import scenarios
from compiler.targets.promtool.humanize import humanize_duration, stable
from compiler.targets.promtool.render import bind, render
from compiler.targets.promtool.simulate import MARGIN, Simulation, Timeline
from compiler.targets.promtool.synth import series_text
from compiler.targets.promtool.testfiles import (
    InputSeries,
    Tests,
    role_values,
    selects,
    touches,
)
from compiler.text.yamltext import Comment

MINUTE = 60
# The silent scenario stops this long after the fires scenario's firing step at the latest.
SILENT_PAST_FIRE = 2 * 3600
# A test runs about two pace windows at 5-minute steps: past a week's window promtool would take
# minutes (as for a threshold's `for`, build/services.py MAX_FOR).
MAX_TESTED_OVER = 7 * DAY
# The calendar tests' step, in minutes (calendar.py's).
CALENDAR_STEP = 5


class Forecast:
    """What the forecast rule of ``slo`` computes at each step of ``timeline`` (promtool
    evaluates every group at every step, ``Simulation``'s model of the recorded windows)."""

    def __init__(self, service: Service, slo: SLO, timeline: Timeline):
        exhaustion = slo.alerting.exhaustion
        assert exhaustion is not None and exhaustion.within is not None
        self.slo, self.over, self.within = slo, exhaustion.over, exhaustion.within
        interval = service.evaluation_interval
        self.sim = Simulation(slo, timeline, interval)
        step = timeline.step * MINUTE
        self.step = timeline.step
        base, group = base_window(interval), period_group_interval(interval)
        # the alert at step t reads the period record and the pace window as of this step
        self.lag = (base + 2 * group) // step
        self.day = DAY // step
        self.for_steps = -(-rules.EXHAUSTION_FOR // step)

    def _period(self, s: int) -> tuple[int, int, int]:
        """(errors, total, seconds with data) of the period record ending at step s: the sum of
        the one-day windows ending at s, s - 1d, ... (the test is shorter than the period)."""
        errors = total = seconds = 0
        sim, k = self.sim, 0
        while s - k * self.day >= 1 and k * DAY < self.slo.period:
            at = s - k * self.day
            errors += sim.events("errors", DAY, at)
            total += sim.events("total", DAY, at)
            seconds += sim.covered_seconds(DAY, at)
            k += 1
        return errors, total, seconds

    def seconds_left(self, t: int) -> Fraction | None:
        """Seconds until the budget runs out at step t's pace; None when the rule's value is
        absent, NaN or +Inf (nothing to compare)."""
        s = t - self.lag
        if s < 1:
            return None
        return self.budget_over_pace(self._period(s), self.slo.period, s)

    def budget_over_pace(
        self, record: tuple[int, int, int], length: int, s: int
    ) -> Fraction | None:
        """The rule's arithmetic on a period record (errors, total, seconds with data) for a
        period of ``length`` seconds, at the pace of the ``over`` window ending at step s: the
        budget left in events over the errors per second; None when either is undefined."""
        errors, total, seconds = record
        if not total or not seconds:
            return None
        budget = Fraction(self.slo.error_budget)
        left = max(Fraction(0), budget * total * length / seconds - errors)
        pace = Fraction(self.sim.events("errors", self.over, s), self.over)
        if not pace:
            return None
        return left / pace

    def condition(self, t: int) -> bool:
        left = self.seconds_left(t)
        return left is not None and left < self.within

    def clear(self, t: int) -> bool:
        """Nothing within float noise of ``within``, and the time left renders stably."""
        left = self.seconds_left(t)
        if left is None:
            return True
        near = abs(left - self.within) * MARGIN
        return near > self.within and stable(humanize_duration, float(left))


@dataclass
class Scenario:
    ratio: Fraction  # the error ratio driven
    steps: int  # how long the input runs, in steps
    checks: list[tuple[int, float | None]]  # (step, the alert's value or None: absent)


class ForecastTests:
    """The forecast's tests for one SLO whose inputs ``plan_inputs`` found."""

    def __init__(self, service: Service, slo: SLO, inputs: list[InputSeries], step: int):
        self.service, self.slo, self.step = service, slo, step
        self.group_labels: dict[str, str] = {}
        self.inputs = inputs
        self.calm: list[InputSeries] = []
        self.slow: list[InputSeries] = []  # a third group, for the silent scenario
        if slo.by:
            from compiler.targets.promtool.groups import groups_for, relabel, third_group

            failing, healthy = groups_for(slo, inputs)
            self.group_labels = failing
            self.inputs = relabel(slo, inputs, failing)
            if healthy:
                self.calm = [
                    InputSeries(s.metric, s.labels, "total")
                    for s in relabel(slo, inputs, healthy)
                    if s.role != "errors"
                ]
                slow = third_group(slo, inputs, failing, healthy)
                if slow:
                    self.slow = relabel(slo, inputs, slow)
        self.critical = self.critical_burn()
        self.traffic = scenarios.traffic(slo)

    def critical_burn(self) -> Fraction:
        exhaustion = self.slo.alerting.exhaustion
        assert exhaustion is not None and exhaustion.within is not None
        return Fraction(self.slo.period, exhaustion.over + exhaustion.within)

    def scenario(self, ratio: Fraction, steps: int) -> Forecast:
        timeline = Timeline.build([(steps, ratio * self.traffic, self.traffic)], self.step)
        return Forecast(self.service, self.slo, timeline)

    def horizon(self) -> int:
        """Steps enough for the fires scenario: its pace window full, its `for`, and a day."""
        exhaustion = self.slo.alerting.exhaustion
        assert exhaustion is not None
        seconds = exhaustion.over + rules.EXHAUSTION_FOR + DAY
        return seconds // (self.step * MINUTE)

    def fires(self) -> Scenario | None:
        return self.fires_at(
            min(
                Fraction(1),
                scenarios.nice(
                    Decimal(self.critical.numerator)
                    / Decimal(self.critical.denominator)
                    * scenarios.ABOVE
                    * self.slo.error_budget
                ),
            )
        )

    def fires_at(self, ratio: Fraction) -> Scenario | None:
        """Errors at ``ratio`` from the start: absent one step before the model's firing step,
        firing at it (None when it does not, or not clearly, within ``horizon``)."""
        horizon = self.horizon()
        sim = self.scenario(ratio, horizon)
        start = next((t for t in range(horizon + 1) if sim.condition(t)), None)
        if start is None:
            return None
        fire = start + sim.for_steps
        # promtool evaluates the period group at every step, an engine at its own interval
        # (vmalert's replay, `slo test --engine vmalert`): expect it firing at the first of
        # its evaluations where both agree that it fires (the same step at 5-minute steps)
        grid = max(
            1, period_group_interval(self.service.evaluation_interval) // MINUTE // self.step
        )
        shown = -(-fire // grid) * grid
        if shown > horizon or not all(sim.condition(t) for t in range(start, shown + 1)):
            return None
        if not (sim.clear(shown) and sim.clear(fire - 1)):
            return None
        value = sim.seconds_left(shown)
        assert value is not None
        return Scenario(ratio, shown, [(fire - 1, None), (shown, float(value))])

    def silent(self, fired: int) -> Scenario | None:
        return self.silent_at(
            scenarios.nice(
                Decimal(self.critical.numerator)
                / Decimal(self.critical.denominator)
                * scenarios.BELOW
                * self.slo.error_budget
            ),
            fired,
        )

    def silent_at(self, ratio: Fraction, fired: int) -> Scenario | None:
        """Errors at ``ratio``: absent at ``fired`` and until its own forecast has held for
        `for` (or ``SILENT_PAST_FIRE`` after ``fired``)."""
        if ratio >= 1:
            return None
        stop = fired + SILENT_PAST_FIRE // (self.step * MINUTE)
        sim = self.scenario(ratio, stop)
        start = next((t for t in range(stop + 1) if sim.condition(t)), None)
        # silent until its own forecast crosses `within` and `for` has passed
        last = stop if start is None else min(stop, start + sim.for_steps - 1)
        if last < fired or not sim.clear(fired):
            return None
        return Scenario(ratio, last, [(fired, None), (last, None)])

    def alert(self) -> tuple[dict[str, str], dict[str, Callable[[float | None], str]]]:
        rule = rules.forecast_alert(self.service, self.slo)
        labels = {
            **self.group_labels,
            **{k: render(v, None, {}) for k, v in rule["labels"].items()},
        }
        return dict(sorted(labels.items())), {
            k: bind(v, labels) for k, v in rule["annotations"].items()
        }

    def together(self, fires: Scenario, silent: Scenario) -> Scenario | None:
        """Both scenarios in one test: the fires scenario's checks, and at each later check of
        the silent one the failing group still firing, with its time left then (None when
        its forecast does not hold, or not clearly, until then)."""
        steps = max(fires.steps, silent.steps)
        fire = fires.checks[-1][0]
        sim = self.scenario(fires.ratio, steps)
        later = [at for at, _ in silent.checks if at > fire]
        if not all(sim.condition(t) for t in range(fire, steps + 1)):
            return None
        if not all(sim.clear(at) for at in later):
            return None
        checks = list(fires.checks)
        for at in later:
            value = sim.seconds_left(at)
            assert value is not None
            checks.append((at, float(value)))
        return Scenario(fires.ratio, steps, checks)

    def group(
        self, scenario: Scenario, name: str, comment: str, slow: Fraction | None = None
    ) -> Tests:
        """The test of ``scenario`` in the failing group, the healthy group beside it, and
        with ``slow`` the third group burning at that ratio (the silent scenario)."""
        labels, annotations = self.alert()
        steps = scenario.steps

        def inputs(series: list[InputSeries], ratio: Fraction) -> list[dict[str, str]]:
            segments = ((steps, ratio * self.traffic, Fraction(self.traffic)),)
            return [
                {
                    "series": series_text(s.metric, s.labels),
                    "values": role_values(segments, self.step, s.role),
                }
                for s in series
            ]

        series = inputs(self.inputs, scenario.ratio) + inputs(self.calm, Fraction(0))
        if slow is not None:
            series += inputs(self.slow, slow)
        checks = []
        for at, value in scenario.checks:
            expected = []
            if value is not None:
                expected.append(
                    {
                        "exp_labels": labels,
                        "exp_annotations": {k: fill(value) for k, fill in annotations.items()},
                    }
                )
            checks.append(
                {
                    "eval_time": _time(at * self.step),
                    "alertname": names.EXHAUSTION_ALERT,
                    "exp_alerts": expected,
                }
            )
        if self.calm:
            comment += f"; {self._named(self.calm)} has the same traffic and no errors, and "
            comment += "stays silent"
        return [
            Comment(comment),
            {
                "name": name,
                "interval": _time(self.step),
                "input_series": series,
                "alert_rule_test": checks,
            },
        ]

    def _named(self, series: list[InputSeries]) -> str:
        """The group labels of a group's input series, as ``region=failing``."""
        return ", ".join(f"{k}={v}" for k, v in series[0].labels.items() if k in self.slo.by)

    def tests(self) -> Tests | None:
        fires = self.fires()
        if fires is None:
            return None
        silent = self.silent(fires.steps)
        exhaustion = self.slo.alerting.exhaustion
        assert exhaustion is not None and exhaustion.within is not None
        within, over = format_duration(exhaustion.within), format_duration(exhaustion.over)
        critical = names.number(Decimal(self.critical.numerator) / self.critical.denominator)
        label = f"{self.slo.name} {names.EXHAUSTION_ALERT}"
        both = self.together(fires, silent) if silent is not None and self.slow else None
        if both is not None and silent is not None:
            fired = fires.checks[-1][0]
            return self.group(
                both,
                f"{label}: fires at {_percent(fires.ratio)} errors, silent at "
                f"{_percent(silent.ratio)}",
                f"{label}: the budget runs out within {within} at a burn above {critical}x "
                f"(period / (over {over} + within {within})); {_percent(fires.ratio)} errors "
                f"from the start fire it at {_time(fired * self.step)} in "
                f"{self._named(self.inputs)}; {_percent(silent.ratio)} errors, below "
                f"{critical}x, in {self._named(self.slow)} stay silent until "
                f"{_time(silent.steps * self.step)}",
                slow=silent.ratio,
            )
        out = self.group(
            fires,
            f"{label}: fires at {_percent(fires.ratio)} errors",
            f"{label}: the budget runs out within {within} at a burn above {critical}x "
            f"(period / (over {over} + within {within})); {_percent(fires.ratio)} errors from the "
            f"start fire it at {_time(fires.steps * self.step)}",
        )
        if silent is not None:
            out += self.group(
                silent,
                f"{label}: silent at {_percent(silent.ratio)} errors",
                f"{label}: {_percent(silent.ratio)} errors, below {critical}x: silent until "
                f"{_time(silent.steps * self.step)}",
            )
        return out


# --- a calendar period without `within`: the forecast looks until the period ends ---------------
# The steady burns the issue names: 2x spends a month's budget before the month ends, 0.5x never.
CALENDAR_FIRES, CALENDAR_SILENT = Fraction(2), Fraction(1, 2)
# The fires scenario must fire within this long (a month's 2x fires after about 13 hours).
CALENDAR_HORIZON = 2 * DAY


def period_end(calendar: str, seconds: int) -> int:
    """The instant the calendar period holding ``seconds`` ends: the next 1st of the month or
    the next Monday, 00:00 UTC (what the rule's time left counts down to)."""
    if calendar == MONTH:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        year, month = moment.year + moment.month // 12, moment.month % 12 + 1
        return int(datetime.datetime(year, month, 1, tzinfo=datetime.UTC).timestamp())
    return FIRST_MONDAY + ((seconds - FIRST_MONDAY) // WEEK + 1) * WEEK


class CalendarForecast(Forecast):
    """The forecast of a calendar period without `within` at each step of ``timeline``. It
    reads the calendar period record (targets/prometheus.py ``calendar_expr``: the tiles of
    ``calendar_tiles``, each the window recorded at an absolute multiple of its size, kept when
    it lies in the same period, day or hour as the record's own evaluation), which counts the
    events up to that evaluation: read one period-group interval old, it lags the alert by
    ``group``, not by the rolling record's ``base + 2 * group``; the pace window still by
    ``base + 2 * group``. The budget is this month's (days_in_month()) or the week's, the time
    left the seconds until the period ends."""

    def __init__(self, service: Service, slo: SLO, timeline: Timeline):
        exhaustion = slo.alerting.exhaustion
        assert exhaustion is not None and slo.calendar
        self.slo, self.over, self.calendar = slo, exhaustion.over, slo.calendar
        interval = service.evaluation_interval
        self.sim = Simulation(slo, timeline, interval)
        self.step = timeline.step
        self.seconds = timeline.step * MINUTE  # one step
        base, group = base_window(interval), period_group_interval(interval)
        self.lag = (base + 2 * group) // self.seconds  # the pace window's
        self.record_lag = group // self.seconds  # the period record's
        self.tiles = calendar_tiles(slo.calendar, base)
        self.for_steps = -(-rules.EXHAUSTION_FOR // self.seconds)

    def record(self, r: int) -> tuple[int, int, int]:
        """(errors, total, seconds with data) of the period record evaluated at step r."""
        now = r * self.seconds
        errors = total = seconds = 0
        for tile in self.tiles:
            size, reach = tile.size // self.seconds, tile.reach // self.seconds
            for s in range(max(1, -(-(r - reach) // size)) * size, r + 1, size):
                then = s * self.seconds - 1  # the tile ends at its step
                if unit_of(tile.unit, self.calendar, then) != unit_of(
                    tile.unit, self.calendar, now
                ):
                    continue
                errors += self.sim.events("errors", tile.size, s)
                total += self.sim.events("total", tile.size, s)
                seconds += self.sim.covered_seconds(tile.size, s)
        return errors, total, seconds

    def time_left(self, t: int) -> int:
        now = t * self.seconds
        return period_end(self.calendar, now) - now

    def seconds_left(self, t: int) -> Fraction | None:
        r, s = t - self.record_lag, t - self.lag
        if r < 1 or s < 1:
            return None
        length = month_length(t * self.seconds) if self.calendar == MONTH else self.slo.period
        return self.budget_over_pace(self.record(r), length, s)

    def condition(self, t: int) -> bool:
        left = self.seconds_left(t)
        return left is not None and left < self.time_left(t)

    def clear(self, t: int) -> bool:
        left = self.seconds_left(t)
        if left is None:
            return True
        within = self.time_left(t)
        return abs(left - within) * MARGIN > within and stable(humanize_duration, float(left))


class CalendarForecastTests(ForecastTests):
    """A calendar SLO's forecast from the epoch, 1970-01-01 00:00 UTC: the first instant of a
    31-day month, and a Thursday, three days into the week that began on Monday 1969-12-29.
    The errors start at the epoch, and the record counts only what it saw; missing time
    counts as good traffic, so the budget is the whole period's. A steady burn b then spends
    it when b * (the time the test runs) reaches the period's length: before the period ends
    when b > period / time left at the start (``critical_burn``): 1 for the month, 7/4 for
    the week. 2x fires, at the step ``CalendarForecast`` predicts; 0.5x stays silent."""

    def critical_burn(self) -> Fraction:
        assert self.slo.calendar
        left = period_end(self.slo.calendar, 0)
        length = month_length(0) if self.slo.calendar == MONTH else self.slo.period
        return Fraction(length, left)

    def scenario(self, ratio: Fraction, steps: int) -> Forecast:
        timeline = Timeline.build([(steps, ratio * self.traffic, self.traffic)], self.step)
        return CalendarForecast(self.service, self.slo, timeline)

    def horizon(self) -> int:
        return CALENDAR_HORIZON // (self.step * MINUTE)

    def tests(self) -> Tests | None:
        budget = Fraction(self.slo.error_budget)
        if self.critical >= CALENDAR_FIRES or CALENDAR_FIRES * budget > 1:
            return None
        fires = self.fires_at(CALENDAR_FIRES * budget)
        if fires is None:
            return None
        silent = self.silent_at(CALENDAR_SILENT * budget, fires.steps)
        if silent is None or silent.steps < fires.steps + SILENT_PAST_FIRE // (self.step * MINUTE):
            return None  # it would fire within the test
        assert self.slo.calendar
        period = self.slo.calendar
        start = "1970-01-01, the first day of a 31-day month"
        if period != MONTH:
            start = "Thursday 1970-01-01, three days into the week that began on Monday 1969-12-29"
        critical = names.number(
            Decimal(self.critical.numerator) / Decimal(self.critical.denominator)
        )
        label = f"{self.slo.name} {names.EXHAUSTION_ALERT}"
        return self.group(
            fires,
            f"{label}: a steady 2x burn spends the {period}'s budget before it ends",
            f"{label}: from {start}, a steady burn spends the {period}'s budget before the "
            f"{period} ends above {critical}x (its length / the time left); "
            f"{_percent(fires.ratio)} errors (2x) from the start fire it at "
            f"{_time(fires.steps * self.step)}",
        ) + self.group(
            silent,
            f"{label}: a steady 0.5x burn leaves budget at the {period}'s end",
            f"{label}: {_percent(silent.ratio)} errors (0.5x) from the start: silent until "
            f"{_time(silent.steps * self.step)}",
        )


def calendar_forecast(
    service: Service, slo: SLO, inputs: list[InputSeries], step: int
) -> tuple[Tests, str | None]:
    """The tests of a calendar SLO's forecast that looks until the period ends (they go to
    the calendar tests' file, whose times are dates), or why there are none."""
    others = [
        s
        for s in service.slos
        if s is not slo and s.alerting.exhaustion is not None and _reads(s, inputs)
    ]
    exhaustion = slo.alerting.exhaustion
    assert exhaustion is not None
    if others:
        return [], f"slos '{others[0].name}' reads the same series and forecasts too"
    if slo.excluded:
        return [], "its events are gated by maintenance windows"
    if exhaustion.over > MAX_TESTED_OVER:
        return [], (
            f"its pace window is longer than {format_duration(MAX_TESTED_OVER)}, which a test "
            "at 5-minute steps would take minutes to fill"
        )
    tests = CalendarForecastTests(service, slo, inputs, step).tests()
    if tests is None:
        return [], "no steady burn of 2x fires it and of 0.5x keeps it silent within two days"
    return tests, None


def _reads(slo: SLO, inputs: list[InputSeries]) -> bool:
    """``touches``, and a counter written as an expression reads the inputs only when one of
    its selectors names an input's metric (or names none): another SLO's forecast on other
    series cannot join the alerts a test expects."""
    ind = slo.indicator
    if not isinstance(ind, RatioIndicator):
        return touches(slo, inputs)
    metrics = {s.metric for s in inputs}
    for counter in (ind.errors, ind.good, ind.total):
        if counter is None:
            continue
        if counter.selector is not None:
            if any(selects(counter.selector, s.metric, s.labels) for s in inputs):
                return True
            continue
        try:
            ast = promql.parse(counter.text)
        except promql.PromQLError:
            return True
        for node in promql.walk(ast):
            if isinstance(node, promql_parser.VectorSelector):
                name = promql.as_selector_any(node)
                if name is None or name in metrics:
                    return True
    return False


def _percent(ratio: Fraction) -> str:
    return f"{names.number(Decimal(ratio.numerator) / ratio.denominator * 100)}%"


def _time(minutes: int) -> str:
    return format_duration(minutes * MINUTE) if minutes else "0s"


def forecast_tests(
    service: Service, slo: SLO, inputs: list[InputSeries], step: int
) -> tuple[Tests, list[Diagnostic]]:
    """The forecast's tests of ``slo``, or a warning why there are none."""
    exhaustion = slo.alerting.exhaustion
    if exhaustion is None:
        return [], []
    others = [
        s
        for s in service.slos
        if s is not slo and s.alerting.exhaustion is not None and touches(s, inputs)
    ]
    reason = None
    if exhaustion.within is None:  # the calendar tests' file holds its tests
        reason = calendar_forecast(service, slo, inputs, CALENDAR_STEP)[1]
        if reason is None:
            return [], []
    elif slo.calendar:
        # the model below reads a rolling period record; a calendar record restarts at the
        # boundary, which the undated burn tests' file cannot place on vmalert
        reason = f"a calendar {slo.calendar}'s forecast with 'within' is not modelled yet"
    elif exhaustion.over > MAX_TESTED_OVER:
        reason = (
            f"its pace window is longer than {format_duration(MAX_TESTED_OVER)}, which a test "
            "at 5-minute steps would take minutes to fill"
        )
    elif others:
        reason = f"slos '{others[0].name}' reads the same series and forecasts too"
    else:
        tests = ForecastTests(service, slo, inputs, step).tests()
        if tests is not None:
            return tests, []
        reason = "no scenario of its numbers fires it within a test's length"
    return [], [
        warning(
            slo.source,
            "tests/uncovered",
            f"slos '{slo.name}': {names.EXHAUSTION_ALERT} has no generated tests: {reason}",
        )
    ]
