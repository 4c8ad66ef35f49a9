"""Reading a Prometheus-compatible query API for `slo backfill`: the raw rules' expressions over
a grid (query_range, in chunks the API accepts), the live rule groups, and the first sample the
server already holds for a recorded series."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.backfill.history import Grid, Values
from compiler.push.transport import PushError, Transport

MAX_POINTS = 10_000  # per query_range call; Prometheus refuses more than 11,000 per series
ZERO_TIME = "0001-01-01T00:00:00Z"  # lastEvaluation of a group that never ran


class BackfillError(Exception):
    """Why a backfill cannot go on; nothing has been written when it is raised."""


@dataclass(frozen=True)
class LiveGroup:
    name: str
    file: str
    interval: int  # seconds
    last_evaluation: int | None  # ms since the epoch; None before the first evaluation


def _float(text: str) -> float:
    return float(text)  # Go's "NaN", "+Inf" and "-Inf" read as Python's


def parse_rfc3339_ms(text: str) -> int:
    """An RFC 3339 time with up to nanoseconds (as Go writes it), in ms since the epoch."""
    from datetime import datetime

    date, _, rest = text.partition("T")
    clock = rest.rstrip("Z")
    zone = "+00:00"
    for sign in "+-":
        if sign in clock:
            clock, _, offset = clock.partition(sign)
            zone = sign + offset
    whole, _, fraction = clock.partition(".")
    seconds = datetime.fromisoformat(f"{date}T{whole}{zone}").timestamp()
    return int(seconds) * 1000 + int((fraction + "000")[:3])


class QueryApi:
    """The HTTP API of Prometheus (or VictoriaMetrics' Prometheus-compatible one)."""

    def __init__(self, transport: Transport, params: Mapping[str, str] | None = None):
        self.transport = transport
        self.params = dict(params or {})  # e.g. VictoriaMetrics' nocache=1

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        url = self.transport.url(path)
        try:
            response = self.transport.request("GET", path, params={**self.params, **params})
        except PushError as exc:
            raise BackfillError(f"cannot reach the query API: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            reason = body.get("error") if isinstance(body, dict) else response.text[:300]
            raise BackfillError(f"GET {url}: HTTP {response.status_code}: {reason}")
        return body.get("data")

    def query_range(self, expr: str, g: Grid) -> Values:
        """``expr`` (one series at most) at every instant of ``g``."""
        return self.query_range_groups(expr, g, ()).get((), [None] * g.count)

    def query_range_groups(
        self, expr: str, g: Grid, by: Sequence[str]
    ) -> dict[tuple[tuple[str, str], ...], Values]:
        """``expr`` at every instant of ``g``, one series per group: the values of the ``by``
        labels, as sorted (name, value) pairs without the empty ones (as the rules record
        them). Without ``by``, one series at most, under ()."""
        found: dict[tuple[tuple[str, str], ...], Values] = {}
        for first in range(0, g.count, MAX_POINTS):
            last = min(g.count, first + MAX_POINTS) - 1
            data = self._get(
                "/api/v1/query_range",
                {
                    "query": expr,
                    "start": _seconds(g.start + first * g.step),
                    "end": _seconds(g.start + last * g.step),
                    "step": _seconds(g.step),
                },
            )
            result = data.get("result", []) if isinstance(data, dict) else []
            if len(result) > 1 and not by:
                raise BackfillError(
                    f"{expr!r} returned {len(result)} series; a raw rule records one"
                )
            for series in result:
                metric = series.get("metric") or {}
                group = tuple(sorted((k, str(metric[k])) for k in by if metric.get(k)))
                values = found.setdefault(group, [None] * g.count)
                for t, text in series.get("values", []):
                    n = g.at_or_before(round(float(t) * 1000))
                    if 0 <= n < g.count and g.start + n * g.step == round(float(t) * 1000):
                        values[n] = _float(text)
        return found

    def first_instant(self, selector: str, g: Grid) -> int | None:
        """The first instant of ``g`` at which ``selector`` already has a sample."""
        pin = f"{g.step - 1}ms"
        found = self.query_range(f"count(last_over_time({selector}[{pin}]))", g)
        for n, value in enumerate(found):
            if value is not None:
                return g.start + n * g.step
        return None

    def rule_groups(self) -> dict[str, LiveGroup]:
        data = self._get("/api/v1/rules", {"type": "record"})
        groups: dict[str, LiveGroup] = {}
        for group in data.get("groups", []) if isinstance(data, dict) else []:
            last = group.get("lastEvaluation") or ZERO_TIME
            groups[group["name"]] = LiveGroup(
                name=group["name"],
                file=group.get("file", ""),
                interval=round(float(group.get("interval", 0))),
                last_evaluation=None if last.startswith("0001-") else parse_rfc3339_ms(last),
            )
        return groups


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def finite(value: float) -> bool:
    return math.isfinite(value)
