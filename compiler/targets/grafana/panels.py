"""Dashboard panels as the JSON Grafana reads, and the dashboard around them as deterministic
JSON.

The dashboard itself (variables, annotations, links, time range) is a grafanalib Dashboard. Its
panels are written here as plain data instead: grafanalib 0.7.1's panel model is the legacy
one (integrations.md §7) - queries at half resolution (``intervalFactor: 2``), Stat panels that
average instead of showing the last value, legacy keys and many ``null`` fields.

A panel holds what it means and nothing Grafana would fill in the same way: no empty lists, no
plugin defaults (line style, legend, colour mode, ...), no datasource on a query (it asks its
panel's). A service dashboard is read in a pull request's diff and pushed ~1,000 times a
deployment: every key a panel repeats costs both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import encode_basestring  # the C version, as json uses
from typing import Any

from grafanalib import core as g

from compiler.core import conventions as names

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
    """A Prometheus query of the panel's datasource. Grafana's defaults are left out: a query
    without a datasource asks the panel's; one that says neither ``instant`` nor ``range`` runs
    as a range query, one that says ``instant`` alone as an instant query; the format is a time
    series unless it says table."""
    target: Json = {"expr": expr, "refId": ref}
    if legend:
        target["legendFormat"] = legend
    if table:
        target["format"] = "table"
    if instant:
        target["instant"] = True
    return target


def steps(base: str, *levels: tuple[Decimal | float, str]) -> list[Json]:
    """Threshold steps: ``base`` colour below the first level, then each level's colour above it
    (Grafana needs them ascending)."""
    result: list[Json] = [{"color": base, "value": None}]
    for value, colour in sorted(levels, key=lambda level: Decimal(str(level[0]))):
        result.append({"color": colour, "value": json_number(value)})
    return result


def thresholds(levels: list[Json]) -> Json:
    return {"mode": "absolute", "steps": levels}


def json_number(value: Decimal | float | int) -> int | float:
    """A number as JSON shows it best: 0 and 14 rather than 0.0 and 14.0, at most 10 digits."""
    text = names.number(value)
    return float(text) if "." in text else int(text)


def link(title: str, url: str, new_tab: bool = False) -> Json:
    result: Json = {"title": title, "url": url}
    if new_tab:
        result["targetBlank"] = True
    return result


def field_defaults(
    unit: str, levels: list[Json] | None = None, decimals: int | None = None
) -> Json:
    """A panel's field defaults: its unit, its threshold levels (Grafana's own default, green
    below 80 and red above, is never what a panel here means, so a panel that colours or draws
    levels says which), and its decimals (else Grafana picks)."""
    defaults: Json = {"unit": unit}
    if levels is not None:
        defaults["thresholds"] = thresholds(levels)
    if decimals is not None:
        defaults["decimals"] = decimals
    return defaults


def _panel(
    kind: str,
    title: str,
    targets: list[Json],
    defaults: Json,
    options: Json | None = None,
    description: str = "",
    links: list[Json] | None = None,
    overrides: list[Json] | None = None,
    transformations: list[Json] | None = None,
    time_from: str | None = None,
) -> Json:
    """The keys a query panel needs. Whatever Grafana fills in the same way when it is missing
    (empty lists and options, plugin defaults) is left out: a dashboard holds what it means."""
    field_config: Json = {"defaults": defaults}
    if overrides:
        field_config["overrides"] = overrides
    panel: Json = {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": field_config,
    }
    if options:
        panel["options"] = options
    if description:
        panel["description"] = description
    if links:
        panel["links"] = links
    if transformations:
        panel["transformations"] = transformations
    if time_from is not None:
        panel["timeFrom"] = time_from
    return panel


def stat(
    title: str,
    expr: str,
    unit: str,
    levels: list[Json],
    description: str = "",
    decimals: int | None = None,
    sparkline: bool = True,
    links: list[Json] | None = None,
) -> Json:
    """One number, coloured by ``levels`` (a stat panel's colour mode is its thresholds);
    ``sparkline``: with its recent history drawn behind it."""
    # the last value, said explicitly: grafanalib's stat default "mean" averaged the time range
    options: Json = {"reduceOptions": {"calcs": ["lastNotNull"]}}
    if not sparkline:
        options["graphMode"] = "none"
    return _panel(
        "stat",
        title,
        [query(expr, instant=not sparkline)],
        field_defaults(unit, levels, decimals),
        options,
        description,
        links,
    )


def timeseries(
    title: str,
    targets: list[Json],
    unit: str,
    levels: list[Json] | None = None,
    threshold_style: str = "off",
    description: str = "",
    links: list[Json] | None = None,
    time_from: str | None = None,
    decimals: int | None = None,
    tooltip_all: bool = False,
) -> Json:
    """Lines over time (Grafana's defaults: thin lines, classic palette, legend below);
    ``threshold_style``: how ``levels`` are drawn ("dashed", "line+area", ...; "off": not at
    all); ``tooltip_all``: every series in the tooltip, not only the one under the pointer."""
    defaults = field_defaults(unit, levels, decimals)
    if threshold_style != "off":
        defaults["custom"] = {"thresholdsStyle": {"mode": threshold_style}}
    return _panel(
        "timeseries",
        title,
        targets,
        defaults,
        {"tooltip": {"mode": "multi"}} if tooltip_all else None,
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
    """Instant queries as rows; ``sort_by``: the column shown ascending (worst first)."""
    options = {"sortBy": [{"displayName": sort_by, "desc": False}]} if sort_by else None
    return _panel(
        "table",
        title,
        targets,
        {},
        options,
        description,
        overrides=overrides,
        transformations=transformations,
    )


def column(
    name: str, unit: str, levels: list[Json] | None = None, decimals: int | None = None
) -> Json:
    """A table column's unit and decimals; with ``levels``, its cells coloured by them."""
    properties: list[Json] = [{"id": "unit", "value": unit}]
    if decimals is not None:
        properties.append({"id": "decimals", "value": decimals})
    if levels:
        properties.append({"id": "thresholds", "value": thresholds(levels)})
        properties.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def data_link(field: str, title: str, url: str) -> Json:
    """A link on every cell of the column ``field``."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "links", "value": [link(title, url)]}],
    }


def columns_of(refs: list[tuple[str, str]], first: list[str], hidden: list[str]) -> list[Json]:
    """Table transformations: the instant queries ``refs`` (refId, column title) merged into one
    row per label set, the label columns ``first`` in front, ``hidden`` left out."""
    order = {label: i for i, label in enumerate(first)} | {
        f"Value #{ref}": len(first) + i for i, (ref, _) in enumerate(refs)
    }
    organize = {
        "excludeByName": dict.fromkeys(hidden, True),
        "indexByName": order,
        "renameByName": {f"Value #{ref}": title for ref, title in refs},
    }
    return [{"id": "merge", "options": {}}, {"id": "organize", "options": organize}]


def row(title: str) -> Json:
    """A row header: the panels after it, up to the next row, belong to it (not collapsed: a
    collapsed row would hold its panels in its own ``panels``)."""
    return {"type": "row", "title": title}


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


# Dashboard keys of grafanalib's pre-panel model (rows, dark style, shared crosshair, inputs);
# its time picker and `editable`, which only repeat Grafana's defaults; `id` and `version`, which
# Grafana sets on every save (push sends its own).
_LEFT_OUT_KEYS = (
    "__inputs",
    "editable",
    "gnetId",
    "hideControls",
    "id",
    "rows",
    "sharedCrosshair",
    "style",
    "timepicker",
    "version",
)


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
    """Deterministic JSON (``layout``), with a trailing newline.

    The dashboard's panels are this module's plain data already (a Grid's): only the rest of
    the dashboard needs converting."""
    data = dashboard.to_json_data()
    panels = data.pop("panels")
    data = _plain(data)
    for key in _LEFT_OUT_KEYS:
        data.pop(key, None)
    data["panels"] = panels
    return layout(data) + "\n"


# --- the JSON layout -------------------------------------------------------------------------
WIDTH = 100  # the longest line that an object or list is written on when it fits


def layout(data: Json) -> str:
    """Sorted keys and two-space indents, as ``json.dumps(sort_keys=True, indent=2,
    ensure_ascii=False)`` would write it, except that an object or list that fits on its line
    (``WIDTH``) is written on it: ``"gridPos": {"h": 8, "w": 12, "x": 0, "y": 13}``, a threshold
    step, a field matcher. Half of an indented dashboard was indentation; this reads as well in
    a diff.

    A query (an object with an ``expr``) always gets lines of its own, so that every query is a
    line ``"expr": "..."``: the consistency check reads them from the text (checks/consistency.py)
    and points at them."""
    out: list[str] = []
    _write(data, "\n", 0, out)
    return "".join(out)


def _scalar(value: Any) -> str:
    if type(value) is str:
        return encode_basestring(value)
    return json.dumps(value)  # numbers, booleans, null: as the standard encoder writes them


def _one_line(value: Any, room: int) -> str | None:
    """``value`` on one line if it takes at most ``room`` characters and holds no query."""
    kind = type(value)
    if kind is not dict and kind is not list:
        text = _scalar(value)
        return text if len(text) <= room else None
    if not value:
        return "{}" if kind is dict else "[]"
    parts = []
    if kind is dict:
        if "expr" in value:
            return None
        for key in sorted(value):
            head = f"{encode_basestring(key)}: "
            room -= len(head) + 2  # 2: the separator after it, or a bracket
            item = _one_line(value[key], room)
            if item is None:
                return None
            room -= len(item)
            parts.append(head + item)
        return "{" + ", ".join(parts) + "}"
    for element in value:
        room -= 2
        item = _one_line(element, room)
        if item is None:
            return None
        room -= len(item)
        parts.append(item)
    return "[" + ", ".join(parts) + "]"


def _write(value: Any, newline: str, used: int, out: list[str]) -> None:
    """Append ``value``; ``newline``: a line break and the current indent; ``used``: characters
    already on the line before it."""
    kind = type(value)
    if kind is not dict and kind is not list:
        out.append(_scalar(value))
        return
    flat = _one_line(value, WIDTH - used - 1)  # 1: a comma after it
    if flat is not None:
        out.append(flat)
        return
    inner = newline + "  "
    indent = len(inner) - 1
    if kind is dict:
        out.append("{")
        for i, key in enumerate(sorted(value)):
            head = f"{encode_basestring(key)}: "
            out.append(("," if i else "") + inner + head)
            _write(value[key], inner, indent + len(head), out)
        out.append(newline + "}")
        return
    out.append("[")
    for i, element in enumerate(value):
        out.append(("," if i else "") + inner)
        _write(element, inner, indent, out)
    out.append(newline + "]")
