"""`slo backfill` on a real Prometheus: the live rules continue the backfilled history exactly.

Raw counters go into a TSDB as blocks: two days of 1m samples with a 70-minute gap, or 30 days of
5m samples (coarse, so that the test stays cheap) with the same gap. `slo backfill` reads them
through a first Prometheus and writes the history of every recorded series as blocks on the grid
the live groups will use (phase hashed from the rule file and group name, which is never minute 0
here). A second Prometheus on the same TSDB then runs the rules of the services (a 2m and a 5m
one on two days; a 10m one on 30 days, its period wholly backfilled) while scraping the
counters' next minutes. Their first evaluations (every window, ratio, burn rate, the period SLI
and budget) must equal what the backfill core computes for the same instants from the same
server (the live rules' values, not only close to them), count the events of 1h/6h/1d to 0.1 pp,
and the gap must leave no window negative or inflated.

The service names are picked so that every group's first evaluation comes within a minute of
the server's start, so the test takes seconds, not the 10 minutes of the 2m service's period group.
"""

from __future__ import annotations

import http.server
import math
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from support import availability_spec, needs_prometheus, servers, slo, write_files

from compiler import compile_tree
from compiler.backfill import GroupPlan, Plan, QueryApi, compute
from compiler.backfill.phase import prometheus_phase
from compiler.backfill.source import parse_rfc3339_ms
from compiler.core import conventions as names
from compiler.core.durations import parse_duration
from compiler.core.windows import base_window, period_group_interval, slow_ratio_windows
from compiler.push.transport import Transport

GAP_START, GAP_MINUTES = 30 * 60, 70  # minutes before the end of the history


@dataclass(frozen=True)
class Shape:
    days: int  # of history
    scrape: int  # minutes between raw samples in the history
    intervals: tuple[tuple[int, str], ...]  # (evaluation interval in seconds, name prefix)
    setup: int  # seconds the history, the backfill and the restart may take


SHAPES = {
    "2d-1m-samples": Shape(2, 1, ((120, "two"), (300, "five")), 60),
    "30d-5m-samples": Shape(30, 5, ((600, "ten"),), 90),
}
CONFIG = """\
global:
  evaluation_interval: 1m
scrape_configs:
  - job_name: feed
    honor_labels: true
    scrape_interval: 1s
    static_configs:
      - targets: ["127.0.0.1:{port}"]
rule_files:
  - rules/*.yml
"""


def per_minute(m: int) -> tuple[int, int]:
    """(requests, errors) in absolute minute ``m``: smooth, so 5m pieces count it closely."""
    total = round(1000 + 300 * math.sin(2 * math.pi * m / 360))
    return total, round(total * (0.01 + 0.006 * math.sin(2 * math.pi * m / 1020)))


class Counters:
    """The cumulative counters of both services at every minute from ``first``."""

    def __init__(self, first: int, last: int):
        self.first = first
        self.total, self.errors = [0], [0]
        for m in range(first, last):
            t, e = per_minute(m)
            self.total.append(self.total[-1] + t)
            self.errors.append(self.errors[-1] + e)

    def at(self, minute: int) -> tuple[int, int]:
        i = minute - self.first
        return self.total[i], self.errors[i]

    def lines(self, job: str, minute: int, openmetrics: bool) -> list[str]:
        total, errors = self.at(minute)
        stamp = f"{minute * 60}" if openmetrics else f"{minute * 60_000}"
        series = f'http_requests_total{{job="{job}",instance="feed",code='
        return [f'{series}"200"}} {total - errors} {stamp}', f'{series}"500"}} {errors} {stamp}']


def first_evaluation(group: str, file: str, interval: int, after: float) -> float:
    phase = prometheus_phase(group, file, interval) / 1000
    return after + (phase - after) % interval


def pick_names(
    rules_dir: Path, window: tuple[float, float], intervals: tuple[tuple[int, str], ...]
) -> dict[str, str]:
    """A service per interval whose groups first run inside ``window`` (and their SLI groups
    away from a minute's edge, when the scraper may not have the minute's sample yet)."""
    picked = {}
    for interval, prefix in intervals:
        for k in range(20_000):
            name = f"{prefix}-{k}"
            file = str(rules_dir / f"{name}.rules.yml")
            sli = first_evaluation(names.group_sli(name), file, interval, window[0])
            period = first_evaluation(
                names.group_period(name), file, period_group_interval(interval), window[0]
            )
            if sli < window[1] and period < window[1] and 10 < sli % 60 < 50:
                picked[name] = f"{interval // 60}m"
                break
    assert len(picked) == len(intervals)
    return picked


class Feed(http.server.BaseHTTPRequestHandler):
    counters: Counters
    jobs: list[str]
    since: int  # minutes: only later samples are exposed

    def do_GET(self):
        minute = int(time.time() // 60)
        body = "".join(
            line + "\n"
            for job in self.jobs
            for m in ([minute] if minute > self.since else [])
            for line in self.counters.lines(job, m, openmetrics=False)
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def query(url: str, expr: str, at: float) -> list[dict]:
    answer = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]["result"]


def close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


@needs_prometheus
@pytest.mark.binaries
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_live_rules_continue_the_backfilled_history(tmp_path, shape: Shape):
    home = tmp_path / "prometheus"
    rules_dir = home / "rules"
    now = time.time()
    end = int(now // 60)  # minutes: the last raw sample in the blocks
    first = end - shape.days * 1440
    counters = Counters(first - 4 * 1440, end + 120)  # counting before the history starts
    # every group's first evaluation 40 s after the set-up's budget: after the backfill and the
    # restart (a group whose first run is missed runs next one interval later: up to 10 minutes)
    lead = shape.setup
    picked = pick_names(rules_dir, (now + lead, now + lead + 40), shape.intervals)
    specs = write_files(
        tmp_path / "slo",
        {f"{n}.yaml": availability_spec(n, i) for n, i in picked.items()},
    )
    gap = range(end - GAP_START, end - GAP_START + GAP_MINUTES)
    text = [
        line
        for job in picked
        for m in range(first, end + 1)
        if m not in gap and (m % shape.scrape == 0 or m == end)
        for line in counters.lines(job, m, openmetrics=True)
    ]
    (tmp_path / "raw.om").write_text(
        "\n".join(sorted(text, key=lambda s: (s.split(" ")[0], int(s.split(" ")[2])))) + "\n# EOF\n"
    )
    data = home / "data"
    data.mkdir(parents=True)
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "-q",
            str(tmp_path / "raw.om"),
            str(data),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    # 1. the backfill, through a Prometheus that has the raw blocks and no rules
    with servers.prometheus(home, rule_glob="none/*.yml") as raw:
        result = slo(
            "backfill", specs, "--prometheus", raw.url,
            "--since", str(first * 60), "--until", str(end * 60),
            "--rules-dir", str(rules_dir), "--output-dir", tmp_path / "blocks",
            "--out", tmp_path / "text",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    for block in (tmp_path / "blocks").iterdir():
        shutil.move(block, data / block.name)
    compiled = compile_tree(specs)
    for path, text_ in compiled.artifacts.items():
        if path.startswith("prometheus/rules/"):
            (rules_dir / Path(path).name).write_text(text_)

    # 2. the live rules on the same TSDB, scraping the next minutes of the counters
    Feed.counters, Feed.jobs, Feed.since = counters, list(picked), end
    feed = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=feed.serve_forever, daemon=True).start()
    try:
        config = CONFIG.format(port=feed.server_address[1])
        with servers.prometheus(home, config_text=config) as live:
            assert time.time() < now + lead, "set-up took longer than the groups' first run"
            deadline = now + lead + 100
            groups = wait_for_first_evaluations(live.url, 2 * len(picked), deadline=deadline)
            check_live(live.url, groups, compiled.model, counters, end, first)
    finally:
        feed.shutdown()
        feed.server_close()
    check_history(tmp_path / "text", counters, picked, first)


def wait_for_first_evaluations(url: str, count: int, deadline: float) -> dict[str, dict]:
    while time.time() < deadline:
        answer = requests.get(f"{url}/api/v1/rules", params={"type": "record"}, timeout=10)
        groups = {g["name"]: g for g in answer.json()["data"]["groups"]}
        if len(groups) == count and all(
            not g["lastEvaluation"].startswith("0001-") for g in groups.values()
        ):
            return groups
        time.sleep(0.5)
    pytest.fail(f"the groups did not all run before the deadline: {groups}")


def check_live(url, groups, model, counters: Counters, end: int, first: int) -> None:
    api = QueryApi(Transport(url))
    for service in model.services:
        plan_groups = []
        for name in (names.group_sli(service.name), names.group_period(service.name)):
            g = groups[name]
            interval = round(float(g["interval"]))
            phase = prometheus_phase(name, g["file"], interval)
            last = parse_rfc3339_ms(g["lastEvaluation"])
            # the hashed phase is where the server runs the group, and it is not minute 0
            assert 0 <= (last - phase) % (interval * 1000) < 2000, (name, last, phase)
            assert phase % 60_000 != 0
            ran = last - (last - phase) % (interval * 1000)  # the instant it recorded at
            plan_groups.append(GroupPlan(name, interval, phase, str(ran)))
        sli, period = plan_groups
        t_sli, t_period = int(sli.how), int(period.how)
        until = max(t_sli, t_period)
        plan = Plan(service, sli, period, until)
        expected = compute([plan], api, first * 60_000, "prometheus").histories[0]
        for group, at in ((sli, t_sli), (period, t_period)):
            live = {}
            selector = f'{{__name__=~"slo:.+",service="{service.name}"}}[1ms]'
            for series in query(url, selector, at / 1000):
                for stamp, value in series["values"]:
                    if round(float(stamp) * 1000) == at:
                        live[tuple(sorted(series["metric"].items()))] = float(value)
            ours = {}
            for key, s in expected.series.items():
                n = (at - s.grid.start) // s.grid.step
                if 0 <= n < s.grid.count and s.grid.start + n * s.grid.step == at:
                    if s.values[n] is not None:
                        ours[key] = s.values[n]
            assert live and set(live) == set(ours), (group.name, set(live) ^ set(ours))
            wrong = {k: (live[k], ours[k]) for k in live if not close(live[k], ours[k])}
            assert not wrong, (group.name, wrong)
        # the windows count the events they name (the counters at whole minutes); a ratio
        # of the slow tiers is the period group's, ending one base window before it ran
        slow = slow_ratio_windows(service)
        base = base_window(service.evaluation_interval) * 1000
        for window in (60, 360, 1440):
            at, ends = (t_period, t_period - base) if window * 60 in slow else (t_sli, t_sli)
            minute = ends // 60_000
            total = counters.at(minute)[0] - counters.at(minute - window)[0]
            errors = counters.at(minute)[1] - counters.at(minute - window)[1]
            w = f"{window // 60}h" if window < 1440 else "1d"
            ratio = query(
                url, f'{names.error_ratio(window * 60)}{{service="{service.name}"}}', at / 1000
            )
            assert abs(float(ratio[0]["value"][1]) - errors / total) < 0.001, (service.name, w)
        # the period SLI: the history and the live minutes, without the gap's events
        t, e = (a - b for a, b in zip(counters.at(t_period // 60_000), counters.at(first)))
        gap_t, gap_e = (
            a - b
            for a, b in zip(
                counters.at(end - GAP_START + GAP_MINUTES), counters.at(end - GAP_START - 1)
            )
        )
        sli_period = query(
            url, f'{names.PERIOD_ERROR_RATIO}{{service="{service.name}"}}', t_period / 1000
        )
        assert abs(float(sli_period[0]["value"][1]) - (e - gap_e) / (t - gap_t)) < 0.001


def check_history(text_dir: Path, counters: Counters, picked, first: int) -> None:
    """Every backfilled window of events: never negative, never more than the events in it."""
    seen = 0
    for path in text_dir.glob("*.om"):
        for line in path.read_text().splitlines():
            if not line.startswith(names.EVENTS + "{") or 'kind="total"' not in line:
                continue
            labels, value, stamp = line.rsplit(" ", 2)
            window = labels.split('window="')[1].split('"')[0]
            if window in ("week", "period"):
                continue
            seconds = parse_duration(window)
            minute = int(float(stamp)) // 60
            lower = minute - seconds // 60
            exact = counters.at(minute)[0] - counters.at(lower)[0]
            assert 0 <= float(value) <= exact * 1.02 + 1, (line, exact)
            seen += 1
    assert seen > 10_000
