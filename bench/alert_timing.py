"""When does a rule set page, and when does it clear? Asked of promtool, checked against the maths.

The core of `detection.py` (the detection bench) and of tests/test_alert_oracle.py:

- the SRE Workbook's multiwindow, multi-burn-rate formula, written here from the Workbook and
  the README's spec reference and deliberately NOT imported from the compiler, so that a wrong
  factor, window or comparison in the compiler's model disagrees with it;
- a traffic scenario (clean traffic, then a share of bad events, then clean again) as promtool
  input series, for a ratio SLO (requests by code) or a latency SLO (a histogram);
- a promtool unit-test file that asks, at every evaluation of the range, which alerts fire:
  each ``alert_rule_test`` expects none, so promtool's failure report lists exactly the alerts
  firing at each evaluation, with their labels. One promtool run gives the whole timeline.

Times are seconds from the start of the input series unless a name says otherwise.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import yaml

MINUTE, HOUR, DAY = 60, 3600, 86400

# --- the formula ----------------------------------------------------------------------------------
# SRE Workbook table 5-8 with its 1d/2h ticket pair, for a 30-day period: (severity, long window,
# short window, share of the period's error budget that may burn within the long window).
WORKBOOK = (
    ("page", 1 * HOUR, 5 * MINUTE, Fraction(2, 100)),
    ("page", 6 * HOUR, 30 * MINUTE, Fraction(5, 100)),
    ("ticket", 1 * DAY, 2 * HOUR, Fraction(10, 100)),
    ("ticket", 3 * DAY, 6 * HOUR, Fraction(10, 100)),
)


@dataclass(frozen=True)
class Tier:
    severity: str
    long: int  # seconds
    short: int
    factor: Fraction  # burn rate: how many times faster than the budget allows
    threshold: Fraction  # the error ratio both windows must exceed

    @property
    def labels(self) -> dict[str, str]:
        """The labels slo puts on this tier's alert."""
        return {
            "severity": self.severity,
            "long_window": duration(self.long),
            "short_window": duration(self.short),
        }


def tier(severity: str, long: int, short: int, budget: Fraction, period: int, objective) -> Tier:
    """factor = budget share x period / long window; threshold = factor x (1 - objective)."""
    factor = Fraction(budget) * period / long
    return Tier(severity, long, short, factor, factor * (1 - Fraction(objective)))


def tiers(period: int, objective, windows: Iterable[tuple] = WORKBOOK) -> tuple[Tier, ...]:
    """The tiers of an SLO with the given windows ``(severity, long, short, budget share)``;
    ``objective`` is a ratio (0.999), exact (a Fraction or a decimal string)."""
    objective = Fraction(objective)
    return tuple(tier(s, lw, sw, b, period, objective) for s, lw, sw, b in windows)


def time_to_fire(t: Tier, ratio: Fraction, per_second: Fraction = Fraction(0), min_events=0):
    """Seconds from the onset of errors at ``ratio`` (after a clean long window, steady traffic)
    until both windows of ``t`` exceed its threshold, or None if they never do.

    The long window's error ratio grows as ratio x elapsed / long, the short one's as
    ratio x elapsed / short until the short window is full of errors, so both exceed the
    threshold once elapsed > max(long, short) x threshold / ratio. With ``min_events``, a tier
    whose long window holds fewer events than that never fires.
    """
    if ratio <= t.threshold:
        return None
    if min_events and per_second * t.long < min_events:
        return None
    return Fraction(max(t.long, t.short)) * t.threshold / ratio


def time_to_page(all_tiers: Iterable[Tier], ratio: Fraction, per_second=Fraction(0), min_events=0):
    """The first page: the earliest of the page tiers (None: no page ever)."""
    times = [
        time_to_fire(t, ratio, per_second, min_events) for t in all_tiers if t.severity == "page"
    ]
    found = [x for x in times if x is not None]
    return min(found) if found else None


def paging_tiers(all_tiers: Iterable[Tier], ratio: Fraction, within: float, **guard) -> list[Tier]:
    """The page tiers that fire within ``within`` seconds of the onset."""
    return [
        t
        for t in all_tiers
        if t.severity == "page"
        and (x := time_to_fire(t, ratio, **guard)) is not None
        and x <= within
    ]


# --- durations as Prometheus writes them ----------------------------------------------------------
UNITS = {"y": 365 * DAY, "w": 7 * DAY, "d": DAY, "h": HOUR, "m": MINUTE, "s": 1}
DURATION = re.compile(r"(\d+)(ms|[ywdhms])")


def parse_duration(text: str) -> Fraction:
    """``6h2m15s`` (Prometheus' and Go's model.Duration form) -> seconds."""
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(
        (Fraction(int(n), 1000) if u == "ms" else Fraction(int(n) * UNITS[u]) for n, u in parts),
        Fraction(0),
    )


def duration(seconds: int) -> str:
    """Whole seconds -> the shortest Prometheus duration (90 -> 1m30s, 86400 -> 1d)."""
    if seconds == 0:
        return "0s"
    out = ""
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, UNITS[unit])
        if n:
            out += f"{n}{unit}"
    return out


# --- the scenario ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Traffic:
    """Steady traffic: ``healthy`` seconds clean, ``errors`` seconds with a share ``ratio`` of bad
    events, ``after`` seconds clean again; one scrape every ``scrape`` seconds. The errors start
    at ``onset``: the first scrape after it counts bad events."""

    ratio: Fraction
    errors: int
    healthy: int = 6 * HOUR
    after: int = 0
    per_minute: int = 1000
    scrape: int = 15

    def __post_init__(self) -> None:
        for name in ("healthy", "errors", "after"):
            if getattr(self, name) % self.scrape:
                raise ValueError(f"{name} must be a multiple of the scrape interval")
        if not 0 <= self.ratio <= 1:
            raise ValueError("ratio must be between 0 and 1")

    @property
    def onset(self) -> int:
        return self.healthy

    @property
    def stop(self) -> int:
        return self.healthy + self.errors

    @property
    def end(self) -> int:
        return self.stop + self.after

    @property
    def per_second(self) -> Fraction:
        return Fraction(self.per_minute, 60)

    def phases(self) -> list[tuple[int, Fraction, Fraction]]:
        """(scrapes, good events per scrape, bad events per scrape) of each non-empty phase."""
        per_scrape = self.per_second * self.scrape
        bad = per_scrape * self.ratio
        phases = [
            (self.healthy // self.scrape, per_scrape, Fraction(0)),
            (self.errors // self.scrape, per_scrape - bad, bad),
            (self.after // self.scrape, per_scrape, Fraction(0)),
        ]
        return [p for p in phases if p[0]]


def number(value: Fraction) -> str:
    """A number as promtool reads it: exact where it is a finite decimal, else the nearest float."""
    if value.denominator == 1:
        return str(value.numerator)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        return repr(float(value))
    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".")


def counter(increments: Sequence[tuple[int, Fraction]]) -> str:
    """A counter starting at 0 that grows by ``inc`` at each of ``n`` scrapes, phase by phase, in
    promtool's expanding notation (``a+bxn`` is a, a+b, ..., a+n*b)."""
    parts = ["0"]
    total = Fraction(0)
    for n, inc in increments:
        parts.append(f"{number(total + inc)}+{number(inc)}x{n - 1}")
        total += n * inc
    return " ".join(parts)


# What the scenarios' spec selectors read (see spec_text).
RATIO_METRIC = "http_requests_total"
LATENCY_METRIC = "http_request_duration_seconds"
LATENCY_THRESHOLD = "1"  # seconds: the fast bucket's le


def input_series(
    kind: str, traffic: Traffic, job: str = "api", labels: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """promtool input series of ``traffic`` for the SLO kinds ``spec_text`` writes: ``ratio``
    (5xx and 200 requests) or ``latency`` (slow = above the threshold bucket), for the SLO
    whose selectors match ``job``; ``labels``: more labels on each (a group of a grouped SLO)."""
    phases = traffic.phases()
    good = counter([(n, g) for n, g, _ in phases])
    bad = counter([(n, b) for n, _, b in phases])
    total = counter([(n, g + b) for n, g, b in phases])
    matchers = ",".join([f'job="{job}"'] + [f'{k}="{v}"' for k, v in (labels or {}).items()])
    if kind == "ratio":
        metric = RATIO_METRIC
        return [
            {"series": f'{metric}{{{matchers},code="500"}}', "values": bad},
            {"series": f'{metric}{{{matchers},code="200"}}', "values": good},
        ]
    if kind == "latency":
        metric = LATENCY_METRIC
        return [
            {"series": f'{metric}_bucket{{{matchers},le="{LATENCY_THRESHOLD}"}}', "values": good},
            {"series": f'{metric}_bucket{{{matchers},le="+Inf"}}', "values": total},
            {"series": f"{metric}_count{{{matchers}}}", "values": total},
        ]
    raise ValueError(f"unknown SLO kind {kind!r}")


@dataclass(frozen=True)
class SloSpec:
    """An SLO as the spec says it; ``alerting`` is the spec's alerting block (page and ticket
    default on)."""

    name: str
    kind: str  # "ratio" or "latency"
    objective: str  # percent, as written in the spec: "99.9"
    period: str = "30d"
    alerting: Mapping[str, object] | None = None
    job: str = "api"  # the job label its selectors match: SLOs of one service apart
    by: tuple[str, ...] = ()  # a grouped SLO's labels


def spec_text(service: str, slos: Sequence[SloSpec]) -> str:
    """An slo/v1 Service document with these SLOs over the scenario's metrics."""
    docs = []
    for s in slos:
        matchers = f'job="{s.job}"'
        if s.kind == "ratio":
            metric = RATIO_METRIC
            indicator: dict = {
                "ratio": {
                    "errors": f'{metric}{{{matchers},code=~"5.."}}',
                    "total": f"{metric}{{{matchers}}}",
                }
            }
        else:
            metric = LATENCY_METRIC
            indicator = {
                "latency": {
                    "histogram": f"{metric}{{{matchers}}}",
                    "threshold": f"{LATENCY_THRESHOLD}s",
                }
            }
        doc: dict = {
            "name": s.name,
            "objective": float(s.objective),
            "period": s.period,
            "indicator": indicator,
        }
        if s.by:
            doc["by"] = list(s.by)
        if s.alerting:
            doc["alerting"] = dict(s.alerting)
        docs.append(doc)
    spec: dict[str, object] = {"apiVersion": "slo/v1", "kind": "Service", "service": service}
    spec.update(team="bench", slos=docs)
    return yaml.safe_dump(spec, sort_keys=False, width=1000)


# --- promtool -------------------------------------------------------------------------------------
def groups_of(rule_file: Path) -> list[str]:
    """The rule groups of a rule file, in file order (promtool's group_eval_order for them)."""
    return [g["name"] for g in (yaml.safe_load(rule_file.read_text()) or {}).get("groups", [])]


def eval_grid(start: int, end: int, interval: int) -> list[int]:
    """The evaluation times promtool runs in [start, end]: multiples of ``interval``."""
    first = -(-start // interval) * interval
    return list(range(first, end + 1, interval))


def test_file(
    rule_files: Sequence[str],
    group_order: Sequence[str],
    interval: int,
    scrape: int,
    series: Sequence[Mapping[str, str]],
    alertname: str,
    eval_times: Iterable[int],
) -> str:
    """A promtool test file asking, at each of ``eval_times``, for no ``alertname`` alert: every
    evaluation at which one fires fails, and the failure lists the alerts with their labels."""
    doc = {
        "rule_files": list(rule_files),
        "evaluation_interval": f"{interval}s",
        "group_eval_order": list(group_order),
        "tests": [
            {
                "interval": f"{scrape}s",
                "input_series": [dict(s) for s in series],
                "alert_rule_test": [
                    {"eval_time": f"{t}s", "alertname": alertname} for t in eval_times
                ],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False, width=1_000_000)


class PromtoolError(RuntimeError):
    pass


FAILURE = re.compile(r"^\s*alertname: (?P<name>\S+), time: (?P<time>[0-9a-z]+), ?$", re.M)
LABELS = re.compile(r'Labels:\{((?:[A-Za-z_][A-Za-z0-9_]*="(?:[^"\\]|\\.)*"(?:, )?)*)\}')
PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Timeline = dict[int, list[dict[str, str]]]  # eval time -> the alerts firing then (their labels)


def parse_failures(output: str) -> Timeline:
    """promtool's report of a test file from ``test_file`` -> the alerts firing at each
    evaluation that had any."""
    heads = list(FAILURE.finditer(output))
    timeline: Timeline = {}
    for i, head in enumerate(heads):
        body = output[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(output)]
        got = body.split("got:", 1)
        if len(got) != 2:
            raise PromtoolError(f"unexpected promtool report at {head.group(0).strip()}")
        seconds = parse_duration(head.group("time"))
        if seconds.denominator != 1:
            raise PromtoolError(f"evaluation at a fraction of a second: {head.group('time')}")
        alerts = [
            {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in PAIR.findall(m.group(1))}
            for m in LABELS.finditer(got[1])
        ]
        timeline.setdefault(int(seconds), []).extend(alerts)
    return timeline


def run_promtool(test: Path, promtool: str = "promtool", timeout: float = 1800) -> Timeline:
    """Run ``promtool test rules`` on a file from ``test_file``: the alerts firing at each
    evaluation (evaluations with none are absent). Raises PromtoolError on anything but the
    expected report (a rule file that does not load, bad input series)."""
    proc = subprocess.run(
        [promtool, "test", "rules", test.name],
        cwd=test.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return {}
    timeline = parse_failures(output)
    reported = output.count("alertname: ")
    if not timeline or reported != len(FAILURE.findall(output)):
        raise PromtoolError(f"promtool failed on {test.name}:\n{output[-3000:]}")
    return timeline


# --- reading a timeline ---------------------------------------------------------------------------
Match = Callable[[Mapping[str, str]], bool]


def matching(**labels: str) -> Match:
    """Alerts whose labels include these."""
    return lambda alert: all(alert.get(k) == v for k, v in labels.items())


def first_firing(timeline: Timeline, match: Match, since: int = 0) -> int | None:
    """The first evaluation at or after ``since`` at which a matching alert fires."""
    times = [t for t, alerts in timeline.items() if t >= since and any(map(match, alerts))]
    return min(times) if times else None


def cleared(timeline: Timeline, match: Match, since: int, grid: Sequence[int]) -> int | None:
    """The first evaluation of ``grid`` at or after ``since`` from which no matching alert fires
    again; None if one still fires at the last evaluation."""
    firing = {t for t, alerts in timeline.items() if any(map(match, alerts))}
    if grid[-1] in firing:
        return None
    last = max(firing, default=None)
    later = [t for t in grid if t >= since and (last is None or t > last)]
    return later[0] if later else None
