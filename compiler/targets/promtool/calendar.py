"""The calendar periods' proof: a promtool test per calendar SLO across its first boundary.

promtool's tests start at the epoch, Thursday 1970-01-01 00:00 UTC; the first boundary is
1970-02-01 for a month and Monday 1970-01-05 for a week. A month's test (``month_test``) gives
the windows its period expression reads as input: promtool evaluates every rule at every step
from the epoch, and a month of 5-minute steps takes minutes. A week's runs the whole chain:
from raw counters that the SLO's own selectors select, at 5-minute steps:
  * before the boundary, 2% errors (traffic starts 2h before it): the period SLI is 98%, the
    budget -100%;
  * the first hour after it, no errors: the budget is back at 100%;
  * the next hour 0.5% errors, then no traffic: the period SLI is 99.75% (the errors of the
    new period alone), the budget 75%.
Every check is a value the period group records, at a time when the last five minutes brought
no change (so vmalert, whose period ratio reads its record one group interval ago, agrees).
"""

from __future__ import annotations

import posixpath
from decimal import Decimal
from fractions import Fraction

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import SLO, Service, TimesliceIndicator
from compiler.core.windows import DAY, FIRST_MONDAY, HOUR, MINUTE, MONTH, base_window
from compiler.targets import prometheus as rules
from compiler.targets.promtool.synth import series_text
from compiler.targets.promtool.testfiles import (
    TestList,
    Tests,
    plan_inputs,
    role_values,
)
from compiler.text.yamltext import Comment, dump

STEP_MINUTES = 5
# The first boundary after the epoch, in seconds.
BOUNDARY = {MONTH: 31 * DAY, "week": FIRST_MONDAY}
BEFORE = (Fraction(2), Fraction(100))  # errors, total per minute: 2%
AFTER = (Fraction(1, 2), Fraction(100))  # 0.5%, in the second hour after the boundary
# Traffic starts this long before the boundary: promtool evaluates every step from the epoch,
# and steps without data cost next to nothing (a month of data would take minutes).
LEAD = 2 * HOUR


def _at(seconds: int) -> str:
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes = rest // MINUTE
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return "".join(parts) or "0s"


def _checks(slo: SLO, at: int, ratio: Fraction) -> list[dict[str, object]]:
    """The period SLI's error ratio and the budget left at ``at``."""
    labels = f'{{{names.SERVICE}="{slo.service}",{names.SLO}="{slo.name}"}}'
    budget = Fraction(slo.error_budget)
    return [
        {
            "expr": f"{name}{labels}",
            "eval_time": _at(at),
            "exp_samples": [{"labels": f"{name}{labels}", "value": float(value)}],
        }
        for name, value in (
            (names.PERIOD_ERROR_RATIO, ratio),
            (names.BUDGET_REMAINING, 1 - ratio / budget),
        )
    ]


def slo_test(slo: SLO) -> Tests:
    inputs = plan_inputs(slo)
    if inputs is None or slo.by:
        return []
    boundary = BOUNDARY[slo.calendar]
    step = STEP_MINUTES * MINUTE
    hour = HOUR // step
    zero = Fraction(0)
    segments = (
        (LEAD // step, *BEFORE),
        (hour, zero, AFTER[1]),
        (hour, *AFTER),
        (hour, zero, zero),
    )
    before = BEFORE[0] / BEFORE[1]
    new = AFTER[0] / AFTER[1] / 2  # one hour of errors in two of traffic
    when = "1970-02-01 (a month)" if slo.calendar == MONTH else "Monday 1970-01-05 (a week)"
    return [
        Comment(
            f"{slo.name}: 2% errors for 2h until {when} begins, none in its first hour, 0.5% in "
            "the second, then no traffic: the budget is back at 100% after the boundary and the "
            "period SLI counts the new period's errors alone"
        ),
        {
            "name": f"{slo.name}: the calendar {slo.calendar} starts afresh at its boundary",
            "interval": f"{STEP_MINUTES}m",
            "input_series": [
                {
                    "series": series_text(s.metric, s.labels),
                    "values": f"_x{(boundary - LEAD) // step} "
                    + role_values(segments, STEP_MINUTES, s.role),
                }
                for s in inputs
            ],
            "promql_expr_test": [
                *_checks(slo, boundary - 10 * MINUTE, before),
                *_checks(slo, boundary + 30 * MINUTE, zero),
                *_checks(slo, boundary + 2 * HOUR + 30 * MINUTE, new),
            ],
        },
    ]


def service_tests(service: Service) -> TestList:
    """The weeks' tests and the forecasts that look until the period ends (forecast.py), from
    raw counters through both rule groups."""
    from compiler.targets.promtool.forecast import CALENDAR_STEP, calendar_forecast

    assert CALENDAR_STEP == STEP_MINUTES
    tests: Tests = []
    for slo in service.slos:
        if slo.calendar == "week":
            tests += slo_test(slo)
        exhaustion = slo.alerting.exhaustion
        if slo.calendar and exhaustion is not None and exhaustion.within is None:
            inputs = plan_inputs(slo)
            if inputs is not None and not isinstance(slo.indicator, TimesliceIndicator):
                tests += calendar_forecast(service, slo, inputs, STEP_MINUTES)[0]
    return TestList(tests, STEP_MINUTES, bool(tests), False)


# --- a month: its period expression on recorded windows ------------------------------------------
def _num(value: Fraction) -> str:
    """An exact decimal (the inputs are chosen to have one)."""
    return format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")


def _runs(values: list[Fraction | None]) -> str:
    """promtool's expanding notation for ``values`` (None: no sample): runs of a constant step
    as ``a+bxn``, missing samples as ``_xn``."""
    parts, i = [], 0
    while i < len(values):
        if values[i] is None:
            j = i
            while j + 1 < len(values) and values[j + 1] is None:
                j += 1
            parts.append(f"_x{j - i + 1}" if j > i else "_")
            i = j + 1
            continue
        first = values[i]
        assert first is not None
        j, step = i, None
        while j + 1 < len(values) and values[j + 1] is not None:
            nxt = values[j + 1]
            assert nxt is not None
            current = values[j]
            assert current is not None
            if step is None:
                step = nxt - current
            elif nxt - current != step:
                break
            j += 1
        if j == i:
            parts.append(_num(first))
        else:
            assert step is not None
            sign = "+" if step >= 0 else "-"
            parts.append(f"{_num(first)}{sign}{_num(abs(step))}x{j - i}")
        i = j + 1
    return " ".join(parts)


def month_test(service: Service, slo: SLO) -> Tests:
    """The rule's own expression for events since the 1st, evaluated at three instants over
    recorded windows (1d, 1h and the base window, as the SLI group records them) given as input
    series: a month of evaluation steps of every rule would take promtool minutes. That the SLI
    group records those windows exactly is what the burn tests and the window tests prove."""
    base = base_window(service.evaluation_interval)
    boundary, lead = BOUNDARY[MONTH], LEAD // base
    hour = HOUR // base
    last = boundary // base + 3 * hour
    tiles: dict[int, tuple[Fraction, Fraction]] = {}  # step -> (errors, total) in (k-1, k]
    per_tile = Fraction(base, MINUTE)
    for k in range(boundary // base - lead + 1, last + 1):
        after = k - boundary // base
        errors, total = BEFORE if after <= 0 else AFTER if hour < after <= 2 * hour else (0, 100)
        if after > 2 * hour:
            total = Fraction(0)
        tiles[k] = (Fraction(errors) * per_tile, Fraction(total) * per_tile)
    start = boundary // base - lead
    series = []
    for window in (DAY, HOUR, base):
        span = window // base
        for i, kind in enumerate((names.ERRORS, names.TOTAL)):
            values: list[Fraction | None] = [None] * start + [
                sum(
                    (
                        tiles.get(j, (Fraction(0), Fraction(0)))[i]
                        for j in range(k - span + 1, k + 1)
                    ),
                    Fraction(0),
                )
                for k in range(start, last + 1)
            ]
            labels = {
                names.SERVICE: service.name,
                names.SLO: slo.name,
                names.KIND: kind,
                names.WINDOW: format_duration(window),
            }
            series.append({"series": series_text(names.EVENTS, labels), "values": _runs(values)})
    expr = rules.calendar_expr(service, [s for s in service.slos if s.calendar == MONTH], MONTH)

    def at(seconds: int) -> dict[str, object]:
        k = seconds // base
        upto = [
            v
            for j, v in tiles.items()
            if (j > boundary // base) == (k > boundary // base) and j <= k
        ]
        found = {names.ERRORS: sum(e for e, _ in upto), names.TOTAL: sum(t for _, t in upto)}
        return {
            "expr": expr,
            "eval_time": _at(seconds),
            "exp_samples": [
                {
                    "labels": f'{{{names.SLO}="{slo.name}",{names.KIND}="{kind}"}}',
                    "value": float(found[kind]),
                }
                for kind in (names.ERRORS, names.TOTAL)
            ],
        }

    return [
        Comment(
            f"{slo.name}: events since the 1st, as the period group sums them, over windows "
            "recorded at every base step: 2% errors for 2h until 1970-02-01, none in its first "
            "hour, 0.5% in the second, then no traffic. Before the boundary: 2% of January's "
            "events; after it no errors (the budget back at 100%), then February's alone (0.25%)"
        ),
        {
            "name": f"{slo.name}: the calendar month's events start afresh on the 1st",
            "interval": format_duration(base),
            "input_series": series,
            "promql_expr_test": [
                at(boundary - 10 * MINUTE),
                at(boundary + 30 * MINUTE),
                at(boundary + 2 * HOUR + 30 * MINUTE),
            ],
        },
    ]


def month_tests(service: Service) -> TestList:
    tests: Tests = []
    for slo in service.slos:
        if slo.calendar == MONTH and not slo.by:
            tests += month_test(service, slo)
    return TestList(tests, base_window(service.evaluation_interval) // MINUTE, False, False)


def month_file(service: Service, tests: TestList) -> str:
    """No rule files: the expression is the rule's, the windows it reads are given."""
    document = {
        "rule_files": [],
        "evaluation_interval": f"{tests.interval}m",
        "tests": tests.tests,
    }
    return dump(document, names.header(service.source_file))


def test_file(service: Service, path: str, tests: TestList) -> str:
    """Both groups: the period group records what the tests read, from the SLI group's tiles."""
    document = {
        "rule_files": [posixpath.relpath(names.rules_file(service.name), posixpath.dirname(path))],
        "evaluation_interval": f"{tests.interval}m",
        "group_eval_order": [names.group_sli(service.name), names.group_period(service.name)],
        "tests": tests.tests,
    }
    return dump(document, names.header(service.source_file))
