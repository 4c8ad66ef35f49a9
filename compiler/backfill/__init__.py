"""`slo backfill`: the history of every series the generated rules record, from the raw data.

The rules read their own earlier output (a window is a head plus pieces recorded earlier), so
`promtool tsdb create-blocks-from rules` and `vmalert -replay` in one pass cannot rebuild them.
Instead: the raw rules' own expressions (built by the prometheus target) are run through the
query API on each SLI group's live evaluation grid (history.py has the pure core that combines
them as the rules do); the result is written as TSDB blocks through OpenMetrics text, or pushed
to VictoriaMetrics' import API (sink.py). Nothing is written until every query has answered.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compiler.backfill import history, sink
from compiler.backfill.history import History, Series
from compiler.backfill.phase import prometheus_phase
from compiler.backfill.source import BackfillError, QueryApi
from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import Service, TimesliceIndicator
from compiler.core.windows import period_group_interval
from compiler.targets.prometheus import errors_increase, events, excluding, total_increase
from compiler.targets.vmalert import timeslice_increase

PROMETHEUS, VICTORIAMETRICS = "prometheus", "victoriametrics"
ENGINES = (PROMETHEUS, VICTORIAMETRICS)

__all__ = ["BackfillError", "Plan", "QueryApi", "Result", "compute", "plan", "write"]


@dataclass(frozen=True)
class GroupPlan:
    name: str
    interval: int  # seconds
    phase: int  # ms inside the interval
    how: str  # where the phase comes from, for the report


@dataclass
class Plan:
    """Per service: its two groups' grids, and how far the backfill may go."""

    service: Service
    sli: GroupPlan
    period: GroupPlan
    until: int  # ms: the last instant to write
    notes: list[str] = field(default_factory=list)


@dataclass
class Result:
    histories: list[History]
    notes: list[str]

    def series(self) -> list[Series]:
        return [s for h in self.histories for s in h.series.values()]


def raw_queries(service: Service, engine: str = PROMETHEUS) -> list[tuple[str, int, str, str]]:
    """(SLO, window, kind, expression) of every raw rule of ``service``: the prometheus
    target's own expressions, the recorded total of the errors rule replaced by the total's
    expression (the server has no recorded series yet). A time-slice SLO's on another engine:
    the vmalert rules', whose ranges count the same slices there."""
    out = []
    for slo, window, kind in history.raw_keys(service):
        if engine != PROMETHEUS and isinstance(slo.indicator, TimesliceIndicator):
            expr = timeslice_increase(slo.indicator, kind, window)
            out.append((slo.name, window, kind, excluding(slo, window, expr)))
            continue
        total = total_increase(slo, window)
        expr = total if kind == names.TOTAL else errors_increase(slo, window, f"({total})")
        out.append((slo.name, window, kind, excluding(slo, window, expr)))
    return out


def _group(
    name: str,
    interval: int,
    engine: str,
    live: dict,
    rules_dir: str | None,
    service: Service,
) -> GroupPlan:
    if engine == VICTORIAMETRICS:
        return GroupPlan(name, interval, 0, "vmalert aligns every group to its interval")
    group = live.get(name)
    if group is not None:
        if group.interval != interval:
            raise BackfillError(
                f"the live group {name} runs every {format_duration(group.interval)}, the specs "
                f"say {format_duration(interval)}: push the compiled rules first"
            )
        phase = prometheus_phase(name, group.file, interval)
        if group.last_evaluation is not None:
            late = (group.last_evaluation - phase) % (interval * 1000)
            if late > interval * 500:
                raise BackfillError(
                    f"the live group {name} last ran {late} ms after the instant its file and "
                    f"name give ({phase} ms into each {format_duration(interval)}): cannot "
                    "place the backfill on its grid"
                )
        return GroupPlan(name, interval, phase, f"live, from {group.file}")
    if rules_dir:
        file = posixpath.join(rules_dir, posixpath.basename(names.rules_file(service.name)))
        return GroupPlan(name, interval, prometheus_phase(name, file, interval), f"from {file}")
    return GroupPlan(name, interval, 0, "not live: phase 0 assumed")


def plan(
    services: Sequence[Service],
    api: QueryApi,
    since: int,
    until: int,
    engine: str = PROMETHEUS,
    rules_dir: str | None = None,
) -> list[Plan]:
    """The grids of every service's groups: on Prometheus the live groups' phase (from the
    file and name /api/v1/rules reports, checked against its last evaluation), else the phase
    the file under ``rules_dir`` will give, else 0; and an ``until`` that stops before the first
    sample the server already records, so that no instant gets two different values."""
    if since >= until:
        raise BackfillError("--since must be before --until")
    live = api.rule_groups() if engine == PROMETHEUS else {}
    plans = []
    for service in services:
        interval = service.evaluation_interval
        sli = _group(names.group_sli(service.name), interval, engine, live, rules_dir, service)
        period = _group(
            names.group_period(service.name),
            period_group_interval(interval),
            engine,
            live,
            rules_dir,
            service,
        )
        notes = []
        if "assumed" in sli.how:
            notes.append(
                f"{service.name}: the rules are not live and no --rules-dir was given: "
                "phase 0 assumed; on Prometheus the live group may run at another instant"
            )
        end = until
        lay = history.service_layout(service)
        g = history.grid(sli.phase, interval * 1000, since, until)
        first = api.first_instant(events(service.name, format_duration(lay.base)), g)
        if first is not None:
            end = min(end, first - 1)
            notes.append(
                f"{service.name}: the server records its series from {first / 1000:.3f}: "
                "backfilled up to then"
            )
        plans.append(Plan(service, sli, period, end, notes))
    return plans


def compute(plans: Sequence[Plan], api: QueryApi, since: int, engine: str) -> Result:
    """Every recorded series of every planned service, from the raw data."""
    histories, notes = [], []
    for p in plans:
        sli = history.grid(p.sli.phase, p.sli.interval * 1000, since, p.until)
        period = history.grid(p.period.phase, p.period.interval * 1000, since, p.until)
        if sli.count == 0:
            raise BackfillError(f"{p.service.name}: no evaluation instant between the bounds")
        raw: dict[history.RawKey, history.Values] = {}
        by = {slo.name: slo.by for slo in p.service.slos}
        for slo_name, window, kind, expr in raw_queries(p.service, engine):
            if by[slo_name]:  # a grouped SLO: a series per group, each an SLO of its own
                for group, values in api.query_range_groups(expr, sli, by[slo_name]).items():
                    raw[(slo_name, window, kind, group)] = values
            else:
                raw[(slo_name, window, kind)] = api.query_range(expr, sli)
        for slo in p.service.slos:
            base = history.service_layout(p.service).base
            totals = [
                values for key, values in raw.items() if key[:3] == (slo.name, base, names.TOTAL)
            ]
            if all(v is None for values in totals for v in values):
                raise BackfillError(
                    f"{p.service.name}/{slo.name}: the query API has no data for its total "
                    f"between the bounds ({total_increase(slo, base)})"
                )
        histories.append(
            history.compute(
                p.service,
                raw,
                sli,
                period,
                left_closed=engine == PROMETHEUS,
                current=engine == PROMETHEUS,
            )
        )
        notes += p.notes
    return Result(histories, notes)


def write(
    result: Result,
    engine: str,
    output_dir: Path | None = None,
    openmetrics_dir: Path | None = None,
    importer: object = None,
) -> str:
    """Blocks in ``output_dir`` (Prometheus) or an import (VictoriaMetrics; ``importer`` is its
    Transport); the OpenMetrics text is kept in ``openmetrics_dir`` when given. Returns what
    was written, in words."""
    series = result.series()
    samples = sum(1 for s in series for v in s.values if v is not None)
    if engine == VICTORIAMETRICS:
        from compiler.push.transport import Transport

        assert isinstance(importer, Transport)
        if openmetrics_dir is not None:
            sink.write_openmetrics(series, openmetrics_dir)
        lines = sink.import_victoriametrics(series, importer)
        return f"{len(series)} series, {samples} samples imported ({lines} JSON lines)"
    with tempfile.TemporaryDirectory(prefix="slo-backfill-") as tmp:
        text_dir = openmetrics_dir or Path(tmp)
        files = sink.write_openmetrics(series, text_dir)
        if output_dir is None:
            return f"{len(series)} series, {samples} samples in {len(files)} OpenMetrics files"
        blocks = sink.create_blocks(files, output_dir)
    return f"{len(series)} series, {samples} samples in {blocks} blocks under {output_dir}"
