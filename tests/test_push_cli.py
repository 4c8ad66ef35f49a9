"""`slo push` and `slo diff` end to end: real Prometheus and Alertmanager, the issue's
acceptance checks."""

import io
import json
import sys
import urllib.request

import pytest
import yaml
from fakes.grafana import FakeGrafana
from support import needs_alertmanager, needs_prometheus, slo
from support.outtrees import (
    SMALL_ALERTMANAGER_CONFIG,
    dashboard,
    specs,
    write_alertmanager,
    write_dashboard,
    write_rules,
)
from support.tls import server_context

from compiler import cli as cli_module
from compiler.core import conventions
from compiler.push import rulegroups
from compiler.push.transport import Secret


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def compile_into(tmp_path) -> None:
    """`slo compile`, plus a small Alertmanager config while that target lives on another branch."""
    result = slo("compile")
    assert result.exit_code == 0, result.output
    if not (tmp_path / "out" / conventions.ALERTMANAGER_CONFIG).exists():
        write_alertmanager(tmp_path / "out", SMALL_ALERTMANAGER_CONFIG)


@pytest.fixture
def live(tmp_path, monkeypatch, prometheus_server, alertmanager_server):
    specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    prom, am = prometheus_server, alertmanager_server
    env = {
        "SLO_PROMETHEUS_URL": prom.url,
        "SLO_PROMETHEUS_RULES_DIR": str(prom.directory / "rules"),
        "SLO_ALERTMANAGER_URL": am.url,
        "SLO_ALERTMANAGER_CONFIG": str(am.config),
    }
    return prom, am, env


@needs_prometheus
@needs_alertmanager
def test_acceptance_push_verify_repeat_and_diff_exit_codes(tmp_path, live):
    prom, am, env = live
    compile_into(tmp_path)
    assert slo("diff", env=env).exit_code == 1

    pushed = slo("push", env=env)
    assert pushed.exit_code == 0, pushed.output
    generated = rulegroups.load_rule_files(tmp_path / "out" / "prometheus" / "rules")
    groups = {g["name"] for f in generated.values() for g in f.groups}
    loaded = {g["name"] for g in get_json(prom.url + "/api/v1/rules")["data"]["groups"]}
    assert groups <= loaded, "every generated group is loaded"
    out_config = yaml.safe_load((tmp_path / "out" / conventions.ALERTMANAGER_CONFIG).read_text())
    live_config = yaml.safe_load(get_json(am.url + "/api/v2/status")["config"]["original"])
    assert [r["name"] for r in live_config["receivers"]] == [
        r["name"] for r in out_config["receivers"]
    ]

    again = slo("push", env=env)
    assert again.exit_code == 0
    assert f"prometheus: 0 created, 0 updated, 0 deleted, {len(groups)} unchanged" in again.output
    assert "alertmanager: 0 created, 0 updated, 0 deleted, 1 unchanged" in again.output
    assert slo("diff", env=env).exit_code == 0

    spec = tmp_path / "slo" / "checkout.yaml"
    spec.write_text(spec.read_text().replace("objective: 99\n", "objective: 99.9\n", 1))
    compile_into(tmp_path)
    changed = slo("diff", "--format", "markdown", env=env)
    assert changed.exit_code == 1
    assert "| prometheus | 0 | 2 | 0 |" in changed.output
    assert "! group slo-checkout-sli (checkout.rules.yml)" in changed.output

    rules_dir = prom.directory / "rules"
    before = {p.name: p.read_bytes() for p in rules_dir.iterdir()}
    dry = slo("push", "--dry-run", env=env)
    assert dry.exit_code == 0 and "nothing was written" in dry.output
    text = slo("diff", env=env).output
    assert [line for line in dry.output.splitlines() if line.startswith("  ")] == [
        line for line in text.splitlines() if line.startswith("  ")
    ], "--dry-run prints the plan diff prints"
    assert {p.name: p.read_bytes() for p in rules_dir.iterdir()} == before

    report = json.loads(slo("diff", "--format", "json", env=env).output)
    assert report["changed"] is True
    assert [t["counts"]["updated"] for t in report["targets"] if t["target"] == "prometheus"] == [2]


def test_exit_codes_for_nothing_configured_unknown_targets_and_bad_targets_files(
    tmp_path, monkeypatch
):
    specs(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in (
        "SLO_PROMETHEUS_URL",
        "SLO_ALERTMANAGER_URL",
        "SLO_GRAFANA_URL",
        "SLO_MIMIR_URL",
        "SLO_ENV",
    ):
        monkeypatch.delenv(name, raising=False)
    nothing = slo("push", env={})
    assert nothing.exit_code == 1 and "no target is configured" in nothing.output
    assert slo("diff", env={}).exit_code == 2
    assert slo("push", "--only", "prometheus,nagios", env={}).exit_code == 2  # a usage error
    (tmp_path / "targets.yaml").write_text(
        "environments:\n  prod:\n    prometheus: {url: http://p:9090, rule_dir: x}\n"
    )
    bad = slo("diff", "--env", "prod", env={})
    assert bad.exit_code == 2
    assert (
        "targets.yaml:3:38: error [schema/unknown-key] "
        "environments.prod.prometheus.rule_dir: unknown key" in bad.output
    )


def test_diff_and_push_never_print_a_token(tmp_path, monkeypatch):
    write_rules(specs(tmp_path), tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    write_dashboard(tmp_path / "out", conventions.dashboard_file("checkout"), dashboard("checkout"))
    with FakeGrafana() as grafana:
        wrong = slo(
            "diff",
            env={"SLO_GRAFANA_URL": grafana.url, "SLO_GRAFANA_TOKEN": "glsa_wrong_but_secret"},
        )
        assert wrong.exit_code == 2 and "rejected the credentials (401)" in wrong.output
        assert "glsa_wrong_but_secret" not in wrong.output
        right = {"SLO_GRAFANA_URL": grafana.url, "SLO_GRAFANA_TOKEN": grafana.token}
        for fmt in ("text", "markdown", "json"):
            result = slo("diff", "--format", fmt, env=right)
            assert result.exit_code == 1 and grafana.token not in result.output
        pushed = slo("push", "--only", "grafana", env=right)
        assert pushed.exit_code == 0 and grafana.token not in pushed.output
        assert (
            "grafana: 4 created, 0 updated, 0 deleted, 0 unchanged" in pushed.output
        )  # its folder, its dashboard, the shared folder and slo's record in it


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_shows_on_a_terminal_when_many_objects_are_written(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with cli_module._progress("grafana", cli_module.PROGRESS_MIN) as step:
        for _ in range(cli_module.PROGRESS_MIN):
            step(1)
    assert "grafana: writing" in terminal.getvalue() and "100%" in terminal.getvalue()

    few = Terminal()
    monkeypatch.setattr(sys, "stderr", few)
    with cli_module._progress("grafana", cli_module.PROGRESS_MIN - 1) as step:
        step(1)
    assert few.getvalue() == ""

    pipe = io.StringIO()  # not a terminal: CI logs stay clean
    monkeypatch.setattr(sys, "stderr", pipe)
    with cli_module._progress("grafana", 100) as step:
        step(100)
    assert pipe.getvalue() == ""


def test_a_two_line_token_file_is_an_error_naming_the_file_and_never_the_token(
    tmp_path, monkeypatch
):
    """It went into the Authorization header, and requests' InvalidHeader printed it whole as
    "internal error: InvalidHeader ... Bearer ..."."""
    write_rules(specs(tmp_path), tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    write_dashboard(tmp_path / "out", conventions.dashboard_file("checkout"), dashboard("checkout"))
    token_file = tmp_path / "grafana-token"
    token_file.write_text("glsa_first_half\nsecond_half\n")
    with FakeGrafana() as grafana:
        result = slo(
            "diff", env={"SLO_GRAFANA_URL": grafana.url, "SLO_GRAFANA_TOKEN_FILE": str(token_file)}
        )
        assert grafana.log == []
    assert result.exit_code == 2, result.output
    assert f"SLO_GRAFANA_TOKEN_FILE: error [targets/token] token file {token_file}" in result.output
    assert "first_half" not in result.output and "second_half" not in result.output


def test_an_internal_error_is_printed_redacted(monkeypatch, capsys):
    token = Secret("tok-" + "z" * 30)

    def crash(**kwargs):
        raise ValueError(
            f"Invalid header value b'Bearer {token.reveal()}\\n' for https://u:pw@h.example/"
        )

    monkeypatch.setattr(cli_module, "cli", crash)
    with pytest.raises(SystemExit) as exc:
        cli_module.main()
    assert exc.value.code == 70
    err = capsys.readouterr().err
    assert "internal error: ValueError" in err and "please report this" in err
    assert "zzzz" not in err and "pw@" not in err


def test_a_grafana_behind_a_private_ca_is_reached_with_its_ca_file_and_refused_without(
    tmp_path, monkeypatch, pki
):
    write_rules(specs(tmp_path), tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    write_dashboard(tmp_path / "out", conventions.dashboard_file("checkout"), dashboard("checkout"))
    with FakeGrafana(tls=server_context(pki)) as grafana:
        env = {"SLO_GRAFANA_URL": grafana.url, "SLO_GRAFANA_TOKEN": grafana.token}
        refused = slo("diff", env=env)
        assert refused.exit_code == 2 and "TLS failed" in refused.output, refused.output
        reached = slo("diff", env={**env, "SLO_GRAFANA_CA_FILE": str(pki.ca)})
        assert reached.exit_code == 1, reached.output  # it differs: nothing was pushed yet
        # the folders, the dashboard and the record of what slo saved
        assert "grafana: 4 created" in reached.output
        flagged = slo("diff", "--grafana-ca-file", str(pki.other_ca), env=env)
        assert flagged.exit_code == 2 and "certificate verify failed" in flagged.output
