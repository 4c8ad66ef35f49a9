"""Maintenance windows (README, "Maintenance windows"): the spec, the Alertmanager time
intervals that mute a service's or an SLO's alerts, tested on a real Alertmanager."""

from __future__ import annotations

import datetime
import json
import re
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from support import compile_into, needs_alertmanager, servers, write_files
from werkzeug import Request, Response

from compiler import compile_tree
from compiler.core import conventions
from compiler.core.calendar import WEEKDAYS
from compiler.core.model import TimeRange

DB_SPEC = """\
apiVersion: slo/v1
service: db
team: data
maintenance:
{windows}
slos:
  - name: queries
    objective: 99.9
    maintenance:
      - name: reindex
        reason: monthly reindex
        days_of_month: ["1"]
        times: [{{start_time: "03:00", end_time: "05:00"}}]
    indicator:
      ratio:
        errors: pg_errors_total{{job="db"}}
        total: pg_queries_total{{job="db"}}
thresholds:
  - {{name: down, expr: 'pg_up{{job="db"}}', below: 1, severity: ticket}}
"""
API_SPEC = """\
apiVersion: slo/v1
service: api
team: web
thresholds:
  - {name: down, expr: 'up{job="api"}', below: 1, severity: ticket}
"""
ROUTING_SPEC = """\
apiVersion: slo/v1
kind: Routing
global:
  slack_api_url_file: {slack_url_file}
severities:
  page:
    notify: {{slack: {{channel: '#page'}}}}
  ticket:
    notify: {{slack: {{channel: '#ticket'}}}}
    group_wait: 1s
    group_interval: 1s
  info:
    notify: {{slack: {{channel: '#info'}}}}
teams:
  data:
    ticket:
      slack: {{channel: '#data'}}
"""
WEEKLY = """\
  - name: vacuum
    reason: weekly vacuum
    weekdays: [sunday]
    times: [{start_time: "02:00", end_time: "04:00"}]
  - name: migration
    start: 2026-03-01T02:00:00Z
    end: "2026-03-01T04:00:00+01:00"
    exclude: true
"""


def compiled(tmp_path: Path, windows: str, slack_url_file: str = "/etc/slack") -> Path:
    spec = write_files(
        tmp_path / "slo",
        {
            "db.yaml": DB_SPEC.format(windows=windows),
            "api.yaml": API_SPEC,
            "routing.yaml": ROUTING_SPEC.format(slack_url_file=slack_url_file),
        },
    )
    out = tmp_path / "out"
    result = compile_into(spec, out)
    assert not result.diagnostics, result.diagnostics
    return out


# --- the model -----------------------------------------------------------------------------
def test_windows_are_read_into_the_model(tmp_path):
    spec = write_files(tmp_path / "slo", {"db.yaml": DB_SPEC.format(windows=WEEKLY)})
    result = compile_tree(spec)
    (service,) = result.model.services
    vacuum, migration = service.maintenance
    assert vacuum.name == "vacuum" and vacuum.reason == "weekly vacuum"
    assert vacuum.mute and not vacuum.exclude
    assert vacuum.recurring == TimeRange(times=(("02:00", "04:00"),), weekdays=("sunday",))
    assert (migration.recurring, migration.mute, migration.exclude) == (None, True, True)
    # unquoted and quoted RFC 3339, each with its offset: 02:00Z to 03:00Z
    assert (migration.start, migration.end) == (1772330400, 1772330400 + 3600)
    (slo,) = service.slos
    assert [w.name for w in slo.maintenance] == ["reindex"]


# --- Alertmanager config -------------------------------------------------------------------
def _routes(route: dict) -> list[dict]:
    found = [route]
    for child in route.get("routes", []):
        found += _routes(child)
    return found


def test_recurring_windows_mute_the_service_and_slo_routes(tmp_path):
    out = compiled(tmp_path, WEEKLY)
    config = yaml.safe_load((out / conventions.ALERTMANAGER_CONFIG).read_text())
    intervals = {ti["name"]: ti["time_intervals"] for ti in config["time_intervals"]}
    service, slo = (
        conventions.maintenance_interval("db"),
        conventions.maintenance_interval("db", "queries"),
    )
    # the one-off window is a silence (slo push), not a time interval
    assert intervals == {
        service: [
            {"times": [{"start_time": "02:00", "end_time": "04:00"}], "weekdays": ["sunday"]}
        ],
        slo: [{"times": [{"start_time": "03:00", "end_time": "05:00"}], "days_of_month": ["1"]}],
    }
    for severity_route in config["route"]["routes"]:
        severity = severity_route["matchers"][0].split('"')[1]
        muted = [r for r in severity_route.get("routes", []) if "mute_time_intervals" in r]
        # the SLO's route first (its windows and the service's), then the service's; only
        # under the severities db's alerts carry (no info alert: no info route)
        assert [(r["matchers"], r["mute_time_intervals"]) for r in muted] == (
            [
                (['service="db"', 'slo="queries"'], [service, slo]),
                (['service="db"'], [service]),
            ]
            if severity != "info"
            else []
        )
        # each reaches the receiver the team's route would: data has its own ticket receiver
        expected = conventions.receiver(severity, "data" if severity == "ticket" else None)
        assert {r["receiver"] for r in muted} <= {expected}
    # api is never muted
    assert not any(
        "api" in str(r.get("matchers")) and "mute_time_intervals" in r
        for r in _routes(config["route"])
    )


def test_no_windows_no_intervals(tmp_path):
    out = compiled(tmp_path, "  - {start: 2026-03-01T02:00:00Z, end: 2026-03-01T03:00:00Z}")
    config = yaml.safe_load((out / conventions.ALERTMANAGER_CONFIG).read_text())
    names = [ti["name"] for ti in config["time_intervals"]]
    assert names == [conventions.maintenance_interval("db", "queries")]


# --- a real Alertmanager -----------------------------------------------------------------------
class Inbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[dict] = []

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.items.append(json.loads(request.get_data()))
        return Response("ok")

    def channels(self) -> list[str]:
        with self.lock:
            return [item["channel"] for item in self.items]


def slack_inbox(tmp_path: Path, http_capture) -> tuple[Inbox, Path]:
    """An Inbox taking the Slack webhooks posted to http_capture under a random path, and
    tmp_path/secrets/slack holding that URL, for slack_api_url_file."""
    inbox = Inbox()
    token = secrets.token_hex(8)
    http_capture.expect_request(f"/slack/{token}", method="POST").respond_with_handler(
        inbox.receive
    )
    url_file = write_files(
        tmp_path / "secrets", {"slack": f"http://127.0.0.1:{http_capture.port}/slack/{token}"}
    )
    return inbox, url_file / "slack"


def window_around_now() -> str:
    """Windows covering this minute and a few after, in UTC: today's, and tomorrow's first
    minutes when today's would end at midnight."""
    now = datetime.datetime.now(datetime.UTC)
    minute = now.hour * 60 + now.minute
    start, end = max(minute - 1, 0), min(minute + 6, 24 * 60)
    today = WEEKDAYS[(now.weekday() + 1) % 7]  # Python's monday 0 -> Alertmanager's sunday 0
    tomorrow = WEEKDAYS[(now.weekday() + 2) % 7]

    def clock(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    text = (
        f"  - name: now\n    weekdays: [{today}]\n"
        f'    times: [{{start_time: "{clock(start)}", end_time: "{clock(end)}"}}]\n'
    )
    if end == 24 * 60:
        text += (
            f"  - name: after-midnight\n    weekdays: [{tomorrow}]\n"
            '    times: [{start_time: "00:00", end_time: "00:10"}]\n'
        )
    return text


def alert(service: str) -> dict:
    return {
        "labels": {
            "alertname": "Down",
            "service": service,
            "slo": "down",
            "team": "data" if service == "db" else "web",
            "severity": "ticket",
            "objective_kind": "threshold",
        },
        "annotations": {"summary": f"{service} down"},
    }


@pytest.mark.binaries
@needs_alertmanager
def test_alertmanager_mutes_the_service_in_its_window_and_no_other(tmp_path, http_capture):
    inbox, slack_url_file = slack_inbox(tmp_path, http_capture)
    out = compiled(tmp_path, window_around_now(), str(slack_url_file))
    config = out / conventions.ALERTMANAGER_CONFIG
    check = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr

    with servers.alertmanager(tmp_path / "alertmanager", config.read_text()) as am:
        posted = requests.post(
            f"{am.url}/api/v2/alerts", json=[alert("db"), alert("api")], timeout=10
        )
        assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 30
        while "#ticket" not in inbox.channels() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert inbox.channels() == ["#ticket"], am.tail()  # api's ticket, the default receiver
        # db's alert is in the same flush (group_wait 1s, its own group): give it three more
        # group intervals, then it must still not have been sent
        time.sleep(3)
        assert inbox.channels() == ["#ticket"], inbox.items
        # Alertmanager still holds db's alert: muted at notification time, not dropped
        alerts = requests.get(f"{am.url}/api/v2/alerts", timeout=10).json()
        assert sorted(a["labels"]["service"] for a in alerts) == ["api", "db"]


# --- the gate's PromQL, on both engines, against Alertmanager's reading -------------------------
GATE_WINDOWS = (
    TimeRange(times=(("02:00", "04:00"),)),
    TimeRange(times=(("00:00", "00:30"), ("23:30", "24:00")), weekdays=("sunday",)),
    TimeRange(weekdays=("monday:wednesday", "saturday")),
    TimeRange(days_of_month=("-3:-1",), times=(("12:00", "13:00"),)),
    TimeRange(days_of_month=("1", "15:16"), months=("february:march", "12")),
    TimeRange(days_of_month=("29:-1",), years=("2028",)),
)
# Weeks across the awkward days: a leap February, month and year ends, a weekday change.
GATE_WEEKS = ("2028-02-24", "2026-12-27", "2027-01-12")


def _minutes_inside(url: str, expr: str, start: int, end: int) -> set[int]:
    response = requests.get(
        f"{url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": "60"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result = response.json()["data"]["result"]
    return {int(float(t)) for series in result for t, _ in series["values"]}


def _check_gates(url: str) -> None:
    from compiler.core.calendar import range_contains
    from compiler.core.model import Maintenance
    from compiler.targets.prometheus import inside

    for r in GATE_WINDOWS:
        window = Maintenance("w", recurring=r)
        for week in GATE_WEEKS:
            start = int(datetime.datetime.fromisoformat(week + "T00:00:00+00:00").timestamp())
            end = start + 7 * 86400 - 60
            got = _minutes_inside(url, inside(window, "time()"), start, end)
            wanted = {t for t in range(start, end + 1, 60) if range_contains(r, t)}
            assert got == wanted, (r, week, sorted(got ^ wanted)[:5])


@pytest.mark.binaries
@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus not installed")
def test_the_gate_on_prometheus_matches_alertmanager_reading_of_the_window(tmp_path):
    with servers.prometheus(tmp_path / "prometheus") as prometheus:
        _check_gates(prometheus.url)


@pytest.mark.binaries
@pytest.mark.skipif(not shutil.which("victoria-metrics"), reason="victoria-metrics not installed")
def test_the_gate_on_victoriametrics_matches_alertmanager_reading_of_the_window(tmp_path):
    with servers.victoria_metrics(tmp_path / "vm") as vm:
        _check_gates(vm.url)


# --- slo backfill computes the gated series ---------------------------------------------------
BACKFILL_WINDOWS = """\
maintenance:
  - name: nightly
    exclude: true
    times: [{start_time: "08:00", end_time: "09:00"}]
  - name: evening
    exclude: true
    times: [{start_time: "20:00", end_time: "20:20"}]
slos:
"""


@pytest.mark.binaries
@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed")
def test_backfill_queries_and_history_match_the_gated_rules(tmp_path):
    """The backfill's raw queries, evaluated as promtool evaluates the rules, equal the gated
    raw records at every instant; and the history the backfill core computes from them equals
    every series the rules record, across both windows (holes, the minutes after them)."""
    import test_backfill as bf

    from compiler.backfill import history, raw_queries

    spec = bf.SPEC.replace("slos:\n", BACKFILL_WINDOWS, 1)
    result = compile_tree(write_files(tmp_path / "slo", {"shop.yaml": spec}))
    (tmp_path / "rules.yml").write_text(result.artifacts["prometheus/rules/shop.rules.yml"])
    service = result.model.services[0]
    every, minute = bf.EVERY, bf.MINUTE
    instants = [9 * 3600 + 5 * minute, 9 * 3600 + 30 * minute, 20 * 3600 + 25 * minute]
    instants += [21 * 3600, 25 * 3600 + 55 * minute]
    grid = range(every, bf.STEPS, every)
    # from t=0: a time-slice SLO's first record already counts slices
    tests = bf.queries(range(0, bf.STEPS, every), instants)
    queries = raw_queries(service)
    tests += [
        {"expr": f"{expr} + 0 * {i}", "eval_time": f"{m}m", "exp_samples": []}
        for i, (_, _, _, expr) in enumerate(queries)
        for m in grid
    ]
    output = bf.run_promtool(tmp_path, tests)
    got = bf.got_samples(output)
    assert set(instants) <= set(got)

    def recorded(slo_name: str, kind: str, m: int) -> float | None:
        labels = {"__name__": names_events, "service": "shop", "slo": slo_name}
        labels.update(kind=kind, window="5m")
        return got.get(m * minute, {}).get(tuple(sorted(labels.items())))

    names_events = conventions.EVENTS
    # what each backfill query gave, by its index (the "+ 0 * i" tells them apart)
    queried: dict[tuple[int, int], float] = {}
    for block in output.split("expr: ")[1:]:
        tag = block.split("+ 0 * ", 1)
        if len(tag) < 2 or not tag[1][0].isdigit():
            continue
        index = int(re.match(r"\d+", tag[1]).group())
        at = bf.duration(re.search(r"time: ([0-9dhms.]+),", block).group(1))
        values = bf.GOT.findall(block.split("got: ", 1)[1].split("\n", 1)[0])
        if values:
            queried[(index, at)] = float(values[0][1])
    gated = 0
    for i, (slo_name, _, kind, _) in enumerate(queries):
        for m in grid:
            mine, rules = queried.get((i, m * minute)), recorded(slo_name, kind, m)
            assert (mine is None) == (rules is None), (slo_name, kind, m, mine, rules)
            assert mine is None or bf.close(mine, rules), (slo_name, kind, m, mine, rules)
            gated += 8 * 60 <= m < 9 * 60 + 5 and rules is None
    # total and errors of every SLO (a time-slice SLO's too), 08:00 to 09:00: none recorded
    assert gated == 2 * len(service.slos) * 13 and len(service.slos) >= 2

    values = {
        (slo_name, window, kind): [recorded(slo_name, kind, m) for m in range(0, bf.STEPS, every)]
        for slo_name, window, kind, _ in queries
    }
    computed = history.compute(service, values, *bf.grids(bf.STEPS))
    for t in instants:
        # () is a backfill query's sum, no recorded series
        theirs = bf.slo_series({k: v for k, v in got[t].items() if k})
        bf.assert_same_series(bf.core_at(computed, t), theirs, t)


# --- one-off windows: the silences `slo push` keeps -----------------------------------------------
def _utc(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_off(name: str, start: float, end: float, reason: str = "") -> str:
    text = f"  - name: {name}\n    start: {_utc(start)}\n    end: {_utc(end)}\n"
    return text + (f"    reason: {reason}\n" if reason else "")


def _silences(url: str) -> list[dict]:
    items = requests.get(f"{url}/api/v2/silences", timeout=10).json()
    return [s for s in items if s["status"]["state"] in ("active", "pending")]


@pytest.mark.binaries
@needs_alertmanager
def test_push_keeps_a_silence_per_one_off_window_and_expires_the_removed(
    tmp_path, alertmanager_server
):
    from support.outtrees import push

    from compiler.push import alertmanager as am_push
    from compiler.push import endpoints as ep

    url = alertmanager_server.url
    endpoints = ep.Endpoints(
        {"alertmanager": am_push.Alertmanager(url, alertmanager_server.config)}
    )
    now = time.time()
    windows = _one_off("upgrade", now + 3600, now + 7200, "major upgrade") + _one_off(
        "done", now - 7200, now - 3600
    )
    out = compiled(tmp_path / "a", windows, str(write_files(tmp_path, {"slack": "x"}) / "slack"))
    model = compile_tree(tmp_path / "a" / "slo").model
    # someone else's silence of the same service, and an ad-hoc one of slo maintenance: kept
    foreign = {
        "matchers": [{"name": "service", "value": "db", "isRegex": False, "isEqual": True}],
        "startsAt": _utc(now),
        "endsAt": _utc(now + 600),
        "createdBy": "alice",
        "comment": "slo window db upgrade",
    }
    adhoc = dict(foreign, createdBy="slo", comment="slo maintenance db: failover")
    for body in (foreign, adhoc):
        assert requests.post(f"{url}/api/v2/silences", json=body, timeout=10).status_code == 200

    report = push(endpoints, model, out)["alertmanager"]
    assert report.status == "pushed", report.errors
    assert [c.object for c in report.plan.changes if c.kind == "created"] == [
        "silence db upgrade: major upgrade"  # the past window gets none
    ]
    mine = [s for s in _silences(url) if s["comment"].startswith("slo window")]
    states = sorted((s["createdBy"], s["status"]["state"]) for s in mine)
    assert states == [("alice", "active"), ("slo", "pending")]
    (ours,) = [s for s in mine if s["createdBy"] == "slo"]
    assert ours["matchers"] == [
        {"name": "service", "value": "db", "isRegex": False, "isEqual": True}
    ]
    assert (ours["startsAt"][:19], ours["endsAt"][:19]) == (
        _utc(now + 3600)[:19],
        _utc(now + 7200)[:19],
    )

    again = push(endpoints, model, out)["alertmanager"]
    assert not [c for c in again.plan.changes if "silence" in c.object and c.kind != "unchanged"]
    assert "1 maintenance silence(s) in place" in again.plan.notes

    # the window leaves the specs: its silence is expired; the others stay
    out = compiled(tmp_path / "b", _one_off("done", now - 7200, now - 3600))
    model = compile_tree(tmp_path / "b" / "slo").model
    report = push(endpoints, model, out)["alertmanager"]
    assert [c.object for c in report.plan.changes if c.kind == "deleted"] == [
        "silence db upgrade: major upgrade"
    ]
    left = sorted((s["createdBy"], s["comment"]) for s in _silences(url))
    assert left == [("alice", "slo window db upgrade"), ("slo", "slo maintenance db: failover")]


# --- slo maintenance ------------------------------------------------------------------------------
@pytest.mark.binaries
@needs_alertmanager
def test_maintenance_start_list_end_on_a_real_alertmanager(tmp_path, alertmanager_server):
    from support import slo

    url = alertmanager_server.url
    specs = write_files(tmp_path / "slo", {"db.yaml": DB_SPEC.format(windows=WEEKLY)})
    env = {"SLO_ALERTMANAGER_URL": url}
    started = slo(
        "maintenance", "start", "db", "--slo", "queries", "--for", "2h",
        "--reason", "failover", "--specs", str(specs), env=env,
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    (silence,) = _silences(url)
    assert silence["createdBy"] == "slo"
    assert silence["comment"] == "slo maintenance db/queries: failover"
    assert sorted((m["name"], m["value"], m["isEqual"]) for m in silence["matchers"]) == [
        ("service", "db", True),
        ("slo", "queries", True),
    ]
    ends = datetime.datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    starts = datetime.datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
    assert abs((ends - starts).total_seconds() - 7200) < 5
    assert silence["id"] in started.output

    listed = slo("maintenance", "list", env=env)
    assert (
        listed.exit_code == 0 and silence["id"] in listed.output and "db/queries" in listed.output
    )

    # by service: only the ad-hoc silences of slo, never someone else's
    foreign = {
        "matchers": [{"name": "service", "value": "db", "isRegex": False, "isEqual": True}],
        "startsAt": silence["startsAt"],
        "endsAt": silence["endsAt"],
        "createdBy": "alice",
        "comment": "hers",
    }
    assert requests.post(f"{url}/api/v2/silences", json=foreign, timeout=10).status_code == 200
    ended = slo("maintenance", "end", "db", env=env)
    assert ended.exit_code == 0, ended.output
    assert [s["createdBy"] for s in _silences(url)] == ["alice"]
    again = slo("maintenance", "end", "db", env=env)
    assert again.exit_code == 1 and "[maintenance/unknown]" in again.output


def test_maintenance_needs_an_alertmanager_and_a_known_service(tmp_path, monkeypatch):
    from support import slo

    monkeypatch.delenv("SLO_ALERTMANAGER_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    specs = write_files(tmp_path / "slo", {"db.yaml": DB_SPEC.format(windows=WEEKLY)})
    result = slo("maintenance", "list")
    assert result.exit_code == 2 and "[maintenance/no-alertmanager]" in result.output
    unknown = slo("maintenance", "start", "dbx", "--for", "1h", "--reason", "x", "--specs", specs)
    assert unknown.exit_code == 2 and "no service dbx" in unknown.output
    bad = slo("maintenance", "start", "db", "--slo", "nope", "--for", "1h", "--reason", "x")
    assert bad.exit_code == 2 and "has no SLO or threshold nope" in bad.output
    zero = slo("maintenance", "start", "db", "--for", "0s", "--reason", "x")
    assert zero.exit_code == 2 and "--for" in zero.output


def test_a_threshold_window_mutes_that_threshold(tmp_path):
    spec = DB_SPEC.format(windows=WEEKLY).replace(
        "severity: ticket}",
        "severity: ticket, maintenance: [{weekdays: [saturday]}, "
        "{start: 2026-03-01T02:00:00Z, end: 2026-03-01T03:00:00Z}]}",
    )
    out = tmp_path / "out"
    compile_into(
        write_files(
            tmp_path / "slo",
            {"db.yaml": spec, "routing.yaml": ROUTING_SPEC.format(slack_url_file="/s")},
        ),
        out,
    )
    config = yaml.safe_load((out / conventions.ALERTMANAGER_CONFIG).read_text())
    down = conventions.maintenance_interval("db", "down")
    assert {"name": down, "time_intervals": [{"weekdays": ["saturday"]}]} in config[
        "time_intervals"
    ]
    routes = [r for r in _routes(config["route"]) if down in r.get("mute_time_intervals", [])]
    assert [r["matchers"] for r in routes] == [['service="db"', 'slo="down"']]  # ticket only
    assert routes[0]["mute_time_intervals"] == [conventions.maintenance_interval("db"), down]
    silences = yaml.safe_load((out / conventions.ALERTMANAGER_SILENCES).read_text())["silences"]
    assert silences[1:] == [
        {
            "service": "db",
            "slo": "down",
            "name": "maintenance-2",
            "comment": "slo window db/down maintenance-2",
            "starts_at": "2026-03-01T02:00:00Z",
            "ends_at": "2026-03-01T03:00:00Z",
        }
    ]


def test_a_services_exclude_window_gates_its_time_slice_slos_too(tmp_path):
    """The windows of the service hold for every SLO it has, a threshold's time-slice SLO
    included: its slices inside the window are no events, on both engines."""
    spec = """\
apiVersion: slo/v1
service: db
team: data
engines: [prometheus, vmalert]
maintenance:
  - {name: nightly, exclude: true, times: [{start_time: "03:00", end_time: "03:30"}]}
thresholds:
  - name: lag
    expr: pg_replication_lag_seconds{job="db"}
    above: 1
    severity: ticket
    slo: {objective: 99.5}
"""
    result = compile_tree(write_files(tmp_path, {"db.yaml": spec}))
    for path in ("prometheus/rules/db.rules.yml", "vmalert/rules/db.rules.yml"):
        raw = [
            rule
            for group in yaml.safe_load(result.artifacts[path])["groups"]
            for rule in group["rules"]
            if rule.get("labels", {}).get("slo") == conventions.timeslice_slo("lag")
            and rule["labels"].get("window") == "5m"
        ]
        # Prometheus' seconds are one rule for the service, * 0 + 300 of each total: gated with it
        kinds = (
            {"total", "errors"}
            if path.startswith("prometheus/")
            else {"total", "errors", "seconds"}
        )
        assert {r["labels"]["kind"] for r in raw} == kinds, path
        for rule in raw:
            assert "unless on()" in rule["expr"] and "hour(" in rule["expr"], (path, rule)


@pytest.mark.binaries
@needs_alertmanager
def test_a_teams_route_keeps_its_severitys_mute_intervals(tmp_path, http_capture):
    """Alertmanager takes a route's time intervals from that route alone, never its parent's:
    a severity muted now must stay muted for a team with its own receiver under it."""
    inbox, slack_url_file = slack_inbox(tmp_path, http_capture)
    # the same minutes as window_around_now, as a Routing time interval
    ranges = yaml.safe_load(window_around_now())
    for r in ranges:
        del r["name"]
    routing = ROUTING_SPEC.format(slack_url_file=slack_url_file).replace(
        "    group_wait: 1s\n",
        "    group_wait: 1s\n    mute_time_intervals: [quiet]\n",
        1,
    )
    routing += yaml.safe_dump({"time_intervals": {"quiet": ranges}})
    spec = write_files(
        tmp_path / "slo",
        {"db.yaml": DB_SPEC.format(windows="  []"), "api.yaml": API_SPEC, "routing.yaml": routing},
    )
    out = tmp_path / "out"
    result = compile_into(spec, out)
    assert not result.diagnostics, result.diagnostics
    config = out / conventions.ALERTMANAGER_CONFIG
    with servers.alertmanager(tmp_path / "alertmanager", config.read_text()) as am:
        page = {**alert("api"), "labels": {**alert("api")["labels"], "severity": "page"}}
        posted = requests.post(
            f"{am.url}/api/v2/alerts", json=[alert("db"), alert("api"), page], timeout=10
        )
        assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 30
        while "#page" not in inbox.channels() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3)  # three more group intervals of the ticket route
        # the page (not muted) arrives; neither ticket, the default's nor team data's own
        assert inbox.channels() == ["#page"], (inbox.items, am.tail())
