"""Dashboard panels as the JSON Grafana reads, and the dashboard around them as deterministic
JSON.

The dashboard itself (variables, annotations, links, time range) is a grafanalib Dashboard. Its
panels are written here as plain data instead: grafanalib 0.7.1's panel model is the legacy
one (integrations.md §7) - queries at half resolution (``intervalFactor: 2``), Stat panels that
average instead of showing the last value, legacy keys and many ``null`` fields - so every
panel needed fixing after grafanalib built it, and building, encoding, decoding and fixing ~30
panel objects per dashboard was most of a dashboard's compile time. Each helper below writes
exactly what those fixed grafanalib panels held (Stat, TimeSeries, Table, RowPanel with the
grafanalib defaults we kept), so the output did not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from grafanalib import core as g

from compiler.core import conventions as names
from compiler.text import jsontext

# A JSON object as Grafana reads it (a panel, a query, a field override, ...).
Json = dict[str, Any]

# Every panel and query asks the datasource chosen in the dashboard's datasource variable.
DATASOURCE = {"type": "prometheus", "uid": f"${{{names.DATASOURCE_VARIABLE}}}"}
GRID_WIDTH = 24

# Grafana's named colours for "fine", "attention", and the severities of a breached objective.
OK, WARN = "green", "orange"
SEVERITY_COLOURS = {"page": "red", "ticket": "orange", "info": "yellow"}


def query(
    expr: str, ref: str = "A", legend: str = "", instant: bool = False, table: bool = False
) -> Json:
    """A Prometheus query, without grafanalib's legacy ``intervalFactor``/``step``/``query``
    fields."""
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
        "format": "table" if table else "time_series",
        "instant": instant,
        "range": not instant,
    }


def steps(base: str, *levels: tuple[Decimal | float, str]) -> list[Json]:
    """Threshold steps: ``base`` colour below the first level, then each level's colour above it
    (Grafana needs them ascending)."""
    result: list[Json] = [{"color": base, "value": None}]
    for value, colour in sorted(levels, key=lambda level: Decimal(str(level[0]))):
        result.append({"color": colour, "value": json_number(value)})
    return result


def json_number(value: Decimal | float | int) -> int | float:
    """A number as JSON shows it best: 0 and 14 rather than 0.0 and 14.0, at most 10 digits."""
    text = names.number(value)
    return float(text) if "." in text else int(text)


def link(title: str, url: str, new_tab: bool = False) -> Json:
    return {"title": title, "url": url, "targetBlank": new_tab}


def _panel(
    kind: str,
    title: str,
    targets: list[Json],
    thresholds: list[Json],
    defaults: Json,
    options: Json,
    description: str = "",
    links: list[Json] | None = None,
    overrides: list[Json] | None = None,
    transformations: list[Json] | None = None,
    time_from: str | None = None,
) -> Json:
    """The keys every query panel has (grafanalib's Panel, legacy and empty keys left out);
    ``defaults``: the kind's own field defaults besides the thresholds."""
    panel: Json = {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {
            "defaults": {"thresholds": {"mode": "absolute", "steps": thresholds}, **defaults},
            "overrides": overrides or [],
        },
        "options": options,
        "links": links or [],
        "transformations": transformations or [],
        "hideTimeOverride": False,
        "maxDataPoints": 100,
        "transparent": False,
    }
    if description:
        panel["description"] = description
    if time_from is not None:
        panel["timeFrom"] = time_from
    return panel


def stat(
    title: str,
    expr: str,
    unit: str,
    thresholds: list[Json],
    description: str = "",
    decimals: int | None = None,
    sparkline: bool = True,
    links: list[Json] | None = None,
) -> Json:
    """One number, coloured by ``thresholds``; ``sparkline``: with its recent history drawn
    behind it."""
    defaults: Json = {
        "color": {"mode": "thresholds"},
        "custom": {},
        "mappings": [],
        "unit": unit,
        "noValue": "no data",
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "textMode": "auto",
        "colorMode": "value",
        "graphMode": "area" if sparkline else "none",
        "justifyMode": "auto",
        "orientation": "auto",
        # the last value: grafanalib's default "mean" would average the whole time range
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    }
    return _panel(
        "stat",
        title,
        [query(expr, instant=not sparkline)],
        thresholds,
        defaults,
        options,
        description,
        links,
    )


def timeseries(
    title: str,
    targets: list[Json],
    unit: str,
    thresholds: list[Json] | None = None,
    threshold_style: str = "off",
    description: str = "",
    links: list[Json] | None = None,
    time_from: str | None = None,
    decimals: int | None = None,
) -> Json:
    """Lines over time; ``threshold_style``: how the threshold levels are drawn ("off",
    "dashed", ...)."""
    custom = {
        "axisPlacement": "auto",
        "axisLabel": "",
        "drawStyle": "line",
        "lineInterpolation": "linear",
        "barAlignment": 0,
        "lineWidth": 1,
        "fillOpacity": 0,
        "gradientMode": "none",
        "spanNulls": False,
        "showPoints": "auto",
        "pointSize": 5,
        "stacking": {},
        "scaleDistribution": {"type": "linear", "log": 2},
        "hideFrom": {"tooltip": False, "viz": False, "legend": False},
        "thresholdsStyle": {"mode": threshold_style},
    }
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "mappings": [],
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "calcs": []},
        "tooltip": {"mode": "multi", "sort": "none"},
    }
    return _panel(
        "timeseries",
        title,
        targets,
        thresholds or steps(OK),
        defaults,
        options,
        description,
        links,
        time_from=time_from,
    )


def table(
    title: str,
    targets: list[Json],
    transformations: list[Json],
    overrides: list[Json] | None = None,
    sort_by: str | None = None,
    description: str = "",
) -> Json:
    defaults = {"custom": {"align": "auto", "displayMode": "auto", "filterable": False}, "unit": ""}
    options = {
        "showHeader": True,
        "sortBy": [{"displayName": sort_by, "desc": False}] if sort_by else [],
    }
    return _panel(
        "table",
        title,
        targets,
        steps(OK),
        defaults,
        options,
        description,
        overrides=overrides,
        transformations=transformations,
    )


def row(title: str) -> Json:
    """A row header: the panels after it, up to the next row, belong to it (never collapsed)."""
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "links": [],
        "hideTimeOverride": False,
        "transparent": False,
    }


@dataclass
class Grid:
    """Lays panels out left to right in Grafana's 24-column grid, starting a new line when full,
    and numbers them 1, 2, ... in that order.

    Every panel gets an explicit gridPos: Grafana stacks panels without one at the top.
    """

    panels: list[Json] = field(default_factory=list)
    x: int = 0
    y: int = 0
    line_height: int = 0

    def row(self, title: str) -> None:
        self.newline()
        self._place(row(title), GRID_WIDTH, 1)
        self.newline()

    def add(self, panel: Json, w: int, h: int) -> None:
        if self.x + w > GRID_WIDTH:
            self.newline()
        self._place(panel, w, h)

    def newline(self) -> None:
        self.y += self.line_height
        self.x, self.line_height = 0, 0

    def _place(self, panel: Json, w: int, h: int) -> None:
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = len(self.panels) + 1
        self.panels.append(panel)
        self.x += w
        self.line_height = max(self.line_height, h)


# Dashboard keys of grafanalib's pre-panel model (rows, dark style, shared crosshair, inputs).
_LEGACY_DASHBOARD_KEYS = ("__inputs", "gnetId", "hideControls", "rows", "sharedCrosshair", "style")


def _plain(value: Any) -> Any:
    """``value`` with every grafanalib object replaced by its ``to_json_data()``: the data that
    ``json.dumps(cls=DashboardEncoder)`` writes, without writing and reading it back."""
    while hasattr(value, "to_json_data"):
        value = value.to_json_data()
    if type(value) is dict:
        return {key: _plain(item) for key, item in value.items()}
    if type(value) is list or type(value) is tuple:
        return [_plain(item) for item in value]
    return value


def to_json(dashboard: g.Dashboard) -> str:
    """Deterministic JSON: sorted keys, two-space indent, unicode kept readable, trailing newline.

    The dashboard's panels are this module's plain data already (a Grid's): only the rest of
    the dashboard needs converting."""
    data = dashboard.to_json_data()
    panels = data.pop("panels")
    data = _plain(data)
    for key in _LEGACY_DASHBOARD_KEYS:
        data.pop(key, None)
    data["timepicker"] = {k: v for k, v in data["timepicker"].items() if v is not None}
    data["panels"] = panels
    return jsontext.dumps(data) + "\n"
