"""End to end with the real binaries: metrics -> Prometheus (compiled rules) -> Alertmanager
(compiled config) -> PagerDuty, Slack and SMTP capture servers run by this test.

The test serves metrics it controls. With 100% errors from the first scrape every window's
error ratio is 1 after two scrapes, so the burn-rate tiers fire within seconds at a 1s scrape
and evaluation interval. Firing together:
  ErrorBudgetBurn page    -> PagerDuty        ErrorBudgetBurn ticket -> inhibited (same SLO paged)
  QueueDepth ticket       -> Slack            DiskUsage info         -> e-mail
  DatabaseDown page       -> PagerDuty        ApiTimeouts ticket     -> inhibited (depends on it)
then everything recovers and the resolutions are delivered.
"""

from __future__ import annotations

import json
import secrets
import threading
import time

import pytest
import requests
from support import assert_passed, needs_alertmanager, needs_prometheus, servers, write_files
from support.smtp import SMTPCapture
from werkzeug import Request, Response

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.core import conventions
from compiler.pipeline.output import write_tree

pytestmark = [pytest.mark.binaries, needs_prometheus, needs_alertmanager]

DEADLINE = 90  # seconds for start-up and the whole scenario; the issue allows 2 minutes
HOLD = 3  # seconds the page keeps firing after the ticket tier is seen inhibited (3 flushes at 1s)

SERVICE_SPEC = """\
apiVersion: slo/v1
service: shop
team: web
evaluation_interval: 10s
slos:
  - name: availability
    objective: 99.9
    indicator:
      ratio:
        errors: http_requests_total{job="shop",code=~"5.."}
        total: http_requests_total{job="shop"}
    alerting:
      runbook_url: https://runbooks.example.com/shop/availability
      # Base windows only: both tiers see a 100% error ratio after two scrapes. (A longer
      # window counts the minutes before the first scrape as good, so it would take minutes.)
      windows:
        - {severity: page, long: 5m, short: 5m, budget: 2}
        - {severity: ticket, long: 5m, short: 5m, budget: 5}
thresholds:
  - name: queue-depth
    expr: shop_queue_depth{job="shop"}
    above: 100
    severity: ticket
    runbook_url: https://runbooks.example.com/shop/queue-depth
  - name: disk-usage
    expr: shop_disk_usage_ratio{job="shop"}
    above: 0.85
    severity: info
    unit: ratio
  - name: database-down
    expr: shop_database_up{job="shop"}
    below: 1
    severity: page
  - name: api-timeouts
    expr: shop_api_timeouts{job="shop"}
    above: 0
    severity: ticket
"""

ROUTING_SPEC = """\
apiVersion: slo/v1
kind: Routing
global:
  pagerduty_url: {pagerduty_url}
  slack_api_url_file: {slack_url_file}
  smtp_from: alertmanager@example.com
  smtp_smarthost: 127.0.0.1:{smtp_port}
  smtp_auth_username: alertmanager
  smtp_auth_password_file: {smtp_password_file}
  smtp_require_tls: false
severities:
  page:
    notify:
      pagerduty: {{routing_key_file: {routing_key_file}}}
    group_wait: 1s
    group_interval: 1s
  ticket:
    notify:
      slack: {{channel: '#general'}}
    group_wait: 1s
    group_interval: 1s
  info:
    notify:
      email: {{to: ops@example.com}}
    group_wait: 1s
    group_interval: 1s
teams:
  web:
    ticket:
      slack: {{channel: '#web-tickets'}}
dependencies:
  - dependent: shop/api-timeouts
    depends_on: [shop/database-down]
"""


class Metrics:
    """What /metrics serves. Counters grow on every scrape, so rates follow the current phase."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors = 0
        self.ok = 0
        self.failing = True
        self.queue_depth = 500
        self.disk_usage = 0.95
        self.database_up = 0  # down, and the API times out because of it
        self.api_timeouts = 7

    def recover(self) -> None:
        with self.lock:
            self.failing, self.queue_depth, self.disk_usage = False, 3, 0.5
            self.database_up, self.api_timeouts = 1, 0

    def scrape(self, request: Request) -> Response:
        with self.lock:
            if self.failing:
                self.errors += 10
            else:
                self.ok += 1_000_000  # a flood of good requests drowns the errors in every window
            text = (
                "# TYPE http_requests_total counter\n"
                f'http_requests_total{{code="500"}} {self.errors}\n'
                f'http_requests_total{{code="200"}} {self.ok}\n'
                "# TYPE shop_queue_depth gauge\n"
                f"shop_queue_depth {self.queue_depth}\n"
                "# TYPE shop_disk_usage_ratio gauge\n"
                f"shop_disk_usage_ratio {self.disk_usage}\n"
                f"shop_database_up {self.database_up}\n"
                f"shop_api_timeouts {self.api_timeouts}\n"
            )
        return Response(text, content_type="text/plain; version=0.0.4")


class Inbox:
    """JSON bodies POSTed to one capture path."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[dict] = []

    def receive(self, request: Request) -> Response:
        with self.lock:
            self.items.append(json.loads(request.get_data()))
        return Response(json.dumps({"status": "success", "message": "Event processed"}), status=202)

    def all(self) -> list[dict]:
        with self.lock:
            return list(self.items)


def wait_for(what: str, predicate, deadline: float, daemons=()):
    """Poll until predicate() is truthy; fail with the servers' logs at the deadline."""
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    logs = "\n".join(f"--- {d.directory.name} ---\n{d.tail()}" for d in daemons)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def test_each_severity_reaches_its_receiver_inhibition_holds_and_resolution_is_delivered(
    tmp_path, http_capture
):
    deadline = time.monotonic() + DEADLINE
    metrics, pagerduty, slack = Metrics(), Inbox(), Inbox()
    routing_key = f"pd-{secrets.token_hex(8)}"
    slack_token = secrets.token_hex(12)
    smtp_password = f"pw-{secrets.token_hex(8)}"
    http_capture.expect_request("/metrics").respond_with_handler(metrics.scrape)
    http_capture.expect_request("/v2/enqueue", method="POST").respond_with_handler(
        pagerduty.receive
    )
    http_capture.expect_request(f"/slack/{slack_token}", method="POST").respond_with_handler(
        slack.receive
    )
    base = f"http://127.0.0.1:{http_capture.port}"

    secrets_dir = write_files(
        tmp_path / "secrets",
        {"pagerduty": routing_key, "slack": f"{base}/slack/{slack_token}", "smtp": smtp_password},
    )

    with SMTPCapture() as smtp:
        routing = ROUTING_SPEC.format(
            pagerduty_url=f"{base}/v2/enqueue",
            slack_url_file=secrets_dir / "slack",
            smtp_port=smtp.port,
            smtp_password_file=secrets_dir / "smtp",
            routing_key_file=secrets_dir / "pagerduty",
        )
        spec_dir = write_files(
            tmp_path / "slo", {"shop.yaml": SERVICE_SPEC, "routing.yaml": routing}
        )
        out = tmp_path / "out"
        write_tree(compile_tree(spec_dir).artifacts, out)

        # No secret value reached the compiled output: only the paths of the files holding them.
        for path in out.rglob("*"):
            if path.is_file():
                text = path.read_text()
                for secret in (routing_key, slack_token, smtp_password):
                    assert secret not in text, f"{secret} leaked into {path}"
        assert_passed(toolrun.test_output(out, only={"alertmanager"}))

        def prometheus_config(alertmanager_url: str) -> str:
            scraped = f"[{{targets: ['127.0.0.1:{http_capture.port}']}}]"
            alerted = f"[{{targets: ['{alertmanager_url.removeprefix('http://')}']}}]"
            return (
                "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                f"rule_files: ['{out}/prometheus/rules/*.yml']\n"
                f"alerting: {{alertmanagers: [{{static_configs: {alerted}}}]}}\n"
                f"scrape_configs: [{{job_name: shop, static_configs: {scraped}}}]\n"
            )

        with (
            servers.alertmanager(
                tmp_path / "alertmanager", (out / conventions.ALERTMANAGER_CONFIG).read_text()
            ) as alertmanager,
            servers.prometheus(
                tmp_path / "prometheus", config_text=prometheus_config(alertmanager.url)
            ) as prometheus,
        ):
            daemons = (alertmanager, prometheus)

            # --- firing ---------------------------------------------------------------------
            def triggers() -> dict[str, dict]:
                """PagerDuty trigger events by alert name (from the summary
                "[FIRING:1] <alertname> ...")."""
                return {
                    e["payload"]["summary"].split(" ")[1]: e
                    for e in pagerduty.all()
                    if e["event_action"] == "trigger"
                }

            pages = wait_for(
                "both PagerDuty triggers",
                lambda: len(triggers()) == 2 and triggers(),
                deadline,
                daemons,
            )
            ticket = wait_for("the Slack ticket", slack.all, deadline, daemons)
            mail = wait_for("the info e-mail", smtp.messages, deadline, daemons)

            assert sorted(pages) == ["DatabaseDown", "ErrorBudgetBurn"]
            event = pages["ErrorBudgetBurn"]
            assert event["routing_key"] == routing_key  # read from routing_key_file
            assert event["payload"]["severity"] == "critical"
            assert event["payload"]["summary"].startswith(
                "[FIRING:1] ErrorBudgetBurn shop availability"
            )
            firing = event["payload"]["custom_details"]["firing"]
            for line in (
                "severity = page",
                "team = web",
                "objective_kind = slo",
                "long_window = 5m",
                "summary = shop availability: error budget burning 172.8x too fast",
                "runbook_url = https://runbooks.example.com/shop/availability",
            ):
                assert line in firing, firing
            assert (
                "slo = database-down"
                in pages["DatabaseDown"]["payload"]["custom_details"]["firing"]
            )

            message = ticket[0]
            assert (
                message["channel"] == "#web-tickets"
            )  # the team's override, not the default #general
            attachment = message["attachments"][0]
            assert attachment["title"].startswith("[FIRING:1] QueueDepth shop queue-depth")
            assert (
                f"*shop queue-depth: 500 is above 100 on 127.0.0.1:{http_capture.port}*"
                in attachment["text"]
            )
            assert "Runbook: https://runbooks.example.com/shop/queue-depth" in attachment["text"]

            assert mail[0].recipients == ["ops@example.com"]
            assert mail[0].message["Subject"].startswith("[FIRING:1] DiskUsage shop disk-usage")
            body = mail[0].message.get_body(("html", "plain")).get_content()
            assert "severity = info" in body and "shop disk-usage: 95% is above 85%" in body
            assert set(smtp.logins()) == {
                ("alertmanager", smtp_password)
            }  # from smtp_auth_password_file

            # Both silenced tickets did reach Alertmanager, and are held back by their pages.
            def inhibited() -> dict[str, dict]:
                alerts = requests.get(
                    f"{alertmanager.url}/api/v2/alerts",
                    params={"filter": 'severity="ticket"'},
                    timeout=5,
                ).json()
                return {a["labels"]["slo"]: a for a in alerts if a["status"]["inhibitedBy"]}

            held = wait_for(
                "the two inhibited tickets in Alertmanager",
                lambda: len(inhibited()) == 2 and inhibited(),
                deadline,
                daemons,
            )
            assert sorted(held) == ["api-timeouts", "availability"]
            assert (
                held["availability"]["labels"]["alertname"] == "ErrorBudgetBurn"
            )  # the same SLO's page silences it
            assert (
                held["api-timeouts"]["labels"]["alertname"] == "ApiTimeouts"
            )  # database-down silences it
            assert {r["name"] for a in held.values() for r in a["receivers"]} == {"slo-web-ticket"}
            # Let the ticket route flush a few more times while the pages fire: nothing may leak.
            time.sleep(HOLD)
            assert [m["attachments"][0]["title"].split(" ")[1] for m in slack.all()] == [
                "QueueDepth"
            ]
            assert (
                sorted(triggers()) == ["DatabaseDown", "ErrorBudgetBurn"]
                and len(pagerduty.all()) == 2
            )
            assert [m.message["Subject"].split(" ")[1] for m in smtp.messages()] == ["DiskUsage"]
            assert sorted(inhibited()) == [
                "api-timeouts",
                "availability",
            ]  # still firing, still inhibited

            # --- resolution ---------------------------------------------------------------
            # Each silenced ticket resolves in the same evaluation as its page. Alertmanager 0.25
            # may then deliver the ticket's last firing state once: its inhibitor can see the page
            # resolved just before its dispatcher sees the ticket resolved. That is after the page
            # ended, so the assertions below look at the pages, QueueDepth and DiskUsage only.
            metrics.recover()

            def resolves() -> set[str]:
                return {e["dedup_key"] for e in pagerduty.all() if e["event_action"] == "resolve"}

            wait_for("both PagerDuty resolves", lambda: len(resolves()) == 2, deadline, daemons)
            assert resolves() == {e["dedup_key"] for e in pages.values()}
            assert {e["routing_key"] for e in pagerduty.all()} == {routing_key}
            wait_for(
                "the Slack resolution",
                lambda: [
                    m
                    for m in slack.all()
                    if m["attachments"][0]["title"].startswith("[RESOLVED] QueueDepth")
                ],
                deadline,
                daemons,
            )
            wait_for(
                "the resolved e-mail",
                lambda: [
                    m
                    for m in smtp.messages()
                    if m.message["Subject"].startswith("[RESOLVED] DiskUsage")
                ],
                deadline,
                daemons,
            )
