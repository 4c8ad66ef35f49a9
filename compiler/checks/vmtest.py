"""`slo test --engine vmalert`: the generated promtool tests, run on VictoriaMetrics and vmalert.

promtool proves the Prometheus rules; this proves the vmalert rules with the same tests. For each
test file of a service compiled for vmalert (``prometheus/tests/*.test.yml`` whose rule file has a
twin in ``vmalert/rules/``), every test's input series (promtool's expanding notation) is written
into one fresh VictoriaMetrics on 127.0.0.1, each test in a time slot of its own: slots are far
enough apart that no rule of one test reads another's samples. Then ``vmalert -replay`` evaluates
the rules over the whole timeline, the way history is made (README, "Rule engines"): the
recording rules of ``vmalert/replay.yml`` group by group (each dependency level once what it
reads is written and flushed), then the alerting rules of each service's own rule file. The
``ALERTS`` series replay writes says which alerts fire at each evaluation; every
``alert_rule_test`` compares the firing alerts' labels at its ``eval_time`` (the group's last
evaluation at or before it) with ``exp_labels``; a ``promql_expr_test`` that counts firing
alerts (``count by (...) (ALERTS{alertname="...",alertstate="firing"})``) counts those same
alerts, and every other one queries its expression at its ``eval_time`` and compares the values.

Not compared: annotations (vmalert renders its own templates; its ``ALERTS`` series do not carry
them) and pending alerts (promtool's tests list firing ones only).

What passed is remembered in the same result cache as the promtool proofs, keyed apart: the
engine, the versions and binaries of vmalert and victoria-metrics, the test file, and the rules
of its services (their vmalert rule file and their rules in the replay file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from compiler.checks.toolrun import ResultCache, ToolMissing, ToolResult
from compiler.core import conventions as names
from compiler.core.durations import DurationError, format_duration, parse_duration
from compiler.spec.promql import as_alert_count
from compiler.text.promtext import quote_label_value

RESULTS_FORMAT = b"slo-vmtest-1"  # part of every result key: the engine, and how it is run
TESTS_GLOB = "prometheus/tests/*.yml"
REPLAY_TIMEOUT = 600.0  # seconds for one `vmalert -replay` run
HTTP_TIMEOUT = 120.0
READY_DEADLINE = 30.0
STOP_DEADLINE = 10.0
DEFAULT_INTERVAL = 60  # vmalert's -evaluationInterval, and promtool's evaluation_interval
SLOT_ALIGN = 3600  # every slot starts on the hour (and on every group's grid)
TOLERANCE = 1e-6  # relative, for promql_expr_test values
# vmalert asks for this many points per query: the whole timeline in a few queries per rule
POINTS_PER_QUERY = 50_000
# A subquery (a time-slice SLO's slices) evaluates its inner query from one window and step
# before the query's start: VictoriaMetrics counts those points against its limit too.
SUBQUERY_POINTS = 1_000

Progress = Callable[[int], None]


class TestFileError(Exception):
    """A test file this runner cannot read: reported as that file's failure."""


# --- the tests ---------------------------------------------------------------------------------
Labels = tuple[tuple[str, str], ...]  # sorted


@dataclass(frozen=True)
class Series:
    labels: Labels  # with __name__
    samples: tuple[tuple[int, float], ...]  # (seconds from the test's start, value)


@dataclass(frozen=True)
class AlertCheck:
    eval_time: int
    alertname: str
    expected: tuple[Labels, ...]  # sorted; without alertname


@dataclass(frozen=True)
class ExprCheck:
    eval_time: int
    expr: str
    expected: tuple[tuple[Labels, float], ...]


@dataclass(frozen=True)
class CountCheck:
    """A ``promql_expr_test`` that counts firing alerts (``count by (...) (ALERTS{...})``):
    judged from the firing alerts at the group's last evaluation, as ``AlertCheck`` is."""

    eval_time: int
    expr: str
    alertname: str
    by: tuple[str, ...]
    matchers: Labels  # the selector's other equality matchers
    expected: tuple[tuple[Labels, float], ...]


@dataclass(frozen=True)
class Case:
    name: str
    series: tuple[Series, ...]
    alerts: tuple[AlertCheck, ...]
    exprs: tuple[ExprCheck, ...]
    counts: tuple[CountCheck, ...] = ()

    @property
    def span(self) -> int:
        """Seconds from the test's start to its last sample or evaluation."""
        times = [t for s in self.series for t, _ in s.samples[-1:]]
        times += [c.eval_time for c in self.alerts] + [c.eval_time for c in self.exprs]
        times += [c.eval_time for c in self.counts]
        return max(times, default=0)


@dataclass(frozen=True)
class Suite:
    """One test file and the services whose vmalert rules it proves."""

    path: str  # under out/
    services: tuple[str, ...]
    cases: tuple[Case, ...]


_NUMBER = r"[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|inf|NaN|nan)"
_RUN = re.compile(rf"(?P<a>{_NUMBER})(?:(?P<op>[-+])(?P<b>{_NUMBER}))?x(?P<n>[0-9]+)")
_PLAIN = re.compile(_NUMBER)
_MISSING = re.compile(r"_(?:x(?P<n>[0-9]+))?")


def expand(values: str) -> list[float | None]:
    """promtool's expanding notation: ``a+bxn`` is a, then b added n times (in float64, as
    promtool does), ``axn`` a n+1 times, ``_`` a missing sample, ``_xn`` n of them; ``stale``
    ends the series (None here, like a missing sample)."""
    out: list[float | None] = []
    for token in str(values).split():
        if token == "stale":
            out.append(None)
        elif m := _MISSING.fullmatch(token):
            out += [None] * int(m["n"] or 1)
        elif m := _RUN.fullmatch(token):
            value, step = float(m["a"]), float(m["b"] or 0)
            step = -step if m["op"] == "-" else step
            out.append(value)
            for _ in range(int(m["n"])):
                value += step
                out.append(value)
        elif _PLAIN.fullmatch(token):
            out.append(float(token))
        else:
            raise TestFileError(f"'{token}' is not a value of promtool's expanding notation")
    return out


_SERIES = re.compile(r"\s*(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)?\s*(?:\{(?P<labels>.*)\})?\s*", re.S)
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)', re.S)
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


def parse_series(text: str) -> Labels:
    """``name{a="b",...}`` (or ``{__name__="name",...}``) as sorted label pairs."""
    m = _SERIES.fullmatch(str(text))
    if not m:
        raise TestFileError(f"'{text}' is not a series")
    labels = {"__name__": m["name"]} if m["name"] else {}
    inner, pos = (m["labels"] or "").strip(), 0
    while pos < len(inner):
        pair = _LABEL.match(inner, pos)
        if not pair:
            raise TestFileError(f"'{text}' is not a series: cannot read its labels")
        value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e[1], "\\" + e[1]), pair[2])
        labels[pair[1]] = value
        pos = pair.end()
    return tuple(sorted(labels.items()))


def _duration(value: Any, where: str) -> int:
    if value in (0, "0", "0s"):
        return 0
    try:
        return parse_duration(str(value))
    except DurationError as exc:
        raise TestFileError(f"{where}: {exc}") from None


def _case(raw: dict[str, Any], default_interval: int) -> Case:
    name = str(raw.get("name", ""))
    interval = _duration(raw.get("interval", format_duration(default_interval)), "interval")
    series = []
    for item in raw.get("input_series") or []:
        values = expand(item.get("values", ""))
        samples = tuple((i * interval, v) for i, v in enumerate(values) if v is not None)
        series.append(Series(parse_series(item["series"]), samples))
    alerts = []
    for item in raw.get("alert_rule_test") or []:
        expected = []
        for alert in item.get("exp_alerts") or []:
            labels = {str(k): str(v) for k, v in (alert.get("exp_labels") or {}).items()}
            expected.append(tuple(sorted(labels.items())))
        alerts.append(
            AlertCheck(
                _duration(item.get("eval_time", 0), "eval_time"),
                str(item["alertname"]),
                tuple(sorted(expected)),
            )
        )
    exprs, counts = [], []
    for item in raw.get("promql_expr_test") or []:
        wanted = tuple(
            (parse_series(s.get("labels", "")), float(s["value"]))
            for s in item.get("exp_samples") or []
        )
        at, expr = _duration(item.get("eval_time", 0), "eval_time"), str(item["expr"])
        count = counted_alerts(expr)
        if count is None:
            exprs.append(ExprCheck(at, expr, wanted))
        else:
            alertname, by, matchers = count
            counts.append(CountCheck(at, expr, alertname, by, matchers, wanted))
    return Case(name, tuple(series), tuple(alerts), tuple(exprs), tuple(counts))


def counted_alerts(expr: str) -> tuple[str, tuple[str, ...], Labels] | None:
    """(alert name, by labels, other matchers) of a count of firing alerts of one name; None
    for any other expression (it is queried from VictoriaMetrics). vmalert writes ALERTS
    without staleness markers in a replay, so a query would still see an alert that ended
    less than a lookback ago: the firing sets at each evaluation are exact."""
    found = as_alert_count(expr)
    if found is None:
        return None
    by, matchers = found
    pairs = {m.name: m.value for m in matchers}
    if len(pairs) != len(matchers) or pairs.pop("alertstate", None) != "firing":
        return None
    alertname = pairs.pop("alertname", None)
    if alertname is None:
        return None
    return alertname, tuple(by), tuple(sorted(pairs.items()))


def service_of(rule_file: str) -> str | None:
    """The service whose Prometheus rule file a test file loads (``../rules/<service>...``)."""
    name = PurePosixPath(rule_file).name
    suffix = PurePosixPath(names.rules_file("x")).name[1:]
    return name[: -len(suffix)] if name.endswith(suffix) else None


def load_suite(out_dir: Path, path: str) -> Suite:
    try:
        data = yaml.safe_load((out_dir / path).read_text("utf-8"))
        services = tuple(
            s for s in (service_of(str(f)) for f in data.get("rule_files") or []) if s is not None
        )
        interval = _duration(data.get("evaluation_interval", "1m"), "evaluation_interval")
        cases = tuple(_case(raw, interval) for raw in data.get("tests") or [])
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise TestFileError(f"cannot read the tests: {exc}") from None
    return Suite(path, services, cases)


def test_files(out_dir: Path) -> list[str]:
    """The test files whose services are all compiled for vmalert, relative to out/."""
    found = []
    for path in sorted((out_dir / PurePosixPath(TESTS_GLOB).parent).glob("*.yml")):
        rel = path.relative_to(out_dir).as_posix()
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
            services = [service_of(str(f)) for f in data.get("rule_files") or []]
        except (OSError, yaml.YAMLError, AttributeError):
            found.append(rel)  # unreadable: reported by the run
            continue
        if any(s is not None and rel == names.maintenance_tests_file(s) for s in services):
            # Maintenance windows hold at times of day, and each test runs in a slot of its
            # own here, hours later: the promtool run proves them (and tests/test_maintenance.py
            # the gate's PromQL on VictoriaMetrics).
            continue
        if services and all(
            s is not None and (out_dir / names.vmalert_rules_file(s)).is_file() for s in services
        ):
            found.append(rel)
        elif not services:  # a month's expression on given windows: no rules to replay
            month = names.service_of_month_tests(rel)
            if month is not None and (out_dir / names.vmalert_rules_file(month)).is_file():
                found.append(rel)
    return found


# --- the rules -----------------------------------------------------------------------------------
def _groups(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    groups = data.get("groups") or []
    if not isinstance(groups, list):
        raise TestFileError(f"{path.name}: no rule groups")
    return groups


def _interval(group: dict[str, Any]) -> int:
    return _duration(group["interval"], "interval") if group.get("interval") else DEFAULT_INTERVAL


_RANGE = re.compile(r"\[([0-9a-z]+)(?::[0-9a-z]*)?\]")
_OFFSET = re.compile(r"offset\s+([0-9a-z]+)")
_WINDOW = re.compile(names.WINDOW + r'="([0-9a-z]+)"')


def reach(rule: dict[str, Any]) -> int:
    """How far back (seconds) a rule reads, a generous bound: its longest range, offset and
    recorded window (which reads as far back again) added up."""
    expr = str(rule.get("expr", ""))
    total = 0
    for pattern in (_RANGE, _OFFSET, _WINDOW):
        found = [0]
        for match in pattern.finditer(expr):
            with contextlib.suppress(TestFileError):
                found.append(_duration(match[1], "range"))
        total += max(found)
    return total


@dataclass
class Rules:
    """What vmalert evaluates for the services under test."""

    recordings: list[dict[str, Any]] = field(default_factory=list)  # replay groups, in order
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the rule files' alert groups
    group_of: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    reach: int = 0  # how far back any alert reads, recorded windows included
    intervals: set[int] = field(default_factory=set)
    # alerts that read a period record (the exhaustion forecast): how far back, the period
    # included; a test of one needs that much empty time before it, not just ``reach``
    period_reach: dict[str, int] = field(default_factory=dict)


def fed_thresholds(suites: Sequence[Suite]) -> set[tuple[str, str]]:
    """(service, threshold) of every threshold whose tests feed its recorded value: those whose
    expression is not a plain selector (README, "Generated tests")."""
    fed = set()
    for suite in suites:
        for case in suite.cases:
            for series in case.series:
                labels = dict(series.labels)
                if labels.get("__name__") == names.THRESHOLD_VALUE:
                    fed.add((labels.get(names.SERVICE, ""), labels.get(names.SLO, "")))
    return fed


def reading_the_record(group: dict[str, Any], alert: dict[str, Any]) -> dict[str, Any]:
    """``alert`` reading its threshold's recorded value instead of the expression itself, as
    the Prometheus alert does: vmalert's evaluates the expression (no rule reads what the same
    evaluation records), which a test feeding the recorded value cannot drive."""
    slo = (alert.get("labels") or {}).get(names.SLO)
    for rule in group.get("rules") or []:
        labels = rule.get("labels") or {}
        if rule.get("record") == names.THRESHOLD_VALUE and labels.get(names.SLO) == slo:
            matchers = ",".join(f"{k}={quote_label_value(str(v))}" for k, v in labels.items())
            expr = str(rule["expr"]).strip()
            if expr in str(alert["expr"]):
                selector = f"{names.THRESHOLD_VALUE}{{{matchers}}}"
                return {**alert, "expr": str(alert["expr"]).replace(expr, selector, 1)}
    return alert


_PERIOD_READ = f'{names.WINDOW}="{names.PERIOD_WINDOW}"'
_VECTOR = re.compile(r"^\s*vector\(([0-9]+)\)\s*$")


def periods_of(groups: Sequence[dict[str, Any]]) -> dict[str, int]:
    """{slo: its period in seconds}, from the ``slo:period:seconds`` records of a rule file."""
    found = {}
    for group in groups:
        for rule in group.get("rules") or []:
            value = _VECTOR.match(str(rule.get("expr", "")))
            if rule.get("record") == names.PERIOD and value is not None:
                found[str((rule.get("labels") or {}).get(names.SLO))] = int(value[1])
    return found


def load_rules(
    out_dir: Path, services: Sequence[str], fed: set[tuple[str, str]] | None = None
) -> Rules:
    """The replay file's recording rules of ``services``, and their rule files' alerts; the
    threshold alerts in ``fed`` read the recorded value (``reading_the_record``)."""
    rules = Rules()
    wanted = set(services)
    replay = out_dir / names.VMALERT_REPLAY_FILE
    if replay.is_file():
        for group in _groups(replay):
            mine = [
                r
                for r in group.get("rules") or []
                if (r.get("labels") or {}).get("service") in wanted
            ]
            if mine:
                rules.recordings.append({**group, "rules": mine})
                rules.intervals.add(_interval(group))
    for service in services:
        groups = _groups(out_dir / names.vmalert_rules_file(service))
        periods = periods_of(groups)
        for group in groups:
            alerts = [
                reading_the_record(group, r)
                if (service, (r.get("labels") or {}).get(names.SLO)) in (fed or set())
                else r
                for r in group.get("rules") or []
                if "alert" in r
            ]
            if not alerts:
                continue
            rules.alerts.append({**group, "rules": alerts})
            rules.reach = max([rules.reach, *map(reach, alerts)])
            rules.intervals.add(_interval(group))
            for rule in alerts:
                period = periods.get(str((rule.get("labels") or {}).get(names.SLO)))
                if period is not None and _PERIOD_READ in str(rule["expr"]):
                    name = str(rule["alert"])
                    far = reach(rule) + period
                    rules.period_reach[name] = max(rules.period_reach.get(name, 0), far)
                where = rules.group_of.setdefault((service, str(rule["alert"])), [])
                if (str(group["name"]), _interval(group)) not in where:
                    where.append((str(group["name"]), _interval(group)))
    return rules


# --- the result cache ----------------------------------------------------------------------------
def _binary_id(path: str) -> str:
    st = os.stat(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def result_key(out_dir: Path, suite_path: str, services: Sequence[str], binaries: str) -> str:
    digest = hashlib.sha256(RESULTS_FORMAT)

    def part(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    part(binaries.encode())
    for path in [out_dir / suite_path] + [
        out_dir / names.vmalert_rules_file(s) for s in sorted(set(services))
    ]:
        try:
            part(path.read_bytes())
        except OSError:
            part(b"<missing>")
    try:
        replay = load_rules(out_dir, services).recordings
    except (OSError, yaml.YAMLError, TestFileError):
        replay = []
    part(json.dumps(replay, sort_keys=True).encode())
    return digest.hexdigest()


# --- the servers ---------------------------------------------------------------------------------
def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolMissing(
            f"{name} not found on PATH; install Debian's victoria-metrics package "
            "(`make setup` does)"
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def victoria_metrics(binary: str, directory: Path) -> Iterator[str]:
    """A fresh single-node VictoriaMetrics on 127.0.0.1 keeping any history; its URL. Always
    stopped (by its pid) on exit."""
    port = _free_port()
    argv = [
        binary,
        f"-storageDataPath={directory / 'data'}",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-retentionPeriod=100y",
        "-loggerLevel=ERROR",
        f"-search.maxPointsPerTimeseries={POINTS_PER_QUERY + SUBQUERY_POINTS}",
        "-search.disableCache",
    ]
    url = f"http://127.0.0.1:{port}"
    log = directory / "victoria-metrics.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    try:
        deadline = time.monotonic() + READY_DEADLINE
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url + "/health", timeout=1) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"victoria-metrics not ready within {READY_DEADLINE:.0f}s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_DEADLINE)


def _http(url: str, data: bytes | None = None) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=HTTP_TIMEOUT) as r:
        return bytes(r.read())


def _flush(url: str) -> None:
    """Make everything VictoriaMetrics received searchable now."""
    _http(url + "/internal/force_flush")


def _rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _replay(
    vmalert: str, url: str, groups: list[dict[str, Any]], rule_file: Path, start: int, end: int
) -> None:
    rule_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), "utf-8")
    argv = [
        vmalert,
        f"-rule={rule_file}",
        f"-datasource.url={url}",
        f"-remoteWrite.url={url}",
        f"-replay.timeFrom={_rfc3339(start)}",
        f"-replay.timeTo={_rfc3339(end)}",
        "-replay.disableProgressBar",
        "-replay.rulesDelay=0s",
        f"-replay.maxDatapointsPerQuery={POINTS_PER_QUERY}",
        "-datasource.queryStep=0",
        f"-evaluationInterval={format_duration(DEFAULT_INTERVAL)}",
        "-loggerLevel=ERROR",
    ]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=REPLAY_TIMEOUT, cwd=rule_file.parent
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"vmalert -replay timed out after {REPLAY_TIMEOUT:.0f}s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"vmalert -replay failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    _flush(url)


# --- running -------------------------------------------------------------------------------------
def _lcm(values: set[int]) -> int:
    out = SLOT_ALIGN
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


@dataclass(frozen=True)
class Slot:
    suite: Suite
    case: Case
    start: int  # unix seconds


def calendar_suite(out_dir: Path, suite: Suite) -> bool:
    """Whether the tests' times are dates (promtool starts at 1970-01-01): a calendar periods'
    test file, or tests of rules that read the calendar (a month's alert thresholds scale with
    days_in_month())."""
    if suite.path.endswith((names.CALENDAR_TESTS_SUFFIX, names.MONTH_TESTS_SUFFIX)):
        return True
    for service in suite.services:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if "days_in_month(" in (out_dir / names.vmalert_rules_file(service)).read_text("utf-8"):
                return True
    return False


def like_the_epoch(latest: int) -> int:
    """The last midnight UTC at or before ``latest`` that starts a 31-day month on a Thursday,
    as 1970-01-01 did: a calendar test's boundaries (the 1st of the next month, Mondays) fall
    at the same offsets from it as from the epoch."""
    day = datetime.fromtimestamp(latest, UTC)
    year, month = day.year, day.month
    for _ in range(12 * 40):  # such a month comes at least every few years
        first = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        if (
            first.timestamp() <= latest
            and (following - first).days == 31
            and first.weekday() == 3  # Thursday
        ):
            return int(first.timestamp())
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise RuntimeError("no month like January 1970 within 40 years")


def layout(
    suites: Sequence[Suite], rules: Rules, now: int, calendar: bool = False
) -> tuple[list[Slot], int, int]:
    """Every case at its own start: one after the other, each at least ``rules.reach`` (and an
    hour) after the previous one's last sample (a case testing an alert that reads a period
    record: that alert's ``period_reach``), all on every group's grid and in the past
    (vmalert replays the past). A ``calendar`` suite (one, of one case) starts on a date like
    the epoch. Returns the slots and the timeline's [start, end]."""
    align = _lcm(rules.intervals)
    gap = rules.reach + SLOT_ALIGN
    offsets: list[tuple[Suite, Case, int]] = []
    at = 0
    for suite in suites:
        for case in suite.cases:
            reads = [rules.period_reach.get(check.alertname, 0) for check in case.alerts]
            if offsets and max(reads, default=0) + SLOT_ALIGN > gap:
                at += -(-(max(reads) + SLOT_ALIGN - gap) // align) * align
            offsets.append((suite, case, at))
            at += -(-(case.span + gap) // align) * align
    start = (now - 2 * 86400 - at) // align * align
    if calendar:
        # one case: nothing follows it, so the replay ends with its last step, not a gap later
        start = like_the_epoch(start)
        at = -(-offsets[-1][1].span // align) * align if offsets else 0
    slots = [Slot(suite, case, start + offset) for suite, case, offset in offsets]
    return slots, start, start + at


def _import_text(slots: Sequence[Slot]) -> Iterator[str]:
    for slot in slots:
        for series in slot.case.series:
            name = dict(series.labels).get("__name__", "")
            inner = ",".join(f"{k}={json.dumps(v)}" for k, v in series.labels if k != "__name__")
            head = f"{name}{{{inner}}}"
            for t, v in series.samples:
                yield f"{head} {v!r} {(slot.start + t) * 1000}\n"


def _export(url: str, match: str, start: int, end: int) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"match[]": match, "start": start, "end": end})
    body = _http(f"{url}/api/v1/export?{query}")
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _show(labels: Labels) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in labels) + "}"


Firing = dict[tuple[str, str, int], list[Labels]]  # (group, alertname, unix seconds) -> alerts


def firing_at(
    slot: Slot, rules: Rules, firing: Firing, alertname: str, eval_time: int
) -> tuple[list[Labels], bool]:
    """The alerts named ``alertname`` firing at each of its groups' last evaluation at or before
    ``eval_time`` of ``slot``, and whether any vmalert alerting rule has that name."""
    groups = [g for s in slot.suite.services for g in rules.group_of.get((s, alertname), [])]
    got: list[Labels] = []
    for group, interval in groups:
        got += firing.get((group, alertname, slot.start + eval_time // interval * interval), [])
    return got, bool(groups)


def _check_alerts(slot: Slot, rules: Rules, firing: Firing) -> list[str]:
    problems = []
    for check in slot.case.alerts:
        got, named = firing_at(slot, rules, firing, check.alertname, check.eval_time)
        if tuple(sorted(got)) != check.expected:
            exp = ", ".join(map(_show, check.expected))
            problems.append(
                f"    alertname: {check.alertname}, time: {_time(check.eval_time)},\n"
                f"        exp: [{exp}]\n"
                f"        got: [{', '.join(map(_show, sorted(got)))}]"
                + ("" if named else "\n        (no vmalert alerting rule has this name)")
            )
    return problems


def _check_counts(slot: Slot, rules: Rules, firing: Firing) -> list[str]:
    problems = []
    for check in slot.case.counts:
        counted: dict[Labels, float] = {}
        for labels in firing_at(slot, rules, firing, check.alertname, check.eval_time)[0]:
            own = dict(labels)
            if all(own.get(k) == v for k, v in check.matchers):
                key = tuple(sorted((k, own[k]) for k in check.by if own.get(k)))
                counted[key] = counted.get(key, 0.0) + 1
        got, expected = sorted(counted.items()), sorted(check.expected)
        if got != expected:
            problems.append(
                f"    expr: {check.expr!r}, time: {_time(check.eval_time)},\n"
                f"        exp: [{', '.join(f'{_show(lb)} {v!r}' for lb, v in expected)}]\n"
                f"        got: [{', '.join(f'{_show(lb)} {v!r}' for lb, v in got)}]"
            )
    return problems


def _time(seconds: int) -> str:
    return format_duration(seconds) if seconds else "0s"


def _check_exprs(slot: Slot, url: str) -> list[str]:
    problems = []
    for check in slot.case.exprs:
        query = urllib.parse.urlencode(
            {"query": check.expr, "time": slot.start + check.eval_time, "nocache": "1"}
        )
        try:
            data = json.loads(_http(f"{url}/api/v1/query?{query}"))
            result = data["data"]["result"]
            got = sorted((tuple(sorted(r["metric"].items())), float(r["value"][1])) for r in result)
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            problems.append(f"    expr: {check.expr!r}, time: {_time(check.eval_time)}: {exc}")
            continue
        expected = sorted(check.expected)
        same = len(got) == len(expected) and all(
            gl == el and math.isclose(gv, ev, rel_tol=TOLERANCE, abs_tol=1e-12)
            for (gl, gv), (el, ev) in zip(got, expected)
        )
        if not same:
            problems.append(
                f"    expr: {check.expr!r}, time: {_time(check.eval_time)},\n"
                f"        exp: [{', '.join(f'{_show(lb)} {v!r}' for lb, v in expected)}]\n"
                f"        got: [{', '.join(f'{_show(lb)} {v!r}' for lb, v in got)}]"
            )
    return problems


def title(out_dir: Path, path: str, cases: int) -> str:
    return f"vmalert -replay of the tests in {(out_dir / path).as_posix()} ({cases} tests)"


def run(
    out_dir: Path,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
    now: int | None = None,
) -> list[ToolResult]:
    """One result per test file of a vmalert service, in path order. The files that passed
    before with the same inputs are reported as cached; the others run together on one
    VictoriaMetrics. ``progress(1)`` is called as each file is judged."""
    vm_binary, vmalert = tool("victoria-metrics"), tool("vmalert")
    binaries = f"{_binary_id(vm_binary)}\n{_binary_id(vmalert)}"
    results: dict[str, ToolResult] = {}
    todo: list[Suite] = []
    keys: dict[str, str] = {}
    for path in test_files(out_dir):
        try:
            suite = load_suite(out_dir, path)
        except TestFileError as exc:
            results[path] = ToolResult(
                title(out_dir, path, 0), False, f"{(out_dir / path).as_posix()}: {exc}"
            )
            continue
        keys[path] = result_key(out_dir, path, suite.services, binaries)
        if cache is not None and cache.passed(keys[path]):
            results[path] = ToolResult(
                title(out_dir, path, len(suite.cases)), True, "", cached=True
            )
            if progress:
                progress(1)
        else:
            todo.append(suite)
    # A calendar test's case runs on its own: its slot must start on a date like the epoch.
    # Tests whose times are dates run case by case, each from a date like the epoch (a case
    # and the gap after it can be longer than a month).
    dated = {s.path for s in todo if calendar_suite(out_dir, s)}
    batches = [
        [dataclasses.replace(s, cases=(case,))] for s in todo if s.path in dated for case in s.cases
    ]
    rest = [s for s in todo if s.path not in dated]
    judged: dict[str, ToolResult] = {}
    for batch in ([rest] if rest else []) + batches:
        try:
            found = _run_suites(out_dir, batch, vm_binary, vmalert, now, batch[0].path in dated)
        except (RuntimeError, OSError, TestFileError, yaml.YAMLError) as exc:
            found = {
                s.path: ToolResult("", False, f"{(out_dir / s.path).as_posix()}: {exc}")
                for s in batch
            }
        for path, result in found.items():  # a calendar file's cases, one result
            before = judged.get(path)
            if before is not None:
                output = "\n".join(o for o in (before.output, result.output) if o)
                result = ToolResult("", before.ok and result.ok, output)
            judged[path] = result
    if todo:
        cases = {s.path: len(s.cases) for s in todo}
        judged = {
            path: dataclasses.replace(r, title=title(out_dir, path, cases[path]))
            for path, r in judged.items()
        }
        for path, result in judged.items():
            results[path] = result
            if result.ok and cache is not None:
                cache.record(keys[path])
            if progress:
                progress(1)
    return [results[p] for p in sorted(results)]


def _run_suites(
    out_dir: Path,
    suites: Sequence[Suite],
    vm_binary: str,
    vmalert: str,
    now: int | None,
    calendar: bool = False,
) -> dict[str, ToolResult]:
    services = sorted({s for suite in suites for s in suite.services})
    rules = load_rules(out_dir, services, fed_thresholds(suites))
    moment = int(time.time()) if now is None else now
    slots, start, end = layout(suites, rules, moment, calendar)
    with tempfile.TemporaryDirectory(prefix="slo-vmtest-") as scratch:
        work = Path(scratch)
        with victoria_metrics(vm_binary, work) as url:
            _http(url + "/api/v1/import/prometheus", "".join(_import_text(slots)).encode())
            _flush(url)
            for n, group in enumerate(rules.recordings):
                _replay(vmalert, url, [group], work / f"replay-{n}.yml", start, end)
            if rules.alerts:
                _replay(vmalert, url, rules.alerts, work / "alerts.yml", start, end)
            firing: Firing = {}
            for series in _export(url, 'ALERTS{alertstate="firing"}', start, end):
                metric = dict(series["metric"])
                group, alertname = metric.pop("alertgroup", ""), metric.pop("alertname", "")
                for drop in ("__name__", "alertstate"):
                    metric.pop(drop, None)
                labels = tuple(sorted(metric.items()))
                for ms in series["timestamps"]:
                    firing.setdefault((group, alertname, ms // 1000), []).append(labels)
            judged = {}
            for suite in suites:
                failures = []
                for slot in (s for s in slots if s.suite is suite):
                    problems = _check_alerts(slot, rules, firing) + _check_exprs(slot, url)
                    problems += _check_counts(slot, rules, firing)
                    if problems:
                        failures.append(f"  FAILED: {slot.case.name}\n" + "\n".join(problems))
                output = (
                    f"{(out_dir / suite.path).as_posix()}:\n" + "\n".join(failures)
                    if failures
                    else ""
                )
                judged[suite.path] = ToolResult(
                    title(out_dir, suite.path, len(suite.cases)), not failures, output
                )
    return judged
