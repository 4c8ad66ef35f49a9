"""promtool tests for grouped SLOs (``by``): one group fails, another stays healthy.

Each burn-rate scenario of a grouped SLO (testfiles.TierTests) runs on two groups at once:
  * the failing group's input series carry the scenario's errors, and its alerts are expected
    with its group labels (``region="failing"``) and annotations that name it;
  * a healthy group (``region="healthy"``) has the same traffic and no error series at all (its
    zero comes from its total, per group): it never fires, and since every check lists every
    alert of that name, an alert of the healthy group fails the test, as does a rule that sums
    the groups together (the failing one's errors then spread over twice the traffic).
Other SLOs of the service that read the same series are simulated per group of theirs.

And the cardinality guard: ``max_groups + 1`` groups fire SLOGroupsOverLimit exactly when its
``for`` has passed (absent one step before), ``max_groups`` groups never do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from fractions import Fraction

from compiler.core import conventions as names
from compiler.core.diagnostics import Diagnostic, warning
from compiler.core.model import (
    SLO,
    LatencyIndicator,
    Matcher,
    Selector,
    Service,
    TimesliceIndicator,
)
from compiler.targets import prometheus as rules
from compiler.targets.promtool import scenarios
from compiler.targets.promtool.render import bind, render
from compiler.targets.promtool.simulate import Simulation, Timeline
from compiler.targets.promtool.synth import matches, regex_examples, selects, series_text
from compiler.targets.promtool.testfiles import (
    InputSeries,
    Tests,
    TierTests,
    counters_for,
    encode,
    touches,
)
from compiler.text.yamltext import Comment

FAILING, HEALTHY = "failing", "healthy"  # the group label values, where the selectors allow
SLOW = "slow"  # a third group's, where a test runs two scenarios at once (forecast.py)
# The guard's test writes max_groups + 1 series per input series; beyond this it is not written.
MAX_GUARD_GROUPS = 200
GUARD_TRAFFIC = 60  # events per minute of each group in the guard's test


def selectors(slo: SLO) -> list[Selector]:
    ind = slo.indicator
    if isinstance(ind, LatencyIndicator):
        return [ind.histogram]
    if isinstance(ind, TimesliceIndicator):
        return []  # a threshold's SLO: never grouped
    counters = (ind.total, ind.errors, ind.good)
    return [c.selector for c in counters if c is not None and c.selector is not None]


def _label_matchers(slo: SLO, label: str) -> list[Matcher]:
    return [m for sel in selectors(slo) for m in sel.matchers if m.name == label]


def label_values(slo: SLO, label: str, wanted: Sequence[str]) -> list[str]:
    """Values of ``label`` that every matcher of the SLO's selectors on it accepts: ``wanted``
    first, then examples of the matchers' own values (an SLO that selects ``region=~"eu-.*"``
    gets ``eu-`` values)."""
    own = _label_matchers(slo, label)
    candidates = list(wanted)
    for m in own:
        examples = [m.value] if m.op == "=" else regex_examples(m.value) if m.op == "=~" else []
        candidates += examples + [f"{e}{w}" for e in examples for w in wanted]
    found: dict[str, None] = {}  # insertion-ordered, and a linear membership test
    for value in candidates:
        if value and value not in found and all(matches(m, value) for m in own):
            found[value] = None
    return list(found)


def _roles(slo: SLO, s: InputSeries) -> tuple[bool, ...]:
    """Which of the SLO's selectors select ``s`` (relabelling must not change it)."""
    metric = s.metric
    out = []
    for sel in selectors(slo):
        if isinstance(slo.indicator, LatencyIndicator):
            base = sel.metric
            out.append(
                metric in (f"{base}_bucket", f"{base}_count") and selects(sel, base, s.labels)
            )
        else:
            out.append(selects(sel, metric, s.labels))
    return tuple(out)


def relabel(slo: SLO, inputs: list[InputSeries], group: dict[str, str]) -> list[InputSeries]:
    return [InputSeries(s.metric, {**s.labels, **group}, s.role) for s in inputs]


def groups_for(slo: SLO, inputs: list[InputSeries]) -> tuple[dict[str, str], dict[str, str]]:
    """(the failing group's labels, the healthy group's, or {} when the selectors allow only
    one group), such that the SLO's selectors select each input series as before."""
    before = [_roles(slo, s) for s in inputs]

    def keeps(group: dict[str, str]) -> bool:
        return [_roles(slo, s) for s in relabel(slo, inputs, group)] == before

    options = {label: label_values(slo, label, (FAILING, HEALTHY)) for label in slo.by}
    failing = {label: values[0] for label, values in options.items() if values}
    if len(failing) < len(slo.by) or not keeps(failing):
        return {}, {}
    for label, values in options.items():
        for value in values[1:]:
            healthy = {**failing, label: value}
            if keeps(healthy):
                return failing, healthy
    return failing, {}


def third_group(
    slo: SLO, inputs: list[InputSeries], failing: dict[str, str], healthy: dict[str, str]
) -> dict[str, str]:
    """A group's labels other than ``failing``'s and ``healthy``'s, such that the SLO's
    selectors select each input series as before ({} when they allow no third group)."""
    before = [_roles(slo, s) for s in inputs]
    for label in slo.by:
        for value in label_values(slo, label, (FAILING, HEALTHY, SLOW)):
            group = {**failing, label: value}
            if group in (failing, healthy):
                continue
            if [_roles(slo, s) for s in relabel(slo, inputs, group)] == before:
                return group
    return {}


class GroupedTierTests(TierTests):
    """TierTests for a grouped SLO: its failing group, a healthy one, and every group of the
    other SLOs that read the same series (simulation index -> SLO, group labels, its inputs)."""

    def __init__(self, service: Service, slo: SLO, inputs: list[InputSeries]):
        failing, healthy = groups_for(slo, inputs)
        own = relabel(slo, inputs, failing)
        # No error series in the healthy group: its errors are the zero its total gives; what
        # feeds a good or total series is the scenario's total.
        calm = [
            InputSeries(s.metric, s.labels, "total")
            for s in relabel(slo, inputs, healthy)
            if s.role != "errors"
        ]
        everything = own + (calm if healthy else [])
        self.service, self.slo, self.inputs = service, slo, everything
        self.healthy = healthy
        self.members: list[tuple[SLO, dict[str, str], list[InputSeries]]] = [
            (slo, failing, everything)
        ]
        probe = Timeline.build([(1, 0, 1)])
        for other in service.slos:
            if other is slo or not other.alerting.tiers or not touches(other, everything):
                continue
            parts: dict[tuple[str, ...], list[InputSeries]] = {}
            for s in everything:
                key = tuple(s.labels.get(label, "") for label in other.by)
                parts.setdefault(key, []).append(s)
            for key, part in sorted(parts.items()):
                if counters_for(other, part, probe) is not None:
                    labels = {label: v for label, v in zip(other.by, key) if v}
                    self.members.append((other, labels, part))
        self.slos = [member[0] for member in self.members]
        self.solo = len(self.members) == 1

    def factory(self, timeline: Timeline) -> list[Simulation]:
        interval = self.service.evaluation_interval
        sims = [Simulation(scenarios.as_tested(self.slo), timeline, interval)]
        for other, _, part in self.members[1:]:
            seen = counters_for(other, part, timeline)
            assert seen is not None  # members whose selectors see no total were left out
            sims.append(Simulation(scenarios.as_tested(other), seen, interval))
        return sims

    @functools.cache  # noqa: B019 - one GroupedTierTests per SLO and compile
    def alert(self, i: int, j: int) -> tuple[dict[str, str], dict[str, Callable[[float], str]]]:
        """As TierTests.alert, with the group's labels, which come with the alert's series."""
        slo, group, _ = self.members[i]
        rule = rules.burn_alert(self.service, slo, slo.alerting.tiers[j])
        labels = {**group, **{k: render(v, None, {}) for k, v in rule["labels"].items()}}
        return dict(sorted(labels.items())), {
            k: bind(v, labels) for k, v in rule["annotations"].items()
        }

    def group(self, plan: scenarios.Plan, name: str, comment: str, *more: str) -> Tests:
        failing = ", ".join(f"{k}={v}" for k, v in self.members[0][1].items())
        if self.healthy:
            healthy = ", ".join(f"{k}={v}" for k, v in self.healthy.items())
            note = f"only in {failing}, while {healthy} has no errors and stays silent"
            # before the colon of a comment that introduces the tiers' lines
            comment = f"{comment[:-1]}; {note}:" if comment.endswith(":") else f"{comment}; {note}"
            name += f" ({failing} only)"
        return super().group(plan, name, comment, *more)


# --- the cardinality guard ---------------------------------------------------------------------
def guard_tests(service: Service, slo: SLO, inputs: list[InputSeries]) -> tuple[Tests, list]:
    """Tests of SLOGroupsOverLimit at one-minute steps, or a warning why there are none."""
    uncovered: list[Diagnostic] = []
    count = slo.max_groups + 1
    label = slo.by[0]
    # Past the largest guard a test can hold, do not even build the values (max_groups may be
    # in the hundred thousands).
    wanted = [f"g{n}" for n in range(1, count + 1)] if count <= MAX_GUARD_GROUPS else []
    values = label_values(slo, label, wanted)[:count]
    feeding = [s for s in inputs if s.role != "errors"]  # no errors: only the count matters
    if count > MAX_GUARD_GROUPS or len(values) < count or not feeding:
        reason = (
            f"more than {MAX_GUARD_GROUPS - 1} groups"
            if count > MAX_GUARD_GROUPS
            else f"not {count} values of '{label}' its selectors select"
        )
        uncovered.append(
            warning(
                slo.source,
                "tests/uncovered",
                f"slos '{slo.name}': its {names.GROUPS_ALERT} guard has no generated test "
                f"({reason}); promtool still checks its syntax",
            )
        )
        return [], uncovered
    fires = 1 + rules.GROUPS_FOR // 60  # minutes: the count exists from the second sample on
    rule = rules.groups_alert(service, slo)
    labels = dict(sorted({k: render(v, None, {}) for k, v in rule["labels"].items()}.items()))
    counter = encode([(Fraction(GUARD_TRAFFIC), fires + 1)])

    def scenario(groups: int, firing: bool) -> dict[str, object]:
        series = [
            {"series": series_text(s.metric, {**s.labels, label: value}), "values": counter}
            for value in values[:groups]
            for s in feeding
        ]
        checks: list[dict[str, object]] = [
            {"eval_time": f"{fires - 1}m", "alertname": names.GROUPS_ALERT, "exp_alerts": []}
        ]
        expected = []
        if firing:
            annotations = {
                k: render(v, float(groups), labels) for k, v in rule["annotations"].items()
            }
            expected = [{"exp_labels": labels, "exp_annotations": annotations}]
        checks.append(
            {"eval_time": f"{fires}m", "alertname": names.GROUPS_ALERT, "exp_alerts": expected}
        )
        outcome = f"fires after {rules.GROUPS_FOR // 60}m" if firing else "never fires"
        return {
            "name": f"{slo.name}: {groups} groups by {label} {outcome}",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": checks,
        }

    return [
        Comment(
            f"{slo.name}: {count} groups by {label}, one more than max_groups, fire "
            f"{names.GROUPS_ALERT} once they lasted {rules.GROUPS_FOR // 60}m; "
            f"{slo.max_groups} never do"
        ),
        scenario(count, True),
        scenario(slo.max_groups, False),
    ], uncovered
