"""No secret reaches out/: the compile refuses one anywhere in a spec, and the committed outputs hold none.

out/ is committed and reviewed in pull requests, so a token there is a leaked token. Secrets are
refused where they are written (any string of any spec or base config, by their form; Routing
keys such as routing_key by name), and the generated files are scanned once more before anything
is written. Routing's secret *keys* are tested in test_alertmanager.py.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import GOLDEN, ROOT

from compiler import targets
from compiler.checks import secrets as secret_scan
from compiler.cli import cli

# Made-up values in the real formats; none of them was ever valid.
PASSWORD_URL = "https://alice:s3cr3t-pw@grafana.example.com"
TOKEN_URL = "https://runbooks.example.com/checkout?token=abcdef123456"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX"
GRAFANA_TOKEN = "glsa_" + "A1b2C3d4" * 4 + "_0a1b2c3d"
SLACK_TOKEN = "xoxb-1234567890-abcdefghijkl"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5" * 4
AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----"


KINDS = [
    (f"see {PASSWORD_URL}/d/x", "a URL with a password"),
    (TOKEN_URL, "a URL with a secret parameter"),
    (f"url: {SLACK_WEBHOOK}", "a Slack webhook URL"),
    (f"Authorization: Bearer {GRAFANA_TOKEN}", "a Grafana service-account token"),
    (SLACK_TOKEN, "a Slack token"),
    (GITHUB_TOKEN, "a GitHub token"),
    (AWS_KEY, "an AWS access key"),
    (PRIVATE_KEY, "a private key"),
]


@pytest.mark.parametrize("text, what", KINDS)
def test_the_scanner_recognises_each_kind_of_secret(text, what):
    assert [f.what for f in secret_scan.find(f"line one\n  {text}\n")] == [what]


@pytest.mark.parametrize("text, what", KINDS)
def test_a_secret_deep_in_a_large_generated_file_is_found_at_its_offset(text, what):
    """Texts of a generated file's size take the per-needle path, not the one-search gate of short values."""
    padding = 'expr: sum(rate(http_requests_total{job="api"}[5m]))\n' * 200
    assert len(padding) > secret_scan._SHORT_TEXT
    [alone] = secret_scan.find(text)
    found = secret_scan.find(f"{padding}  {text}\n{padding}")
    assert [(f.what, f.offset) for f in found] == [(what, len(padding) + 2 + alone.offset)]


@pytest.mark.parametrize(
    "text",
    [
        "https://grafana.example.com/d/slo-checkout/checkout?var-slo=availability",
        "mailto:ops@example.com and ops@example.com",
        "ssh://git@example.com/repo.git",  # a user name, no password
        "https://runbooks.example.com/checkout?keyboard=1&monkey=2",
        'http_requests_total{job="api",code=~"5.."}',
        "routing_key_file: /run/secrets/pagerduty",
    ],
)
def test_ordinary_text_is_not_a_secret(text):
    assert secret_scan.find(text) == []


def committed_outputs() -> list[Path]:
    roots = [ROOT / "out"] + sorted(p / "out" for p in GOLDEN.iterdir() if (p / "out").is_dir())
    return [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]


def test_committed_outputs_hold_no_secret():
    """A scan of out/ and every golden out/ as committed, by form and (for Alertmanager) by key."""
    files = committed_outputs()
    assert len(files) > 40
    by_root: dict[Path, dict[str, str]] = {}
    for p in files:
        out = next(parent for parent in p.parents if parent.name == "out")
        by_root.setdefault(out, {})[p.relative_to(out).as_posix()] = p.read_text("utf-8")
    assert {"alertmanager/alertmanager.yml", "prometheus/rules/blkout-api.rules.yml"} <= set(
        by_root[ROOT / "out"]
    )
    for out, tree in by_root.items():
        assert secret_scan.in_artifacts(tree) == [], out


# --- the compile refuses a secret anywhere in a spec -----------------------------------------------
SERVICE = textwrap.dedent(
    """\
    apiVersion: slo/v1
    service: checkout
    team: payments
    description: Checkout API
    grafana_url: https://grafana.example.com
    labels: {tier: "1"}
    slos:
      - name: availability
        objective: 99.9
        indicator:
          ratio:
            errors: 'http_requests_total{job="checkout",code=~"5.."}'
            total: 'http_requests_total{job="checkout"}'
        alerting:
          runbook_url: https://runbooks.example.com/checkout
          annotations: {note: "call the on-call"}
    thresholds:
      - name: queue-depth
        expr: 'queue_depth{job="checkout"}'
        above: 100
        severity: ticket
    """
)

ROUTING = textwrap.dedent(
    """\
    apiVersion: slo/v1
    kind: Routing
    base_config: ../alertmanager-base.yml
    global:
      slack_api_url_file: /run/secrets/slack
    severities:
      page:
        notify:
          pagerduty: {routing_key_file: /run/secrets/pagerduty}
      ticket:
        notify:
          slack: {channel: '#alerts'}
      info:
        notify:
          slack: {channel: '#info'}
    """
)

BASE = textwrap.dedent(
    """\
    route:
      receiver: platform
    receivers:
      - name: platform
        webhook_configs: [{url: 'http://pager.internal/hook'}]
    """
)

PLANTED = [
    # (file, old, new, diagnostic prefix)
    ("checkout.yaml", "grafana_url: https://grafana.example.com", f"grafana_url: {PASSWORD_URL}", "slo/checkout.yaml:5:14: error [secrets/inline] grafana_url: holds a URL with a password"),
    ("checkout.yaml", "runbook_url: https://runbooks.example.com/checkout", f"runbook_url: {TOKEN_URL}", "slo/checkout.yaml:15:20: error [secrets/inline] slos[0].alerting.runbook_url: holds a URL with a secret parameter"),
    ("checkout.yaml", "description: Checkout API", f"description: 'Checkout API; bot {SLACK_TOKEN}'", "slo/checkout.yaml:4:14: error [secrets/inline] description: holds a Slack token"),
    ("checkout.yaml", 'tier: "1"', f'tier: "1", deploy_key: "{GITHUB_TOKEN}"', "slo/checkout.yaml:6:33: error [secrets/inline] labels.deploy_key: holds a GitHub token"),
    ("checkout.yaml", 'note: "call the on-call"', f'note: "hook {SLACK_WEBHOOK}"', "slo/checkout.yaml:16:27: error [secrets/inline] slos[0].alerting.annotations.note: holds a Slack webhook URL"),
    ("checkout.yaml", 'queue_depth{job="checkout"}', f'queue_depth{{job="checkout",key="{AWS_KEY}"}}', "slo/checkout.yaml:19:11: error [secrets/inline] thresholds[0].expr: holds an AWS access key"),
    ("routing.yaml", "channel: '#info'", f"channel: '#info {GRAFANA_TOKEN}'", "slo/routing.yaml:15:24: error [secrets/inline] severities.info.notify.slack.channel: holds a Grafana service-account token"),
    ("../alertmanager-base.yml", "http://pager.internal/hook", "https://pager:hunter2@pager.internal/hook", "alertmanager-base.yml:5:29: error [secrets/inline] receivers[0].webhook_configs[0].url: holds a URL with a password"),
]  # fmt: skip


def lay_out(tmp: Path) -> Path:
    specs = tmp / "slo"
    specs.mkdir()
    (specs / "checkout.yaml").write_text(SERVICE)
    (specs / "routing.yaml").write_text(ROUTING)
    (tmp / "alertmanager-base.yml").write_text(BASE)
    return specs


def compile_into(specs: Path, out: Path):
    return CliRunner().invoke(cli, ["compile", str(specs), "--out", str(out), "--cache-dir", ""])


def test_the_specs_without_planted_secrets_compile(tmp_path):
    result = compile_into(lay_out(tmp_path), tmp_path / "out")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "file, old, new, expected", PLANTED, ids=[p[3].split("] ")[1].split(":")[0] for p in PLANTED]
)
def test_a_secret_anywhere_in_a_spec_fails_the_compile_at_its_position(
    tmp_path, file, old, new, expected
):
    specs = lay_out(tmp_path)
    path = specs / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))

    result = compile_into(specs, tmp_path / "out")

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(expected) for line in lines), result.stderr
    assert "committed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_secret_reaching_out_by_any_other_path_still_stops_the_compile(tmp_path, monkeypatch):
    """The last guard: a target that (by a bug) writes a token is caught before out/ is written."""
    original = targets.by_name("mimir")
    leak = f"# generated by slo from slo/checkout.yaml; do not edit\ntoken: {GRAFANA_TOKEN}\n"

    def leaky(model):
        emitted = original.emit(model)
        return dataclasses.replace(emitted, files={**emitted.files, "mimir/leak.yml": leak})

    leaky_target = dataclasses.replace(original, emit=leaky)
    registry = tuple(leaky_target if t is original else t for t in targets.REGISTRY)
    monkeypatch.setattr(targets, "REGISTRY", registry)
    result = compile_into(lay_out(tmp_path), tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "mimir/leak.yml:2:8: error [secrets/inline] the generated file would hold a Grafana service-account token, "
        "and out/ is committed; it comes from slo/checkout.yaml"
    )
    assert not (tmp_path / "out").exists()
