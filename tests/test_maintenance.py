"""Maintenance windows (README, "Maintenance windows"): the spec, the Alertmanager time
intervals that mute a service's or an SLO's alerts, tested on a real Alertmanager."""

from __future__ import annotations

import datetime
import json
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from pytest_httpserver import HTTPServer
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
        muted = [r for r in severity_route["routes"] if "mute_time_intervals" in r]
        # the SLO's route first (its windows and the service's), then the service's
        assert [(r["matchers"], r["mute_time_intervals"]) for r in muted] == [
            (['service="db"', 'slo="queries"'], [service, slo]),
            (['service="db"'], [service]),
        ]
        # each reaches the receiver the team's route would: data has its own ticket receiver
        expected = conventions.receiver(severity, "data" if severity == "ticket" else None)
        assert {r["receiver"] for r in muted} == {expected}
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


@pytest.fixture
def slack_capture():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


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
def test_alertmanager_mutes_the_service_in_its_window_and_no_other(tmp_path, slack_capture):
    inbox = Inbox()
    token = secrets.token_hex(8)
    slack_capture.expect_request(f"/slack/{token}", method="POST").respond_with_handler(
        inbox.receive
    )
    url_file = write_files(
        tmp_path / "secrets", {"slack": f"http://127.0.0.1:{slack_capture.port}/slack/{token}"}
    )
    out = compiled(tmp_path, window_around_now(), str(url_file / "slack"))
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
