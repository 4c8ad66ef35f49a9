"""Routing specs -> Alertmanager config: checks with file:line:col, secrets, inhibition, merging,
amtool.

The end-to-end delivery through real Prometheus and Alertmanager is in test_alertmanager_e2e.py.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import textwrap
import time

import pytest
import requests
import yaml
from support import ROOT, needs_alertmanager, needs_amtool, servers, slo, write_files

from compiler import compile_tree, load_tree, targets
from compiler.checks import toolrun
from compiler.core import conventions

CHECKOUT = """\
apiVersion: slo/v1
service: checkout
team: payments
slos:
  - name: availability
    objective: 99
    indicator:
      ratio:
        errors: http_requests_total{code=~"5.."}
        total: http_requests_total
    alerting:  # short windows keep the promtool part of `slo test` quick
      windows:
        - {severity: page, long: 1h, short: 5m, budget: 2}
        - {severity: ticket, long: 2h, short: 10m, budget: 5}
thresholds:
  - name: queue-depth
    expr: queue_depth
    above: 100
    severity: ticket
"""

DATABASE = """\
apiVersion: slo/v1
service: database
team: data
thresholds:
  - name: postgres-down
    expr: pg_up
    below: 1
    severity: page
  - name: pgbouncer-down
    expr: pgbouncer_up
    below: 1
    severity: ticket
  - name: disk-usage
    expr: disk_used_ratio
    above: 0.9
    severity: info
"""

ROUTING = """\
apiVersion: slo/v1
kind: Routing
global:
  slack_api_url_file: /run/secrets/slack
  smtp_from: am@example.com
  smtp_smarthost: smtp.example.com:587
severities:
  page:
    notify:
      pagerduty: {routing_key_file: /run/secrets/pagerduty}
  ticket:
    notify:
      slack: {channel: '#alerts'}
  info:
    notify:
      email: {to: ops@example.com}
"""


def write_specs(root, routing: str = ROUTING, **extra: str):
    files = {"checkout.yaml": CHECKOUT, "database.yaml": DATABASE, "routing.yaml": routing}
    return write_files(root / "slo", {**files, **extra})


def diagnostics_of(specs) -> list[str]:
    _, diagnostics = load_tree(specs)
    return [d.render() for d in diagnostics]


def config_of(specs) -> dict:
    return yaml.safe_load(compile_tree(specs).artifacts[conventions.ALERTMANAGER_CONFIG])


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- secrets ---------------------------------------------------------------------------------
INLINE_SECRETS = [
    (
        "pagerduty: {routing_key_file: /run/secrets/pagerduty}",
        "pagerduty: {routing_key: abc123}",
        "routing_key",
    ),
    (
        "slack: {channel: '#alerts'}",
        "slack: {channel: '#alerts', api_url: 'https://hooks.slack.com/services/T0/B0/x'}",
        "api_url",
    ),
    (
        "email: {to: ops@example.com}",
        "email: {to: ops@example.com, auth_password: hunter2}",
        "auth_password",
    ),
    (
        "  slack_api_url_file: /run/secrets/slack",
        "  slack_api_url: https://hooks.slack.com/services/T0/B0/x",
        "slack_api_url",
    ),
    (
        "  smtp_from: am@example.com",
        "  smtp_from: am@example.com\n  smtp_auth_password: hunter2",
        "smtp_auth_password",
    ),
]


@pytest.mark.parametrize("old,new,key", INLINE_SECRETS, ids=[k for _, _, k in INLINE_SECRETS])
def test_an_inline_secret_is_a_compile_error_with_its_position_and_nothing_is_written(
    tmp_path, monkeypatch, old, new, key
):
    assert old in ROUTING
    routing = ROUTING.replace(old, new)
    write_specs(tmp_path, routing)
    monkeypatch.chdir(tmp_path)
    result = slo("compile")
    assert result.exit_code == 1
    line = line_of(routing, f"{key}:")
    col = routing.splitlines()[line - 1].index(f"{key}:") + 1
    assert f"slo/routing.yaml:{line}:{col}: error [routing/inline-secret] " in result.output
    assert f"give its path as '{key}_file'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_no_secret_value_reaches_out_only_the_paths_of_their_files(tmp_path):
    secrets = {
        "pagerduty": "pd-4f1c0ffee",
        "slack": "https://hooks.slack.com/services/T0/B0/s3cr3t",
        "smtp": "pw-hunter2",
    }
    for name, value in secrets.items():
        (tmp_path / name).write_text(value)
    routing = (
        ROUTING.replace("/run/secrets/pagerduty", str(tmp_path / "pagerduty"))
        .replace("/run/secrets/slack", str(tmp_path / "slack"))
        .replace("  smtp_from:", f"  smtp_auth_password_file: {tmp_path / 'smtp'}\n  smtp_from:")
    )
    artifacts = compile_tree(write_specs(tmp_path, routing)).artifacts
    config = artifacts[conventions.ALERTMANAGER_CONFIG]
    for name in secrets:
        assert str(tmp_path / name) in config  # the file is referenced...
    for rel, text in artifacts.items():
        for value in secrets.values():
            assert value not in text, f"a secret value leaked into {rel}"  # ...its content never is


# --- checks across documents -------------------------------------------------------------------
CHECKS = [
    (
        "unknown team",
        "teams:\n  paymnts:\n    page: {pagerduty: {routing_key_file: /x}}\n",
        "paymnts:",
        "error [routing/unknown-team] teams.paymnts: no service spec has team 'paymnts'; did you "
        "mean 'payments'?",
    ),
    (
        "unknown service",
        "dependencies:\n  - dependent: checkout\n    depends_on: [databse/postgres-down]\n",
        "databse/",
        "error [routing/unknown-service] dependencies[0].depends_on[0]: no service spec defines "
        "service 'databse'; did you mean 'database'?",
    ),
    (
        "unknown objective",
        "dependencies:\n  - dependent: checkout/availabilty\n    depends_on: [database]\n",
        "checkout/availabilty",
        "error [routing/unknown-objective] dependencies[0].dependent: service 'checkout' has no "
        "SLO or threshold 'availabilty'; did you mean 'availability'?",
    ),
    (
        "cycle",
        "dependencies:\n  - dependent: database/pgbouncer-down\n    depends_on: "
        "[checkout/availability]\n  - dependent: checkout/availability\n    depends_on: "
        "[database/pgbouncer-down]\n",
        "depends_on: [checkout/availability]",
        "error [routing/dependency-cycle] dependencies[0].depends_on[0]: dependencies form a cycle "
        "through checkout/availability, database/pgbouncer-down; each would silence the other",
    ),
    (
        "service depends on its own objective",
        "dependencies:\n  - dependent: database\n    depends_on: [database/postgres-down]\n",
        "depends_on: [database/postgres-down]",
        "error [routing/dependency-cycle] dependencies[0].depends_on[0]: database/postgres-down "
        "would depend on itself and silence its own alerts",
    ),
]


@pytest.mark.parametrize("name,appended,needle,expected", CHECKS, ids=[c[0] for c in CHECKS])
def test_cross_document_checks_name_file_line_and_field(tmp_path, name, appended, needle, expected):
    routing = ROUTING + appended
    found = diagnostics_of(write_specs(tmp_path, routing))
    line = line_of(routing, needle)
    assert any(d.startswith(f"slo/routing.yaml:{line}:") and d.endswith(expected) for d in found), (
        found
    )


def test_receiver_and_time_interval_checks(tmp_path):
    routing = (
        ROUTING.replace("  smtp_smarthost: smtp.example.com:587\n", "")
        .replace("  slack_api_url_file: /run/secrets/slack\n", "")
        .replace(
            "      email: {to: ops@example.com}\n",
            "      email: {to: ops@example.com}\n    active_time_intervals: [ofice]\n",
        )
        + "time_intervals:\n  office:\n"
        "    - times: [{start_time: '18:00', end_time: '09:00'}]\n      location: Europe/Lodnon\n"
    )
    found = diagnostics_of(write_specs(tmp_path, routing))
    expected = [
        (
            "slack: {channel",
            "error [routing/slack-url] severities.ticket.notify.slack: needs 'api_url_file' here "
            "or 'slack_api_url_file' under global",
        ),
        (
            "email: {to",
            "error [routing/email-settings] severities.info.notify.email: needs 'smarthost' here "
            "or 'smtp_smarthost' under global",
        ),
        (
            "active_time_intervals",
            "error [routing/unknown-time-interval] severities.info.active_time_intervals[0]: no "
            "time interval 'ofice' is defined under time_intervals; did you mean 'office'?",
        ),
        (
            "start_time",
            "error [routing/time-range] time_intervals.office[0].times[0]: start_time 18:00 must "
            "be before end_time 09:00",
        ),
        (
            "location:",
            "error [routing/location] time_intervals.office[0].location: 'Europe/Lodnon' is not an "
            "IANA time zone such as Europe/London",
        ),
    ]
    for needle, message in expected:
        line = line_of(routing, needle)
        assert any(
            d.startswith(f"slo/routing.yaml:{line}:") and d.endswith(message) for d in found
        ), (message, found)
    assert len(found) == len(expected), found


def test_only_one_routing_document(tmp_path):
    found = diagnostics_of(write_specs(tmp_path, ROUTING, **{"second.yaml": ROUTING}))
    assert found == [
        "slo/second.yaml:2:7: error [spec/duplicate-routing] only one Routing document is allowed; "
        "the first is in slo/routing.yaml:2"
    ]


def test_unknown_keys_in_routing_specs_are_schema_errors(tmp_path):
    routing = ROUTING.replace("  page:\n    notify:", "  page:\n    group_wiat: 1m\n    notify:")
    found = diagnostics_of(write_specs(tmp_path, routing))
    assert found == [
        f"slo/routing.yaml:{line_of(routing, 'group_wiat')}:5: error [schema/unknown-key] "
        "severities.page.group_wiat: unknown key 'group_wiat'; did you mean 'group_wait'?"
    ]


def test_unquoted_times_of_day_stay_times_as_in_alertmanager(tmp_path):
    # YAML 1.1 reads 17:00 as 1020 (base 60); Alertmanager's Go YAML reads "17:00".
    routing = (
        ROUTING
        + "time_intervals:\n  office:\n    - times: [{start_time: 08:30, end_time: 17:00}]\n"
    )
    config = config_of(write_specs(tmp_path, routing))
    assert config["time_intervals"] == [
        {
            "name": "office",
            "time_intervals": [{"times": [{"start_time": "08:30", "end_time": "17:00"}]}],
        }
    ]


# --- routes and inhibition -----------------------------------------------------------------------
def test_severities_route_to_their_receivers_with_team_overrides_and_tier_timing(tmp_path):
    routing = (
        ROUTING
        + "teams:\n  data:\n    page:\n      pagerduty: {routing_key_file: /run/secrets/pd-data}\n"
    )
    config = config_of(write_specs(tmp_path, routing))
    route = config["route"]
    assert route["receiver"] == "slo-ticket" and route["group_by"] == [
        "alertname",
        "service",
        "slo",
    ]
    by_severity = {r["matchers"][0]: r for r in route["routes"]}
    assert list(by_severity) == ['severity="page"', 'severity="ticket"', 'severity="info"']
    page = by_severity['severity="page"']
    assert (
        page["receiver"],
        page["group_wait"],
        page["group_interval"],
        page["repeat_interval"],
    ) == ("slo-page", "10s", "5m", "1h")
    assert page["routes"] == [{"receiver": "slo-data-page", "matchers": ['team="data"']}]
    ticket, info = by_severity['severity="ticket"'], by_severity['severity="info"']
    assert (ticket["group_wait"], ticket["group_interval"]) == (
        "1m",
        "5m",
    )  # HIGH: Slack within 5 minutes
    assert (info["group_wait"], info["repeat_interval"]) == (
        "10m",
        "1d",
    )  # MEDIUM: within 30 minutes, daily
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["slo-data-page"]["pagerduty_configs"] == [
        {"routing_key_file": "/run/secrets/pd-data", "severity": "critical", "send_resolved": True}
    ]
    assert set(receivers) == {"slo-page", "slo-ticket", "slo-info", "slo-data-page"}


def inhibitions(config: dict) -> list[tuple]:
    return [
        (tuple(r["source_matchers"]), tuple(r["target_matchers"]), tuple(r.get("equal", ())))
        for r in config["inhibit_rules"]
    ]


def test_a_page_silences_ticket_and_info_of_the_same_service_and_slo(tmp_path):
    rules = inhibitions(config_of(write_specs(tmp_path)))
    assert rules == [
        (
            ('objective_kind=~"slo|threshold"', 'severity="page"'),
            ('objective_kind=~"slo|threshold"', 'severity=~"ticket|info"'),
            ("service", "slo"),
        )
    ]


def test_dependencies_silence_transitively_and_never_a_more_severe_alert(tmp_path):
    routing = ROUTING + (
        "dependencies:\n"
        "  - dependent: database/pgbouncer-down\n    depends_on: [database/postgres-down]\n"
        "  - dependent: checkout\n    depends_on: [database/pgbouncer-down]\n"
    )
    rules = inhibitions(config_of(write_specs(tmp_path, routing)))[1:]

    def source(name: str, severity: str) -> tuple[str, ...]:
        return ('service="database"', f'slo="{name}"', f'severity="{severity}"')

    assert rules == [
        # PgBouncer (ticket) silences the checkout's tickets, never its pages.
        (
            source("pgbouncer-down", "ticket"),
            ('service="checkout"', 'slo=~"availability|queue-depth"', 'severity=~"ticket|info"'),
            (),
        ),
        # PostgreSQL (page) silences PgBouncer and, through it, the checkout: all severities.
        (
            source("postgres-down", "page"),
            (
                'service="checkout"',
                'slo=~"availability|queue-depth"',
                'severity=~"page|ticket|info"',
            ),
            (),
        ),
        (
            source("postgres-down", "page"),
            ('service="database"', 'slo="pgbouncer-down"', 'severity=~"page|ticket|info"'),
            (),
        ),
    ]


# --- base config ---------------------------------------------------------------------------------
BASE = """\
global:
  resolve_timeout: 10m
templates: [/etc/alertmanager/*.tmpl]
route:
  receiver: platform
  routes:
    - receiver: platform-urgent
      matchers: ['severity="critical"']
receivers:
  - name: platform
  - name: platform-urgent
    webhook_configs: [{url: 'http://pager.internal/hook'}]
"""


def with_base(tmp_path, base: str = BASE, routing: str = ROUTING):
    (tmp_path / "alertmanager-base.yml").write_text(base)
    return write_specs(
        tmp_path,
        routing.replace(
            "kind: Routing\n", "kind: Routing\nbase_config: ../alertmanager-base.yml\n"
        ),
    )


def test_the_base_config_is_parsed_once_in_build_and_merged_from_the_model(tmp_path):
    """The target merges the data build checked: it neither reads the file nor parses it again,
    and leaves the model as it was."""
    specs = with_base(tmp_path)
    expected = compile_tree(specs).artifacts[conventions.ALERTMANAGER_CONFIG]
    model, diagnostics = load_tree(specs)
    assert model is not None, diagnostics
    base = model.routing.base_config
    assert (base.source_file, base.data) == ("alertmanager-base.yml", yaml.safe_load(BASE))
    assert pickle.loads(pickle.dumps(model)) == model and hash(base)  # still a cacheable model
    (tmp_path / "alertmanager-base.yml").unlink()
    before = copy.deepcopy(base.data)
    files = targets.by_name("alertmanager").emit(model).files
    assert files[conventions.ALERTMANAGER_CONFIG] == expected
    assert base.data == before


def test_merging_keeps_the_base_config_and_puts_slo_routes_first(tmp_path):
    result = compile_tree(with_base(tmp_path))
    text = result.artifacts[conventions.ALERTMANAGER_CONFIG]
    assert text.startswith(
        "# generated by slo from slo/routing.yaml and alertmanager-base.yml; do not edit\n"
    )
    config = yaml.safe_load(text)
    assert (
        config["global"]["resolve_timeout"] == "10m"
        and config["global"]["smtp_from"] == "am@example.com"
    )
    assert config["templates"] == ["/etc/alertmanager/*.tmpl"]
    assert config["route"]["receiver"] == "platform"
    first, second = config["route"]["routes"]
    assert first["matchers"] == ['objective_kind=~"slo|threshold"'] and len(first["routes"]) == 3
    assert second == {"receiver": "platform-urgent", "matchers": ['severity="critical"']}
    assert [r["name"] for r in config["receivers"]] == [
        "platform",
        "platform-urgent",
        "slo-page",
        "slo-ticket",
        "slo-info",
    ]


@needs_amtool
def test_merged_config_routes_slo_alerts_by_severity_and_others_as_the_base_says(tmp_path):
    out = tmp_path / "out"
    assert slo("compile", with_base(tmp_path), "--out", out).exit_code == 0
    results = toolrun.test_output(out, only={"alertmanager"})
    assert [r.ok for r in results] == [True, True], "\n".join(r.output for r in results)
    config = out / conventions.ALERTMANAGER_CONFIG

    def route(*labels: str) -> str:
        argv = ["amtool", "config", "routes", "test", f"--config.file={config}", *labels]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()

    assert route("severity=critical", "alertname=NodeDown") == "platform-urgent"
    assert route("alertname=Watchdog") == "platform"
    assert (
        route("severity=page", "alertname=Hand", "team=data") == "platform"
    )  # not ours: the base decides
    assert route("severity=page", "objective_kind=threshold", "team=data") == "slo-page"


BASE_ERRORS = [
    (
        "inline secret",
        BASE.replace(
            "[{url: 'http://pager.internal/hook'}]",
            "[{url: 'http://pager.internal/hook'}]\n  - name: chat\n"
            "    slack_configs: [{channel: '#x', api_url: 'https://hooks.slack.com/services/T/B/x'}]",
        ),
        "alertmanager-base.yml:14:37:",
        "error [routing/inline-secret] receivers[2].slack_configs[0].api_url: secrets must not be "
        "written into a base config",
    ),
    (
        "receiver name taken",
        BASE.replace("  - name: platform\n", "  - name: slo-page\n"),
        "alertmanager-base.yml:10:",
        "error [routing/base-conflict] receivers[0].name: receiver names starting with 'slo-' are "
        "generated by slo",
    ),
    (
        "conflicting global",
        BASE.replace(
            "resolve_timeout: 10m", "resolve_timeout: 10m\n  smtp_from: other@example.com"
        ),
        "slo/routing.yaml:6:",
        "error [routing/base-conflict] global.smtp_from: alertmanager-base.yml already sets global "
        "smtp_from to 'other@example.com'",
    ),
    (
        "no root route",
        "global: {}\n",
        "alertmanager-base.yml:",
        "error [routing/base-config] route: the base config needs a root route with a receiver",
    ),
]


@pytest.mark.parametrize("name,base,where,message", BASE_ERRORS, ids=[b[0] for b in BASE_ERRORS])
def test_base_config_problems_are_diagnostics(tmp_path, name, base, where, message):
    found = diagnostics_of(with_base(tmp_path, base))
    assert any(d.startswith(where) and message in d for d in found), found


def test_base_config_must_exist_and_live_outside_the_spec_directory(tmp_path):
    specs = write_specs(
        tmp_path, ROUTING.replace("kind: Routing\n", "kind: Routing\nbase_config: ../nope.yml\n")
    )
    assert diagnostics_of(specs) == [
        "slo/routing.yaml:3:14: error [spec/read] base_config: nope.yml: No such file or directory"
    ]
    (specs / "routing.yaml").write_text(
        ROUTING.replace("kind: Routing\n", "kind: Routing\nbase_config: base.yml\n")
    )
    (specs / "base.yml").write_text(BASE)
    found = diagnostics_of(specs)
    assert any(
        d.startswith(
            "slo/routing.yaml:3:14: error [routing/base-config] base_config: keep slo/base.yml "
            "outside slo/"
        )
        for d in found
    )


# --- the shipped example (acceptance) ------------------------------------------------------------
@needs_amtool
def test_example_config_passes_amtool_and_routes_each_severity_to_its_integration(
    compiled_examples,
):
    config = compiled_examples.out / conventions.ALERTMANAGER_CONFIG  # a fresh compile
    check = subprocess.run(
        ["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    receivers = {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}
    expected = {"page": "pagerduty_configs", "ticket": "slack_configs", "info": "email_configs"}
    for team in ("pizza-platform", "scanner-ops"):  # defaults, and a team with its own receivers
        for severity, integration in expected.items():
            labels = [
                f"severity={severity}",
                f"team={team}",
                "objective_kind=threshold",
                "alertname=X",
            ]
            argv = ["amtool", "config", "routes", "test", f"--config.file={config}", *labels]
            receiver = subprocess.run(
                argv, capture_output=True, text=True, timeout=60
            ).stdout.strip()
            assert list(receivers[receiver]) == ["name", integration], (team, severity, receiver)


def test_example_routes_every_team_and_severity_in_the_routing_table(compiled_examples):
    routes = compiled_examples.out / conventions.ALERTMANAGER_ROUTE_TESTS
    table = yaml.safe_load(routes.read_text())
    teams = {s.team for s in compiled_examples.model.services}
    covered = {
        (c["labels"]["team"], c["labels"]["severity"])
        for c in table["cases"]
        if "team" in c["labels"]
    }
    assert covered == {(t, s) for t in teams for s in conventions.SEVERITIES}


@needs_amtool
def test_routing_table_failures_are_reported(tmp_path):
    out = tmp_path / "out"
    assert slo("compile", write_specs(tmp_path), "--out", out).exit_code == 0
    config = out / conventions.ALERTMANAGER_CONFIG
    # Swap where tickets and info go: amtool must notice every case that now lands elsewhere.
    text = config.read_text()
    swapped = (
        text.replace("receiver: slo-ticket\n    matchers:", "receiver: slo-INFO\n    matchers:")
        .replace("receiver: slo-info\n", "receiver: slo-ticket\n")
        .replace("slo-INFO", "slo-info")
    )
    config.write_text(swapped)
    check, table = toolrun.test_output(out, only={"alertmanager"})
    assert check.ok and not table.ok
    assert "payments ticket: expected slo-ticket, got slo-info" in table.output
    assert "data info: expected slo-info, got slo-ticket" in table.output
    result = slo("test", "--out", out)
    assert result.exit_code == 1 and "FAILED amtool config routes test" in result.output


def test_without_a_routing_document_no_alertmanager_files_are_written(tmp_path):
    specs = write_specs(tmp_path)
    (specs / "routing.yaml").unlink()
    assert not [p for p in compile_tree(specs).artifacts if p.startswith("alertmanager/")]


def test_routing_spec_example_block_in_readme_compiles(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Alert routing", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    specs = write_specs(tmp_path, textwrap.dedent(block))
    found = [d for d in diagnostics_of(specs) if " error " in d]
    assert not found, found


# --- grouped SLOs: group_by and routes on group labels -------------------------------------------
ORDERS = """\
apiVersion: slo/v1
service: orders
team: payments
slos:
  - name: error-rate
    objective: 99
    by: [region]
    indicator:
      ratio:
        errors: orders_total{code=~"5.."}
        total: orders_total
    alerting:
      windows:
        - {severity: page, long: 1h, short: 5m, budget: 2}
        - {severity: ticket, long: 2h, short: 10m, budget: 5}
  - name: latency
    objective: 99
    by: [endpoint, region]
    indicator:
      latency:
        histogram: orders_duration_seconds
        threshold: 1s
    alerting:
      windows:
        - {severity: page, long: 1h, short: 5m, budget: 2}
"""

REGIONAL = """\
teams:
  payments:
    ticket:
      slack: {channel: '#payments'}
    routes:
      - match: {region: eu-west-1}
        page:
          pagerduty: {routing_key_file: /run/secrets/pd-payments-eu}
        ticket:
          slack: {channel: '#payments-eu'}
      - match: {region: us-east-1, endpoint: /api/orders}
        page:
          pagerduty: {routing_key_file: /run/secrets/pd-orders-us}
"""


def grouped_specs(tmp_path, routing: str = ROUTING + REGIONAL):
    return write_specs(tmp_path, routing, **{"orders.yaml": ORDERS})


def test_grouped_slos_add_their_by_labels_to_group_by_so_groups_are_never_merged(tmp_path):
    config = config_of(grouped_specs(tmp_path, ROUTING))
    assert config["route"]["group_by"] == ["alertname", "service", "slo", "endpoint", "region"]
    # The routing spec's own group_by first; a by label it already has is not repeated.
    routing = ROUTING + "group_by: [alertname, region]\n"
    config = config_of(grouped_specs(tmp_path, routing))
    assert config["route"]["group_by"] == ["alertname", "region", "endpoint"]
    # Merged into a base config: on the route that holds slo's alerts, the base's root untouched.
    (tmp_path / "alertmanager-base.yml").write_text(BASE)
    merged = config_of(
        grouped_specs(
            tmp_path,
            ROUTING.replace(
                "kind: Routing\n", "kind: Routing\nbase_config: ../alertmanager-base.yml\n"
            ),
        )
    )
    assert "group_by" not in merged["route"]
    scoped = merged["route"]["routes"][0]
    assert scoped["group_by"] == ["alertname", "service", "slo", "endpoint", "region"]


def test_a_team_routes_group_labels_to_their_own_receivers_before_its_defaults(tmp_path):
    config = config_of(grouped_specs(tmp_path))
    by_severity = {r["matchers"][0]: r for r in config["route"]["routes"]}
    page = by_severity['severity="page"']
    # No page receiver of the team's own: its route keeps the severity's, with the regions below.
    assert page["routes"] == [
        {
            "receiver": "slo-page",
            "matchers": ['team="payments"'],
            "routes": [
                {
                    "receiver": "slo-payments-page-region=eu-west-1",
                    "matchers": ['region="eu-west-1"'],
                },
                {
                    "receiver": "slo-payments-page-endpoint=/api/orders-region=us-east-1",
                    "matchers": ['endpoint="/api/orders"', 'region="us-east-1"'],
                },
            ],
        }
    ]
    assert by_severity['severity="ticket"']["routes"] == [
        {
            "receiver": "slo-payments-ticket",
            "matchers": ['team="payments"'],
            "routes": [
                {
                    "receiver": "slo-payments-ticket-region=eu-west-1",
                    "matchers": ['region="eu-west-1"'],
                }
            ],
        }
    ]
    assert "routes" not in by_severity['severity="info"']
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["slo-payments-page-region=eu-west-1"]["pagerduty_configs"] == [
        {
            "routing_key_file": "/run/secrets/pd-payments-eu",
            "severity": "critical",
            "send_resolved": True,
        }
    ]
    assert receivers["slo-payments-ticket-region=eu-west-1"]["slack_configs"][0]["channel"] == (
        "#payments-eu"
    )


def test_routing_tests_cover_grouped_alerts_with_and_without_a_routed_group(tmp_path):
    artifacts = compile_tree(grouped_specs(tmp_path)).artifacts
    cases = {
        c["name"]: c
        for c in yaml.safe_load(artifacts[conventions.ALERTMANAGER_ROUTE_TESTS])["cases"]
    }
    # With the group label of a route: the route's receiver, on a grouped SLO's alert.
    eu = cases["payments page region=eu-west-1"]
    assert eu["labels"]["slo"] == "error-rate" and eu["labels"]["region"] == "eu-west-1"
    assert eu["receivers"] == ["slo-payments-page-region=eu-west-1"]
    us = cases["payments page endpoint=/api/orders region=us-east-1"]
    assert us["labels"]["slo"] == "latency"  # the SLO grouped by both labels
    assert (us["labels"]["endpoint"], us["labels"]["region"]) == ("/api/orders", "us-east-1")
    assert us["receivers"] == ["slo-payments-page-endpoint=/api/orders-region=us-east-1"]
    assert cases["payments ticket region=eu-west-1"]["receivers"] == [
        "slo-payments-ticket-region=eu-west-1"
    ]
    # A group no route names: the team's default, or the severity's.
    page = cases["payments page"]
    assert page["labels"]["slo"] == "latency" and page["receivers"] == ["slo-page"]
    assert (page["labels"]["endpoint"], page["labels"]["region"]) == ("routing-test",) * 2
    ticket = cases["payments ticket"]
    assert ticket["labels"]["region"] == "routing-test"
    assert ticket["receivers"] == ["slo-payments-ticket"]


@needs_amtool
def test_amtool_proves_the_grouped_routing_table_and_catches_a_lost_regional_route(tmp_path):
    out = tmp_path / "out"
    assert slo("compile", grouped_specs(tmp_path), "--out", out).exit_code == 0
    check, table = toolrun.test_output(out, only={"alertmanager"})
    assert check.ok and table.ok, table.output
    assert "(10 cases)" in table.title  # 2 teams x 3 severities, 3 routes, 1 foreign
    # The eu-west-1 pages reach the region's own receiver only through its route: without it,
    # amtool sees them land on the default and the table fails.
    config = out / conventions.ALERTMANAGER_CONFIG
    text = config.read_text()
    lost = text.replace('      - region="eu-west-1"\n', '      - region="eu-west-2"\n', 1)
    assert lost != text
    config.write_text(lost)
    _, table = toolrun.test_output(out, only={"alertmanager"})
    assert not table.ok
    assert (
        "payments page region=eu-west-1: expected slo-payments-page-region=eu-west-1, got slo-page"
        in table.output
    )


ROUTE_CHECKS = [
    (
        "label no grouped SLO has",
        REGIONAL.replace("{region: eu-west-1}", "{regoin: eu-west-1}"),
        "regoin:",
        "warning [routing/ungrouped-label] teams.payments.routes[0].match.regoin: no grouped SLO "
        "of team 'payments' has 'regoin' under by (did you mean 'region'?); only an alert whose "
        "own labels or expression carry it reaches this route",
    ),
    (
        "a route without a severity",
        REGIONAL.replace(
            "        page:\n          pagerduty: {routing_key_file: /run/secrets/pd-orders-us}\n",
            "",
        ),
        "{region: us-east-1",
        "error [routing/label-route] teams.payments.routes[1]: names no severity: add the "
        "receivers for page, ticket or info",
    ),
    (
        "matching the team",
        REGIONAL.replace("{region: eu-west-1}", "{team: payments}"),
        "{team: payments}",
        "error [routing/label-route] teams.payments.routes[0].match.team: the route is already "
        "for team 'payments' and each severity it names; match on another label",
    ),
    (
        "shadowed by an earlier route",
        REGIONAL.replace(
            "{region: us-east-1, endpoint: /api/orders}",
            "{region: eu-west-1, endpoint: /api/orders}",
        ),
        "{region: eu-west-1, endpoint",
        "error [routing/label-route] teams.payments.routes[1].match: routes[0] already takes "
        "every page alert this route matches (the first route that matches wins): put the "
        "narrower route first",
    ),
    (
        "a value Alertmanager would have to escape",
        REGIONAL.replace("{region: eu-west-1}", "{region: 'eu \"west\"'}"),
        "{region: 'eu",
        'error [schema/pattern] teams.payments.routes[0].match.region: "eu \\"west\\"" is not '
        "valid: a label value of letters, digits and _ . : / @ + - (such as eu-west-1 or "
        "/api/orders)",
    ),
    (
        "an invalid label name",
        REGIONAL.replace("{region: eu-west-1}", "{aws-region: eu-west-1}"),
        "{aws-region",
        "error [schema/label-name] teams.payments.routes[0].match.aws-region: label name "
        "'aws-region' is not valid: use letters, digits and underscores, not starting with a "
        "digit",
    ),
]


@pytest.mark.parametrize(
    "name,teams,needle,expected", ROUTE_CHECKS, ids=[c[0] for c in ROUTE_CHECKS]
)
def test_routes_on_labels_are_checked_with_file_line_and_column(
    tmp_path, name, teams, needle, expected
):
    routing = ROUTING + teams
    found = diagnostics_of(grouped_specs(tmp_path, routing))
    line = line_of(routing, needle)
    assert [d for d in found if d.endswith(expected)], found
    (hit,) = [d for d in found if d.endswith(expected)]
    assert hit.startswith(f"slo/routing.yaml:{line}:"), found


def test_a_route_on_a_label_the_spec_sets_is_not_warned_about(tmp_path):
    routing = ROUTING + REGIONAL.replace("{region: eu-west-1}", "{tier: gold}")
    checkout = CHECKOUT.replace("team: payments\n", "team: payments\nlabels: {tier: gold}\n")
    found = diagnostics_of(
        write_specs(tmp_path, routing, **{"orders.yaml": ORDERS, "checkout.yaml": checkout})
    )
    assert found == []


@pytest.mark.binaries
@needs_alertmanager
def test_alertmanager_keeps_each_region_of_a_grouped_slo_in_its_own_group(tmp_path):
    """Alertmanager 0.25 groups an alert by the labels of group_by it has: each region of the
    grouped SLO is its own group (and notification), routed to its region's receiver; an alert
    without the label groups as it did before."""
    out = tmp_path / "out"
    assert slo("compile", grouped_specs(tmp_path), "--out", out).exit_code == 0
    alert = {
        "alertname": "ErrorBudgetBurn",
        "objective_kind": "slo",
        "service": "orders",
        "slo": "error-rate",
        "team": "payments",
        "severity": "page",
    }
    alerts = [
        {"labels": {**alert, "region": "eu-west-1", "long_window": "1h"}},
        {"labels": {**alert, "region": "eu-west-1", "long_window": "6h"}},
        {"labels": {**alert, "region": "us-east-1", "long_window": "1h"}},
        {"labels": {**alert, "slo": "other", "long_window": "1h"}},
    ]
    with servers.alertmanager(
        tmp_path / "alertmanager", (out / conventions.ALERTMANAGER_CONFIG).read_text()
    ) as alertmanager:
        posted = requests.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=10)
        assert posted.status_code == 200, posted.text
        groups: list = []
        for _ in range(50):  # alerts are dispatched asynchronously: at most 5 s
            groups = requests.get(f"{alertmanager.url}/api/v2/alerts/groups", timeout=10).json()
            if sum(len(g["alerts"]) for g in groups) == len(alerts):
                break
            time.sleep(0.1)
    found = sorted(
        (
            g["labels"].get("region", "-"),
            g["labels"]["slo"],
            g["receiver"]["name"],
            len(g["alerts"]),
        )
        for g in groups
    )
    assert found == [
        ("-", "other", "slo-page", 1),
        ("eu-west-1", "error-rate", "slo-payments-page-region=eu-west-1", 2),
        ("us-east-1", "error-rate", "slo-page", 1),
    ]


def test_group_label_routes_example_in_readme_compiles_and_routes_as_it_says(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("#### Routes on group labels", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    fitness = ORDERS.replace(
        "service: orders\nteam: payments", "service: fitness-api\nteam: fitness-platform"
    )
    specs = write_specs(tmp_path, ROUTING + block, **{"fitness.yaml": fitness})
    assert diagnostics_of(specs) == []
    artifacts = compile_tree(specs).artifacts
    cases = yaml.safe_load(artifacts[conventions.ALERTMANAGER_ROUTE_TESTS])["cases"]
    routed = {c["name"]: c["receivers"] for c in cases if c["name"].startswith("fitness-platform")}
    assert routed == {
        "fitness-platform page": ["slo-page"],
        "fitness-platform page region=eu-west-1": ["slo-fitness-platform-page-region=eu-west-1"],
        "fitness-platform page endpoint=/api/workouts region=us-east-1": [
            "slo-fitness-platform-page-endpoint=/api/workouts-region=us-east-1"
        ],
        "fitness-platform ticket": ["slo-fitness-platform-ticket"],
        "fitness-platform ticket region=eu-west-1": [
            "slo-fitness-platform-ticket-region=eu-west-1"
        ],
        "fitness-platform info": ["slo-info"],
    }
