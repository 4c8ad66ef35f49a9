"""promtool tests of maintenance windows that exclude events (README, "Maintenance windows").

Per SLO with such a window whose first occurrence after the epoch (where promtool's time starts)
is within a week, one test file ``<service>.maintenance.test.yml`` with two scenarios at steady
traffic:
  * inside: 100% errors from the window's start (for at most 3 hours of it), clean traffic
    before and for 2 hours after its end: no alert of the SLO is ever pending or firing, the
    period's error ratio is 0 and its budget all left;
  * outside: the same errors one hour after the window (and its gate) ended: the page fires
    within the 5 minutes the fastest tier needs at 100% errors.

The burn-rate scenarios of testfiles.py are simulated without windows, so an SLO with a window
that can reach them (recurring, or one-off before 1971) gets these tests instead; a warning says
when it gets none.
"""

from __future__ import annotations

import posixpath
from typing import Any

from compiler.core import conventions as names
from compiler.core.calendar import window_contains
from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.model import SLO, Service
from compiler.core.windows import base_window
from compiler.targets.prometheus import series
from compiler.targets.promtool.synth import series_text
from compiler.targets.promtool.testfiles import InputSeries, plan_inputs, role_values
from compiler.text.yamltext import Comment, dump

SEARCH = 7 * 24 * 60  # minutes after the epoch to look for a window's first occurrence
LEAD = 60  # minutes of clean traffic before the errors start, at least
ERRORS = 3 * 60  # minutes of errors inside the window, at most
TAIL = 2 * 60  # minutes after the window (and its gate) that stay silent
GAP = 60  # minutes between the gate's end and the errors outside
DETECTION = 5  # minutes the page may take at 100% errors
TRAFFIC = 60  # requests per minute


# Burn-rate scenarios (and the slots `slo test --engine vmalert` runs them in) span days after
# the epoch: a one-off window later than this cannot touch them.
REACH = 365 * 24 * 3600


def replaces_burn_tests(slo: SLO) -> bool:
    """Whether a window of ``slo`` can drop events of the generated burn-rate scenarios, which
    are simulated without windows: then these tests stand in for them."""
    return any(
        w.recurring is not None or (w.start is not None and w.start < REACH) for w in slo.excluded
    )


def gated(slo: SLO, minute: int, base: int) -> bool:
    """Whether the rules drop the SLO's base record at ``minute`` (its span overlaps a window)."""
    return any(window_contains(w, at * 60) for w in slo.excluded for at in (minute, minute - base))


def first_window(slo: SLO) -> tuple[int, int] | None:
    """[start, end) in minutes of the first run of excluded minutes after LEAD, or None."""
    start = next(
        (m for m in range(LEAD, SEARCH) if any(window_contains(w, m * 60) for w in slo.excluded)),
        None,
    )
    if start is None:
        return None
    end = start
    while end < start + ERRORS and any(window_contains(w, end * 60) for w in slo.excluded):
        end += 1
    return start, end


def _values(inputs: list[InputSeries], steps: int, errors: tuple[int, int], step: int) -> list:
    """The input series: TRAFFIC a minute, all of it errors for the steps whose minute ends in
    [errors start, errors end)."""
    first, last = errors[0] // step, errors[1] // step  # samples first+1 .. last carry errors
    segments = (
        (first, 0, TRAFFIC),
        (last - first, TRAFFIC, TRAFFIC),
        (steps - last, 0, TRAFFIC),
    )
    return [
        {
            "series": series_text(s.metric, s.labels),
            "values": role_values(segments, step, s.role),
        }
        for s in inputs
    ]


def _at(minute: int) -> str:
    return f"{minute}m"


def plan(service: Service, slo: SLO) -> tuple[int, int, int, int] | None:
    """(errors inside start, end, errors outside start, end) in minutes, or None when the
    window does not come soon enough, or the next comes too soon to leave room outside."""
    found = first_window(slo)
    if found is None:
        return None
    start, end = found
    base = base_window(service.evaluation_interval) // 60
    outside = end + base + GAP
    stop = outside + (end - start)
    if any(gated(slo, m, base) for m in range(outside - base, stop + DETECTION + 1)):
        return None
    return start, end, outside, stop


def step_for(plans: list[tuple[int, int, int, int]]) -> int:
    """1 minute, or 5 when a scenario runs longer than a day (a weekly window)."""
    return 1 if all(p[3] + TAIL <= 24 * 60 for p in plans) else 5


def slo_tests(
    service: Service,
    slo: SLO,
    inputs: list[InputSeries],
    found: tuple[int, int, int, int],
    step: int,
) -> list[dict]:
    up, down = (lambda m: -(-m // step) * step), (lambda m: m // step * step)
    start, end, outside, stop = up(found[0]), down(found[1]), up(found[2]), down(found[3])
    base = base_window(service.evaluation_interval) // 60
    quiet_until = -(-(end + base + TAIL) // step) * step
    last = stop + TAIL
    alerts = (
        f'ALERTS{{alertname="{slo.alerting.name}",{names.SERVICE}="{slo.service}",'
        f'{names.SLO}="{slo.name}"}}'
    )
    page = alerts[:-1] + ',severity="page",alertstate="firing"}'
    inside_test: dict[str, Any] = {
        "name": f"{slo.name}: 100% errors inside the maintenance window neither alert nor "
        "spend budget",
        "interval": f"{step}m",
        "input_series": _values(inputs, quiet_until // step, (start, end), step),
        "promql_expr_test": [
            {"expr": f"count_over_time({alerts}[{quiet_until}m])", "eval_time": _at(quiet_until)},
            {
                "expr": series(names.PERIOD_ERROR_RATIO, slo.service, slo.name),
                "eval_time": _at(quiet_until),
                "exp_samples": [
                    {
                        "labels": series(names.PERIOD_ERROR_RATIO, slo.service, slo.name),
                        "value": 0,
                    }
                ],
            },
            {
                "expr": series(names.BUDGET_REMAINING, slo.service, slo.name),
                "eval_time": _at(quiet_until),
                "exp_samples": [
                    {
                        "labels": series(names.BUDGET_REMAINING, slo.service, slo.name),
                        "value": 1,
                    }
                ],
            },
        ],
    }
    outside_test: dict[str, Any] = {
        "name": f"{slo.name}: the same errors outside the window page",
        "interval": f"{step}m",
        "input_series": _values(inputs, last // step, (outside, stop), step),
        "promql_expr_test": [
            {"expr": f"max({page})", "eval_time": _at(outside)},
            {
                "expr": f"max({page})",
                "eval_time": _at(outside + DETECTION),
                "exp_samples": [{"labels": "{}", "value": 1}],
            },
        ],
    }
    return [inside_test, outside_test]


def test_file(service: Service) -> tuple[str | None, list[Diagnostic]]:
    """The service's maintenance test file (None when no SLO has a test), and a warning per
    SLO with exclude windows: what proves its alerts instead."""
    diagnostics: list[Diagnostic] = []
    planned = []
    for slo in service.slos:
        if not replaces_burn_tests(slo):
            continue
        inputs = plan_inputs(slo)
        found = plan(service, slo) if inputs is not None and slo.alerting.tiers else None
        if inputs is None or found is None:
            diagnostics.append(
                warning(
                    slo.source,
                    "tests/uncovered",
                    f"slos '{slo.name}': has maintenance windows with exclude, which the "
                    "generated burn-rate tests do not model, and no test of its own (its "
                    "input series cannot be synthesised, or no window starts within a week "
                    "of 1970-01-01, where promtool's time begins)",
                )
            )
            continue
        planned.append((slo, inputs, found))
    if not planned:
        return None, diagnostics
    step = step_for([found for _, _, found in planned])
    tests: list[Comment | dict[str, Any]] = []
    for slo, inputs, found in planned:
        start, end, outside, stop = found
        tests.append(
            Comment(
                f"{slo.name}: 100% errors {_at(start)}-{_at(end)} inside a window, then "
                f"{_at(outside)}-{_at(stop)} outside"
            )
        )
        tests += slo_tests(service, slo, inputs, found, step)
    path = names.maintenance_tests_file(service.name)
    document = {
        "rule_files": [posixpath.relpath(names.rules_file(service.name), posixpath.dirname(path))],
        "evaluation_interval": f"{step}m",
        "group_eval_order": [names.group_sli(service.name), names.group_period(service.name)],
        "tests": tests,
    }
    return dump(document, names.header(service.source_file)), diagnostics
