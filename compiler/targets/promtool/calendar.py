"""The calendar periods' proof: a promtool test per calendar SLO across its first boundary.

promtool's tests start at the epoch, Thursday 1970-01-01 00:00 UTC; the first boundary is
1970-02-01 for a month and Monday 1970-01-05 for a week. From raw counters that the SLO's own
selectors select, at 5-minute steps:
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
from fractions import Fraction

from compiler.core import conventions as names
from compiler.core.model import SLO, Service
from compiler.core.windows import DAY, FIRST_MONDAY, HOUR, MINUTE, MONTH
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
    tests: Tests = []
    for slo in service.slos:
        if slo.calendar:
            tests += slo_test(slo)
    return TestList(tests, STEP_MINUTES, bool(tests), False)


def test_file(service: Service, path: str, tests: TestList) -> str:
    """Both groups: the period group records what the tests read, from the SLI group's tiles."""
    document = {
        "rule_files": [posixpath.relpath(names.rules_file(service.name), posixpath.dirname(path))],
        "evaluation_interval": f"{tests.interval}m",
        "group_eval_order": [names.group_sli(service.name), names.group_period(service.name)],
        "tests": tests.tests,
    }
    return dump(document, names.header(service.source_file))
