"""Grafana dashboards: one per service, and an overview of every SLO.

Per service (``grafana/dashboards/<service>.json``): the firing alerts, then a row per SLO (stat
panels for the objective, the SLI over the period, the error budget left and the current burn
rate; the SLI against the objective, the budget burning down over the period, the burn rate per
alert window with each tier's threshold drawn; percentiles for latency SLOs) and a row per
threshold objective (its value against the alert level). The overview lists every SLO of every
service, worst error budget first, linking to the service dashboards.

The dashboards are grafanalib Dashboards holding the panels of grafana_panels; the queries are in
grafana_queries.
"""

from __future__ import annotations

from decimal import Decimal

from grafanalib import core as g

from compiler.core import conventions as names
from compiler.core.diagnostics import Position, error
from compiler.core.durations import format_duration
from compiler.core.model import SLO, LatencyIndicator, Model, Service, Threshold
from compiler.targets.grafana import queries as q
from compiler.targets.grafana.panels import (
    DATASOURCE,
    OK,
    SEVERITY_COLOURS,
    WARN,
    Grid,
    link,
    query,
    stat,
    steps,
    table,
    timeseries,
    to_json,
)
from compiler.targets.prometheus import current_burn_window, format_static
from compiler.targets.protocol import Document, Emitted, Holds, Target

TIME_RANGE = g.Time("now-7d", "now")  # long enough to see the 3-day ticket window burn
REFRESH = "1m"
BURN_RATE_UNIT = "suffix:×"

# Grafana units for the spec's threshold units.
THRESHOLD_UNITS = {
    "ratio": "percentunit",
    "percent": "percent",
    "seconds": "s",
    "days": "d",
    "bytes": "bytes",
    "none": "none",
}


# --- shared pieces ------------------------------------------------------------------------
def datasource_variable() -> dict:
    # current is left empty so that Grafana picks the default Prometheus datasource.
    return {
        "name": names.DATASOURCE_VARIABLE,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def objective_variable(service: Service) -> dict:
    """The ``slo`` variable: every objective of the service, all selected unless a link says otherwise."""
    objectives = [s.name for s in service.slos] + [t.name for t in service.thresholds]
    options = [{"selected": True, "text": "All", "value": "$__all"}]
    options += [{"selected": False, "text": name, "value": name} for name in objectives]
    return {
        "name": names.SLO_VARIABLE,
        "label": "Objective",
        "type": "custom",
        "query": ",".join(objectives),
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "includeAll": True,
        "multi": True,
        "options": options,
        "skipUrlSync": False,
    }


def alert_annotation(expr: str) -> dict:
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": expr,
        "hide": False,
        "iconColor": "red",
        "name": "Firing alerts",
        "step": "1m",
        "tagKeys": f"{names.SEVERITY},{names.SLO}",
        "textFormat": "{{" + names.SLO + "}}",
        "titleFormat": "{{alertname}}",
        "useValueForTime": False,
    }


def firing_alerts_table(expr: str) -> dict:
    hidden = {"Time": True, "Value": True, "__name__": True, "alertstate": True}
    return table(
        "Firing alerts",
        [query(expr, instant=True, table=True)],
        [
            {
                "id": "organize",
                "options": {"excludeByName": hidden, "indexByName": {}, "renameByName": {}},
            }
        ],
        description="Alerts of this dashboard's objectives that are firing now (Prometheus' ALERTS series).",
    )


def all_dashboards_link() -> g.DashboardLink:
    """A drop-down of every dashboard slo generated (they all carry the managed tag)."""
    return g.DashboardLink(
        type="dashboards",
        title="SLO dashboards",
        tags=[names.GRAFANA_MANAGED_TAG],
        asDropdown=True,
        keepTime=True,
    )


def tags(*extra: str) -> list[str]:
    return sorted({names.DASHBOARD_TAG, names.GRAFANA_MANAGED_TAG, *extra})


def has_alerts(service: Service) -> bool:
    """Whether the generated rules hold an alert for this service (else ALERTS never has its series)."""
    return bool(service.thresholds) or any(slo.alerting.tiers for slo in service.slos)


def _decimals_for(slo: SLO) -> int:
    """Enough decimals to tell the SLI from the objective: 99.9 -> 3 (99.905%)."""
    exponent = slo.objective_percent.as_tuple().exponent
    return max(0, -exponent) + 2 if isinstance(exponent, int) else 2


# --- one SLO -------------------------------------------------------------------------------
def slo_title(slo: SLO) -> str:
    return f"{slo.name}: {names.number(slo.objective_percent)}% over {format_duration(slo.period)}"


def burn_windows(slo: SLO) -> list[int]:
    windows = {w for tier in slo.alerting.tiers for w in (tier.long, tier.short)}
    return sorted(windows or {current_burn_window(slo)})


def tier_levels(slo: SLO) -> list[tuple]:
    """Each tier's burn rate as a threshold level, coloured by severity (page wins a tie)."""
    levels: dict[Decimal, str] = {}
    for tier in sorted(slo.alerting.tiers, key=lambda t: t.severity != "page"):
        levels.setdefault(Decimal(names.number(tier.factor)), SEVERITY_COLOURS[tier.severity])
    return [(value, colour) for value, colour in levels.items()]


def tiers_text(slo: SLO) -> str:
    if not slo.alerting.tiers:
        return "No burn-rate alerts are configured for this SLO."
    parts = [
        f"{t.severity} {format_duration(t.long)}/{format_duration(t.short)} above {names.number(t.factor)}×"
        for t in slo.alerting.tiers
    ]
    return (
        "A tier fires when both its long and its short window burn faster than its rate: "
        + "; ".join(parts)
        + "."
    )


def latency_unit(slo: SLO) -> str:
    """Seconds when the threshold was a duration or the histogram says so; else a plain number."""
    indicator = slo.indicator
    assert isinstance(indicator, LatencyIndicator)
    metric = indicator.histogram.metric
    if metric.endswith("_milliseconds"):
        return "ms"
    written_as_number = indicator.threshold_text.replace(".", "", 1).isdigit()
    return "s" if metric.endswith("_seconds") or not written_as_number else "short"


def runbook_links(url: str | None) -> list[dict]:
    return [link("Runbook", url, new_tab=True)] if url else []


def ref(i: int) -> str:
    return chr(ord("A") + i)


def slo_stats(grid: Grid, slo: SLO, links: list[dict]) -> None:
    period = format_duration(slo.period)
    fastest = min(slo.alerting.tiers, key=lambda t: t.long, default=None)
    burn_levels = [(1, WARN)] + (
        [(fastest.factor, SEVERITY_COLOURS[fastest.severity])] if fastest else []
    )
    panels = [
        stat(
            "Objective",
            q.objective(slo),
            "percentunit",
            steps("blue"),
            slo.description,
            sparkline=False,
            links=links,
        ),
        stat(
            f"SLI over {period}",
            q.sli_over_period(slo),
            "percentunit",
            steps("red", (slo.objective, OK)),
            "Share of good events over the whole period.",
            decimals=_decimals_for(slo),
            links=links,
        ),
        stat(
            "Error budget remaining",
            q.budget_remaining(slo),
            "percentunit",
            steps("red", (0, WARN), (0.25, OK)),
            f"Share of the {period} error budget not yet spent; below 0 the SLO is missed.",
            links=links,
        ),
        stat(
            f"Burn rate ({format_duration(current_burn_window(slo))})",
            q.current_burn_rate(slo),
            BURN_RATE_UNIT,
            steps(OK, *burn_levels),
            "How many times faster than sustainable the error budget burns; 1× spends it exactly over the period.",
            decimals=2,
            links=links,
        ),
    ]
    for panel in panels:
        grid.add(panel, 6, 4)


def slo_trends(grid: Grid, slo: SLO, links: list[dict]) -> None:
    period = format_duration(slo.period)
    burn_window = current_burn_window(slo)
    sli = [
        query(q.sli_over(slo, burn_window), "A", f"SLI over {format_duration(burn_window)}"),
        query(q.sli_over_period(slo), "B", f"SLI over {period}"),
        query(q.objective(slo), "C", "objective"),
    ]
    grid.add(
        timeseries(
            "SLI against the objective",
            sli,
            "percentunit",
            decimals=_decimals_for(slo),
            links=links,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            f"Error budget remaining over {period}",
            [query(q.budget_remaining(slo), "A", "budget remaining")],
            "percentunit",
            steps("red", (0, OK)),
            "dashed",
            f"The error budget burning down over the last {period}.",
            links,
            time_from=period,
        ),
        12,
        8,
    )
    burn = [
        query(q.burn_rate(slo, w), ref(i), format_duration(w))
        for i, w in enumerate(burn_windows(slo))
    ]
    grid.add(
        timeseries(
            "Burn rate per alert window",
            burn,
            BURN_RATE_UNIT,
            steps(OK, *tier_levels(slo)),
            "dashed",
            tiers_text(slo),
            links,
            decimals=2,
        ),
        12,
        8,
    )


def latency_percentiles(grid: Grid, slo: SLO, links: list[dict]) -> None:
    indicator = slo.indicator
    assert isinstance(indicator, LatencyIndicator)
    percentiles = [
        query(q.latency_percentile(slo, p), ref(i), f"p{names.number(p * 100)}")
        for i, p in enumerate(q.PERCENTILES)
    ]
    description = (
        f"From the histogram {indicator.histogram.metric}; the line is the SLO threshold ({indicator.threshold_text}) "
        f"that {names.number(slo.objective_percent)}% of requests must beat."
    )
    grid.add(
        timeseries(
            "Latency percentiles",
            percentiles,
            latency_unit(slo),
            steps(OK, (indicator.threshold, "red")),
            "dashed",
            description,
            links,
        ),
        12,
        8,
    )


def slo_panels(grid: Grid, slo: SLO) -> None:
    links = runbook_links(slo.alerting.runbook_url)
    grid.row(slo_title(slo))
    slo_stats(grid, slo, links)
    slo_trends(grid, slo, links)
    if isinstance(slo.indicator, LatencyIndicator):
        latency_percentiles(grid, slo, links)


# --- one threshold -------------------------------------------------------------------------
def threshold_title(th: Threshold) -> str:
    side = "above" if th.op == ">" else "below"
    held = f" for {format_duration(th.for_)}" if th.for_ else ""
    return f"{th.name}: alert ({th.severity}) when {side} {format_static(th.value, th.unit)}{held}"


def threshold_steps(th: Threshold) -> list[dict]:
    breach = SEVERITY_COLOURS[th.severity]
    return steps(OK, (th.value, breach)) if th.op == ">" else steps(breach, (th.value, OK))


def threshold_panels(grid: Grid, th: Threshold) -> None:
    links = runbook_links(th.runbook_url)
    unit = THRESHOLD_UNITS[th.unit]
    value = q.threshold_value(th)
    grid.row(threshold_title(th))
    grid.add(
        stat(
            "Current value",
            value,
            unit,
            threshold_steps(th),
            th.description,
            sparkline=False,
            links=links,
        ),
        6,
        8,
    )
    grid.add(
        timeseries(
            "Value against the alert level",
            [query(value, "A")],
            unit,
            threshold_steps(th),
            "line+area",
            th.description,
            links,
        ),
        18,
        8,
    )


# --- dashboards ----------------------------------------------------------------------------
def generated_from(*sources: str) -> str:
    return f"generated by slo from {', '.join(sources)}; do not edit"


def service_dashboard(service: Service) -> g.Dashboard:
    grid = Grid()
    annotations = []
    if has_alerts(service):
        grid.add(firing_alerts_table(q.firing_alerts(service)), 24, 6)
        annotations.append(alert_annotation(q.firing_alerts(service)))
    for slo in service.slos:
        slo_panels(grid, slo)
    for th in service.thresholds:
        threshold_panels(grid, th)
    return g.Dashboard(
        title=f"SLOs: {service.name}",
        uid=names.dashboard_uid(service.name),
        description=generated_from(service.source_file),
        tags=tags(service.name, service.team),
        panels=grid.panels,
        templating=g.Templating([datasource_variable(), objective_variable(service)]),
        annotations=g.Annotations(annotations),
        links=[
            g.DashboardLink(
                type="link",
                title="SLO overview",
                uri=names.overview_link(),
                icon="dashboard",
                keepTime=True,
            ),
            all_dashboards_link(),
        ],
        schemaVersion=names.GRAFANA_SCHEMA_VERSION,
        refresh=REFRESH,
        time=TIME_RANGE,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
    )


def _column(
    name: str, unit: str, thresholds: list[dict] | None = None, decimals: int | None = None
) -> dict:
    properties = [{"id": "unit", "value": unit}]
    if decimals is not None:
        properties.append({"id": "decimals", "value": decimals})
    if thresholds:
        properties.append({"id": "thresholds", "value": {"mode": "absolute", "steps": thresholds}})
        properties.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def _data_link(field: str, title: str, url: str) -> dict:
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "links", "value": [link(title, url)]}],
    }


OVERVIEW_COLUMNS = (  # refId, column title, query
    ("A", "Objective", q.overview_objective),
    ("B", "SLI", q.overview_sli),
    ("C", "Budget remaining", q.overview_budget_remaining),
    ("D", "Burn rate", q.overview_burn_rate),
)


def slo_table(services: list[Service]) -> dict:
    names_ = [s.name for s in services if s.slos]
    service_field, slo_field = (
        "${__data.fields.%s}" % names.SERVICE,
        "${__data.fields.%s}" % names.SLO,
    )
    order = {names.SERVICE: 0, names.SLO: 1} | {
        f"Value #{ref}": i + 2 for i, (ref, _, _) in enumerate(OVERVIEW_COLUMNS)
    }
    organize = {
        "excludeByName": {"Time": True},
        "indexByName": order,
        "renameByName": {f"Value #{ref}": title for ref, title, _ in OVERVIEW_COLUMNS},
    }
    time_range = "${__url_time_range}"
    service_url = f"/d/{names.dashboard_uid(service_field)}/{service_field}?{time_range}"
    slo_url = f"{names.dashboard_link(None, service_field, slo_field)}&{time_range}"
    return table(
        "Every SLO, worst error budget first",
        [query(build(names_), ref, instant=True, table=True) for ref, _, build in OVERVIEW_COLUMNS],
        [{"id": "merge", "options": {}}, {"id": "organize", "options": organize}],
        overrides=[
            _column("Objective", "percentunit"),
            _column("SLI", "percentunit", decimals=3),
            _column("Budget remaining", "percentunit", steps("red", (0, WARN), (0.25, OK))),
            _column("Burn rate", BURN_RATE_UNIT, steps(OK, (1, WARN)), decimals=2),
            _data_link(names.SERVICE, f"{service_field} dashboard", service_url),
            _data_link(names.SLO, f"{slo_field} on the {service_field} dashboard", slo_url),
        ],
        sort_by="Budget remaining",
        description="Objective, SLI and error budget over each SLO's period; burn rate over its fastest alert window. "
        "Click a service or SLO to open its dashboard.",
    )


def overview_dashboard(model: Model) -> g.Dashboard:
    grid = Grid()
    slos = sum(len(s.slos) for s in model.services)
    with_alerts = [s.name for s in model.services if has_alerts(s)]
    if slos:
        grid.add(slo_table(list(model.services)), 24, min(max(slos + 3, 6), 24))
    if with_alerts:
        grid.add(firing_alerts_table(q.overview_firing_alerts(with_alerts)), 24, 8)
    return g.Dashboard(
        title="SLO overview",
        uid=names.OVERVIEW_UID,
        description=generated_from(*(s.source_file for s in model.services)),
        tags=tags(),
        panels=grid.panels,
        templating=g.Templating([datasource_variable()]),
        links=[all_dashboards_link()],
        schemaVersion=names.GRAFANA_SCHEMA_VERSION,
        refresh=REFRESH,
        time=TIME_RANGE,
    )


# --- the targets ---------------------------------------------------------------------------
def emit_services(model: Model) -> Emitted:
    """One dashboard per service (each depends on its service alone, so it can be cached)."""
    files: dict[str, str] = {}
    diagnostics = []
    for service in model.services:
        if not service.slos and not service.thresholds:
            continue  # nothing to show
        path = names.dashboard_file(service.name)
        if (
            path == names.OVERVIEW_DASHBOARD_FILE
            or names.dashboard_uid(service.name) == names.OVERVIEW_UID
        ):
            diagnostics.append(
                error(
                    Position(service.source_file),
                    "grafana/reserved-name",
                    f"service: '{service.name}' would replace the overview dashboard "
                    f"({names.OVERVIEW_DASHBOARD_FILE}); choose another service name",
                )
            )
            continue
        files[path] = to_json(service_dashboard(service))
    return Emitted(files, tuple(diagnostics), dict.fromkeys(files, DASHBOARD))


def emit_overview(model: Model) -> Emitted:
    """Every SLO of every service in one table."""
    if not model.services:
        return Emitted()
    path = names.OVERVIEW_DASHBOARD_FILE
    return Emitted({path: to_json(overview_dashboard(model))}, (), {path: DASHBOARD})


# The consistency check reads a dashboard's own JSON (there is no data to hand it instead).
DASHBOARD = Document(Holds.DASHBOARD)
TARGET = Target("grafana", emit_services, per_service=True)
OVERVIEW_TARGET = Target("grafana-overview", emit_overview, per_service=False)
