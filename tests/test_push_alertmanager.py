"""Push to a real Alertmanager (Debian binary): config, reload, read back, rollback; and the
parsed comparison."""

import json
import os
import stat
import urllib.request

import pytest
import yaml
from support import needs_alertmanager
from support.outtrees import (
    SMALL_ALERTMANAGER_CONFIG,
    diff,
    push,
    specs,
    write_alertmanager,
    write_rules,
)
from support.servers import BOOT_CONFIG

from compiler.push import alertmanager
from compiler.push import endpoints as ep


def status(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/v2/status", timeout=5) as response:
        return json.load(response)


def live_receivers(url: str) -> list[str]:
    return [r["name"] for r in yaml.safe_load(status(url)["config"]["original"])["receivers"]]


@pytest.fixture
def server(alertmanager_server):
    return alertmanager_server


def endpoints_for(server) -> ep.Endpoints:
    return ep.Endpoints({"alertmanager": alertmanager.Alertmanager(server.url, server.config)})


def out_tree(tmp_path, text=SMALL_ALERTMANAGER_CONFIG):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    write_alertmanager(out, text)
    return model, out


@needs_alertmanager
def test_push_loads_the_config_then_a_second_push_changes_nothing(tmp_path, server):
    model, out = out_tree(tmp_path)
    assert diff(endpoints_for(server), model, out)["alertmanager"].changed
    report = push(endpoints_for(server), model, out)["alertmanager"]
    assert report.status == "pushed", report.errors
    assert report.summary() == "0 created, 1 updated, 0 deleted, 0 unchanged"
    assert live_receivers(server.url) == [
        "slo-default",
        "team-payments-page",
        "team-payments-ticket",
    ]
    assert server.config.read_text() == SMALL_ALERTMANAGER_CONFIG

    mtime = server.config.stat().st_mtime_ns
    again = push(endpoints_for(server), model, out)["alertmanager"]
    assert (
        again.status == "pushed"
        and again.summary() == "0 created, 0 updated, 0 deleted, 1 unchanged"
    )
    assert server.config.stat().st_mtime_ns == mtime
    assert not diff(endpoints_for(server), model, out)["alertmanager"].changed


@needs_alertmanager
def test_a_config_alertmanager_rejects_is_rolled_back_with_its_reason(tmp_path, server):
    bad = SMALL_ALERTMANAGER_CONFIG.replace("receiver: team-payments-ticket", "receiver: nobody")
    model, out = out_tree(tmp_path, bad)
    report = push(endpoints_for(server), model, out, checks=False)[
        "alertmanager"
    ]  # reach the server's own refusal
    assert report.status == "failed"
    assert 'undefined receiver "nobody" used in route' in report.errors[0]
    assert "the previous config was restored and reloaded by Alertmanager" in report.errors[0]
    assert server.config.read_text() == BOOT_CONFIG
    assert live_receivers(server.url) == ["boot"]


NOBODY = 65534
SECRET_CONFIG = BOOT_CONFIG + (
    "    slack_configs:\n      - api_url: https://hooks.slack.com/services/T0/B0/hunter2\n"
    "        channel: '#x'\n"
)


@needs_alertmanager
def test_the_config_keeps_its_mode_and_owner_when_replaced_and_when_restored(tmp_path, server):
    """A 0600 config holding a Slack webhook: before, a refused reload "restored" it 0644."""
    server.config.write_text(SECRET_CONFIG)
    server.config.chmod(0o600)
    owner = (NOBODY, NOBODY) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(server.config, *owner)

    def attributes():
        status = server.config.stat()
        return stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid

    bad = SMALL_ALERTMANAGER_CONFIG.replace("receiver: team-payments-ticket", "receiver: nobody")
    model, out = out_tree(tmp_path, bad)
    report = push(endpoints_for(server), model, out, checks=False)["alertmanager"]
    assert "the previous config was restored and reloaded" in report.errors[0]
    assert server.config.read_text() == SECRET_CONFIG
    assert attributes() == (0o600, *owner)

    model, out = out_tree(tmp_path / "good")
    assert push(endpoints_for(server), model, out)["alertmanager"].status == "pushed"
    assert server.config.read_text() == SMALL_ALERTMANAGER_CONFIG
    assert attributes() == (0o600, *owner)


@needs_alertmanager
def test_a_config_path_that_is_a_symbolic_link_is_refused_not_followed(tmp_path, server):
    """Before, the backup read through the link and the restore wrote the link's target into
    the config directory, world-readable."""
    secret = tmp_path / "elsewhere" / "secret.yml"
    secret.parent.mkdir()
    secret.write_text(SECRET_CONFIG)
    secret.chmod(0o600)
    server.config.unlink()
    server.config.symlink_to(secret)
    bad = SMALL_ALERTMANAGER_CONFIG.replace("receiver: team-payments-ticket", "receiver: nobody")
    model, out = out_tree(tmp_path, bad)

    report = push(endpoints_for(server), model, out, checks=False)["alertmanager"]
    assert report.status == "failed"
    assert f"{server.config} is a symbolic link" in report.errors[0]
    assert server.config.is_symlink() and secret.read_text() == SECRET_CONFIG
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    leaked = [p for p in server.config.parent.iterdir() if p.is_file() and not p.is_symlink()]
    assert not [p for p in leaked if "hunter2" in p.read_text(errors="replace")]


@needs_alertmanager
def test_amtool_refuses_a_broken_config_before_anything_is_written(tmp_path, server):
    bad = SMALL_ALERTMANAGER_CONFIG.replace("receiver: team-payments-ticket", "receiver: nobody")
    model, out = out_tree(tmp_path, bad)
    report = push(endpoints_for(server), model, out)["alertmanager"]
    assert report.status == "failed"
    assert "amtool check-config failed; nothing was pushed" in report.errors[0]
    assert server.config.read_text() == BOOT_CONFIG


def test_push_needs_the_config_path_and_skips_when_out_has_no_config(tmp_path):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    endpoints = ep.Endpoints(
        {"alertmanager": alertmanager.Alertmanager("http://127.0.0.1:9", None)}
    )
    skipped = push(endpoints, model, out)["alertmanager"]
    assert (
        skipped.status == "skipped"
        and "alertmanager/alertmanager.yml not found" in skipped.plan.notes[0]
    )
    write_alertmanager(out)
    missing = push(endpoints, model, out)["alertmanager"]
    assert missing.status == "failed" and "SLO_ALERTMANAGER_CONFIG" in missing.errors[0]


LIVE = yaml.safe_load(
    """
global: {resolve_timeout: 5m, http_config: {follow_redirects: true}}
route:
  receiver: default
  group_by: [alertname]
  continue: false
  group_wait: 1h
  routes:
    - receiver: pager
      matchers: ['severity="page"']
      continue: false
receivers:
  - name: default
  - name: pager
    pagerduty_configs:
      - routing_key: <secret>
        send_resolved: true
templates: []
"""
)


def test_comparison_ignores_defaults_and_masked_secrets_but_not_real_differences():
    desired = {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "group_wait": "60m",
            "routes": [{"receiver": "pager", "matchers": ["severity=page"]}],
        },
        "receivers": [
            {"name": "default"},
            {"name": "pager", "pagerduty_configs": [{"routing_key": "real-key"}]},
        ],
    }
    assert alertmanager.differences(desired, LIVE) == []

    desired["route"]["routes"][0]["receiver"] = "ticket"
    desired["receivers"].append({"name": "ticket"})
    assert alertmanager.differences(desired, LIVE) == [
        "route.routes[0].receiver differs",
        "receiver ticket: missing live",
    ]

    by_hand = {**LIVE, "inhibit_rules": [{"equal": ["slo"]}]}
    desired = {
        "route": {"receiver": "default"},
        "receivers": [{"name": "default"}, {"name": "pager"}],
    }
    assert alertmanager.differences(desired, by_hand) == [
        "inhibit_rules: set live, absent from out/"
    ]
    assert "real-key" not in " ".join(
        alertmanager.differences({"receivers": [{"name": "pager", "x": "real-key"}]}, LIVE)
    )
