"""The PromQL behind every dashboard panel.

Panels read the series the generated rules record (README, "How the rules are built"), never
the raw counters: they stay cheap over 30 days and show exactly what the alerts evaluate. The
one exception is the latency percentiles, which only the user's histogram can give.

Every query on a service dashboard is narrowed by the ``slo`` dashboard variable, so the alert
annotations' links (``?var-slo=<name>``) show that objective only; the others show no data.
"""

from __future__ import annotations

from decimal import Decimal

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import SLO, LatencyIndicator, Service, Threshold
from compiler.core.windows import BASE_RATE_WINDOW
from compiler.spec.promql import render_selector
from compiler.text.promtext import quote_label_value

SLO_FILTER = f"{names.SLO}=~{quote_label_value('$' + names.SLO_VARIABLE)}"
PERCENTILES = (Decimal("0.5"), Decimal("0.95"), Decimal("0.99"))


def selected(metric: str, service: str, objective: str) -> str:
    """``metric`` of one SLO or threshold, when the ``slo`` variable selects it."""
    return (
        f"{metric}{{{names.SERVICE}={quote_label_value(service)},"
        f"{names.SLO}={quote_label_value(objective)},{SLO_FILTER}}}"
    )


# --- one SLO ---------------------------------------------------------------------------------
def objective(slo: SLO) -> str:
    return selected(names.OBJECTIVE, slo.service, slo.name)


def sli_over_period(slo: SLO) -> str:
    return f"1 - {selected(names.PERIOD_ERROR_RATIO, slo.service, slo.name)}"


def sli_over(slo: SLO, window: int) -> str:
    return f"1 - {selected(names.error_ratio(window), slo.service, slo.name)}"


def budget_remaining(slo: SLO) -> str:
    return selected(names.BUDGET_REMAINING, slo.service, slo.name)


def current_burn_rate(slo: SLO) -> str:
    return selected(names.CURRENT_BURN_RATE, slo.service, slo.name)


def burn_rate(slo: SLO, window: int) -> str:
    """How many times faster than sustainable the budget burnt over ``window``."""
    ratio = selected(names.error_ratio(window), slo.service, slo.name)
    budget = selected(names.ERROR_BUDGET, slo.service, slo.name)
    return f"{ratio} / on({names.SERVICE}, {names.SLO}) {budget}"


def latency_percentile(slo: SLO, quantile: Decimal) -> str:
    """``quantile`` of the SLO's histogram over the base window, shown only when ``slo`` selects it.

    The histogram carries no ``slo`` label, so ``and on()`` against the SLO's objective series
    applies the variable instead.
    """
    indicator = slo.indicator
    assert isinstance(indicator, LatencyIndicator)
    buckets = render_selector(indicator.histogram, f"{indicator.histogram.metric}_bucket")
    base = format_duration(BASE_RATE_WINDOW)
    return (
        f"histogram_quantile({names.number(quantile)}, sum by (le) (rate({buckets}[{base}])))"
        f" and on() {objective(slo)}"
    )


# --- one threshold ---------------------------------------------------------------------------
def threshold_value(th: Threshold) -> str:
    return selected(names.THRESHOLD_VALUE, th.service, th.name)


# --- the whole service -----------------------------------------------------------------------
def firing_alerts(service: Service) -> str:
    service_matcher = f"{names.SERVICE}={quote_label_value(service.name)}"
    return f'ALERTS{{{service_matcher},alertstate="firing",{SLO_FILTER}}}'


# --- the overview ----------------------------------------------------------------------------
def _of_services(metric: str, services: list[str]) -> str:
    """``metric`` of the compiled services only, one series per SLO (extra labels dropped)."""
    services_matcher = f"{names.SERVICE}=~{quote_label_value('|'.join(services))}"
    return f"sum by ({names.SERVICE}, {names.SLO}) ({metric}{{{services_matcher}}})"


def overview_objective(services: list[str]) -> str:
    return _of_services(names.OBJECTIVE, services)


def overview_sli(services: list[str]) -> str:
    return f"1 - {_of_services(names.PERIOD_ERROR_RATIO, services)}"


def overview_budget_remaining(services: list[str]) -> str:
    return _of_services(names.BUDGET_REMAINING, services)


def overview_burn_rate(services: list[str]) -> str:
    return _of_services(names.CURRENT_BURN_RATE, services)


def overview_firing_alerts(services: list[str]) -> str:
    pattern = "|".join(services)
    return f'ALERTS{{{names.SERVICE}=~{quote_label_value(pattern)},alertstate="firing"}}'
