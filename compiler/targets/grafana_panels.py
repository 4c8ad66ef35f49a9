"""grafanalib building blocks with the fixes that real Grafana needs (integrations.md §7).

grafanalib 0.7.1 emits a legacy dashboard model by default: ``schemaVersion`` 12, datasources as
strings, ``intervalFactor: 2`` (half resolution) on every query, Stat panels that average instead
of showing the last value, and many ``null`` fields. The helpers here build panels with grafanalib
and fix those; ``to_json`` turns a Dashboard into deterministic JSON.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal

import attr
from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from compiler import conventions as names
from compiler import jsontext

# Every panel and query asks the datasource chosen in the dashboard's datasource variable.
DATASOURCE = {"type": "prometheus", "uid": f"${{{names.DATASOURCE_VARIABLE}}}"}
GRID_WIDTH = 24

# Grafana's named colours for "fine", "attention", and the severities of a breached objective.
OK, WARN = "green", "orange"
SEVERITY_COLOURS = {"page": "red", "ticket": "orange", "info": "yellow"}

# Panel keys of grafanalib's legacy panel model (table "columns", "fontSize" and panel-level
# "mappings" predate Grafana 8's fieldConfig); Grafana needs none of them.
_LEGACY_PANEL_KEYS = (
    "error", "editable", "height", "span", "minSpan", "repeat", "repeatDirection", "maxPerRow", "columns", "fontSize",
)


class PromTarget(g.Target):
    """A Prometheus query without grafanalib's legacy ``intervalFactor``/``step``/``query`` fields."""

    def to_json_data(self):
        data = {
            "datasource": DATASOURCE,
            "expr": self.expr,
            "legendFormat": self.legendFormat,
            "refId": self.refId,
            "format": self.format,
            "instant": self.instant,
            "range": not self.instant,
        }
        return data


def query(expr: str, ref: str = "A", legend: str = "", instant: bool = False, table: bool = False) -> PromTarget:
    return PromTarget(
        expr=expr, refId=ref, legendFormat=legend, instant=instant, format="table" if table else "time_series"
    )


def steps(base: str, *levels: tuple[Decimal | float, str]) -> list[dict]:
    """Threshold steps: ``base`` colour below the first level, then each level's colour above it."""
    result = [{"color": base, "value": None}]
    for value, colour in sorted(levels, key=lambda level: Decimal(str(level[0]))):  # Grafana needs them ascending
        result.append({"color": colour, "value": json_number(value)})
    return result


def json_number(value: Decimal | float | int) -> int | float:
    """A number as JSON shows it best: 0 and 14 rather than 0.0 and 14.0, at most 10 digits."""
    text = names.number(value)
    return float(text) if "." in text else int(text)


def link(title: str, url: str, new_tab: bool = False) -> dict:
    return {"title": title, "url": url, "targetBlank": new_tab}


def stat(title: str, expr: str, unit: str, thresholds: list[dict], description: str = "", decimals: int | None = None,
         sparkline: bool = True, links: list[dict] | None = None) -> g.Stat:
    return g.Stat(
        title=title,
        description=description or None,
        dataSource=DATASOURCE,
        targets=[query(expr, instant=not sparkline)],
        format=unit,
        decimals=decimals,
        reduceCalc="lastNotNull",  # grafanalib's default "mean" would average the whole time range
        graphMode="area" if sparkline else "none",
        color={"mode": "thresholds"},
        thresholds=thresholds,
        noValue="no data",
        links=links or [],
    )


def timeseries(title: str, targets: list[PromTarget], unit: str, thresholds: list[dict] | None = None,
               threshold_style: str = "off", description: str = "", links: list[dict] | None = None,
               time_from: str | None = None, decimals: int | None = None) -> g.TimeSeries:
    return g.TimeSeries(
        title=title,
        description=description or None,
        dataSource=DATASOURCE,
        targets=targets,
        unit=unit,
        thresholds=thresholds or steps(OK),
        thresholdsStyleMode=threshold_style,
        valueDecimals=decimals,
        tooltipMode="multi",
        legendDisplayMode="list",
        links=links or [],
        timeFrom=time_from,
    )


def table(title: str, targets: list[PromTarget], transformations: list[dict], overrides: list[dict] | None = None,
          sort_by: str | None = None, description: str = "") -> g.Table:
    return g.Table(
        title=title,
        description=description or None,
        dataSource=DATASOURCE,
        targets=targets,
        transformations=transformations,
        overrides=overrides or [],
        sortBy=[g.TableSortByField(displayName=sort_by, desc=False)] if sort_by else [],
        thresholds=steps(OK),
    )


@dataclass
class Grid:
    """Lays panels out left to right in Grafana's 24-column grid, starting a new line when full.

    Every panel gets an explicit gridPos: Grafana stacks panels without one at the top.
    """

    panels: list = field(default_factory=list)
    x: int = 0
    y: int = 0
    line_height: int = 0

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append(g.RowPanel(title=title, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=self.y)))
        self.y += 1

    def add(self, panel, w: int, h: int) -> None:
        if self.x + w > GRID_WIDTH:
            self.newline()
        self.panels.append(attr.evolve(panel, gridPos=g.GridPos(h=h, w=w, x=self.x, y=self.y)))
        self.x += w
        self.line_height = max(self.line_height, h)

    def newline(self) -> None:
        self.y += self.line_height
        self.x, self.line_height = 0, 0


def _tidy_panel(panel: dict) -> dict:
    for key in _LEGACY_PANEL_KEYS:
        panel.pop(key, None)
    for key in [k for k, v in panel.items() if v is None]:
        del panel[key]
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    for key in [k for k, v in defaults.items() if v is None]:
        del defaults[key]
    custom = defaults.get("custom", {})
    for key in [k for k, v in custom.items() if v is None]:
        del custom[key]
    if panel.get("type") == "table":
        panel.pop("mappings", None)
        panel.pop("color", None)
    if panel.get("type") == "row":
        panel.pop("fieldConfig", None)
        panel.pop("targets", None)
        panel.pop("transformations", None)
        panel.pop("maxDataPoints", None)
        panel.pop("datasource", None)
    for nested in panel.get("panels", []):
        _tidy_panel(nested)
    return panel


# Dashboard keys of grafanalib's pre-panel model (rows, dark style, shared crosshair, inputs).
_LEGACY_DASHBOARD_KEYS = ("__inputs", "gnetId", "hideControls", "rows", "sharedCrosshair", "style")


def _number_panels(panels: list[dict]) -> None:
    """Panel ids 1, 2, ... in order, a row's own panels right after it: what grafanalib's
    auto_panel_ids gives, without copying every panel object to set one field."""
    taken = {p["id"] for top in panels for p in [top, *top.get("panels", [])] if p.get("id")}
    free = (i for i in itertools.count(1) if i not in taken)
    for panel in panels:
        if not panel.get("id"):
            panel["id"] = next(free)
        for nested in panel.get("panels", []) if panel.get("type") == "row" else []:
            if not nested.get("id"):
                nested["id"] = next(free)


def to_json(dashboard: g.Dashboard) -> str:
    """Deterministic JSON: sorted keys, two-space indent, unicode kept readable, trailing newline."""
    data = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    _number_panels(data["panels"])
    for key in _LEGACY_DASHBOARD_KEYS:
        data.pop(key, None)
    data["panels"] = [_tidy_panel(p) for p in data["panels"]]
    data["timepicker"] = {k: v for k, v in data["timepicker"].items() if v is not None}
    return jsontext.dumps(data) + "\n"
