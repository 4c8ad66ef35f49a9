"""`slo backfill` computes what the live rules would have recorded (compiler/backfill).

The core is checked against promtool evaluating the compiled rules on the same traffic: promtool
records the raw 5m events at every minute (read back through its failure report, which prints
every value exactly), the core combines them, and every recorded series at a few instants must
equal promtool's to 1e-9 — across a gap longer than an hour, two SLO kinds, two rolling periods
and both calendar periods (tiled from whole days, hours and base windows since the boundary).
"""

from __future__ import annotations

import math
import re
import subprocess

import pytest
import yaml
from support import availability_spec, needs_promtool, write_files

from compiler import compile_tree
from compiler.backfill import history, phase, raw_queries
from compiler.backfill.source import parse_rfc3339_ms
from compiler.core import conventions as names

MINUTE = 60
# the shared availability SLO, then a latency SLO, one SLO of each calendar period and a threshold
# with a time-slice SLO
SPEC = availability_spec("shop", "5m", labels="{region: eu}") + (
    """\
  - name: latency
    objective: 95
    period: 28d
    indicator:
      latency:
        histogram: http_request_duration_seconds{job="shop"}
        threshold: 0.3
  - name: monthly
    objective: 99.5
    period: month
    indicator:
      ratio:
        errors: http_requests_total{job="shop",code=~"5.."}
        total: http_requests_total{job="shop"}
  - name: weekly
    objective: 98
    period: week
    indicator:
      latency:
        histogram: http_request_duration_seconds{job="shop"}
        threshold: 0.3
thresholds:
  - name: queue-depth
    expr: shop_queue_depth{job="shop"}
    above: 100
    severity: ticket
    slo:
      objective: 99
      period: 30d
"""
)
STEPS = 26 * 60  # minutes of traffic: every window up to a day is whole at the end
GAP = (600, 670)  # minutes without any sample: longer than an hour
EVERY = 5  # minutes: the service's evaluation interval (promtool runs the rules at it)


def counter(rates: list[tuple[int, int]], gap: tuple[int, int]) -> str:
    """promtool values: per-minute increments changing by segments (minutes, per minute), no
    samples within ``gap``; the counter keeps counting through it."""
    parts, value, minute = [], 0, 0
    for length, per_minute in rates:
        for _ in range(length):
            if gap[0] <= minute <= gap[1]:
                parts.append("_")
            else:
                parts.append(str(value))
            value += per_minute
            minute += 1
    return " ".join(parts)


def traffic() -> list[dict]:
    ok = [(300, 900), (400, 1300), (300, 700), (STEPS + 1 - 1000, 1100)]
    bad = [(200, 3), (100, 60), (500, 9), (STEPS + 1 - 800, 14)]
    slow = [(500, 20), (300, 90), (STEPS + 1 - 800, 40)]
    series = {
        'http_requests_total{job="shop",code="200"}': ok,
        'http_requests_total{job="shop",code="500"}': bad,
        'http_request_duration_seconds_count{job="shop"}': ok,
        'http_request_duration_seconds_bucket{job="shop",le="0.3"}': [
            (length, per - s) for (length, per), (_, s) in zip(ok[:3], slow)
        ]
        + [(STEPS + 1 - 1000, 1100 - 40)],
    }
    counters = [{"series": n, "values": counter(rates, GAP)} for n, rates in series.items()]
    return counters + [{"series": 'shop_queue_depth{job="shop"}', "values": gauge(GAP)}]


def gauge(gap: tuple[int, int]) -> str:
    """promtool values: a queue depth above 100 in about a third of the minutes (the time-slice
    SLO's bad slices), no samples within ``gap``."""
    return " ".join(
        "_" if gap[0] <= m <= gap[1] else ("150" if (m * 7919) % 3 == 0 else "20")
        for m in range(STEPS + 1)
    )


GOT = re.compile(r"(\{[^}]*\}) ([^,\s]+)")


def got_samples(output: str) -> dict[int, dict[tuple, float]]:
    """Per eval time (s), the samples promtool reported as got, by sorted label pairs."""
    found: dict[int, dict[tuple, float]] = {}
    for block in output.split("expr: ")[1:]:
        at = re.search(r"time: ([0-9dhms.]+),", block)
        assert at, block[:200]
        seconds = duration(at.group(1))
        got = block.split("got: ", 1)[1].split("\n", 1)[0]
        samples = found.setdefault(seconds, {})
        for labels, value in GOT.findall(got):
            pairs = tuple(sorted(re.findall(r'([A-Za-z_:][\w:]*)="([^"]*)"', labels)))
            samples[pairs] = float(value)
    return found


def duration(text: str) -> int:
    total = 0
    for amount, unit in re.findall(r"([0-9.]+)([dhms])", text):
        total += round(float(amount) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit])
    return total


def queries(minutes: range, instants: list[int]) -> list[dict]:
    """promtool checks that expect nothing, so that its failure report prints what it got: the
    raw 5m events at each of ``minutes``, and every recorded series at each of ``instants`` (s)."""
    raw = '{__name__="slo:sli_events:increase",window="5m"}'
    tests = [{"expr": raw, "eval_time": f"{m}m", "exp_samples": []} for m in minutes]
    return tests + [
        {"expr": '{__name__=~"slo:.+"}', "eval_time": f"{t}s", "exp_samples": []} for t in instants
    ]


def run_promtool(tmp_path, tests: list[dict], series: list[dict] | None = None) -> str:
    """promtool's output for ``tests`` on tmp_path/rules.yml, fed ``series`` (else traffic())."""
    document = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": f"{EVERY}m",
        "group_eval_order": ["slo-shop-sli", "slo-shop-period"],
        "tests": [
            {
                "interval": "1m",
                "input_series": traffic() if series is None else series,
                "promql_expr_test": tests,
            }
        ],
    }
    (tmp_path / "t.test.yml").write_text(yaml.safe_dump(document, width=10_000))
    proc = subprocess.run(
        ["promtool", "test", "rules", "t.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.stdout + proc.stderr


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def grids(steps: int) -> tuple[history.Grid, history.Grid]:
    """The grids of the SLI group (every EVERY minutes) and of the period group (every 5 minutes)
    over ``steps`` minutes from 0, as promtool evaluates them."""
    sli = history.Grid(0, EVERY * MINUTE * 1000, steps // EVERY)
    return sli, history.Grid(0, 5 * MINUTE * 1000, steps // 5)


def core_at(computed: history.History, t: int) -> dict[tuple, float]:
    """The value of every series the core computed that has one at instant ``t`` (s)."""
    ours = {}
    for key, series in computed.series.items():
        n = (t * 1000 - series.grid.start) // series.grid.step
        if series.grid.start + n * series.grid.step == t * 1000 and 0 <= n < series.grid.count:
            if series.values[n] is not None:
                ours[key] = series.values[n]
    return ours


def slo_series(samples: dict[tuple, float]) -> dict[tuple, float]:
    """``samples`` but the thresholds' own records, which are no SLO series: slo backfill
    leaves them out."""
    return {k: v for k, v in samples.items() if dict(k)["__name__"] != names.THRESHOLD_VALUE}


def assert_same_series(ours: dict[tuple, float], theirs: dict[tuple, float], t: int) -> None:
    """The same series at instant ``t``, each with the same value to 1e-9."""
    assert set(ours) == set(theirs), (t, set(ours) ^ set(theirs))
    wrong = {k: (ours[k], theirs[k]) for k in ours if not close(ours[k], theirs[k])}
    assert not wrong, (t, wrong)


@needs_promtool
@pytest.mark.binaries
def test_backfilled_series_equal_promtools_evaluation_of_the_rules(tmp_path):
    result = compile_tree(write_files(tmp_path / "slo", {"shop.yaml": SPEC}))
    (tmp_path / "rules.yml").write_text(result.artifacts["prometheus/rules/shop.rules.yml"])
    service = result.model.services[0]
    # The raw events at every minute, and every recorded series at a few 5-minute instants:
    # before, inside and after the gap, and with every window up to a day whole. The time-slice SLO
    # of the threshold beside the two SLOs is combined the same way.
    instants = [6 * 3600, 10 * 3600 + 35 * MINUTE, 11 * 3600, 12 * 3600, 25 * 3600 + 55 * MINUTE]
    got = got_samples(run_promtool(tmp_path, queries(range(0, STEPS, EVERY), instants)))
    assert set(instants) <= set(got)

    values: dict[tuple[str, int, str], history.Values] = {}
    for slo_name, window, kind, _ in raw_queries(service):
        values[(slo_name, window, kind)] = [
            got.get(m * MINUTE, {}).get(
                tuple(
                    sorted(
                        {
                            "__name__": names.EVENTS,
                            "service": "shop",
                            "slo": slo_name,
                            "kind": kind,
                            "window": "5m",
                        }.items()
                    )
                )
            )
            for m in range(0, STEPS, EVERY)
        ]
    # the gap really is one: no raw events recorded for most of it
    assert values[("availability", 300, "total")][(GAP[0] + 10) // EVERY] is None
    computed = history.compute(service, values, *grids(STEPS))

    for t in instants:
        assert_same_series(core_at(computed, t), slo_series(got[t]), t)
    # what is compared is substantial: every window of the three SLOs, ratios, the period SLI
    assert len(got[instants[-1]]) > 90
    assert any(dict(k).get("slo") == "queue-depth-slices" for k in got[instants[-1]])
    # the calendar periods began before the traffic (a month on 1970-01-01, a week on Monday
    # 1969-12-29): each holds every base window's events up to the instant, exactly
    end = instants[-1]
    calendar = {
        dict(k)["slo"]: v
        for k, v in got[end].items()
        if dict(k).get("window") == "period" and dict(k)["kind"] == "total"
    }
    for slo_name in ("monthly", "weekly"):
        exact = sum(v or 0 for v in values[(slo_name, 300, "total")][: end // (EVERY * MINUTE) + 1])
        assert close(calendar[slo_name], exact), (slo_name, calendar[slo_name], exact)


def test_phase_is_prometheus_hash_of_file_and_group_name():
    # xxHash64 reference values, and the phase is within the interval, in ms
    assert phase.xxh64(b"") == 0xEF46DB3751D8E999
    assert phase.xxh64(b"abc") == 0x44BC2CF5AD770999
    assert phase.xxh64(b"Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1
    at = phase.prometheus_phase("slo-shop-sli", "/etc/prometheus/rules/shop.rules.yml", 120)
    assert 0 <= at < 120_000


def test_grid_and_times():
    g = history.grid(phase=16_504, step=60_000, since=1_000_000, until=1_200_000)
    assert list(g.times()) == [1_036_504, 1_096_504, 1_156_504]
    assert parse_rfc3339_ms("2024-05-01T00:00:16.504871234Z") == 1714521616504
    assert parse_rfc3339_ms("2024-05-01T02:00:16.5+02:00") == 1714521616500


GROUPED_SPEC = """\
apiVersion: slo/v1
service: shop
team: payments
evaluation_interval: 5m
slos:
  - name: availability
    objective: 99
    by: [region]
    indicator:
      ratio:
        errors: http_requests_total{job="shop",code=~"5.."}
        total: http_requests_total{job="shop"}
  - name: all
    objective: 99
    period: 7d
    indicator:
      ratio:
        errors: http_requests_total{job="shop",code=~"5.."}
        total: http_requests_total{job="shop"}
"""
GROUPED_STEPS = 8 * 60  # every window up to 6h whole at the end
GROUPED_GAP = (200, 270)  # in one region only


@needs_promtool
@pytest.mark.binaries
def test_backfill_of_a_grouped_slo_keeps_its_groups_apart(tmp_path):
    """Two regions, one with a gap: the core, fed each group's raw events, records every series
    of each group (and the group count) as promtool's evaluation of the rules does."""
    result = compile_tree(write_files(tmp_path / "slo", {"shop.yaml": GROUPED_SPEC}))
    rules = result.artifacts["prometheus/rules/shop.rules.yml"]
    (tmp_path / "rules.yml").write_text(rules)
    service = result.model.services[0]
    end = GROUPED_STEPS + 1
    inputs = {
        'http_requests_total{job="shop",code="200",region="eu"}': (
            [(150, 900), (end - 150, 500)],
            (-1, -1),
        ),
        'http_requests_total{job="shop",code="500",region="eu"}': (
            [(150, 2), (end - 150, 40)],
            (-1, -1),
        ),
        'http_requests_total{job="shop",code="200",region="us"}': ([(end, 300)], GROUPED_GAP),
        'http_requests_total{job="shop",code="500",region="us"}': (
            [(100, 0), (end - 100, 1)],
            GROUPED_GAP,
        ),
    }
    series = [{"series": s, "values": counter(rates, gap)} for s, (rates, gap) in inputs.items()]
    instants = [2 * 3600, 5 * 3600, (GROUPED_STEPS - EVERY) * MINUTE]
    tests = queries(range(EVERY, GROUPED_STEPS, EVERY), instants)
    got = got_samples(run_promtool(tmp_path, tests, series))
    assert set(instants) <= set(got)

    values: dict[tuple, history.Values] = {}
    for slo in service.slos:
        for region in ("eu", "us") if slo.by else ("",):
            for kind in history.RAW_KINDS:
                labels = {"__name__": names.EVENTS, "service": "shop", "slo": slo.name}
                labels.update(kind=kind, window="5m", **({"region": region} if region else {}))
                key = tuple(sorted(labels.items()))
                samples = [got.get(m * MINUTE, {}).get(key) for m in range(0, GROUPED_STEPS, EVERY)]
                group = (("region", region),)
                values[(slo.name, 300, kind, group) if region else (slo.name, 300, kind)] = samples
    computed = history.compute(service, values, *grids(GROUPED_STEPS))

    for t in instants:
        assert_same_series(core_at(computed, t), slo_series(got[t]), t)
    last = got[instants[-1]]
    regions = {dict(k).get("region") for k in last if dict(k).get("slo") == "availability"}
    assert regions == {"eu", "us", None}  # both groups; None: the SLO's constants and count
    count = [v for k, v in last.items() if dict(k)["__name__"] == names.GROUPS]
    assert count == [2.0]
