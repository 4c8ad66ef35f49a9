"""`slo report`: one self-contained HTML page from the live Prometheus, charts as inline SVG.

Per SLO over the chosen range: the error budget left (its burn-down), the SLI against the
objective, each alert tier's long-window burn rate against its factor, and the alerts that
fired. No script, no stylesheet or font from elsewhere: the page opens from disk, offline.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import SLO, Model
from compiler.core.windows import period_text
from compiler.live.query import Prometheus
from compiler.live.status import fallback_windows
from compiler.text.promtext import quote_label_value

POINTS = 240  # samples per line: enough for a page-wide chart
MIN_STEP = 15  # seconds, the scrape interval of a usual Prometheus
WIDTH, HEIGHT, PAD = 640, 180, 44
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")

Points = list[tuple[float, float]]


@dataclass
class Chart:
    title: str
    lines: list[tuple[str, Points]]  # (legend, points)
    limits: list[tuple[str, float]] = field(default_factory=list)  # dashed horizontal lines
    percent: bool = False

    @property
    def has_data(self) -> bool:
        return any(points for _, points in self.lines)


@dataclass
class Section:
    slo: SLO
    charts: list[Chart]
    fired: list[tuple[str, str, float, float]]  # (alertname, severity, from, to)
    note: str | None = None  # what the SLI is shown over, when not the period
    group: tuple[tuple[str, str], ...] = ()  # a grouped SLO has a section per group

    @property
    def anchor(self) -> str:
        return "-".join([self.slo.service, self.slo.name, *(v for _, v in self.group)])

    @property
    def heading(self) -> str:
        group = ", ".join(f"{k}={v}" for k, v in self.group)
        return f"{self.slo.service} / {self.slo.name}" + (f" [{group}]" if group else "")


def _longest_window(
    slo: SLO, where: str, series: Callable[[str], Points]
) -> tuple[str, Points] | None:
    """The SLI over the longest of the SLO's recorded windows that has data in the range (errors
    over total, as the period SLI is computed), while the period SLI has none. ``where``: the
    matchers of the SLO (and group), without braces."""
    for seconds in fallback_windows(slo):
        window = format_duration(seconds)
        errors, total = (
            f'{names.EVENTS}{{{where},{names.KIND}="{kind}",{names.WINDOW}="{window}"}}'
            for kind in (names.ERRORS, names.TOTAL)
        )
        points = series(f"1 - ({errors} / ignoring({names.KIND}) {total})")
        if points:
            return window, points
    return None


def _series(prometheus: Prometheus, expr: str, start: float, end: float, step: float) -> Points:
    found = prometheus.query_range(expr, start, end, step)
    return found[0][1] if found else []


def collect(
    model: Model,
    prometheus: Prometheus,
    since: int,
    service: str | None = None,
    slo: str | None = None,
    now: float | None = None,
) -> list[Section]:
    end = time.time() if now is None else now
    start = end - since
    step = max(MIN_STEP, since // POINTS)
    sections = []
    for s in model.services:
        if service not in (None, s.name):
            continue
        for objective in s.slos:
            if slo not in (None, objective.name):
                continue
            base = f'{names.SERVICE}="{s.name}",{names.SLO}="{objective.name}"'
            groups: list[tuple[tuple[str, str], ...]] = [()]
            if objective.by:  # a section per group the range holds, each with its own series
                found = prometheus.query_range(
                    f'{names.EVENTS}{{{base},{names.KIND}="{names.TOTAL}"}}', start, end, step
                )
                seen = {tuple((k, m.get(k, "")) for k in objective.by) for m, _ in found}
                groups = sorted(seen) or [()]
            for group in groups:
                matchers = base + "".join(f",{k}={quote_label_value(v)}" for k, v in group)
                sections.append(_section(prometheus, objective, matchers, group, start, end, step))
    return sections


def _section(
    prometheus: Prometheus,
    objective: SLO,
    matchers: str,
    group: tuple[tuple[str, str], ...],
    start: float,
    end: float,
    step: float,
) -> Section:
    """The charts and alerts of one SLO (or one group of a grouped SLO) over the range."""
    where = "{" + matchers + "}"

    def series(expr: str) -> Points:
        return _series(prometheus, expr, start, end, step)

    budget = Chart("Error budget left", [("budget left", series(names.BUDGET_REMAINING + where))])
    budget.limits.append(("exhausted", 0.0))
    budget.percent = True
    tiers = objective.alerting.tiers
    shortest = min((t.short for t in tiers), default=None)
    sli_lines = [("over the period", series(f"1 - {names.PERIOD_ERROR_RATIO}{where}"))]
    note = None
    if not sli_lines[0][1]:  # the period SLI is still filling: its longest window
        filling = _longest_window(objective, matchers, series)
        if filling is not None:
            window, points = filling
            note = f"period SLI still filling: shown over {window}"
            sli_lines.append((f"over {window} (period SLI still filling)", points))
    if shortest is not None:
        sli_lines.append(
            (
                f"over {format_duration(shortest)}",
                series(f"1 - {names.error_ratio(shortest)}{where}"),
            )
        )
    sli = Chart("SLI", sli_lines, [("objective", float(objective.objective))], True)
    burn = Chart(
        "Burn rate (long windows)",
        [
            (
                f"{t.severity} {format_duration(t.long)}",
                [
                    (x, y / float(objective.error_budget))
                    for x, y in series(names.error_ratio(t.long) + where)
                ],
            )
            for t in tiers
        ],
        [(f"{t.severity} fires above {t.factor:g}", float(t.factor)) for t in tiers],
    )
    alerts = prometheus.query_range(f'ALERTS{{alertstate="firing",{where[1:]}', start, end, step)
    fired = [
        (labels.get("alertname", ""), labels.get(names.SEVERITY, ""), p[0][0], p[-1][0])
        for labels, p in alerts
        if p
    ]
    return Section(objective, [budget, sli, burn], fired, note, group)


# --- HTML ----------------------------------------------------------------------------------------
def _fmt(value: float, percent: bool) -> str:
    return f"{value * 100:.4g}%" if percent else f"{value:.3g}"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


def svg(chart: Chart, start: float, end: float) -> str:
    values = [v for _, points in chart.lines for _, v in points] + [v for _, v in chart.limits]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5 * (abs(low) or 1), high + 0.5 * (abs(high) or 1)
    span = end - start or 1.0

    def x(t: float) -> float:
        return PAD + (t - start) / span * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD / 2 - (v - low) / (high - low) * (HEIGHT - PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(chart.title)}">',
        f'<rect x="{PAD}" y="{PAD / 2}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - PAD}" '
        'fill="#fafafa" stroke="#ccc"/>',
        f'<text x="{PAD - 4}" y="{y(high) + 4:.1f}" text-anchor="end">'
        f"{_fmt(high, chart.percent)}</text>",
        f'<text x="{PAD - 4}" y="{y(low) + 4:.1f}" text-anchor="end">'
        f"{_fmt(low, chart.percent)}</text>",
        f'<text x="{PAD}" y="{HEIGHT - 2}">{_when(start)}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 2}" text-anchor="end">{_when(end)}</text>',
    ]
    for label, value in chart.limits:
        parts.append(
            f'<line class="limit" x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(value):.1f}" '
            f'y2="{y(value):.1f}" stroke="#888" stroke-dasharray="4 3">'
            f"<title>{html.escape(label)}: {_fmt(value, chart.percent)}</title></line>"
        )
    for i, (label, points) in enumerate(chart.lines):
        if not points:
            continue
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline class="series" fill="none" stroke="{COLOURS[i % len(COLOURS)]}" '
            f'stroke-width="1.5" points="{path}"><title>{html.escape(label)}</title></polyline>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _legend(chart: Chart) -> str:
    items = [
        f'<span style="color:{COLOURS[i % len(COLOURS)]}">&#9632; {html.escape(label)}'
        + ("" if points else " (no data)")
        + "</span>"
        for i, (label, points) in enumerate(chart.lines)
    ] + [f"<span>- - {html.escape(label)}</span>" for label, _ in chart.limits]
    return " ".join(items)


STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
section { border-top: 1px solid #ddd; padding-top: 1em; margin-top: 1.5em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-weight: 600; }
svg text { font-size: 10px; fill: #555; } .legend { font-size: 12px; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left; }
.none { color: #888; } .note { color: #8a6d00; }
"""


def render(sections: list[Section], start: float, end: float, source: str) -> str:
    body = [
        f"<h1>SLO report</h1><p>{html.escape(_when(start))} to {html.escape(_when(end))} UTC, "
        f"from {html.escape(source)}</p>"
    ]
    for section in sections:
        slo = section.slo
        figures = "".join(
            f'<figure class="chart" data-has-data="{str(chart.has_data).lower()}">'
            f"<figcaption>{html.escape(chart.title)}</figcaption>{svg(chart, start, end)}"
            f'<div class="legend">{_legend(chart)}</div></figure>'
            for chart in section.charts
        )
        if section.fired:
            rows = "".join(
                f"<tr><td>{html.escape(name)}</td><td>{html.escape(severity)}</td>"
                f"<td>{_when(a)}</td><td>{_when(b)}</td></tr>"
                for name, severity, a, b in section.fired
            )
            fired = (
                "<table><tr><th>alert</th><th>severity</th><th>first seen firing</th>"
                f"<th>last seen firing</th></tr>{rows}</table>"
            )
        else:
            fired = '<p class="none">No alert fired in this range.</p>'
        body.append(
            f'<section class="slo" id="{html.escape(section.anchor)}">'
            f"<h2>{html.escape(section.heading)}</h2>"
            f"<p>{html.escape(slo.description)} Objective {slo.objective_percent:f}% over "
            f"{period_text(slo)}.</p>"
            + (f'<p class="note">{html.escape(section.note)}.</p>' if section.note else "")
            + f'<div class="charts">{figures}</div><h3>Alerts that fired</h3>{fired}</section>'
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>SLO report</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
