"""A time-slice SLO's base records count exactly the slices of (t-5m, t], whatever the phase of
the evaluation, on Prometheus and on VictoriaMetrics alike.

The generated promtool tests evaluate at whole minutes only; a real rule group runs at the
offset its name hashes to, and vmalert at its own. Here the rules' own expressions are queried
at whole minutes and at offsets into the minute on both engines, from the same gauge scraped
every 15 s, and compared with the slices counted in Python: a minute is a slice when the
gauge's latest sample at that minute exists, a bad one when that sample is above the threshold.
So consecutive base windows tile time (no slice counted twice, none lost) on both engines.
"""

from __future__ import annotations

import subprocess
import time
from decimal import Decimal

import pytest
import requests
from support import needs_prometheus, needs_victoria_metrics, servers

from compiler.core.model import TimesliceIndicator
from compiler.targets.prometheus import bad_slices, slices

GAUGE = 'disk_used_ratio{job="node",instance="a"}'
INDICATOR = TimesliceIndicator('disk_used_ratio{job="node"}', ">", Decimal("0.85"), 60)
SCRAPE = 15  # seconds between samples
MINUTES = 90
# offsets into a minute the rules are evaluated at: Prometheus hashes a group's name to one
PHASES = (0, 0.001, 17, 30, 59.999)


def value(second: int) -> float:
    """The gauge: bad (0.9) in a pseudo-random third of the minutes, with a change of value
    mid-minute now and then so that which sample a slice sees matters."""
    minute, within = divmod(second, 60)
    bad = (minute * 7919 + (within // 30) * 13) % 3 == 0
    return 0.9 if bad else 0.5


def expected(start: int, t: float, window: int = 300) -> tuple[int, int]:
    """(slices, bad slices) in (t-window, t]: whole minutes, each seeing its latest sample."""
    total = bad = 0
    first = int((t - window) // 60) + 1
    for minute in range(first, int(t // 60) + 1):
        at = minute * 60
        if at <= t - window or at < start:
            continue
        sample = at - (at - start) % SCRAPE
        total += 1
        bad += value(sample) > 0.85
    return total, bad


def query(url: str, expr: str, at: float) -> int | None:
    answer = requests.get(
        f"{url}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10
    )
    answer.raise_for_status()
    result = answer.json()["data"]["result"]
    return None if not result else int(float(result[0]["value"][1]))


@needs_prometheus
@needs_victoria_metrics
@pytest.mark.binaries
def test_slices_tile_time_at_any_phase_on_both_engines(tmp_path):
    start = (int(time.time()) // 3600 - 3) * 3600  # hours ago: in blocks, not the head
    samples = [(s, value(s)) for s in range(start, start + MINUTES * 60 + 1, SCRAPE)]
    om = tmp_path / "raw.om"
    om.write_text(
        "# TYPE disk_used_ratio gauge\n"
        + "".join(
            f"{GAUGE.replace('disk_used_ratio', 'disk_used_ratio')} {v} {s}\n" for s, v in samples
        )
        + "# EOF\n"
    )
    home = tmp_path / "prometheus"
    (home / "data").mkdir(parents=True)
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            str(om),
            str(home / "data"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # as the Prometheus rules and the vmalert rules write them
    exprs = {
        engine: (
            slices(INDICATOR.expr, 300, 60, left_open=engine == "vm"),
            slices(bad_slices(INDICATOR), 300, 60, left_open=engine == "vm"),
        )
        for engine in ("prometheus", "vm")
    }
    times = [start + m * 60 + phase for m in range(10, MINUTES - 5, 7) for phase in PHASES]
    times = [round(t, 3) for t in times]
    with (
        servers.prometheus(home, rule_glob="none/*.yml") as prom,
        servers.victoria_metrics(tmp_path / "vm") as vm,
    ):
        lines = "".join(f"{GAUGE} {v} {s * 1000}\n" for s, v in samples)
        requests.post(
            f"{vm.url}/api/v1/import/prometheus", data=lines, timeout=30
        ).raise_for_status()
        servers.vm_flush(vm)
        for t in times:
            total, bad = expected(start, t)
            for name, url in (("prometheus", prom.url), ("vm", vm.url)):
                total_expr, bad_expr = exprs[name]
                got = (query(url, total_expr, t), query(url, bad_expr, t) or 0)
                assert got == (total, bad), f"{name} at {t - start}s: {got} != {(total, bad)}"
