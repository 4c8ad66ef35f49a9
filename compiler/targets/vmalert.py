"""vmalert rule files: the Prometheus rules' series, names, labels and values, for VictoriaMetrics.

Only services whose spec lists ``vmalert`` in ``engines`` get them. The expressions are the
Prometheus target's (targets/prometheus.py), changed where vmalert differs (README, "Rule
engines"):
  1. vmalert writes its results asynchronously through remote write, and VictoriaMetrics
     shows a new series seconds later: no rule reads what the same evaluation recorded. The
     window sizes inline the raw heads of every SLO and kind; error ratios, burn rates and
     alerts recompute head + body (the window less one base window, recorded one base window
     ago); the period ratio reads its record one period-group interval ago; threshold alerts
     evaluate the threshold's expression.
  2. Every group sends ``nocache=1``: without it VictoriaMetrics answers a query for "now" as of
     ``-search.latencyOffset`` ago and so reads every recorded piece late.
Besides one file per service, ``vmalert/replay.yml`` holds every recording rule of the tree,
one rule per window size, in dependency order, for `vmalert -replay` (history).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import (
    SLO,
    VMALERT_ENGINE,
    LatencyIndicator,
    Model,
    Service,
    TimesliceIndicator,
)
from compiler.core.windows import (
    Layout,
    current_burn_window,
    layout,
    period_group_interval,
    service_windows,
    slos_by_window,
    slow_tier,
)
from compiler.spec.promql import render_selector
from compiler.targets import kubernetes
from compiler.targets.prometheus import (
    RecordingRule,
    RuleItem,
    bad_slices,
    burn_alert,
    burn_threshold,
    by_clause,
    errors_increase,
    events,
    events_in,
    excluding,
    forecast_alerts,
    guard_alerts,
    guard_records,
    latency_count,
    period_events,
    period_ratio_expr,
    period_rules,
    ratio_expr,
    raw_rules,
    service_by,
    service_selector,
    size_expr,
    sizes_rule,
    slices,
    slo_series_labels,
    threshold_rules,
    total_increase,
)
from compiler.targets.protocol import Document, EachFile, Emitted, Holds, Proof, Target, matching
from compiler.text.yamltext import Comment, dump

# Sent with every query of every group (vmalert's group ``params``).
QUERY_PARAMS = {"nocache": ["1"]}


def applies(service: Service) -> bool:
    return VMALERT_ENGINE in service.engines


def recording(item: RuleItem) -> RecordingRule | None:
    if isinstance(item, Comment) or "record" not in item:
        return None
    return cast(RecordingRule, item)


# --- expressions ------------------------------------------------------------------------------
def raw_increase(slo: SLO, kind: str, window: int) -> str:
    """The SLO's ``kind`` events over the raw ``window``, from the counters alone."""
    if isinstance(slo.indicator, TimesliceIndicator):
        return excluding(slo, window, timeslice_increase(slo.indicator, kind, window))
    total = total_increase(slo, window)
    if kind == names.TOTAL:
        return excluding(slo, window, total)
    if kind == names.ERRORS:
        return excluding(slo, window, errors_increase(slo, window, total))
    return excluding(slo, window, f"{covered(slo, window)} * 0 + {window}")


def timeslice_increase(indicator: TimesliceIndicator, kind: str, window: int) -> str:
    """A time-slice SLO's slices over the raw ``window``: as the Prometheus rules count them,
    over VictoriaMetrics' ranges, which leave out their start (README, "Time-slice SLOs")."""
    total = slices(indicator.expr, window, indicator.slice, left_open=True)
    if kind == names.TOTAL:
        return total
    if kind == names.ERRORS:
        bad = slices(bad_slices(indicator), window, indicator.slice, left_open=True)
        return f"{bad} or on() 0 * {total}"
    return f"{total} * 0 + {window}"


def covered(slo: SLO, window: int) -> str:
    """A series exactly when Prometheus' ``increase()`` of the total over ``window`` gives one:
    when some total series has two samples in [t-window, t]. VictoriaMetrics' ``increase()``
    needs one sample in (t-window, t] (it assumes a counter's first sample follows a 0), so
    read alone it would count one base window more of data when a counter first appears.
    Counting the samples over one millisecond more, (t-window-1ms, t], is Prometheus'
    condition on both engines. A ``$window`` expression is the user's: read as written."""
    ind = slo.indicator
    if isinstance(ind, TimesliceIndicator):
        return total_increase(slo, window)  # a series exactly while a slice has data
    if isinstance(ind, LatencyIndicator):
        selector = latency_count(ind)
    elif ind.total.selector is not None:
        selector = render_selector(ind.total.selector)
    else:
        return total_increase(slo, window)
    span = f"{format_duration(window)}1ms"
    return f"count{by_clause(slo.by)}(count_over_time({selector}[{span}]) >= 2)"


def heads(slos: Sequence[SLO], kinds: Sequence[str], window: int) -> str:
    """The raw events of ``slos`` over ``window``, one series per SLO and kind, labelled so."""
    terms = [
        f'label_replace(label_replace({raw_increase(slo, kind, window)}, "{names.SLO}", '
        f'"{slo.name}", "", ""), "{names.KIND}", "{kind}", "", "")'
        for slo in slos
        for kind in kinds
    ]
    return "(\n    " + "\n  or ".join(terms) + "\n  )"


def window_events(
    service: Service, lay: Layout, slos: Sequence[SLO], kind: str, window: int
) -> str:
    """``kind`` events of ``slos`` in (t-window, t], labelled ``slo``: the raw head plus the
    window less one base window as recorded one base window ago. The sum of whichever exists,
    as in the Prometheus rules: a missing body is a hole, not a missing window. Per group too,
    for grouped SLOs."""
    by = ", ".join((names.SLO, *service_by(service)))
    if window <= lay.base:
        return f"sum by ({by}) {heads(slos, (kind,), window)}"
    base = format_duration(lay.base)
    only = service_selector(service, slos)
    body = events(service.name, format_duration(window - lay.base), kind=kind, slos=only)
    terms = (
        ("head", heads(slos, (kind,), lay.base)),
        ("body", f"last_over_time({body}[{base}] offset {base})"),
    )
    inner = "\n  or ".join(
        f'label_replace({term}, "{names.PIECE}", "{name}", "", "")' for name, term in terms
    )
    return f"sum by ({by}) (\n    {inner}\n)"


def ratio(service: Service, lay: Layout, slos: Sequence[SLO], window: int) -> str:
    """As the Prometheus rules' ratio: errors/total times the share of the window with data."""

    def ev(kind: str) -> str:
        return window_events(service, lay, slos, kind, window)

    return (
        f"(\n{ev(names.ERRORS)}\n)\n/\n(\n{ev(names.TOTAL)}\n)\n*\n(\n{ev(names.SECONDS)}\n)"
        f" / {window}"
    )


# --- groups -----------------------------------------------------------------------------------
def sli_rules(service: Service, lay: Layout) -> list[RuleItem]:
    rules: list[RuleItem] = []
    raw = {format_duration(w): w for w in lay.raw}
    for slo in service.slos:
        for item in raw_rules(service, slo, lay):
            rule = recording(item)
            if rule is not None:  # a fresh rule: rewritten in place
                labels = rule["labels"]
                rule["expr"] = raw_increase(slo, labels[names.KIND], raw[labels[names.WINDOW]])
            rules.append(item)
    # the groups recorded by the previous evaluation: soon enough for a guard that waits 15m
    rules += guard_records(service)
    rules += sizes_rule(service, lay, heads(service.slos, names.EVENT_KINDS, lay.base))
    rules.append(Comment("every SLO above: error ratios over its alert windows"))
    for window, slos in slos_by_window(service):
        rules.append(
            {
                "record": names.error_ratio(window),
                "expr": ratio(service, lay, slos, window),
                "labels": {names.SERVICE: service.name},
            }
        )
    for slo in service.slos:
        window = current_burn_window(slo)
        rules.append(
            {
                "record": names.CURRENT_BURN_RATE,
                "expr": f"(\n{ratio(service, lay, [slo], window)}\n) / "
                f"{names.number(slo.error_budget)}",
                "labels": {**slo_series_labels(slo), names.WINDOW: format_duration(window)},
            }
        )
    for slo in service.slos:
        if slo.alerting.tiers:
            rules.append(Comment(f"{slo.name}: multiwindow multi-burn-rate alerts"))
        for tier in slo.alerting.tiers:
            if slow_tier(tier):  # in the period group: slow_alerts
                continue
            threshold = burn_threshold(slo, tier)
            expr = (
                f"(\n{ratio(service, lay, [slo], tier.long)}\n) > {threshold}\nand\n"
                f"(\n{ratio(service, lay, [slo], tier.short)}\n) > {threshold}"
            )
            if slo.alerting.min_events is not None:
                total = window_events(service, lay, [slo], names.TOTAL, tier.long)
                expr += f"\nand\n{total} >= {names.number(slo.alerting.min_events)}"
            alert = burn_alert(service, slo, tier)
            alert["expr"] = expr
            rules.append(alert)
    return rules + guard_alerts(service)


def slow_alerts(service: Service) -> list[RuleItem]:
    """The slow tiers (windows.slow_tier), in the period group as on Prometheus, with the same
    values: each window as the SLI group recorded it one base window ago (every size is
    recorded there on vmalert, and 5 minutes is long past its asynchronous writes)."""
    rules: list[RuleItem] = []
    for slo in service.slos:
        tiers = [tier for tier in slo.alerting.tiers if slow_tier(tier)]
        if tiers:
            rules.append(Comment(f"{slo.name}: ticket tiers of hours"))
        for tier in tiers:
            threshold = burn_threshold(slo, tier)
            long, short = (ratio_expr(service, [slo], w, here=()) for w in (tier.long, tier.short))
            expr = f"(\n{long}\n) > {threshold}\nand\n(\n{short}\n) > {threshold}"
            if slo.alerting.min_events is not None:
                total = events_in(service, slo, tier.long, here=())
                expr += f"\nand\n{total} >= {names.number(slo.alerting.min_events)}"
            alert = burn_alert(service, slo, tier)
            alert["expr"] = expr
            rules.append(alert)
    return rules


def period_group_rules(service: Service) -> list[RuleItem]:
    """The Prometheus period group, but the ratio reads its record one interval ago."""
    ago = period_group_interval(service.evaluation_interval)
    rules = period_events(service, day_here=False)  # every window is the SLI group's
    for slo in service.slos:
        for item in period_rules(service, slo):
            rule = recording(item)
            then = period_ratio_expr(service, slo, ago)
            if rule is not None and rule["record"] == names.PERIOD_ERROR_RATIO:
                rule["expr"] = then
            elif rule is not None and rule["record"] == names.BUDGET_REMAINING:
                rule["expr"] = f"1 - (\n{then}\n) / {names.number(slo.error_budget)}"
            rules.append(item)
    # the forecast reads the period record one interval ago on both engines: unchanged
    return rules + forecast_alerts(service) + slow_alerts(service)


def threshold_group_rules(service: Service) -> list[RuleItem]:
    rules: list[RuleItem] = []
    for th in service.thresholds:
        comment, record, alert = threshold_rules(service, th)
        alert["expr"] = f"(\n{th.expr.strip()}\n) {th.op} {names.number(th.value)}"
        rules += [comment, record, alert]
    return rules


def service_groups(service: Service) -> list[dict[str, object]]:
    """The groups of targets.prometheus.service_groups, with vmalert's query parameters."""
    groups: list[dict[str, object]] = []
    interval = service.evaluation_interval
    if service.slos:
        lay = layout(interval, service_windows(service))
        groups.append(
            {
                "name": names.group_sli(service.name),
                "interval": format_duration(interval),
                "params": QUERY_PARAMS,
                "rules": sli_rules(service, lay),
            }
        )
        groups.append(
            {
                "name": names.group_period(service.name),
                "interval": format_duration(period_group_interval(interval)),
                "params": QUERY_PARAMS,
                "rules": period_group_rules(service),
            }
        )
    if service.thresholds:
        groups.append(
            {
                "name": names.group_thresholds(service.name),
                "params": QUERY_PARAMS,
                "rules": threshold_group_rules(service),
            }
        )
    return groups


def emit(model: Model) -> Emitted:
    """One rule file per service that asks for vmalert, and a VMRule when it asks for
    Kubernetes objects."""
    files, documents = {}, {}
    for service in model.services:
        if not applies(service):
            continue
        groups = service_groups(service)
        if not groups:
            continue
        path = names.vmalert_rules_file(service.name)
        data = {"groups": groups}
        files[path] = dump(data, names.header(service.source_file))
        documents[path] = Document(Holds.RULE_GROUPS, data)
        settings = service.outputs.kubernetes
        if settings is not None:
            vmrule = kubernetes.rule_object(service, settings, groups)
            vmrule["apiVersion"] = names.VMRULE_API_VERSION
            vmrule["kind"] = names.VMRULE_KIND
            files[names.vmrule_file(service.name)] = dump(vmrule, names.header(service.source_file))
    return Emitted(files, (), documents)


# --- the replay file --------------------------------------------------------------------------
_READS = re.compile(re.escape(names.EVENTS) + r"\{[^}]*" + names.WINDOW + r'="([^"]+)"[^}]*\}')


def replay_rules(service: Service) -> list[tuple[int, int, RecordingRule]]:
    """(dependency level, group interval, rule) for every recording rule of ``service``: the
    sizes one rule each. A rule's level is one more than the deepest window it reads."""
    interval = service.evaluation_interval
    lay = layout(interval, service_windows(service))
    head = heads(service.slos, names.EVENT_KINDS, lay.base)
    sli: list[RecordingRule] = []
    for item in sli_rules(service, lay):
        rule = recording(item)
        if rule is None:
            continue
        if rule["record"] == names.EVENTS and names.WINDOW not in rule.get("labels", {}):
            for size in lay.sizes:
                sli.append(
                    {
                        "record": names.EVENTS,
                        "expr": size_expr(service, lay, size, head),
                        "labels": {
                            names.SERVICE: service.name,
                            names.WINDOW: format_duration(size),
                        },
                    }
                )
        else:
            sli.append(rule)
    period = [r for r in map(recording, period_group_rules(service)) if r is not None]
    levels: dict[str, int] = {}
    found: list[tuple[int, int, RecordingRule]] = []
    for rules, every in (
        (sli, interval),
        (period, period_group_interval(interval)),
    ):
        for rule in rules:
            own = (
                rule.get("labels", {}).get(names.WINDOW) if rule["record"] == names.EVENTS else None
            )
            reads = {w for w in _READS.findall(rule["expr"]) if w != own}
            level = 1 + max((levels[w] for w in reads if w in levels), default=-1)
            if own is not None:
                levels[own] = max(levels.get(own, 0), level)
            found.append((level, every, rule))
    return found


def emit_replay(model: Model) -> Emitted:
    """Every recording rule of the vmalert services, sorted by level, then service: a rule runs
    after everything it reads, and a level's rules of many services run between the two."""
    ranked = []
    for rank, service in enumerate(s for s in model.services if applies(s)):
        ranked += [
            (level, every, rank, n, rule)
            for n, (level, every, rule) in enumerate(replay_rules(service))
        ]
    if not ranked:
        return Emitted()
    groups: list[dict[str, Any]] = []
    last = None
    for level, every, _, _, rule in sorted(ranked, key=lambda r: r[:4]):
        if (level, every) != last:  # a group per level: each may run once what it reads is in
            last = (level, every)
            groups.append(
                {
                    "name": names.vmalert_replay_group(len(groups) + 1, format_duration(every)),
                    "interval": format_duration(every),
                    "params": QUERY_PARAMS,
                    "rules": [],
                }
            )
        groups[-1]["rules"].append(rule)
    header = (
        "# generated by slo; do not edit. For `vmalert -replay` only (history): every recording\n"
        "# rule once, each after what it reads; a group per dependency level.\n"
    )
    return Emitted({names.VMALERT_REPLAY_FILE: dump({"groups": groups}, header)})


# --- the target -------------------------------------------------------------------------------
def proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    rules = matching(files, posixpath.dirname(names.vmalert_rules_file("*")) + "/*.yml")
    rules += matching(files, names.VMALERT_REPLAY_FILE)
    if not rules:
        return []
    return [
        EachFile(
            "vmalert -dryRun",
            "vmalert",
            ("-dryRun", "-loggerLevel=ERROR"),
            tuple(out_dir / path for path in rules),
            prefix="-rule=",
        )
    ]


TARGET = Target("vmalert", emit, per_service=True, proofs=proofs)
REPLAY_TARGET = Target("vmalert-replay", emit_replay, per_service=False)
