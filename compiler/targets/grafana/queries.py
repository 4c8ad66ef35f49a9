"""The PromQL behind every dashboard panel.

Panels read the series the generated rules record (README, "How the rules are built"), never
the raw counters: they stay cheap over 30 days and show exactly what the alerts evaluate. The
one exception is the latency percentiles, which only the user's histogram can give.

Every query on a service dashboard is narrowed by the ``slo`` dashboard variable, so the alert
annotations' links (``?var-slo=<name>``) show that objective only; the others show no data. A
grouped SLO's series carry its ``by`` labels, one series per group: its queries are narrowed
by a variable per label as well, and keep the labels (legends name the group).
"""

from __future__ import annotations

from decimal import Decimal

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import SLO, LatencyIndicator, Matcher, Service, Threshold
from compiler.core.windows import BASE_RATE_WINDOW, DAY, FIRST_MONDAY, MONTH, WEEK
from compiler.spec.promql import render_selector
from compiler.text.promtext import quote_label_value

PERCENTILES = (Decimal("0.5"), Decimal("0.95"), Decimal("0.99"))
WORST_GROUPS = 10  # rows of the overview's worst-groups table


def variable_of(value: str) -> str:
    return quote_label_value("$" + value)


def group_variable(label: str) -> str:
    """The dashboard variable of a ``by`` label: its own name, unless that is one of the
    dashboard's other variables or a Grafana built-in (``__interval``, ...)."""
    reserved = (names.DATASOURCE_VARIABLE, names.SLO_VARIABLE)
    return f"by_{label}" if label in reserved or label.startswith("__") else label


def group_matchers(slo: SLO) -> tuple[Matcher, ...]:
    """``label=~"$label"`` per ``by`` label: the groups the dashboard's variables select."""
    return tuple(Matcher(label, "=~", "$" + group_variable(label)) for label in slo.by)


def group_legend(slo: SLO, suffix: str = "") -> str:
    """A legend naming the group of each series (``{{region}} 1h``); ``suffix`` alone when the
    SLO has no groups."""
    labels = " ".join("{{" + label + "}}" for label in slo.by)
    return " ".join(part for part in (labels, suffix) if part)


def selected(metric: str, service: str, objective: str, groups: tuple[Matcher, ...] = ()) -> str:
    """``metric`` of one SLO or threshold when the ``slo`` variable selects it (and of the groups
    the group variables select)."""
    matchers = [
        f"{names.SERVICE}={quote_label_value(service)}",
        f"{names.SLO}={quote_label_value(objective)}",
        f"{names.SLO}=~{variable_of(names.SLO_VARIABLE)}",
    ] + [f"{m.name}{m.op}{quote_label_value(m.value)}" for m in groups]
    return f"{metric}{{{','.join(matchers)}}}"


def of_slo(metric: str, slo: SLO) -> str:
    return selected(metric, slo.service, slo.name, group_matchers(slo))


# --- one SLO ---------------------------------------------------------------------------------
def objective(slo: SLO) -> str:
    """The objective (one series per SLO: it carries no group labels)."""
    return selected(names.OBJECTIVE, slo.service, slo.name)


def sli_over_period(slo: SLO) -> str:
    return f"1 - {of_slo(names.PERIOD_ERROR_RATIO, slo)}"


def time_left(slo: SLO) -> str:
    """Seconds until a calendar SLO's period ends (and its budget resets), while the ``slo``
    variable selects it."""
    if slo.calendar == MONTH:
        left = f"(days_in_month() - day_of_month() + 1) * {DAY} - time() % {DAY}"
    else:
        # since the Monday before the epoch (1969-12-29), a positive remainder from 1970 on
        left = f"vector({WEEK} - (time() + {WEEK - FIRST_MONDAY}) % {WEEK})"
    return f"{left} and on() {objective(slo)}"


def sli_over(slo: SLO, window: int) -> str:
    return f"1 - {of_slo(names.error_ratio(window), slo)}"


def budget_remaining(slo: SLO) -> str:
    return of_slo(names.BUDGET_REMAINING, slo)


def current_burn_rate(slo: SLO) -> str:
    return of_slo(names.CURRENT_BURN_RATE, slo)


def burn_rate(slo: SLO, window: int) -> str:
    """How many times faster than sustainable the budget burnt over ``window`` (the error ratio
    over the SLO's error budget, as the rules compute the current burn rate)."""
    return f"{of_slo(names.error_ratio(window), slo)} / {names.number(slo.error_budget)}"


def per_group(slo: SLO, expr_of: str) -> str:
    """One series per group of ``expr_of`` (a grouped SLO's query), other labels dropped."""
    return f"max by ({', '.join(slo.by)}) ({expr_of})"


def latency_percentile(slo: SLO, quantile: Decimal) -> str:
    """``quantile`` of the SLO's histogram over the base window (per group of a grouped SLO),
    shown only when ``slo`` selects it.

    The histogram carries no ``slo`` label, so ``and on()`` against the SLO's objective series
    applies the variable instead.
    """
    indicator = slo.indicator
    assert isinstance(indicator, LatencyIndicator)
    histogram = indicator.histogram
    buckets = render_selector(histogram, f"{histogram.metric}_bucket", group_matchers(slo))
    base = format_duration(BASE_RATE_WINDOW)
    by = ", ".join(("le",) + slo.by)
    return (
        f"histogram_quantile({names.number(quantile)}, sum by ({by}) (rate({buckets}[{base}])))"
        f" and on() {objective(slo)}"
    )


def group_values(service: str, slos: list[SLO], label: str) -> str:
    """The variable query listing the values of ``label`` among the groups of ``slos``."""
    objectives = "|".join(s.name for s in slos)
    slo_matcher = (
        f"{names.SLO}={quote_label_value(objectives)}"
        if len(slos) == 1
        else f"{names.SLO}=~{quote_label_value(objectives)}"
    )
    service_matcher = f"{names.SERVICE}={quote_label_value(service)}"
    return f"label_values({names.PERIOD_ERROR_RATIO}{{{service_matcher},{slo_matcher}}}, {label})"


# --- one threshold ---------------------------------------------------------------------------
def threshold_value(th: Threshold) -> str:
    return selected(names.THRESHOLD_VALUE, th.service, th.name)


# --- the whole service -----------------------------------------------------------------------
def _of_service(metric: str, service: Service, aggregation: str) -> str:
    """``metric`` of every SLO of ``service`` the ``slo`` variable selects, one series per SLO:
    a grouped SLO's worst group (``aggregation``: min or max)."""
    matchers = (
        f"{names.SERVICE}={quote_label_value(service.name)},"
        f"{names.SLO}=~{variable_of(names.SLO_VARIABLE)}"
    )
    return f"{aggregation} by ({names.SLO}) ({metric}{{{matchers}}})"


def service_objective(service: Service) -> str:
    return _of_service(names.OBJECTIVE, service, "max")


def service_sli(service: Service) -> str:
    return f"1 - {_of_service(names.PERIOD_ERROR_RATIO, service, 'max')}"


def service_budget_remaining(service: Service) -> str:
    return _of_service(names.BUDGET_REMAINING, service, "min")


def service_burn_rate(service: Service) -> str:
    return _of_service(names.CURRENT_BURN_RATE, service, "max")


def firing_alerts(service: Service) -> str:
    service_matcher = f"{names.SERVICE}={quote_label_value(service.name)}"
    slo_matcher = f"{names.SLO}=~{variable_of(names.SLO_VARIABLE)}"
    return f'ALERTS{{{service_matcher},alertstate="firing",{slo_matcher}}}'


# --- the overview ----------------------------------------------------------------------------
def _of_services(metric: str, services: list[str], aggregation: str) -> str:
    """``metric`` of the compiled services only, one series per SLO (extra labels dropped; a
    grouped SLO's worst group: ``aggregation`` is min or max)."""
    services_matcher = f"{names.SERVICE}=~{quote_label_value('|'.join(services))}"
    return f"{aggregation} by ({names.SERVICE}, {names.SLO}) ({metric}{{{services_matcher}}})"


def overview_objective(services: list[str]) -> str:
    return _of_services(names.OBJECTIVE, services, "max")


def overview_sli(services: list[str]) -> str:
    return f"1 - {_of_services(names.PERIOD_ERROR_RATIO, services, 'max')}"


def overview_budget_remaining(services: list[str]) -> str:
    return _of_services(names.BUDGET_REMAINING, services, "min")


def overview_burn_rate(services: list[str]) -> str:
    return _of_services(names.CURRENT_BURN_RATE, services, "max")


def overview_worst_groups(grouped: list[SLO]) -> str:
    """The groups of every grouped SLO with the least error budget left, worst first."""
    by_service: dict[str, list[str]] = {}
    for slo in grouped:
        by_service.setdefault(slo.service, []).append(slo.name)
    selectors = []
    for service, objectives in by_service.items():
        op = "=" if len(objectives) == 1 else "=~"
        selectors.append(
            f"{names.BUDGET_REMAINING}{{{names.SERVICE}={quote_label_value(service)},"
            f"{names.SLO}{op}{quote_label_value('|'.join(objectives))}}}"
        )
    return f"bottomk({WORST_GROUPS}, {' or '.join(selectors)})"


def overview_firing_alerts(services: list[str]) -> str:
    pattern = "|".join(services)
    return f'ALERTS{{{names.SERVICE}=~{quote_label_value(pattern)},alertstate="firing"}}'
