"""Grafana dashboards: one per service, and an overview of every SLO.

Per service (``grafana/dashboards/<service>.json``): the firing alerts; a table of its SLOs
(objective, SLI and error budget left over the period, burn rate now; worst budget first); a
row per SLO (the SLI against the objective, the budget burning down over the period, the burn
rate per alert window with each tier's threshold drawn; percentiles for latency SLOs) and a row
per threshold objective (its value against the alert level). A grouped SLO (``by``) adds a
variable per label, its budget per group, and draws every group. The overview lists every SLO
of every service, worst error budget first, and the worst groups of grouped SLOs, linking to
the service dashboards.

The dashboards are grafanalib Dashboards holding the panels of panels.py; the queries are in
queries.py.
"""

from __future__ import annotations

from decimal import Decimal

from grafanalib import core as g

from compiler.core import conventions as names
from compiler.core.diagnostics import Position, error
from compiler.core.durations import format_duration
from compiler.core.model import (
    SLO,
    LatencyIndicator,
    Model,
    Service,
    Threshold,
    TimesliceIndicator,
)
from compiler.core.windows import (
    BASE_RATE_WINDOW,
    calendar_tiles,
    current_burn_window,
    period_text,
    tier_windows,
)
from compiler.targets.grafana import queries as q
from compiler.targets.grafana.panels import (
    DATASOURCE,
    GRID_WIDTH,
    OK,
    SEVERITY_COLOURS,
    WARN,
    Grid,
    Json,
    column,
    columns_of,
    data_link,
    link,
    query,
    stat,
    steps,
    table,
    timeseries,
    to_json,
)
from compiler.targets.protocol import Document, Emitted, Holds, Target
from compiler.text.promtext import format_threshold

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
def datasource_variable() -> Json:
    # no current value: Grafana picks the default Prometheus datasource
    return {
        "name": names.DATASOURCE_VARIABLE,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
    }


ALL = {"text": ["All"], "value": ["$__all"]}


def objective_variable(service: Service) -> Json:
    """The ``slo`` variable: every objective of the service, all selected unless a link says
    otherwise."""
    objectives = [s.name for s in service.slos] + [t.name for t in service.thresholds]
    options = [{"selected": True, "text": "All", "value": "$__all"}]
    options += [{"selected": False, "text": name, "value": name} for name in objectives]
    return {
        "name": names.SLO_VARIABLE,
        "label": "Objective",
        "type": "custom",
        "query": ",".join(objectives),
        "current": ALL,
        "includeAll": True,
        "multi": True,
        "options": options,
    }


def group_variables(service: Service) -> list[Json]:
    """A variable per ``by`` label of the service's grouped SLOs, in the order the specs name
    them (two SLOs grouped by the same label share it): the label's values among their groups,
    all selected. "All" matches any value, so a group that appeared since the dashboard loaded
    is not left out."""
    labels: dict[str, list[SLO]] = {}
    for slo in service.slos:
        for label in slo.by:
            labels.setdefault(label, []).append(slo)
    return [
        {
            "name": q.group_variable(label),
            "label": label,
            "type": "query",
            "datasource": DATASOURCE,
            "query": q.group_values(service.name, slos, label),
            "definition": q.group_values(service.name, slos, label),
            "refresh": 2,  # on every change of the time range: groups come and go
            "sort": 1,
            "current": ALL,
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
        }
        for label, slos in labels.items()
    ]


def alert_annotation(service: Service, expr: str) -> Json:
    group_labels = list(dict.fromkeys(label for slo in service.slos for label in slo.by))
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": expr,
        "iconColor": "red",
        "name": "Firing alerts",
        "step": "1m",
        "tagKeys": ",".join([names.SEVERITY, names.SLO, *group_labels]),
        "textFormat": "{{" + names.SLO + "}}",
        "titleFormat": "{{alertname}}",
    }


def firing_alerts_table(expr: str) -> Json:
    hidden = {"Time": True, "Value": True, "__name__": True, "alertstate": True}
    return table(
        "Firing alerts",
        [query(expr, instant=True, table=True)],
        [{"id": "organize", "options": {"excludeByName": hidden}}],
        description="Alerts of this dashboard's objectives that are firing now "
        "(Prometheus' ALERTS series).",
    )


def all_dashboards_link() -> Json:
    """A drop-down of every dashboard slo generated (they all carry the managed tag)."""
    return {
        "type": "dashboards",
        "title": "SLO dashboards",
        "tags": [names.GRAFANA_MANAGED_TAG],
        "asDropdown": True,
        "keepTime": True,
    }


def tags(*extra: str) -> list[str]:
    return sorted({names.DASHBOARD_TAG, names.GRAFANA_MANAGED_TAG, *extra})


def has_alerts(service: Service) -> bool:
    """Whether the generated rules hold an alert for this service (else ALERTS never has its
    series)."""
    return bool(service.thresholds) or any(slo.alerting.tiers for slo in service.slos)


def _decimals_for(slo: SLO) -> int:
    """Enough decimals to tell the SLI from the objective: 99.9 -> 3 (99.905%)."""
    exponent = slo.objective_percent.as_tuple().exponent
    return max(0, -exponent) + 2 if isinstance(exponent, int) else 2


BUDGET_LEVELS = steps("red", (0, WARN), (0.25, OK))


# --- the SLOs of a service at a glance ------------------------------------------------------
SLO_COLUMNS = (  # refId, column title, query
    ("A", "Objective", q.service_objective),
    ("B", "SLI over the period", q.service_sli),
    ("C", "Budget remaining", q.service_budget_remaining),
    ("D", "Burn rate now", q.service_burn_rate),
)


def service_slo_table(service: Service) -> Json:
    """One row per SLO: what its stat panels used to show, in one place and sorted."""
    slo_field = f"${{__data.fields.{names.SLO}}}"
    only_this = f"{names.dashboard_link(None, service.name, slo_field)}&${{__url_time_range}}"
    refs = [(ref, title) for ref, title, _ in SLO_COLUMNS]
    decimals = max(_decimals_for(slo) for slo in service.slos)
    return table(
        "SLOs, worst error budget first",
        [query(build(service), ref, instant=True, table=True) for ref, _, build in SLO_COLUMNS],
        columns_of(refs, [names.SLO], ["Time"]),
        overrides=[
            column("Objective", "percentunit"),
            column("SLI over the period", "percentunit", decimals=decimals),
            column("Budget remaining", "percentunit", BUDGET_LEVELS),
            column("Burn rate now", BURN_RATE_UNIT, steps(OK, (1, WARN)), decimals=2),
            data_link(names.SLO, f"only {slo_field}", only_this),
        ],
        sort_by="Budget remaining",
        description="Objective, SLI and error budget left over each SLO's period; burn rate "
        "over its fastest alert window (1× spends the budget exactly over the period). A "
        "grouped SLO shows its worst group. Click an SLO to show it alone.",
    )


# --- one SLO -------------------------------------------------------------------------------
def slo_title(slo: SLO) -> str:
    title = f"{slo.name}: {names.number(slo.objective_percent)}% over {period_text(slo)}"
    if isinstance(slo.indicator, TimesliceIndicator):  # which slices are good
        ind = slo.indicator
        good = "at most" if ind.op == ">" else "at least"
        title += f" of {format_duration(ind.slice)} slices {good} {names.number(ind.value)}"
    return f"{title}, per {', '.join(slo.by)}" if slo.by else title


def tier_levels(slo: SLO) -> list[tuple[Decimal, str]]:
    """Each tier's burn rate as a threshold level, coloured by severity (page wins a tie)."""
    levels: dict[Decimal, str] = {}
    for tier in sorted(slo.alerting.tiers, key=lambda t: t.severity != "page"):
        levels.setdefault(Decimal(names.number(tier.factor)), SEVERITY_COLOURS[tier.severity])
    return list(levels.items())


def tiers_text(slo: SLO) -> str:
    if not slo.alerting.tiers:
        return "No burn-rate alerts are configured for this SLO."
    parts = [
        f"{t.severity} {format_duration(t.long)}/{format_duration(t.short)} "
        f"above {names.number(t.factor)}×"
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


def runbook_links(url: str | None) -> list[Json]:
    return [link("Runbook", url, new_tab=True)] if url else []


def ref(i: int) -> str:
    return chr(ord("A") + i)


def group_table(slo: SLO, links: list[Json]) -> Json:
    """A grouped SLO's budget per group, worst first."""
    refs = [("A", "SLI over the period"), ("B", "Budget remaining"), ("C", "Burn rate now")]
    exprs = [
        f"1 - {q.per_group(slo, q.of_slo(names.PERIOD_ERROR_RATIO, slo))}",
        q.per_group(slo, q.budget_remaining(slo)),
        q.per_group(slo, q.current_burn_rate(slo)),
    ]
    burn_window = format_duration(current_burn_window(slo))
    return table(
        "Error budget per group, worst first",
        [query(expr, r, instant=True, table=True) for expr, (r, _) in zip(exprs, refs)],
        columns_of(refs, list(slo.by), ["Time"]),
        overrides=[
            column("SLI over the period", "percentunit", decimals=_decimals_for(slo)),
            column("Budget remaining", "percentunit", BUDGET_LEVELS),
            column("Burn rate now", BURN_RATE_UNIT, steps(OK, (1, WARN)), decimals=2),
        ],
        sort_by="Budget remaining",
        description=f"Each group of {', '.join(slo.by)} is an SLO of its own: its SLI and "
        f"error budget left over {period_text(slo)}, its burn rate over "
        f"{burn_window}.",
    ) | ({"links": links} if links else {})


def period_words(slo: SLO) -> tuple[str, str, str]:
    """(what the period SLI is "over"/"this", the budget's title after "remaining", the time
    range its panel shows): ``over 30d``, ``over 30d``, ``30d`` for a rolling period;
    ``this month``, ``this month``, the longest month for a calendar one."""
    if slo.calendar:
        this = f"this {slo.calendar}"
        longest = calendar_tiles(slo.calendar, BASE_RATE_WINDOW)[0].reach
        return this, this, format_duration(longest)
    period = format_duration(slo.period)
    return f"over {period}", f"over {period}", period


def calendar_stat(grid: Grid, slo: SLO) -> None:
    """A calendar SLO's time left until its period ends and the budget resets."""
    if not slo.calendar:
        return
    grid.add(
        stat(
            f"Time left this {slo.calendar}",
            q.time_left(slo),
            "dtdurations",
            steps(OK),
            f"Until the budget resets: 00:00 UTC on the "
            f"{'1st of next month' if slo.calendar == 'month' else 'next Monday'}.",
            sparkline=False,
        ),
        GRID_WIDTH,
        3,
    )


def slo_trends(grid: Grid, slo: SLO, links: list[Json]) -> None:
    over, remaining, shown = period_words(slo)
    burn_window = current_burn_window(slo)
    fastest = format_duration(burn_window)
    sli = [
        query(q.sli_over(slo, burn_window), "A", q.group_legend(slo, f"SLI over {fastest}")),
        query(q.sli_over_period(slo), "B", q.group_legend(slo, f"SLI {over}")),
        query(q.objective(slo), "C", "objective"),
    ]
    grid.add(
        timeseries(
            "SLI against the objective",
            sli,
            "percentunit",
            decimals=_decimals_for(slo),
            tooltip_all=True,
        ),
        12,
        8,
    )
    grid.add(
        timeseries(
            f"Error budget remaining {remaining}",
            [query(q.budget_remaining(slo), "A", q.group_legend(slo, "budget remaining"))],
            "percentunit",
            steps("red", (0, OK)),
            "dashed",
            (
                f"The error budget burning down {remaining}; back at 100% when the next "
                f"{slo.calendar} begins; below 0 the SLO is missed."
                if slo.calendar
                else f"The error budget burning down over the last {shown}; below 0 the SLO is "
                "missed."
            ),
            time_from=shown,
            tooltip_all=bool(slo.by),
        ),
        12,
        8,
    )
    burn = [
        query(q.burn_rate(slo, w), ref(i), q.group_legend(slo, format_duration(w)))
        for i, w in enumerate(tier_windows(slo))
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
            tooltip_all=True,
        ),
        12,
        8,
    )


def latency_percentiles(grid: Grid, slo: SLO) -> None:
    indicator = slo.indicator
    assert isinstance(indicator, LatencyIndicator)
    percentiles = [
        query(
            q.latency_percentile(slo, p), ref(i), q.group_legend(slo, f"p{names.number(p * 100)}")
        )
        for i, p in enumerate(q.PERCENTILES)
    ]
    description = (
        f"From the histogram {indicator.histogram.metric}; "
        f"the line is the SLO threshold ({indicator.threshold_text}) "
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
            tooltip_all=True,
        ),
        12,
        8,
    )


def slo_panels(grid: Grid, slo: SLO) -> None:
    """The SLO's row; its runbook is linked from the panels about its alerts."""
    links = runbook_links(slo.alerting.runbook_url)
    grid.row(slo_title(slo))
    if slo.by:
        grid.add(group_table(slo, links), GRID_WIDTH, 7)
    calendar_stat(grid, slo)
    slo_trends(grid, slo, links)
    if isinstance(slo.indicator, LatencyIndicator):
        latency_percentiles(grid, slo)


# --- one threshold -------------------------------------------------------------------------
def threshold_title(th: Threshold) -> str:
    side = "above" if th.op == ">" else "below"
    held = f" for {format_duration(th.for_)}" if th.for_ else ""
    level = format_threshold(th.value, th.unit)
    return f"{th.name}: alert ({th.severity}) when {side} {level}{held}"


def threshold_steps(th: Threshold) -> list[Json]:
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
        grid.add(firing_alerts_table(q.firing_alerts(service)), GRID_WIDTH, 6)
        annotations.append(alert_annotation(service, q.firing_alerts(service)))
    if service.slos:
        grid.add(service_slo_table(service), GRID_WIDTH, table_height(len(service.slos)))
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
        templating=g.Templating(
            [datasource_variable(), objective_variable(service), *group_variables(service)]
        ),
        annotations=g.Annotations(annotations),
        links=[
            {
                "type": "link",
                "title": "SLO overview",
                "url": names.overview_link(),
                "icon": "dashboard",
                "keepTime": True,
            },
            all_dashboards_link(),
        ],
        schemaVersion=names.GRAFANA_SCHEMA_VERSION,
        refresh=REFRESH,
        time=TIME_RANGE,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
    )


def table_height(rows: int) -> int:
    """Grid units for a table of ``rows`` rows: a header and a row per unit, 6 to 24."""
    return min(max(rows + 3, 6), 24)


OVERVIEW_COLUMNS = (  # refId, column title, query
    ("A", "Objective", q.overview_objective),
    ("B", "SLI", q.overview_sli),
    ("C", "Budget remaining", q.overview_budget_remaining),
    ("D", "Burn rate", q.overview_burn_rate),
)


def service_links(service_field: str, slo_field: str) -> list[Json]:
    time_range = "${__url_time_range}"
    service_url = f"/d/{names.dashboard_uid(service_field)}/{service_field}?{time_range}"
    slo_url = f"{names.dashboard_link(None, service_field, slo_field)}&{time_range}"
    return [
        data_link(names.SERVICE, f"{service_field} dashboard", service_url),
        data_link(names.SLO, f"{slo_field} on the {service_field} dashboard", slo_url),
    ]


def slo_table(services: list[Service]) -> Json:
    names_ = [s.name for s in services if s.slos]
    service_field = f"${{__data.fields.{names.SERVICE}}}"
    slo_field = f"${{__data.fields.{names.SLO}}}"
    refs = [(ref, title) for ref, title, _ in OVERVIEW_COLUMNS]
    return table(
        "Every SLO, worst error budget first",
        [query(build(names_), ref, instant=True, table=True) for ref, _, build in OVERVIEW_COLUMNS],
        columns_of(refs, [names.SERVICE, names.SLO], ["Time"]),
        overrides=[
            column("Objective", "percentunit"),
            column("SLI", "percentunit", decimals=3),
            column("Budget remaining", "percentunit", BUDGET_LEVELS),
            column("Burn rate", BURN_RATE_UNIT, steps(OK, (1, WARN)), decimals=2),
            *service_links(service_field, slo_field),
        ],
        sort_by="Budget remaining",
        description="Objective, SLI and error budget over each SLO's period; "
        "burn rate over its fastest alert window; a grouped SLO shows its worst group. "
        "Click a service or SLO to open its dashboard.",
    )


def worst_groups_table(grouped: list[SLO]) -> Json:
    """The groups of grouped SLOs with the least budget left, across every service."""
    service_field = f"${{__data.fields.{names.SERVICE}}}"
    slo_field = f"${{__data.fields.{names.SLO}}}"
    labels = list(dict.fromkeys(label for slo in grouped for label in slo.by))
    organize = {
        "excludeByName": {"Time": True, "__name__": True},
        "indexByName": {names.SERVICE: 0, names.SLO: 1}
        | {label: i + 2 for i, label in enumerate(labels)}
        | {"Value": len(labels) + 2},
        "renameByName": {"Value": "Budget remaining"},
    }
    return table(
        f"Worst {q.WORST_GROUPS} groups of grouped SLOs",
        [query(q.overview_worst_groups(grouped), instant=True, table=True)],
        [{"id": "organize", "options": organize}],
        overrides=[
            column("Budget remaining", "percentunit", BUDGET_LEVELS),
            *service_links(service_field, slo_field),
        ],
        sort_by="Budget remaining",
        description="Each group of a grouped SLO (by: in its spec) is an SLO of its own; "
        "these have the least error budget left over their period.",
    )


def overview_dashboard(model: Model) -> g.Dashboard:
    grid = Grid()
    slos = sum(len(s.slos) for s in model.services)
    grouped = [slo for s in model.services for slo in s.slos if slo.by]
    with_alerts = [s.name for s in model.services if has_alerts(s)]
    if slos:
        grid.add(slo_table(list(model.services)), GRID_WIDTH, table_height(slos))
    if grouped:
        grid.add(worst_groups_table(grouped), GRID_WIDTH, table_height(q.WORST_GROUPS))
    if with_alerts:
        grid.add(firing_alerts_table(q.overview_firing_alerts(with_alerts)), GRID_WIDTH, 8)
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
