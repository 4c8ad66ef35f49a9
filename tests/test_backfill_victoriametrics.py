"""`slo backfill --to victoriametrics` on a real VictoriaMetrics: 30 days, exact to the event.

Raw counters (a sample every 5m, rates that vary by the hour and the day) go into a fresh
VictoriaMetrics through its import API; `slo backfill` reads them through its query API and
imports the history of every recorded series of a 10m service (vmalert aligns each group to its
interval, so the grid is phase 0). MetricsQL's ``increase`` counts a counter from its last sample
before the window, so on that grid every raw window is an exact counter difference, and so is
every window the rules sum from pieces: at the last instant, every window's events (5m up to 3d,
the weekly record and the 30-day period, as the layout places their pieces), every error ratio and
the period SLI must equal the exact counts of the input (not what live vmalert recorded: that is
these counts, as tests/test_vmalert_engine.py shows on the same rules). The backfill covers 31
days: the period's oldest pieces are 1d windows recorded a day after its start, which need a day
of history before them (as live rules would).
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request

import pytest
from support import availability_spec, needs_victoria_metrics, servers, slo, write_files

from compiler.core import conventions as names
from compiler.core.durations import parse_duration
from compiler.core.windows import period_pieces

pytestmark = [pytest.mark.binaries, needs_victoria_metrics]

DAYS, STEP = 30, 300  # history, seconds between raw samples
SPEC = availability_spec("vmback", "10m")


def per_step(k: int) -> tuple[int, int]:
    """(requests, errors) in raw step ``k``: varying, so that a misplaced piece shows."""
    total = round(5000 + 1500 * math.sin(2 * math.pi * k / 288) + 700 * math.sin(k / 2016))
    return total, round(total * (0.01 + 0.008 * math.sin(2 * math.pi * k / 97)))


def get(url: str, path: str, **params: str) -> bytes:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=60) as r:
        return r.read()


def test_thirty_days_backfilled_into_victoriametrics_count_every_event(tmp_path):
    end = 1_700_000_000 // 3600 * 3600  # seconds: the last raw sample, on the hour
    first = end - (DAYS + 3) * 86400  # counting from three days before the backfill starts
    steps = range(first // STEP, end // STEP + 1)
    counts: dict[int, tuple[int, int]] = {}
    total = errors = 0
    lines = []
    for k in steps:
        t, e = per_step(k)
        total, errors = total + t, errors + e
        counts[k * STEP] = (total, errors)
        ms = k * STEP * 1000
        lines.append(f'http_requests_total{{job="vmback",code="200"}} {total - errors} {ms}')
        lines.append(f'http_requests_total{{job="vmback",code="500"}} {errors} {ms}')
    specs = write_files(tmp_path / "slo", {"vmback.yaml": SPEC})
    with servers.victoria_metrics(tmp_path / "vm") as vm:
        request = urllib.request.Request(
            vm.url + "/api/v1/import/prometheus", data=("\n".join(lines) + "\n").encode()
        )
        with urllib.request.urlopen(request, timeout=60):
            pass
        servers.vm_flush(vm)
        result = slo(
            "backfill", specs, "--prometheus", vm.url, "--to", "victoriametrics",
            "--since", str(end - (DAYS + 1) * 86400), "--until", str(end),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "imported" in result.output
        servers.vm_flush(vm)
        exported = get(
            vm.url,
            "/api/v1/export",
            **{"match[]": '{__name__=~"slo:.+",service="vmback"}', "start": str(end - 1)},
            end=str(end),
        )
    at_end = {}
    for line in exported.decode().splitlines():
        series = json.loads(line)
        for stamp, value in zip(series["timestamps"], series["values"]):
            if stamp == end * 1000:
                at_end[tuple(sorted(series["metric"].items()))] = value
    windows = {}
    base = 600  # the base window of a 10m service: the weekly record ends one earlier

    def exact(since: int, until: int) -> tuple[int, int]:
        return counts[until][0] - counts[since][0], counts[until][1] - counts[since][1]

    def week(t: int) -> tuple[int, int]:
        return exact(t - base - 7 * 86400, t - base)

    def period(t: int) -> tuple[int, int]:
        """The period's pieces as the layout names them: weekly records and 1d windows."""
        spans = [
            (t - o - base - 7 * 86400, t - o - base) if piece == "week" else (t - o - 86400, t - o)
            for piece, o in period_pieces(DAYS * 86400, base, base)
        ]
        parts = [exact(*span) for span in spans]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    for labels, value in at_end.items():
        metric = dict(labels)
        if metric["__name__"] != names.EVENTS or metric[names.KIND] == names.SECONDS:
            continue
        name = metric[names.WINDOW]
        if name == names.WEEK_WINDOW:
            counted = week(end)
        elif name == names.PERIOD_WINDOW:
            counted = period(end)
        else:
            counted = exact(end - parse_duration(name), end)
        expected = counted[0] if metric[names.KIND] == names.TOTAL else counted[1]
        assert value == expected, (metric, value, expected)
        windows[metric[names.WINDOW], metric[names.KIND]] = value
    # 5m pieces up to the period, the week, every burn window, each with total and errors
    assert {w for w, _ in windows} >= {"5m", "1h", "6h", "1d", "3d", "week", "period"}
    assert len(windows) == 2 * len({w for w, _ in windows})
    for labels, value in at_end.items():
        metric = dict(labels)
        if metric["__name__"].startswith("slo:sli_error:ratio_rate"):
            w = metric["__name__"].removeprefix("slo:sli_error:ratio_rate")
            assert math.isclose(value, windows[w, "errors"] / windows[w, "total"], rel_tol=1e-12)
    (period,) = [v for k, v in at_end.items() if dict(k)["__name__"] == names.PERIOD_ERROR_RATIO]
    assert math.isclose(period, windows["period", "errors"] / windows["period", "total"])
