"""promtool unit tests for every generated alert.

For each burn-rate tier of an SLO, from raw counters that the user's own selectors select:
  * fires:  after a clean long window, errors start at 1.1x the tier's threshold; the test
            asserts the alert is absent one minute before the predicted minute and present
            at it, with exact labels and annotations;
  * clears: errors stop; the alert is gone within the short window plus one interval (plus the
            5m base rate window when the short window is longer than it);
  * below:  errors at 0.9x the threshold never fire this tier, even with full windows;
  * quiet:  with a low-traffic guard, a total outage below `min_events` pages nobody.
For each threshold: not firing below, pending during `for`, firing after, resolved after.

Every expectation comes from simulate.py (exact Prometheus semantics) and covers *all* alerts of
that name at that step, so a tier firing early or late fails the test: listed in full (labels,
rendered annotations) at one step of the file for each alert, counted per tier at the others
(``settle``).
"""

from __future__ import annotations

import functools
import heapq
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from compiler.core import conventions as names
from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.durations import format_duration, parse_duration
from compiler.core.model import (
    SLO,
    LatencyIndicator,
    Matcher,
    Model,
    Selector,
    Service,
    Threshold,
    TimesliceIndicator,
)
from compiler.core.windows import slow_tier
from compiler.spec import promql
from compiler.spec.promql import as_selector, parse
from compiler.targets import prometheus as rules
from compiler.targets.promtool import gauges, scenarios
from compiler.targets.promtool.humanize import RENDER, humanize_percentage, stable
from compiler.targets.promtool.render import bind, render
from compiler.targets.promtool.simulate import Simulation, Timeline
from compiler.targets.promtool.synth import matches, satisfy, selects, series_text
from compiler.targets.protocol import Emitted, Proof, Target, ToolRun, matching
from compiler.text.promtext import go_float
from compiler.text.yamltext import Alias, Anchor, Comment, dump

INTERVAL_MINUTES = 1
COARSE_STEP = 5  # minutes per step of the burn-rate tests (tier_step)

# What a test file's ``tests`` list holds: test groups, and comments the YAML writer writes
# (and, until ``settle`` writes them out, tests whose checks wait for the whole file).
Tests = list["Comment | dict[str, Any] | Pending"]
Labels = tuple[tuple[str, str], ...]  # an alert's, sorted by name


@dataclass
class InputSeries:
    metric: str
    labels: dict[str, str]
    role: str  # errors | good | total: which scenario counter feeds it


# --- turning a scenario into raw input series ---------------------------------------------------
def plan_inputs(slo: SLO) -> list[InputSeries] | None:
    """Raw series whose counters produce a chosen error/total timeline for ``slo``; None if the
    selectors are too exotic to synthesise."""
    ind = slo.indicator
    if isinstance(ind, TimesliceIndicator):
        return None  # gauges, not counters: timeslices.py
    if isinstance(ind, LatencyIndicator):
        labels = satisfy(ind.histogram.matchers)
        if labels is None:
            return None
        le = rules.le_matcher(ind.threshold)
        bucket_value = go_float(ind.threshold)
        if not matches(le, bucket_value):
            return None
        return [
            InputSeries(f"{ind.histogram.metric}_bucket", {**labels, "le": bucket_value}, "good"),
            InputSeries(f"{ind.histogram.metric}_count", labels, "total"),
        ]
    part_counter, role, other = (
        (ind.errors, "errors", "good") if ind.errors is not None else (ind.good, "good", "errors")
    )
    assert part_counter is not None  # exactly one of errors / good: the builder sees to it
    total, part = ind.total.selector, part_counter.selector
    if total is None or part is None:  # a $window expression: no series to synthesise
        return None
    part_labels = satisfy(part.matchers)
    if part_labels is None or not selects(part, part.metric, part_labels):
        return None
    if part.metric == total.metric and selects(total, total.metric, part_labels):
        rest = satisfy(total.matchers, avoid=part.matchers)
        if (
            rest is None
            or not selects(total, total.metric, rest)
            or selects(part, total.metric, rest)
        ):
            return None
        return [InputSeries(part.metric, part_labels, role), InputSeries(total.metric, rest, other)]
    whole = satisfy(total.matchers, avoid=part.matchers if part.metric == total.metric else ())
    if (
        whole is None
        or not selects(total, total.metric, whole)
        or selects(part, total.metric, whole)
    ):
        return None
    return [InputSeries(part.metric, part_labels, role), InputSeries(total.metric, whole, "total")]


def counters_for(slo: SLO, inputs: list[InputSeries], timeline: Timeline) -> Timeline | None:
    """What ``slo``'s rules see when ``inputs`` carry the errors/total of ``timeline``."""
    feed = {"errors": timeline.errors, "total": timeline.total, "good": timeline.good}
    zero = [0] * len(timeline.total)

    def summed(
        selector: Selector, metric: str | None = None, extra: tuple[Matcher, ...] = ()
    ) -> tuple[list[int], bool]:
        out, hit = list(zero), False
        for s in inputs:
            if s.metric == (metric or selector.metric) and all(
                matches(m, s.labels.get(m.name, "")) for m in selector.matchers + tuple(extra)
            ):
                hit = True
                out = [a + b for a, b in zip(out, feed[s.role])]
        return out, hit

    ind = slo.indicator
    if isinstance(ind, TimesliceIndicator):
        return None  # a gauge's slices, not counters: timeslices.py simulates them
    if isinstance(ind, LatencyIndicator):
        tot, hit = summed(ind.histogram, f"{ind.histogram.metric}_count")
        good, _ = summed(
            ind.histogram, f"{ind.histogram.metric}_bucket", (rules.le_matcher(ind.threshold),)
        )
        return (
            Timeline([t - g for t, g in zip(tot, good)], tot, timeline.step, timeline.scale)
            if hit
            else None
        )
    part = ind.errors if ind.errors is not None else ind.good
    assert part is not None  # exactly one of errors / good: the builder sees to it
    if ind.total.selector is None or part.selector is None:
        return None  # cannot evaluate a $window expression here; plan_inputs refuses such SLOs
    tot, hit = summed(ind.total.selector)
    if not hit:
        return None
    if ind.errors is not None:
        err, _ = summed(part.selector)
        return Timeline(err, tot, timeline.step, timeline.scale)
    good, _ = summed(part.selector)
    return Timeline([t - g for t, g in zip(tot, good)], tot, timeline.step, timeline.scale)


def encode(increments: list[tuple[Fraction, int]]) -> str:
    """A counter from 0, given as runs of (increment per step, number of steps), in promtool's
    expanding notation: '0+10x59 590+0x30'. ('a+bxn' is the n+1 values a, a+b, ..., a+nb.)

    promtool expands `a+bxn` by adding b to a float64 n times, so a run can end a hair above its
    exact value (15.84 added 59 times is 934.5600000000005). If the next run started at the exact
    934.56, the counter would step down and rate() would see a reset: a spurious burst of errors.
    So a run never starts below the float where the previous one ended."""
    kept = [(inc, n) for inc, n in increments if n > 0]
    incs = [inc for inc, _ in kept]  # run r: incs[r] per step, for counts[r] steps
    counts = [n for _, n in kept]
    parts: list[str] = []
    value, r = Fraction(0), 0
    reached: float | None = None  # the float64 promtool holds for the previous sample

    def start() -> str:
        text = _num(value)
        return repr(reached) if reached is not None and float(text) < reached else text

    while True:
        if r == len(incs):
            parts.append(start())
            break
        step, length = incs[r], 0
        while r < len(incs) and incs[r] == step:
            length += counts[r]
            r += 1
        first, step_text = start(), _num(step)
        parts.append(f"{first}+{step_text}x{length}")
        reached, step_float = float(first), float(step_text)
        for _ in range(length):
            reached += step_float
        value += step * length
        if r == len(incs):
            break
        # the next value starts the next run, one increment later
        value += incs[r]
        counts[r] -= 1
        if counts[r] == 0:
            r += 1
    return " ".join(parts)


@functools.lru_cache(maxsize=4096)
def role_values(segments: scenarios.Segments, step: int, role: str) -> str:
    """The encoded counter of one role (errors, good or total) of a plan. Plans are shared by
    every SLO of the same shape (scenarios.py), so most calls are repeats."""
    if role == "errors":
        increments = [(Fraction(e) * step, n) for n, e, t in segments]
    elif role == "total":
        increments = [(Fraction(t) * step, n) for n, e, t in segments]
    elif role == "good":
        increments = [((Fraction(t) - Fraction(e)) * step, n) for n, e, t in segments]
    else:
        raise ValueError(f"unknown input role {role!r}")
    return encode(increments)


def _num(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    d = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(d) != value:  # inputs are chosen to be finite decimals; anything else is a bug here
        raise ValueError(f"{value} has no exact decimal form")
    return format(d.normalize(), "f")


def _minutes(t: int) -> str:
    return format_duration(t * 60) if t else "0s"


def _minutes_of(text: str) -> int:
    return parse_duration(text) // 60 if text != "0s" else 0


# --- burn-rate tests: plans from scenarios.py, rendered with this SLO's names -------------------
def touches(slo: SLO, inputs: list[InputSeries]) -> bool:
    """Whether any input series is selected by ``slo``'s selectors (cheap; no counters)."""
    ind = slo.indicator
    if isinstance(ind, TimesliceIndicator):
        return any(gauges.reads(ind, s.metric, s.labels) for s in inputs)
    if isinstance(ind, LatencyIndicator):
        metrics = {f"{ind.histogram.metric}_count", f"{ind.histogram.metric}_bucket"}
        return any(
            s.metric in metrics and selects(ind.histogram, ind.histogram.metric, {**s.labels})
            for s in inputs
        )
    counters = [c for c in (ind.errors, ind.good, ind.total) if c is not None]
    return any(
        c.selector is None or any(selects(c.selector, s.metric, s.labels) for s in inputs)
        for c in counters
    )


class TierTests:
    """Renders plans for one SLO whose inputs may also be read by other SLOs of its service."""

    def __init__(self, service: Service, slo: SLO, inputs: list[InputSeries]):
        self.service, self.slo, self.inputs = service, slo, inputs
        others = [
            s for s in service.slos if s is not slo and s.alerting.tiers and touches(s, inputs)
        ]
        self.slos = [slo] + others  # simulation index -> SLO
        self.solo = not others

    def factory(self, timeline: Timeline) -> list[Simulation]:
        interval = self.service.evaluation_interval
        sims = [Simulation(scenarios.as_tested(self.slo), timeline, interval)]
        for other in self.slos[1:]:
            seen = counters_for(other, self.inputs, timeline)
            if seen is not None:
                sims.append(Simulation(scenarios.as_tested(other), seen, interval))
        return sims

    def tiers(self, step: int) -> Tests | None:
        """Every tier in one scenario (scenarios.plan_tiers), then each tier's "below" test;
        None when the tiers need a scenario each."""
        interval = self.service.evaluation_interval
        if self.solo:
            plan = scenarios.solo_tiers_plan(scenarios.shape(self.slo), step, interval)
        else:
            plan = scenarios.plan_tiers(self.factory, step)
        if plan is None:
            return None
        ratio = humanize_percentage(float(plan.ratio))
        out = self.group(
            plan,
            f"{self.slo.name}: every tier fires at {ratio} errors, clears after",
            f"{self.slo.name}: {ratio} errors from the start (the time before counts as good) "
            f"until {_minutes(plan.stop * step)}; each tier fires at the step its long window "
            "crosses its threshold and clears by its short window while the long one is still "
            "above it:",
            *(
                f"  {self.tier_label(i)} fires at {_minutes(fire * step)}, cleared by "
                f"{_minutes(clear * step)}"
                for i, fire, clear in plan.marks
            ),
        )
        for index, tier in enumerate(self.slo.alerting.tiers):
            if tier.threshold < 1:
                out += self.tier(index, step, fires=False)
        return out

    def tier_label(self, index: int) -> str:
        tier = self.slo.alerting.tiers[index]
        return f"{tier.severity} {format_duration(tier.long)}/{format_duration(tier.short)}"

    def tier(self, index: int, step: int, fires: bool = True) -> Tests:
        return self.several([(index, plan) for plan in self.tier_plans(index, step, fires)])

    def tier_plans(self, index: int, step: int, fires: bool = True) -> tuple[scenarios.Plan, ...]:
        """Tier ``index``'s "fires" and "below" plans (``fires``), or its "below" ones."""
        interval = self.service.evaluation_interval
        if self.solo:
            shaped = scenarios.shape(self.slo)
            if fires:
                return scenarios.solo_tier_plans(shaped, index, step, interval)
            return scenarios.solo_below_plans(shaped, index, step, interval)
        if fires:
            return scenarios.plan_tier(self.factory, index, step)
        return scenarios.plan_below(self.factory, index, step)

    def several(self, plans: Sequence[tuple[int, scenarios.Plan]]) -> Tests:
        """Tests of tiers' plans, (tier index, plan) each. A "fires" plan whose traffic is
        another's for as long as that one runs (tickets at one ratio, which differ only in
        when they clear) takes that one's checks: one scenario, evaluated once."""
        kept: list[tuple[list[tuple[int, scenarios.Plan]], scenarios.Plan]] = []
        for index, plan in plans:
            for k, (parts, other) in enumerate(kept):
                if plan.kind == other.kind == "fires":
                    if scenarios.extends(other, plan):
                        kept[k] = (parts + [(index, plan)], scenarios.joined(other, plan))
                        break
                    if scenarios.extends(plan, other):
                        kept[k] = (parts + [(index, plan)], scenarios.joined(plan, other))
                        break
            else:
                kept.append(([(index, plan)], plan))
        out: Tests = []
        for parts, plan in kept:
            ratio = humanize_percentage(float(plan.ratio))
            label = f"{self.slo.name} {' and '.join(self.tier_label(i) for i, _ in parts)}"
            if plan.kind != "fires":
                out += self.group(
                    plan,
                    f"{label}: never fires at {ratio} errors",
                    f"{label}: {ratio} errors, just below the threshold",
                )
                continue
            stop = _minutes(plan.stop * plan.step)
            if len(parts) == 1:
                fire, end = (_minutes(s * plan.step) for s in (plan.fire, plan.end))
                out += self.group(
                    plan,
                    f"{label}: fires at {ratio} errors, clears after",
                    f"{label}: {ratio} errors from the start (the time before counts as "
                    f"good) fire it at {fire}; errors stop at {stop}, cleared by {end}",
                )
                continue
            out += self.group(
                plan,
                f"{label}: fire at {ratio} errors, clear after",
                f"{label}: {ratio} errors from the start (the time before counts as good) "
                f"until {stop}; each fires at the step predicted and clears by its short window:",
                *(
                    f"  {self.tier_label(i)} fires at {_minutes(own.fire * own.step)}, "
                    f"cleared by {_minutes(own.end * own.step)}"
                    for i, own in parts
                ),
            )
        return out

    def quiet(self, step: int) -> Tests:
        if self.solo:
            plan = scenarios.solo_quiet_plan(
                scenarios.shape(self.slo), self.service.evaluation_interval, step
            )
        else:
            plan = scenarios.plan_quiet(self.factory, step)
        guard = self.slo.alerting.min_events
        if plan is None or guard is None:  # planned only for SLOs with a low-traffic guard
            return []
        return self.group(
            plan,
            f"{self.slo.name}: low traffic does not alert",
            f"{self.slo.name}: every request fails, but fewer than {names.number(guard)} "
            "requests per window",
        )

    def mine(self, expect: scenarios.Expect) -> list[tuple[int, int, float]]:
        """The alerts firing at ``expect`` that share the tested SLO's alert name."""
        alertname = self.slo.alerting.name
        return [f for f in expect.firing if self.slos[f[0]].alerting.name == alertname]

    def check(self, expect: scenarios.Expect, step: int) -> dict[str, object]:
        alertname = self.slo.alerting.name
        alerts: list[tuple[dict[str, str], dict[str, str]]] = []  # (labels, annotations)
        for i, j, value in self.mine(expect):
            labels, annotations = self.alert(i, j)
            alerts.append((labels, {k: fill(value) for k, fill in annotations.items()}))
        alerts.sort(key=lambda alert: list(alert[0].items()))  # the labels are sorted by name
        return {
            "eval_time": _minutes(expect.step * step),
            "alertname": alertname,
            "exp_alerts": [
                {"exp_labels": labels, "exp_annotations": annotations}
                for labels, annotations in alerts
            ],
        }

    @functools.cache  # noqa: B019 - one TierTests per SLO and compile
    def alert(self, i: int, j: int) -> tuple[dict[str, str], dict[str, Callable[[float], str]]]:
        """The alert of tier j of simulation i's SLO: its labels as promtool shows them (sorted by
        name), and each annotation as a function of the alert's value."""
        slo = self.slos[i]
        rule = rules.burn_alert(self.service, slo, slo.alerting.tiers[j])
        labels = {k: render(v, None, {}) for k, v in rule["labels"].items()}
        return dict(sorted(labels.items())), {
            k: bind(v, labels) for k, v in rule["annotations"].items()
        }

    def identity(self, i: int, j: int) -> Labels:
        """An alert's labels, as a key that tells it from every other alert of the file."""
        return tuple(self.alert(i, j)[0].items())

    @functools.cache  # noqa: B019 - one TierTests per SLO and compile
    def count_by(self) -> tuple[str, ...]:
        """The labels a count of the firing alerts groups by: the tier's long window, after
        the SLO's name and group labels where they differ between this scenario's alerts,
        and whatever else it takes to tell every one of them apart (its short window, where
        two tiers share a long one)."""
        every = [
            self.alert(i, j)[0]
            for i, s in enumerate(self.slos)
            for j in range(len(s.alerting.tiers))
        ]
        differ = sorted(
            {k for labels in every for k in labels if len({x.get(k) for x in every}) > 1}
        )
        keys = [k for k in differ if k == names.SLO or k in self.slo.by] + [names.LONG_WINDOW]
        for k in [names.SHORT_WINDOW, *differ]:
            if len({tuple(x.get(key) for key in keys) for x in every}) == len(every):
                break
            if k not in keys:
                keys.append(k)
        return tuple(keys)

    def count(self, expect: scenarios.Expect, step: int) -> dict[str, object]:
        """Which of the alerts fire at ``expect``: one sample per label set of ``count_by``."""
        by = self.count_by()
        counted = Counter(  # in the order of the tiers (promtool compares sorted)
            tuple(self.alert(i, j)[0].get(k, "") for k in by)
            for i, j, _ in sorted(self.mine(expect))
        )
        return {
            "expr": promql.firing_count(self.slo.alerting.name, by),
            "eval_time": _minutes(expect.step * step),
            "exp_samples": [
                {"labels": series_text("", {k: v for k, v in zip(by, key) if v}), "value": n}
                for key, n in counted.items()
            ],
        }

    def group(self, plan: scenarios.Plan, name: str, comment: str, *more: str) -> Tests:
        series = [
            {
                "series": series_text(s.metric, s.labels),
                "values": role_values(plan.segments, plan.step, s.role),
            }
            for s in self.inputs
        ]
        points = []
        for e in plan.expects:
            mine = self.mine(e)
            points.append(
                Checkpoint(
                    frozenset(self.identity(i, j) for i, j, _ in mine),
                    self.check(e, plan.step),
                    self.count(e, plan.step) if mine else None,
                )
            )
        test: dict[str, object] = {
            "name": name,
            "interval": _minutes(plan.step),
            "input_series": series,
        }
        return [Pending((comment, *more), test, points)]


@dataclass(frozen=True)
class Checkpoint:
    """One step a test checks: the alerts of the name that fire then, the check that lists
    them in full (labels, rendered annotations) and the one that counts them per tier."""

    firing: frozenset[Labels]
    full: dict[str, object]
    count: dict[str, object] | None  # None when nothing fires


@dataclass(frozen=True)
class Pending:
    """A test whose checks wait for ``settle``: which steps list their alerts in full is chosen
    for the whole file."""

    comments: tuple[str, ...]
    test: dict[str, object]
    points: list[Checkpoint]


def settle(tests: Tests) -> Tests:
    """``tests`` with each Pending test written out. Every alert that fires at a checked step
    is listed in full (labels, rendered annotations) at one step of the file at least; every
    other step where alerts fire counts them per tier (``count by (long_window)`` of ALERTS):
    the same alert's labels and annotations, its value aside, need not be repeated. The steps
    listed in full are chosen greedily: most alerts not listed yet, then fewest alerts, then
    earliest (an alert_rule_test lists every alert firing at its step)."""
    points = [(t, p) for t in tests if isinstance(t, Pending) for p in t.points]
    listed = {id(points[k][1]) for k in in_full([p.firing for _, p in points])}
    where = {a: (t, p) for t, p in points if id(p) in listed for a in p.firing}
    out: Tests = []
    for t in tests:
        if not isinstance(t, Pending):
            out.append(t)
            continue
        full = [p for p in t.points if id(p) in listed or not p.firing]
        counted = [p for p in t.points if p.count is not None and id(p) not in listed]
        test: dict[str, Any] = {**t.test, "alert_rule_test": [p.full for p in full]}
        comments = list(t.comments)
        if counted:
            test["promql_expr_test"] = [p.count for p in counted]
            comments.append(_listed_where(t, [p for p in full if p.firing], counted, where))
        out += [*(Comment(c) for c in comments), test]
    return out


def _listed_where(
    test: Pending,
    own: list[Checkpoint],
    counted: list[Checkpoint],
    where: dict[Labels, tuple[Pending, Checkpoint]],
) -> str:
    """The comment that says where the alerts ``test`` counts are listed in full: at its own
    steps ``own``, and in other tests of the file (by name)."""
    elsewhere: dict[int, tuple[Pending, Checkpoint]] = {}
    for p in counted:
        for alert in sorted(p.firing):
            other, q = where[alert]
            if other is not test:
                elsewhere.setdefault(id(q), (other, q))
    parts = [f"at {p.full['eval_time']}" for p in own] + [
        f'in "{other.test["name"]}" at {q.full["eval_time"]}' for other, q in elsewhere.values()
    ]
    rest = "at the other steps" if own else "here"
    return f"alerts in full {' and '.join(parts)}, counted per tier {rest}"


def in_full(firing: Sequence[frozenset[Labels]]) -> set[int]:
    """Indices of the checkpoints (the alerts firing at each) whose alerts are listed in full:
    together they list every alert firing at any of them. Greedy weighted set cover, lazily
    re-scored (a checkpoint's gain only shrinks): most alerts not yet listed, then fewest
    alerts (each is written out in full), then earliest."""
    left = set().union(*firing) if firing else set()
    heap = [(-len(f), len(f), k) for k, f in enumerate(firing) if f]
    heapq.heapify(heap)
    chosen: set[int] = set()
    while left and heap:
        _, size, k = heapq.heappop(heap)
        gain = len(firing[k] & left)
        if not gain:
            continue
        if heap and (-gain, size, k) > heap[0]:  # another may gain more now: score again
            heapq.heappush(heap, (-gain, size, k))
            continue
        chosen.add(k)
        left -= firing[k]
    return chosen


def tier_step(service: Service) -> int:
    """Minutes per test step: 5 (promtool evaluates every rule at every step, for days of
    simulated time), or 1 when a window is not a multiple of 5 minutes."""
    windows = {w for s in service.slos for t in s.alerting.tiers for w in (t.long, t.short)}
    if all(w % (COARSE_STEP * 60) == 0 for w in windows):
        return COARSE_STEP
    return 1


# --- thresholds ---------------------------------------------------------------------------------
def test_values(th: Threshold) -> tuple[Decimal, Decimal]:
    """A value on each side of the threshold, clearly apart from it, that renders without a
    rounding tie (1.0625 could print as 1.062 or 1.063)."""
    value, render_value = th.value, RENDER[th.unit]
    # 10% either side first: a threshold off by a factor of 1.5 (or 0.67) then fails the test.
    near = [(value * Decimal("1.1"), value * Decimal("0.9"))] if value > 0 else []
    if th.unit == "ratio" and Decimal(0) < value < Decimal(1):
        # keep ratios within 0..1
        candidates = [c for c in near if c[0] < 1] + [((value + 1) / 2, value / 2)]
    else:
        scale = abs(value) or Decimal(4)  # around zero: step by whole units (0.25 * 4 = 1)
        candidates = near + [
            (value + scale * Decimal(f), value - scale * Decimal(f))
            for f in ("0.25", "0.2", "0.3", "0.5", "0.1")
        ]
    for high, low in candidates:
        bad, good = (high, low) if th.op == ">" else (low, high)
        if stable(render_value, float(bad)):
            return bad, good
    raise AssertionError(f"{th.name}: no test value renders unambiguously")


@dataclass
class ThresholdScenario:
    """One threshold's test: its comment, series, checks and length in minutes."""

    comment: Comment
    name: str
    series: list[dict[str, str]]
    checks: list[dict[str, object]]
    feeds: str  # the metric its input series is
    reads: set[str]  # the metrics its rules read
    minutes: int


def threshold_tests(service: Service, th: Threshold) -> ThresholdScenario:
    parsed = as_selector(parse(th.expr))  # the builder already proved it parses
    labels = satisfy(parsed.matchers) if parsed is not None else None
    if parsed is not None and labels is not None and selects(parsed, parsed.metric, labels):
        metric, series_labels = parsed.metric, labels
        how = f"raw {parsed.metric}"
    else:
        metric, series_labels = (
            names.THRESHOLD_VALUE,
            {names.SERVICE: th.service, names.SLO: th.name},
        )
        how = (
            f"the recorded {names.THRESHOLD_VALUE} "
            "(the expression itself is checked by promtool check rules)"
        )
    value = th.value
    bad, good = test_values(th)
    for_m = -(-th.for_ // 60)
    start = 5
    stop = start + for_m + 5
    total = stop + 5
    values = [good] * start + [bad] * (stop - start) + [good] * (total - stop + 1)
    rule = rules.threshold_rules(service, th).alert
    alertname = rule["alert"]
    recorded = {**series_labels, names.SERVICE: th.service, names.SLO: th.name}
    alert_labels = {**recorded, **{k: render(v, None, {}) for k, v in rule["labels"].items()}}
    render_value = RENDER[th.unit]

    def firing(v: Decimal) -> dict[str, object]:
        if not stable(render_value, float(v)):
            raise AssertionError(f"{th.name}: test value {v} renders ambiguously")
        return {
            "exp_labels": dict(sorted(alert_labels.items())),
            "exp_annotations": {
                k: render(t, float(v), alert_labels) for k, t in rule["annotations"].items()
            },
        }

    checks: list[dict[str, object]] = [
        {"eval_time": _minutes(start - 1), "alertname": alertname, "exp_alerts": []}
    ]
    if for_m:
        checks.append(
            {"eval_time": _minutes(start + for_m - 1), "alertname": alertname, "exp_alerts": []}
        )
    checks.append(
        {"eval_time": _minutes(start + for_m), "alertname": alertname, "exp_alerts": [firing(bad)]}
    )
    checks.append({"eval_time": _minutes(stop), "alertname": alertname, "exp_alerts": []})
    side = "above" if th.op == ">" else "below"
    after = format_duration(th.for_) if th.for_ else "one evaluation"
    return ThresholdScenario(
        Comment(
            f"{th.name}: {names.number(bad)} ({side} {names.number(value)}) fires after {after}, "
            f"from {how}"
        ),
        f"{th.name}: fires {side} {names.number(value)}"
        + (f" after {format_duration(th.for_)}" if th.for_ else ""),
        [{"series": series_text(metric, series_labels), "values": _runs(values)}],
        checks,
        metric,
        promql.metric_names(parse(th.expr)) | {names.THRESHOLD_VALUE},
        total,
    )


def merged_threshold_tests(scenarios: list[ThresholdScenario]) -> Tests:
    """Thresholds that cannot see each other's input share one test group: promtool evaluates
    every rule of the file at every step of every group, so one group of the longest length
    costs a fraction of one group per threshold. Each check names its own alert, so each still
    proves its threshold alone."""
    groups: list[list[ThresholdScenario]] = []
    for scenario in scenarios:
        for group in groups:
            if all(
                scenario.feeds not in other.reads
                and other.feeds not in scenario.reads
                and scenario.feeds != other.feeds
                for other in group
            ):
                group.append(scenario)
                break
        else:
            groups.append([scenario])
    tests: Tests = []
    for group in groups:
        tests += [s.comment for s in group]
        tests.append(
            {
                "name": "; ".join(s.name for s in group),
                "interval": _minutes(INTERVAL_MINUTES),
                "input_series": [series for s in group for series in s.series],
                "alert_rule_test": sorted(
                    (check for s in group for check in s.checks),
                    key=lambda check: _minutes_of(str(check["eval_time"])),
                ),
            }
        )
    return tests


def _runs(values: list[Decimal]) -> str:
    """Gauge values as promtool runs: '0.425x4 0.925x14' (ax n is n+1 samples of a)."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        parts.append(f"{names.number(values[i])}x{j - i}" if j > i else names.number(values[i]))
        i = j + 1
    return " ".join(parts)


# --- files -----------------------------------------------------------------------------------
def tier_tests(service: Service, slo: SLO, inputs: list[InputSeries]) -> TierTests:
    if slo.by:  # groups.py builds on this module, so it is imported once this one is
        from compiler.targets.promtool.groups import GroupedTierTests

        return GroupedTierTests(service, slo, inputs)
    return TierTests(service, slo, inputs)


def service_tests(service: Service) -> tuple[TestList, TestList, list[Diagnostic]]:
    """(tests at one-minute steps, tests at coarse steps, diagnostics)."""
    fine: Tests = []
    coarse: Tests = []
    diagnostics: list[Diagnostic] = []
    period_fine = period_coarse = False  # which file holds forecast tests
    for slo in service.slos:
        if not slo.alerting.tiers and slo.alerting.exhaustion is None:
            continue
        if isinstance(slo.indicator, TimesliceIndicator):
            from compiler.targets.promtool.timeslices import timeslice_tests

            step = tier_step(service)  # evaluations; the slices stay one a minute
            found_tests, uncovered = timeslice_tests(service, slo, step)
            (coarse if step > 1 else fine).extend(found_tests)
            diagnostics += uncovered
            continue
        inputs = plan_inputs(slo)
        if inputs is None:
            diagnostics.append(
                warning(
                    slo.source,
                    "tests/uncovered",
                    f"slos '{slo.name}': cannot synthesise input series for its selectors; "
                    "its alerts have no generated tests",
                )
            )
            continue
        if slo.excluded:
            from compiler.targets.promtool import maintenance

            if maintenance.replaces_burn_tests(slo):  # the scenarios below know no windows
                continue
        step = tier_step(service)
        if slo.alerting.exhaustion is not None:  # forecast.py builds on this module
            from compiler.targets.promtool.forecast import forecast_tests

            forecast, uncovered = forecast_tests(service, slo, inputs, step)
            (coarse if step > 1 else fine).extend(forecast)
            period_coarse = period_coarse or (step > 1 and bool(forecast))
            period_fine = period_fine or (step == 1 and bool(forecast))
            diagnostics += uncovered
        if not slo.alerting.tiers:
            continue
        tests = tier_tests(service, slo, inputs)
        merged = tests.tiers(step)
        if merged is not None:
            (coarse if step > 1 else fine).extend(merged)
        else:
            plans = [
                (index, plan)
                for index, tier in enumerate(slo.alerting.tiers)
                if tier.threshold < 1
                for plan in tests.tier_plans(index, step)
            ]
            (coarse if step > 1 else fine).extend(tests.several(plans))
        # slow tiers' alerts are in the period group (windows.slow_tier)
        if any(slow_tier(tier) and tier.threshold < 1 for tier in slo.alerting.tiers):
            period_coarse = period_coarse or step > 1
            period_fine = period_fine or step == 1
        if slo.alerting.min_events is not None:
            (coarse if step > 1 else fine).extend(tests.quiet(step))
        if slo.by:
            from compiler.targets.promtool.groups import guard_tests

            guard, uncovered = guard_tests(service, slo, inputs)
            fine.extend(guard)
            diagnostics += uncovered
    reads_slis = bool(fine)
    thresholds = []
    for th in service.thresholds:
        if yields_without_input(th.expr):
            diagnostics.append(
                warning(
                    th.source,
                    "tests/uncovered",
                    f"thresholds '{th.name}': its expression returns series even when nothing "
                    "is selected (absent(), vector()), so it cannot be tested from an injected "
                    "value; promtool still checks its syntax",
                )
            )
            continue
        thresholds.append(threshold_tests(service, th))
    fine += merged_threshold_tests(thresholds)
    return (
        TestList(settle(fine), INTERVAL_MINUTES, reads_slis, bool(thresholds), period_fine),
        TestList(settle(coarse), COARSE_STEP, bool(coarse), False, period_coarse),
        diagnostics,
    )


@dataclass
class TestList:
    """The tests of one test file, its step, and the rule groups they evaluate."""

    tests: Tests
    interval: int  # minutes
    reads_slis: bool
    reads_thresholds: bool
    # the forecast's tests: its alert is in the period group, which reads the SLI group
    reads_period: bool = False


# Functions that return series when no input exists. A threshold test injects the recorded value
# of a non-selector expression; with these the rule's own output would collide with it.
SELF_STARTING = frozenset({"absent", "absent_over_time", "vector"})


def yields_without_input(expr: str) -> bool:
    return any(
        isinstance(node, promql_parser.Call) and node.func.name in SELF_STARTING
        for node in promql.walk(promql.parse(expr))
    )


def group_order(service: Service, tests: TestList) -> list[str]:
    """The rule groups ``tests`` evaluate, in the order promtool must evaluate them (alerts
    must see this minute's SLIs). `slo test` loads only these (``only_ordered_groups``): the
    period group feeds only the forecast and the slow tiers, and at 5-minute steps over days
    it cost as much as the SLIs."""
    order = []
    if service.slos and tests.reads_slis:
        order.append(names.group_sli(service.name))
    if service.slos and tests.reads_slis and tests.reads_period:
        order.append(names.group_period(service.name))
    if service.thresholds and tests.reads_thresholds:
        order.append(names.group_thresholds(service.name))
    return order


def test_file(service: Service, path: str, tests: TestList) -> str:
    document = {
        "rule_files": [posixpath.relpath(names.rules_file(service.name), posixpath.dirname(path))],
        "evaluation_interval": _minutes(tests.interval),
        "group_eval_order": group_order(service, tests),
        "tests": shared_exprs(tests.tests),
    }
    return dump(document, names.header(service.source_file))


def shared_exprs(tests: Tests) -> Tests:
    """``tests`` with each count of firing alerts that several checks query written once:
    where it first appears as ``&firing`` (``&firing-2`` for a second one), then as
    ``*firing``. Such a count repeats one expression at every step it checks."""
    uses = Counter(
        check["expr"]
        for test in tests
        if isinstance(test, dict)
        for check in test.get("promql_expr_test", ())
    )
    uses = Counter({e: n for e, n in uses.items() if promql.as_alert_count(e) is not None})
    anchors: dict[str, str] = {}
    out: Tests = []
    for test in tests:
        if not isinstance(test, dict) or "promql_expr_test" not in test:
            out.append(test)
            continue
        checks = []
        for check in test["promql_expr_test"]:
            expr = check["expr"]
            if uses[expr] > 1:
                if expr in anchors:
                    check = {**check, "expr": Alias(anchors[expr], expr)}
                else:
                    anchors[expr] = "firing" + (f"-{len(anchors) + 1}" if anchors else "")
                    check = {**check, "expr": Anchor(anchors[expr], expr)}
            checks.append(check)
        out.append({**test, "promql_expr_test": checks})
    return out


# --- the target ----------------------------------------------------------------------------
def emit(model: Model) -> Emitted:
    files: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for service in model.services:
        fine, coarse, found = service_tests(service)
        diagnostics += found
        for tests, path in (
            (fine, names.tests_file(service.name)),
            (coarse, names.burn_tests_file(service.name)),
        ):
            if tests.tests:
                files[path] = test_file(service, path, tests)
        if any(slo.excluded for slo in service.slos):
            from compiler.targets.promtool import maintenance  # it imports this module

            text, found = maintenance.test_file(service)
            diagnostics += found
            if text:
                files[names.maintenance_tests_file(service.name)] = text
        if any(slo.calendar for slo in service.slos):
            # calendar.py builds on this module, so it is imported once this one is
            from compiler.targets.promtool import calendar

            tests = calendar.service_tests(service)
            if tests.tests:
                path = names.calendar_tests_file(service.name)
                files[path] = calendar.test_file(service, path, tests)
            months = calendar.month_tests(service)
            if months.tests:
                files[names.month_tests_file(service.name)] = calendar.month_file(service, months)
    return Emitted(files, tuple(diagnostics))


# The rule files a test file loads, as the YAML writer writes them: a block list right after
# the key (read from the text: parsing every test file in full would cost seconds at 2,000).
RULE_FILES = re.compile(r"^rule_files:\n((?:- .*\n)+)", re.MULTILINE)


def rule_files_of(test_file: Path) -> tuple[Path, ...]:
    """The rule files ``test_file`` names, resolved as promtool resolves them."""
    try:
        found = RULE_FILES.search(test_file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError):
        return ()
    if found is None:
        return ()
    return tuple(
        test_file.parent / line[2:].strip().strip('"') for line in found.group(1).splitlines()
    )


ORDER = re.compile(r"^group_eval_order:\n((?:- .*\n)+)", re.MULTILINE)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


ALERTNAME = re.compile(r"^\s*alertname: (.+)$", re.MULTILINE)
EXPR_TESTS = re.compile(r"^\s*promql_expr_test:", re.MULTILINE)


def _might_record(rule: dict, selector: Selector) -> bool:
    """Whether recording ``rule`` may write a series ``selector`` selects: its name, and every
    matcher on a label the rule sets (the rule's labels override its expression's)."""
    if rule.get("record") != selector.metric:
        return False
    labels = rule.get("labels") or {}
    for m in selector.matchers:
        if m.name not in labels:
            continue
        value = str(labels[m.name])
        try:
            hit = value == m.value if m.op in ("=", "!=") else bool(re.fullmatch(m.value, value))
        except re.error:  # RE2 syntax Python does not read: it may match
            continue
        if hit != (m.op in ("=", "=~")):
            return False
    return True


def _reads(rule: dict) -> list[Selector | None]:
    """The selectors ``rule`` reads; None for one without a metric name (it may read any)."""
    return [
        promql.read_selector(node)
        for node in promql.walk(promql.parse(str(rule["expr"])))
        if isinstance(node, promql_parser.VectorSelector)
    ]


def needed_rules(groups: list[dict], alerts: set[str]) -> list[dict]:
    """``groups`` with only the alerts named ``alerts`` and the recording rules they read,
    directly or through other rules: the rest cannot change what those alerts do."""
    rules = [(gi, ri, r) for gi, g in enumerate(groups) for ri, r in enumerate(g["rules"])]
    keep = {(gi, ri) for gi, ri, r in rules if r.get("alert") in alerts}
    todo = [s for gi, ri, r in rules if (gi, ri) in keep for s in _reads(r)]
    while todo:
        selector = todo.pop()
        if selector is None:  # a read by name pattern: keep everything
            return groups
        for gi, ri, r in rules:
            if (gi, ri) not in keep and _might_record(r, selector):
                keep.add((gi, ri))
                todo += _reads(r)
    return [
        {**g, "rules": [r for ri, r in enumerate(g["rules"]) if (gi, ri) in keep]}
        for gi, g in enumerate(groups)
    ]


def alerts_checked(text: str) -> set[str] | None:
    """The names of the alerts a test file checks, when it checks nothing else: its
    alert_rule_test names and the alerts its promql_expr_test count (``count by (...)
    (ALERTS{alertname="..."})``); None when an expression reads anything else."""
    found = {a.strip().strip('"') for a in ALERTNAME.findall(text)}
    if not EXPR_TESTS.search(text):
        return found
    document = yaml.load(text, Loader=_Loader)
    for test in document.get("tests") or []:
        for check in test.get("promql_expr_test") or []:
            counted = promql.as_alert_count(str(check.get("expr", "")))
            named = [m.value for m in counted[1] if m.name == "alertname"] if counted else []
            if not named:
                return None
            found.update(named)
    return found


def only_ordered_groups(test_file: Path, scratch: Path) -> tuple[str, ...]:
    """``promtool test rules`` arguments for ``test_file`` with its rule files cut down to the
    groups its ``group_eval_order`` names, written in ``scratch``. promtool evaluates every
    group it loads at every step, and the groups left out feed none of the alerts the file
    tests, so the outcome is the same as on the whole files, at a fraction of the cost. A file
    that tests alerts only also loses the rules those alerts do not read (``needed_rules``):
    a burn test of a slow tier needs the period group's windows, not its 365-day record."""
    text = test_file.read_text("utf-8")
    found = ORDER.search(text)
    if found is None:
        raise ValueError(f"{test_file}: no group_eval_order")
    wanted = {line[2:].strip().strip('"') for line in found.group(1).splitlines()}
    alerts = alerts_checked(text)
    kept = []
    for i, rule_file in enumerate(rule_files_of(test_file)):
        document = yaml.load(rule_file.read_text("utf-8"), Loader=_Loader)
        groups = [g for g in document["groups"] if g["name"] in wanted]
        if alerts is not None:
            groups = needed_rules(groups, alerts)
        cut = scratch / f"{i}-{rule_file.name}"
        cut.write_text(yaml.dump({"groups": groups}, Dumper=_Dumper, sort_keys=False), "utf-8")
        kept.append(f"- {cut.as_posix()}\n")
    if not kept:
        raise ValueError(f"{test_file}: no rule files")
    lean = scratch / test_file.name
    lean.write_text(RULE_FILES.sub(lambda _: "rule_files:\n" + "".join(kept), text, 1), "utf-8")
    return ("test", "rules", str(lean))


def proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    """`promtool test rules` on each test file: they are independent, and promtool uses about
    one core each, so `slo test` runs them side by side. Each reads its test file and the rule
    files it names, which is what `slo test`'s result cache keys a passed run on."""
    tests = matching(files, posixpath.dirname(names.tests_file("*")) + "/*.yml")
    return [
        ToolRun(
            f"promtool test rules {(out_dir / path).as_posix()}",
            "promtool",
            ("test", "rules", str(out_dir / path)),
            (out_dir / path, *rule_files_of(out_dir / path)),
            functools.partial(only_ordered_groups, out_dir / path),
        )
        for path in tests
    ]


TARGET = Target("promtool-tests", emit, per_service=True, proofs=proofs)
