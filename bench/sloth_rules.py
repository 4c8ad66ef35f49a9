"""A Sloth-style rule set for the same SLOs, built from the formulas Sloth (v0.16) publishes.

Per SLO, as Sloth's default plugins generate (see the project's Sloth reference notes):
  - sloth-slo-sli-recordings-<id>: one rule per distinct alert window, each computed from the
    raw counters, ``(errors over W) / (total over W)``, plus the "optimized" period rule
    ``sum_over_time(ratio_rate5m[P]) / ignoring (sloth_window) count_over_time(ratio_rate5m[P])``;
  - sloth-slo-meta-recordings-<id>: objective, error budget, period, current and period burn
    rate, remaining budget, info;
  - sloth-slo-alerts-<id>: a page and a ticket alert, each OR-ing two window pairs.
Sloth has one period per run; here each SLO keeps its own period and the windows our compiler
chose for it (for 30d they are Sloth's own: 5m 30m 1h 2h 6h 1d 3d), so both sets read the
same windows and differ only in how they compute them. The SLI queries are the ones a Sloth
user would write for the same selectors (``sum(rate(sel[W]))``; latency: count - fast bucket).
"""

from __future__ import annotations

import yaml

from compiler.core.durations import format_duration
from compiler.core.model import SLO, LatencyIndicator, Model, RatioIndicator
from compiler.spec.promql import WINDOW_PLACEHOLDER, render_selector
from compiler.targets.prometheus import latency_bucket, latency_count

RATIO_5M = "slo:sli_error:ratio_rate5m"


def _rate(counter, window: str) -> str:
    if counter.selector is not None:
        return f"sum(rate({render_selector(counter.selector)}[{window}]))"
    return f"sum({counter.text.strip().replace(WINDOW_PLACEHOLDER, window)})"


def error_query(slo: SLO, window: str) -> str:
    ind = slo.indicator
    if isinstance(ind, RatioIndicator):
        if ind.errors is not None:
            return _rate(ind.errors, window)
        return f"{_rate(ind.total, window)} - {_rate(ind.good, window)}"
    return f"sum(rate({latency_count(ind)}[{window}])) - sum(rate({latency_bucket(ind)}[{window}]))"


def total_query(slo: SLO, window: str) -> str:
    ind = slo.indicator
    if isinstance(ind, LatencyIndicator):
        return f"sum(rate({latency_count(ind)}[{window}]))"
    return _rate(ind.total, window)


def raw_ratio(slo: SLO, window: str) -> str:
    """Sloth's events SLI: the error ratio over ``window``, straight from the counters."""
    return f"({error_query(slo, window)})\n/\n({total_query(slo, window)})\n"


def sloth_id(slo: SLO) -> str:
    return f"{slo.service}-{slo.name}"


def ids(slo: SLO) -> dict[str, str]:
    return {"sloth_id": sloth_id(slo), "sloth_service": slo.service, "sloth_slo": slo.name}


def selector(metric: str, slo: SLO) -> str:
    matchers = ", ".join(f'{k}="{v}"' for k, v in sorted(ids(slo).items()))
    return f"{metric}{{{matchers}}}"


def windows(slo: SLO) -> list[int]:
    found = {300}
    for tier in slo.alerting.tiers:
        found.update((tier.long, tier.short))
    return sorted(found)


def period_ratio(slo: SLO) -> str:
    """Sloth's optimized period SLI: the mean of 5-minute *ratios* (each slice weighs the same)."""
    period = format_duration(slo.period)
    series = selector(RATIO_5M, slo)
    return (
        f"sum_over_time({series}[{period}])\n"
        "/ ignoring (sloth_window)\n"
        f"count_over_time({series}[{period}])\n"
    )


def sli_rules(slo: SLO, labels: dict[str, str]) -> list[dict]:
    rules = []
    for window in windows(slo):
        w = format_duration(window)
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{w}",
                "expr": raw_ratio(slo, w),
                "labels": {**labels, "sloth_window": w},
            }
        )
    p = format_duration(slo.period)
    rules.append(
        {
            "record": f"slo:sli_error:ratio_rate{p}",
            "expr": period_ratio(slo),
            "labels": {**labels, "sloth_window": p},
        }
    )
    return rules


def meta_rules(slo: SLO, labels: dict[str, str]) -> list[dict]:
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    budget = selector("slo:error_budget:ratio", slo)
    period = format_duration(slo.period)
    return [
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({float(slo.objective)!r})",
            "labels": labels,
        },
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector(1-{float(slo.objective)!r})",
            "labels": labels,
        },
        {
            "record": "slo:time_period:days",
            "expr": f"vector({slo.period // 86400})",
            "labels": labels,
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"{selector(RATIO_5M, slo)}\n{on}{budget}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"{selector('slo:sli_error:ratio_rate' + period, slo)}\n{on}{budget}\n",
            "labels": labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - {selector('slo:period_burn_rate:ratio', slo)}",
            "labels": labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                **labels,
                "sloth_mode": "cli-gen-prom",
                "sloth_objective": str(slo.objective_percent),
                "sloth_spec": "prometheus/v1",
            },
        },
    ]


def alert_rules(slo: SLO) -> list[dict]:
    budget = float(1 - slo.objective)
    rules = []
    for severity in ("page", "ticket"):
        tiers = sorted(
            (t for t in slo.alerting.tiers if t.severity == severity), key=lambda t: t.long
        )
        if not tiers:
            continue
        pairs = []
        for tier in tiers:
            factor = float(tier.factor)
            short = selector(f"slo:sli_error:ratio_rate{format_duration(tier.short)}", slo)
            long = selector(f"slo:sli_error:ratio_rate{format_duration(tier.long)}", slo)
            pairs.append(
                "(\n"
                f"    max({short} > ({factor!r} * {budget!r})) without (sloth_window)\n"
                "    and\n"
                f"    max({long} > ({factor!r} * {budget!r})) without (sloth_window)\n"
                ")"
            )
        rules.append(
            {
                "alert": slo.alerting.name,
                "expr": "\nor\n".join(pairs) + "\n",
                "labels": {"sloth_severity": severity},
                "annotations": {
                    "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} "
                    "SLO error budget burn rate is over expected.",
                    "title": f"({severity}) {{{{$labels.sloth_service}}}} "
                    "{{$labels.sloth_slo}} SLO error budget burn rate is too fast.",
                },
            }
        )
    return rules


def service_groups(service) -> list[dict]:
    groups = []
    for slo in service.slos:
        labels = {**dict(service.labels), **dict(slo.labels), **ids(slo)}
        groups.append(
            {"name": f"sloth-slo-sli-recordings-{sloth_id(slo)}", "rules": sli_rules(slo, labels)}
        )
        groups.append(
            {"name": f"sloth-slo-meta-recordings-{sloth_id(slo)}", "rules": meta_rules(slo, labels)}
        )
        alerts = alert_rules(slo)
        if alerts:
            groups.append({"name": f"sloth-slo-alerts-{sloth_id(slo)}", "rules": alerts})
    return groups


def base_groups(service) -> list[dict]:
    """Only the 5m ratio: the one series the optimized period rule reads, for backfilling."""
    groups = []
    for slo in service.slos:
        labels = {**dict(service.labels), **dict(slo.labels), **ids(slo)}
        groups.append(
            {
                "name": f"sloth-slo-sli-recordings-{sloth_id(slo)}",
                "rules": sli_rules(slo, labels)[:1],
            }
        )
    return groups


def rule_files(model: Model) -> dict[str, str]:
    """{file name: rule file text}, one file per service like Sloth's directory mode."""
    return {
        f"{service.name}.sloth.rules.yml": yaml.safe_dump(
            {"groups": service_groups(service)}, sort_keys=False, width=1000
        )
        for service in model.services
        if service.slos
    }
