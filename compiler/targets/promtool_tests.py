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

Every expectation comes from simulate.py (exact Prometheus semantics) and lists *all* alerts of
that name at that minute, so a tier firing early or late fails the test.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import promql_parser

from compiler import conventions as names
from compiler.diagnostics import Diagnostic, warning
from compiler.durations import format_duration
from compiler.model import SLO, BurnTier, LatencyIndicator, Model, RatioIndicator, Service, Threshold
from compiler.spec import promql
from compiler.targets import prometheus_rules as rules
from compiler.targets.humanize import RENDER, humanize_percentage, stable
from compiler.targets.render import render
from compiler.targets.simulate import BASE, Simulation, Timeline
from compiler.targets.synth import matches, satisfy, selects, series_text
from compiler.targets.yamltext import Comment, dump

INTERVAL_MINUTES = 1
COARSE_STEP = 5  # minutes per step for tiers with long windows beyond COARSE_AFTER
COARSE_AFTER = 6 * 3600
TRAFFIC = 1000  # requests per minute in generated scenarios
ABOVE, BELOW = Decimal("1.1"), Decimal("0.9")


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
    if isinstance(ind, LatencyIndicator):
        labels = satisfy(ind.histogram.matchers)
        if labels is None:
            return None
        le = rules.le_matcher(ind.threshold)
        bucket_value = rules._go_float(ind.threshold)
        if not matches(le, bucket_value):
            return None
        return [
            InputSeries(f"{ind.histogram.metric}_bucket", {**labels, "le": bucket_value}, "good"),
            InputSeries(f"{ind.histogram.metric}_count", labels, "total"),
        ]
    counters = [c for c in (ind.errors, ind.good, ind.total) if c is not None]
    if any(c.selector is None for c in counters):
        return None
    total = ind.total.selector
    part, role, other = (ind.errors.selector, "errors", "good") if ind.errors else (ind.good.selector, "good", "errors")
    part_labels = satisfy(part.matchers)
    if part_labels is None or not selects(part, part.metric, part_labels):
        return None
    if part.metric == total.metric and selects(total, total.metric, part_labels):
        rest = satisfy(total.matchers, avoid=part.matchers)
        if rest is None or not selects(total, total.metric, rest) or selects(part, total.metric, rest):
            return None
        return [InputSeries(part.metric, part_labels, role), InputSeries(total.metric, rest, other)]
    whole = satisfy(total.matchers, avoid=part.matchers if part.metric == total.metric else ())
    if whole is None or not selects(total, total.metric, whole) or selects(part, total.metric, whole):
        return None
    return [InputSeries(part.metric, part_labels, role), InputSeries(total.metric, whole, "total")]


def counters_for(slo: SLO, inputs: list[InputSeries], errors: list[Fraction], total: list[Fraction]) -> Timeline | None:
    """What ``slo``'s rules see when ``inputs`` carry the given errors/total increments."""
    feed = {"errors": errors, "total": total, "good": [t - e for t, e in zip(total, errors)]}
    zero = [Fraction(0)] * len(total)

    def summed(selector, metric=None, extra=()):
        out, hit = list(zero), False
        for s in inputs:
            if s.metric == (metric or selector.metric) and all(
                matches(m, s.labels.get(m.name, "")) for m in selector.matchers + tuple(extra)
            ):
                hit = True
                out = [a + b for a, b in zip(out, feed[s.role])]
        return out, hit

    ind = slo.indicator
    if isinstance(ind, LatencyIndicator):
        tot, hit = summed(ind.histogram, f"{ind.histogram.metric}_count")
        good, _ = summed(ind.histogram, f"{ind.histogram.metric}_bucket", (rules.le_matcher(ind.threshold),))
        return Timeline([t - g for t, g in zip(tot, good)], tot) if hit else None
    if any(c is not None and c.selector is None for c in (ind.errors, ind.good, ind.total)):
        return None  # cannot evaluate a $window expression here; plan_inputs refuses such SLOs anyway
    tot, hit = summed(ind.total.selector)
    if not hit:
        return None
    if ind.errors is not None:
        err, _ = summed(ind.errors.selector)
        return Timeline(err, tot)
    good, _ = summed(ind.good.selector)
    return Timeline([t - g for t, g in zip(tot, good)], tot)


def encode(values: list[Fraction]) -> str:
    """Cumulative counter values in promtool's expanding notation: '0+10x59 590+0x30'.

    promtool expands `a+bxn` by adding b to a float64 n times, so a run can end a hair above its
    exact value (15.84 added 59 times is 934.5600000000005). If the next run started at the exact
    934.56, the counter would step down and rate() would see a reset: a spurious burst of errors.
    So a run never starts below the float where the previous one ended."""
    parts, i, n = [], 0, len(values)
    reached: float | None = None  # the float64 promtool holds for the previous sample
    while i < n:
        start = _num(values[i])
        if reached is not None and float(start) < reached:
            start = repr(reached)
        j = i
        if i + 1 < n:
            step = values[i + 1] - values[i]
            j = i + 1
            while j + 1 < n and values[j + 1] - values[j] == step:
                j += 1
            parts.append(f"{start}+{_num(step)}x{j - i}")
            reached = float(start)
            for _ in range(j - i):
                reached += float(_num(step))
        else:
            parts.append(start)
        i = j + 1
    return " ".join(parts)


def _num(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    d = Decimal(value.numerator) / Decimal(value.denominator)
    return format(d.normalize(), "f")


def _cumulative(increments: list[Fraction]) -> list[Fraction]:
    out, total = [], Fraction(0)
    for inc in increments:
        total += inc
        out.append(total)
    return out


def _minutes(t: int) -> str:
    return format_duration(t * 60) if t else "0s"


# --- expectations ---------------------------------------------------------------------------------
class ServiceScenario:
    """One test group: raw inputs shaped for ``target`` and the simulation of every SLO they touch.

    Times are step indexes of the timeline (1 or 5 minutes each)."""

    def __init__(self, service: Service, target: SLO, inputs: list[InputSeries], timeline: Timeline):
        self.service = service
        self.inputs = inputs
        self.timeline = timeline
        self.step = timeline.step
        self.sims: list[Simulation] = []
        for slo in service.slos:
            if not slo.alerting.tiers:
                continue
            seen = counters_for(slo, inputs, timeline.errors, timeline.total)
            if seen is not None:
                self.sims.append(Simulation(slo, Timeline(seen.errors, seen.total, timeline.step)))
        self.target = next(s for s in self.sims if s.slo is target)

    def clear(self, t: int) -> bool:
        if t < 0 or not all(sim.clear(t) for sim in self.sims):
            return False
        for sim, tier in self.firing(t):
            if not stable(humanize_percentage, float(sim.ratio(tier.long, t))):
                return False
        return True

    def firing(self, t: int) -> list[tuple[Simulation, BurnTier]]:
        return [(sim, tier) for sim in self.sims for tier in sim.slo.alerting.tiers if sim.firing(tier, t)]

    def check(self, t: int, alertname: str) -> dict:
        alerts = []
        for sim, tier in self.firing(t):
            if sim.slo.alerting.name != alertname:
                continue
            rule = rules.burn_alert(self.service, sim.slo, tier)
            value = float(sim.ratio(tier.long, t))
            labels = {k: render(v, None, {}) for k, v in rule["labels"].items()}
            alerts.append(
                {
                    "exp_labels": dict(sorted(labels.items())),
                    "exp_annotations": {k: render(v, value, labels) for k, v in rule["annotations"].items()},
                }
            )
        alerts.sort(key=lambda a: sorted(a["exp_labels"].items()))
        return {"eval_time": _minutes(t * self.step), "alertname": alertname, "exp_alerts": alerts}

    def group(self, name: str, comment: str, checks: list[dict]) -> list:
        feed = {
            "errors": self.timeline.errors,
            "total": self.timeline.total,
            "good": [t - e for t, e in zip(self.timeline.total, self.timeline.errors)],
        }
        series = [
            {"series": series_text(s.metric, s.labels), "values": encode(_cumulative(feed[s.role]))} for s in self.inputs
        ]
        return [
            Comment(comment),
            {"name": name, "interval": _minutes(self.step), "input_series": series, "alert_rule_test": checks},
        ]


def _nice(value: Decimal) -> Fraction:
    """A ratio with four significant digits, so inputs stay short and exact in decimal."""
    return Fraction(str(+value.normalize().quantize(Decimal(1).scaleb(value.adjusted() - 3))))


def _traffic(slo: SLO) -> int:
    traffic = TRAFFIC
    if slo.alerting.min_events is not None and slo.alerting.tiers:
        shortest = min(t.long for t in slo.alerting.tiers) // 60
        while traffic * shortest < 2 * slo.alerting.min_events:
            traffic *= 10
    return traffic


def _first(predicate, start: int, stop: int) -> int | None:
    for t in range(max(start, 0), stop + 1):
        if predicate(t):
            return t
    return None


def tier_step(service: Service, tier: BurnTier) -> int:
    """Minutes per test step: 1, or 5 for tiers whose long window exceeds COARSE_AFTER (promtool
    would otherwise evaluate every rule once a minute for days of simulated time)."""
    windows = {w for s in service.slos for t in s.alerting.tiers for w in (t.long, t.short)}
    if tier.long > COARSE_AFTER and all(w % (COARSE_STEP * 60) == 0 for w in windows):
        return COARSE_STEP
    return 1


def tier_tests(service: Service, slo: SLO, tier: BurnTier, inputs: list[InputSeries]) -> list:
    label = f"{slo.name} {tier.severity} {format_duration(tier.long)}/{format_duration(tier.short)}"
    alertname = slo.alerting.name
    threshold = Decimal(tier.threshold)
    traffic = Fraction(_traffic(slo))
    step = tier_step(service, tier)
    long_s, short_s, base_s = tier.long // 60 // step, tier.short // 60 // step, BASE // step
    out: list = []

    def scenario(segments) -> ServiceScenario:
        return ServiceScenario(service, slo, inputs, Timeline.build(segments, step))

    # fires, then clears
    above = min(_nice(threshold * ABOVE), Fraction(1))
    if above > Fraction(threshold):
        horizon = 3 * long_s + 60 // step
        probe = scenario([(long_s, 0, traffic), (horizon, above * traffic, traffic)])
        fire = _first(
            lambda t: probe.target.firing(tier, t) and probe.clear(t) and probe.clear(t - 1), long_s + 1, long_s + horizon
        )
        if fire is not None:
            stop = fire + 1
            # The short window reads 5m rates, so it forgets errors a base window late.
            bound = short_s + 1 + (base_s if tier.short > BASE * 60 else 0)
            end = stop + bound
            run = scenario([(long_s, 0, traffic), (stop - long_s, above * traffic, traffic), (bound + 1, 0, traffic)])
            cleared = _first(lambda t: not run.target.firing(tier, t), stop, end)
            if cleared is None:  # would mean the windows do not do what the README promises
                raise AssertionError(f"{label}: alert still firing {bound * step}m after errors stop")
            checks = [run.check(fire - 1, alertname), run.check(fire, alertname)]
            after = _first(run.clear, end, end + 1)
            if after is not None:
                checks.append(run.check(after, alertname))
            ratio = humanize_percentage(float(above))
            out += run.group(
                f"{label}: fires at {ratio} errors, clears after",
                f"{label}: {ratio} errors after a clean {format_duration(tier.long)} fire it at "
                f"{_minutes(fire * step)}; errors stop at {_minutes(stop * step)}, cleared by {_minutes(end * step)}",
                checks,
            )

    # just below never fires
    below = _nice(threshold * BELOW)
    steady = long_s + short_s + base_s
    run = scenario([(steady + 2, below * traffic, traffic)])
    checks = []
    for t in sorted({long_s // 2, steady}):
        at = _first(run.clear, t, t + 2)
        if at is not None:
            if run.target.firing(tier, at):
                raise AssertionError(f"{label}: fires below its threshold")
            checks.append(run.check(at, alertname))
    if checks:
        ratio = humanize_percentage(float(below))
        out += run.group(f"{label}: never fires at {ratio} errors", f"{label}: {ratio} errors, just below the threshold", checks)
    return out


def quiet_tests(service: Service, slo: SLO, inputs: list[InputSeries]) -> list:
    """Low-traffic guard: a total outage with fewer than min_events requests pages nobody."""
    longest = max(t.long for t in slo.alerting.tiers) // 60
    rate = Fraction(slo.alerting.min_events) / (4 * longest)
    minutes = min(t.long for t in slo.alerting.tiers) // 60 + 10
    run = ServiceScenario(service, slo, inputs, Timeline.build([(minutes, rate, rate)]))
    checks = [run.check(t, slo.alerting.name) for t in (10, minutes) if run.clear(t)]
    if not checks or any(c["exp_alerts"] for c in checks):
        return []
    return run.group(
        f"{slo.name}: low traffic does not alert",
        f"{slo.name}: every request fails, but fewer than {names.number(slo.alerting.min_events)} requests per window",
        checks,
    )


# --- thresholds ---------------------------------------------------------------------------------
def threshold_tests(service: Service, th: Threshold) -> list:
    parsed = None
    try:
        from compiler.spec.promql import as_selector, parse

        parsed = as_selector(parse(th.expr))
    except Exception:  # noqa: BLE001 - any parse trouble means "inject the recorded value"
        parsed = None
    labels = satisfy(parsed.matchers) if parsed is not None else None
    if parsed is not None and labels is not None and selects(parsed, parsed.metric, labels):
        metric, series_labels = parsed.metric, labels
        how = f"raw {parsed.metric}"
    else:
        metric, series_labels = names.THRESHOLD_VALUE, {names.SERVICE: th.service, names.SLO: th.name}
        how = f"the recorded {names.THRESHOLD_VALUE} (the expression itself is checked by promtool check rules)"
    value = th.value
    delta = abs(value) / 4 if value else Decimal(1)
    if th.unit == "ratio" and Decimal(0) < value < Decimal(1):
        bad = (value + 1) / 2 if th.op == ">" else value / 2
        good = value / 2 if th.op == ">" else (value + 1) / 2
    else:
        bad = value + delta if th.op == ">" else value - delta
        good = value - delta if th.op == ">" else value + delta
    for_m = -(-th.for_ // 60)
    start = 5
    stop = start + for_m + 5
    total = stop + 5
    values = [good] * start + [bad] * (stop - start) + [good] * (total - stop + 1)
    rule = rules.threshold_rules(service, th)[2]
    alertname = rule["alert"]
    recorded = {**series_labels, names.SERVICE: th.service, names.SLO: th.name}
    alert_labels = {**recorded, **{k: render(v, None, {}) for k, v in rule["labels"].items()}}
    render_value = RENDER[th.unit]

    def firing(v: Decimal) -> dict:
        if not stable(render_value, float(v)):
            raise AssertionError(f"{th.name}: test value {v} renders ambiguously")
        return {
            "exp_labels": dict(sorted(alert_labels.items())),
            "exp_annotations": {k: render(t, float(v), alert_labels) for k, t in rule["annotations"].items()},
        }

    checks = [{"eval_time": _minutes(start - 1), "alertname": alertname, "exp_alerts": []}]
    if for_m:
        checks.append({"eval_time": _minutes(start + for_m - 1), "alertname": alertname, "exp_alerts": []})
    checks.append({"eval_time": _minutes(start + for_m), "alertname": alertname, "exp_alerts": [firing(bad)]})
    checks.append({"eval_time": _minutes(stop), "alertname": alertname, "exp_alerts": []})
    side = "above" if th.op == ">" else "below"
    return [
        Comment(f"{th.name}: {names.number(bad)} ({side} {names.number(value)}) fires after {format_duration(th.for_) if th.for_ else 'one evaluation'}, from {how}"),
        {
            "name": f"{th.name}: fires {side} {names.number(value)}" + (f" after {format_duration(th.for_)}" if th.for_ else ""),
            "interval": _minutes(INTERVAL_MINUTES),
            "input_series": [{"series": series_text(metric, series_labels), "values": _runs(values)}],
            "alert_rule_test": checks,
        },
    ]


def _runs(values: list[Decimal]) -> str:
    """Gauge values as promtool runs: '0.425x4 0.925x14' (ax n is n+1 samples of a)."""
    parts, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        parts.append(f"{names.number(values[i])}x{j - i}" if j > i else names.number(values[i]))
        i = j + 1
    return " ".join(parts)


# --- files ------------------------------------------------------------------------------------------
def service_tests(service: Service) -> tuple[list, list, list[Diagnostic]]:
    """(tests at one-minute steps, tests at coarse steps, diagnostics)."""
    fine: list = []
    coarse: list = []
    diagnostics: list[Diagnostic] = []
    for slo in service.slos:
        if not slo.alerting.tiers:
            continue
        inputs = plan_inputs(slo)
        if inputs is None:
            diagnostics.append(
                warning(
                    slo.source,
                    "tests/uncovered",
                    f"slos '{slo.name}': cannot synthesise input series for its selectors; its alerts have no generated tests",
                )
            )
            continue
        for tier in slo.alerting.tiers:
            if tier.threshold < 1:
                (coarse if tier_step(service, tier) > 1 else fine).extend(tier_tests(service, slo, tier, inputs))
        if slo.alerting.min_events is not None:
            fine += quiet_tests(service, slo, inputs)
    for th in service.thresholds:
        if yields_without_input(th.expr):
            diagnostics.append(
                warning(
                    th.source,
                    "tests/uncovered",
                    f"thresholds '{th.name}': its expression returns series even when nothing is selected "
                    "(absent(), vector()), so it cannot be tested from an injected value; promtool still checks its syntax",
                )
            )
            continue
        fine += threshold_tests(service, th)
    return fine, coarse, diagnostics


# Functions that return series when no input exists. A threshold test injects the recorded value
# of a non-selector expression; with these the rule's own output would collide with it.
SELF_STARTING = frozenset({"absent", "absent_over_time", "vector"})


def yields_without_input(expr: str) -> bool:
    found = []
    promql_parser.walk(
        promql.parse(expr), lambda node: found.append(node) if isinstance(node, promql_parser.Call) and node.func.name in SELF_STARTING else None
    )
    return bool(found)


def group_order(service: Service) -> list[str]:
    order = []
    if service.slos:
        order += [names.group_sli(service.name), names.group_period(service.name)]
        if any(s.alerting.tiers for s in service.slos):
            order.append(names.group_alerts(service.name))
    if service.thresholds:
        order.append(names.group_thresholds(service.name))
    return order


def test_file(service: Service, path: str, interval: int, tests: list) -> str:
    document = {
        "rule_files": [posixpath.relpath(names.rules_file(service.name), posixpath.dirname(path))],
        "evaluation_interval": _minutes(interval),
        # Without an order promtool evaluates groups in map order; alerts must see this minute's SLIs.
        "group_eval_order": group_order(service),
        "tests": tests,
    }
    return dump(document, names.header(service.source_file))


def emit(model: Model) -> tuple[dict[str, str], list[Diagnostic]]:
    out: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    for service in model.services:
        fine, coarse, found = service_tests(service)
        diagnostics += found
        for tests, interval, path in (
            (fine, INTERVAL_MINUTES, names.tests_file(service.name)),
            (coarse, COARSE_STEP, names.slow_tests_file(service.name)),
        ):
            if tests:
                out[path] = test_file(service, path, interval, tests)
    return out, diagnostics
