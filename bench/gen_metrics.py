"""Synthetic monitoring data for the specs of gen_specs.py, as OpenMetrics files for backfilling.

    python bench/gen_metrics.py 5 data/       # 5 services, 30 days, one file per 2 hours

Each service i (job="job-NNNNN", several instances) has, once a minute:

    http_requests_total{code="200"|"500"}                  availability SLO (errors / total)
    http_request_duration_seconds_bucket{le="1.0"|"+Inf"}   latency SLO (count - fast bucket)
    http_request_duration_seconds_count
    checkout_total{result="ok"|"failed"}                    checkout SLO (total - good)

Traffic is uneven on purpose, because that is where SLI formulas disagree: a daily cycle
(busiest hour ~9x the quietest), bursts of 3-8x traffic with many errors and slow requests,
and a constant trickle of errors that weighs most in the quiet hours. Counter values are
integers (fractional events are carried to the next minute, and bad events that a minute has
no room for wait for the next one, so good counters never go down), so the exact number of good
and bad events in any window is known; ``exact_ratio`` gives it.

One file per 2-hour block: promtool 2.42 re-reads its whole input once per block it writes,
so one 30-day file would be parsed 360 times.
"""

from __future__ import annotations

import math
import random
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

SCRAPE_INTERVAL = 60
DAY = 86400
BLOCK = 2 * 3600  # promtool writes 2h blocks aligned to multiples of 2h since the epoch
# Aggregates kept per service and minute, to answer exact_ratio for any window.
AGGREGATES = ("requests", "errors", "slow", "checkouts", "checkout_failed")
# Index in AGGREGATES of a kind of bad event -> index of the events it is a subset of.
BAD_OF = {1: 0, 2: 0, 4: 3}
# SLO name in gen_specs -> (bad events, all events)
SLO_EVENTS = {
    "availability": ("errors", "requests"),
    "latency": ("slow", "requests"),
    "checkout-success": ("checkout_failed", "checkouts"),
}


@dataclass(frozen=True)
class Burst:
    start: int  # minute index
    end: int
    traffic: float  # multiplier
    error_ratio: float
    slow_ratio: float
    checkout_failure: float


class ServiceTraffic:
    """Per-minute event rates of one service: deterministic for a given index and seed."""

    BASE_ERROR_RATIO = 0.002
    ERROR_TRICKLE_PER_S = 0.01  # failing health checks, retries: the same at 3am as at noon
    BASE_SLOW_RATIO = 0.03
    CHECKOUT_SHARE = 0.1
    BASE_CHECKOUT_FAILURE = 0.0005

    def __init__(self, index: int, minutes: int, start: int, seed: int = 7):
        rng = random.Random(seed * 1_000_003 + index)
        self.index = index
        self.job = f"job-{index:05d}"
        self.base_rps = 20.0 * (1 + index % 4)
        self.phase = rng.uniform(0, 2 * math.pi)
        self.start = start
        self.bursts: list[Burst] = []
        minute = 0
        while True:
            minute += int(rng.expovariate(1 / (16 * 60)))  # ~1.5 bursts a day
            if minute >= minutes:
                break
            length = rng.randint(5, 45)
            self.bursts.append(
                Burst(
                    minute,
                    minute + length,
                    rng.uniform(3, 8),
                    rng.uniform(0.02, 0.15),
                    rng.uniform(0.2, 0.5),
                    rng.uniform(0.01, 0.05),
                )
            )
            minute += length

    def rates(self, minute: int, burst: Burst | None) -> tuple[float, float, float, float, float]:
        """Events in this minute: requests, errors, slow requests, checkouts, failed checkouts."""
        t = self.start + minute * SCRAPE_INTERVAL
        daily = 1 + 0.8 * math.sin(2 * math.pi * (t % DAY) / DAY + self.phase)
        requests = self.base_rps * daily * SCRAPE_INTERVAL
        error_ratio, slow_ratio, checkout_failure = (
            self.BASE_ERROR_RATIO,
            self.BASE_SLOW_RATIO,
            self.BASE_CHECKOUT_FAILURE,
        )
        if burst is not None:
            requests *= burst.traffic
            error_ratio, slow_ratio, checkout_failure = (
                burst.error_ratio,
                burst.slow_ratio,
                burst.checkout_failure,
            )
        errors = min(requests, requests * error_ratio + self.ERROR_TRICKLE_PER_S * SCRAPE_INTERVAL)
        checkouts = requests * self.CHECKOUT_SHARE
        return requests, errors, requests * slow_ratio, checkouts, checkouts * checkout_failure


def series_names(job: str, instance: int) -> tuple[tuple[str, str], ...]:
    """The 7 series of one instance: (metric family, the series name and labels followed by a
    space, ready for its value)."""
    base = f'job="{job}",instance="i{instance}"'
    duration = "http_request_duration_seconds"
    return (
        ("http_requests", f'http_requests_total{{{base},code="200"}} '),
        ("http_requests", f'http_requests_total{{{base},code="500"}} '),
        (duration, f'{duration}_bucket{{{base},le="1.0"}} '),
        (duration, f'{duration}_bucket{{{base},le="+Inf"}} '),
        (duration, f"{duration}_count{{{base}}} "),
        ("checkout", f'checkout_total{{{base},result="ok"}} '),
        ("checkout", f'checkout_total{{{base},result="failed"}} '),
    )


class Synthetic:
    """``services`` services x ``instances`` instances, samples every minute from start to end
    (inclusive)."""

    def __init__(
        self,
        services: int,
        instances: int,
        end: int,
        days: float = 30,
        seed: int = 7,
        feed_minutes: int = 0,
    ):
        self.end = end - end % SCRAPE_INTERVAL
        # Minutes after the end that are not written for backfilling but kept for a live scrape
        # (``feed``), as a real service's next samples would arrive.
        self.feed_minutes = feed_minutes
        # timestamp (s) -> that minute's samples, as Prometheus' text exposition lines
        self.feed: dict[int, list[str]] = {}
        # 20 extra minutes: a 5m rate at the very start of the period has its samples, and so
        # does the oldest 5m piece of our period rule, whose window ends 10 minutes before the
        # period group's last evaluation (up to 4 minutes before the end).
        self.start = self.end - int(days * DAY) - 20 * 60
        self.minutes = (self.end - self.start) // SCRAPE_INTERVAL + 1
        self.instances = instances
        self.services = [
            ServiceTraffic(i, self.minutes + feed_minutes, self.start, seed)
            for i in range(services)
        ]
        weights = [1 + 0.3 * math.sin(k + 1) for k in range(instances)]
        self.weights = [w / sum(weights) for w in weights]
        # cumulative[service][aggregate] = array of cumulative event counts at each minute
        self.cumulative = [{name: array("q") for name in AGGREGATES} for _ in self.services]

    def series_count(self) -> int:
        return len(self.services) * self.instances * 7

    def sample_count(self) -> int:
        return self.series_count() * self.minutes

    def write_openmetrics(self, directory: Path) -> list[Path]:
        """Write every sample up to the end; returns the files, one per 2h block, in time order.
        The ``feed_minutes`` after the end go to ``feed``."""
        directory.mkdir(parents=True, exist_ok=True)
        n_inst = self.instances
        # Per service and instance: carried fractions and counter values of the 7 series.
        carry = [[[0.0] * 5 for _ in range(n_inst)] for _ in self.services]
        value = [[[0] * 5 for _ in range(n_inst)] for _ in self.services]
        totals = [[0] * 5 for _ in self.services]
        burst_at = [self._burst_index(s) for s in self.services]
        files = []
        minute = 0
        while minute < self.minutes + self.feed_minutes:
            t0 = self.start + minute * SCRAPE_INTERVAL
            block_end = t0 - t0 % BLOCK + BLOCK
            # A chunk is written or fed whole: the end of the data also ends a chunk.
            feeding = minute >= self.minutes
            last = min(
                self.minutes + self.feed_minutes if feeding else self.minutes,
                minute + (block_end - t0 + SCRAPE_INTERVAL - 1) // SCRAPE_INTERVAL,
            )
            families: dict[str, list[str]] = {
                "http_requests": [],
                "http_request_duration_seconds": [],
                "checkout": [],
            }
            for s_i, service in enumerate(self.services):
                # columns[instance][series] = list of "value timestamp" strings for this block
                columns = [[[] for _ in range(7)] for _ in range(n_inst)]
                for m in range(minute, last):
                    ts = self.start + m * SCRAPE_INTERVAL
                    events = service.rates(m, burst_at[s_i].get(m))
                    for k in range(n_inst):
                        c, v, w = carry[s_i][k], value[s_i][k], self.weights[k]
                        grown = [0] * 5
                        for a in range(5):
                            c[a] += events[a] * w
                            whole = int(c[a])
                            if a in BAD_OF:  # never more bad events than events in a minute: the
                                whole = min(whole, grown[BAD_OF[a]])  # good counter would go down
                            c[a] -= whole
                            grown[a] = whole
                            v[a] += whole
                            totals[s_i][a] += whole
                        requests, errors, slow, checkouts, failed = v
                        values = (
                            requests - errors,
                            errors,
                            requests - slow,
                            requests,
                            requests,
                            checkouts - failed,
                            failed,
                        )
                        if feeding:
                            self.feed.setdefault(ts, []).extend(
                                f"{prefix}{x} {ts * 1000}"
                                for (_, prefix), x in zip(series_names(service.job, k), values)
                            )
                            continue
                        for column, x in zip(columns[k], values):
                            column.append(f"{x} {ts}")
                    for a, name in enumerate(AGGREGATES):
                        self.cumulative[s_i][name].append(totals[s_i][a])
                if feeding:
                    continue
                for k in range(n_inst):
                    for (family, prefix), col in zip(series_names(service.job, k), columns[k]):
                        families[family].append(prefix + f"\n{prefix}".join(col))
            if feeding:
                minute = last
                continue
            path = directory / f"block-{t0}.om"
            with open(path, "w", encoding="ascii") as fh:
                fh.write("# TYPE http_requests counter\n")
                fh.write("\n".join(families["http_requests"]) + "\n")
                fh.write("# TYPE http_request_duration_seconds histogram\n")
                fh.write("\n".join(families["http_request_duration_seconds"]) + "\n")
                fh.write("# TYPE checkout counter\n")
                fh.write("\n".join(families["checkout"]) + "\n# EOF\n")
            files.append(path)
            minute = last
        return files

    def _burst_index(self, service: ServiceTraffic) -> dict[int, Burst]:
        end = self.minutes + self.feed_minutes
        return {m: b for b in service.bursts for m in range(b.start, min(b.end, end))}

    def exact_ratio(
        self, service: int, slo: str, period: int, at: int | None = None
    ) -> tuple[int, int]:
        """(bad, all) events between the samples at ``at - period`` and ``at`` (default: the
        end)."""
        at = self.end if at is None else at
        bad_name, all_name = SLO_EVENTS[slo]
        last = (at - self.start) // SCRAPE_INTERVAL
        first = max(0, (at - period - self.start) // SCRAPE_INTERVAL)
        cum = self.cumulative[service]
        return cum[bad_name][last] - cum[bad_name][first], cum[all_name][last] - cum[all_name][
            first
        ]

    def latest_feed(self, now: float) -> str:
        """The newest minute of ``feed`` due by ``now``, as a scrape would return it (empty
        before the first is due)."""
        due = [ts for ts in self.feed if ts <= now]
        return "\n".join(self.feed[max(due)]) + "\n" if due else ""

    def burst_minutes(self) -> int:
        return sum(b.end - b.start for s in self.services for b in s.bursts)


if __name__ == "__main__":
    import time

    count, out = int(sys.argv[1]), Path(sys.argv[2])
    data = Synthetic(count, instances=10, end=int(time.time()) - 3600)
    began = time.perf_counter()
    written = data.write_openmetrics(out)
    print(
        f"{data.sample_count():,} samples of {data.series_count()} series in {len(written)} files, "
        f"{time.perf_counter() - began:.1f}s"
    )
