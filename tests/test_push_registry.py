"""The push registry: one declaration per client drives the options, targets.yaml and the runner.

A fake client registered here, and nowhere else, is configured from its variables and from
targets.yaml, planned, pushed and reported by the unchanged runner: what the next real client
(say vmalert) needs is its module, its line in registry.py and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.outtrees import diff, push

from compiler.cli import cli
from compiler.core.model import Model
from compiler.push import endpoints as ep
from compiler.push import registry, runner
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress
from compiler.push.transport import Secret, Transport

REAL = ("prometheus", "alertmanager", "grafana", "mimir", "vmalert")


@pytest.mark.parametrize("command", ["push", "diff"])
def test_every_registered_setting_is_an_option_of_push_and_diff(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    help_text = " ".join(result.output.split())  # as one line: click wraps long help
    assert f"Comma-separated targets: {','.join(REAL)}." in help_text
    for client in registry.clients():
        for key in client.keys:
            flag = ep.flag_name(client.setting(key))
            if key.secret:  # inline tokens only from the environment, never in shell history
                assert flag not in help_text.split()
            else:
                assert f"{flag} TEXT Overrides {key.variable}." in help_text


def test_the_registry_order_is_the_order_of_options_schema_and_reports():
    assert registry.names() == REAL
    tls = ("ca_file", "cert_file", "key_file")  # every client's, declared once in client.py
    assert list(ep.environment()) == [
        "prometheus.url",
        "prometheus.rules_dir",
        *(f"prometheus.{key}" for key in tls),
        "alertmanager.url",
        "alertmanager.config",
        *(f"alertmanager.{key}" for key in tls),
        "grafana.url",
        "grafana.token",
        "grafana.token_file",
        *(f"grafana.{key}" for key in tls),
        "mimir.url",
        "mimir.tenant",
        "mimir.token_file",
        *(f"mimir.{key}" for key in tls),
        "vmalert.url",
        "vmalert.rules_dir",
        *(f"vmalert.{key}" for key in tls),
    ]
    assert ep.environment()["grafana.ca_file"] == "SLO_GRAFANA_CA_FILE"
    assert ep.environment()["mimir.key_file"] == "SLO_MIMIR_KEY_FILE"
    sections = ep.targets_schema()["properties"]["environments"]["additionalProperties"]
    assert list(sections["properties"]) == [*REAL, "tls_verify", "timeout"]
    assert list(sections["properties"]["grafana"]["properties"]) == ["url", "token_file", *tls]


def test_a_client_cannot_be_registered_twice_or_take_another_clients_variable(monkeypatch):
    monkeypatch.setattr(registry, "CLIENTS", dict(registry.CLIENTS))
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.get("grafana"))
    thief = PushClient("thief", (Key("url", "SLO_GRAFANA_URL"),), (), _configure, _build)
    with pytest.raises(ValueError, match=r"SLO_GRAFANA_[A-Z_]+ belongs to another client"):
        registry.register(thief)
    with pytest.raises(ValueError, match="no 'url' key"):
        PushClient("nourl", (Key("address", "SLO_NOURL_ADDRESS"),), (), _configure, _build)


# --- a fake client, declared the way a real one is -------------------------------------------
LIVE: dict[str, bytes] = {}  # the fake live system: object name -> content


@dataclass(frozen=True)
class Fake:
    url: str
    inbox: Path | None
    token: Secret | None


class FakePusher:
    name = "fake"

    def __init__(self, endpoint: Fake, out_dir: Path, http: Transport):
        self.endpoint = endpoint
        self.http = http
        self.desired = {p.name: p.read_bytes() for p in sorted((out_dir / "fake").glob("*.txt"))}

    def preflight(self) -> None:
        pass

    def plan(self) -> Plan:
        changes = []
        for name, data in self.desired.items():
            kind = (
                "created" if name not in LIVE else "unchanged" if LIVE[name] == data else "updated"
            )
            changes.append(Change(kind, f"thing {name}"))
        return Plan(changes)

    def apply(self, plan: Plan, progress: Progress) -> None:
        for change in plan.pending:
            name = change.object.removeprefix("thing ")
            LIVE[name] = self.desired[name]
            progress(1)

    def verify(self) -> list[str]:
        return [f"{c.object} not in place" for c in self.plan().pending]


def _configure(section: Section) -> Fake:
    return Fake(section.url, section.path("inbox"), section.token())


def _build(endpoint: Fake, context: Context) -> FakePusher:
    http = context.transport(endpoint.url, token=endpoint.token)
    return FakePusher(endpoint, context.out_dir, http)


FAKE = PushClient(
    name="fake",
    keys=(
        Key("url", "SLO_FAKE_URL"),
        Key("inbox", "SLO_FAKE_INBOX", path=True),
        Key("token", "SLO_FAKE_TOKEN", secret=True),
        Key("token_file", "SLO_FAKE_TOKEN_FILE", path=True),
    ),
    delivers=(Delivers("fake", "*.txt", "has no things (the fake target is not compiled)"),),
    configure=_configure,
    build=_build,
)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(registry, "CLIENTS", {**registry.CLIENTS, "fake": FAKE})
    LIVE.clear()
    yield FAKE
    LIVE.clear()


def test_a_registered_client_is_configured_from_its_variables_and_targets_yaml(fake, tmp_path):
    found = ep.resolve({}, {"SLO_FAKE_URL": "http://fake.example/", "SLO_FAKE_TOKEN": "s3cret"})
    assert found.configured() == ["fake"]
    assert found.targets["fake"] == Fake("http://fake.example", None, Secret("s3cret"))

    targets = tmp_path / "conf" / "targets.yaml"
    targets.parent.mkdir()
    targets.write_text("environments:\n  prod:\n    fake: {url: 'https://f', inbox: in}\n")
    found = ep.resolve({}, {}, targets, "prod")
    assert found.targets["fake"] == Fake("https://f", targets.parent / "in", None)

    # its own keys only, and never an inline token in the committed file
    targets.write_text("environments:\n  prod:\n    fake: {url: 'https://f', token: x}\n")
    with pytest.raises(ep.EndpointError) as exc:
        ep.resolve({}, {}, targets, "prod")
    assert [d.check_id for d in exc.value.diagnostics] == ["schema/unknown-key"]
    with pytest.raises(ep.EndpointError) as exc:
        ep.resolve({}, {"SLO_FAKE_INBOX": "in"})
    assert [d.render() for d in exc.value.diagnostics] == [
        "SLO_FAKE_INBOX: error [targets/url] fake.inbox is set but fake has no URL "
        "(set SLO_FAKE_URL)"
    ]


def test_the_runner_plans_pushes_and_reports_a_registered_client(fake, tmp_path):
    out, model = tmp_path / "out", Model(())
    found = ep.resolve({}, {"SLO_FAKE_URL": "http://fake.example", "SLO_FAKE_TOKEN": "s3cret"})

    reports = push(found, model, out)
    assert reports["fake"].status == "skipped"
    assert reports["fake"].plan.notes == [
        f"{(out / 'fake').as_posix()} has no things (the fake target is not compiled)"
    ]
    assert reports["prometheus"].plan.notes == [
        "not configured (set SLO_PROMETHEUS_URL, --prometheus-url or --env)"
    ]

    (out / "fake").mkdir(parents=True)
    (out / "fake" / "a.txt").write_bytes(b"one")
    (out / "fake" / "b.txt").write_bytes(b"two")
    pushers, skipped = runner.build(found, model, runner.Settings(out_dir=out))
    (pusher,) = pushers
    assert isinstance(pusher, FakePusher)
    assert pusher.http.session.headers["Authorization"] == "Bearer s3cret"
    reports = runner.order(runner.push(pushers) + skipped)
    assert [r.target for r in reports] == [*REAL, "fake"]
    assert (reports[-1].status, reports[-1].summary()) == (
        "pushed",
        "2 created, 0 updated, 0 deleted, 0 unchanged",
    )
    assert LIVE == {"a.txt": b"one", "b.txt": b"two"}
    assert diff(found, model, out)["fake"].summary() == (
        "0 created, 0 updated, 0 deleted, 2 unchanged"
    )


def test_only_names_a_registered_client_that_is_not_configured(fake, tmp_path):
    reports = push(ep.Endpoints(), Model(()), tmp_path / "out", only=["fake"])
    assert list(reports) == ["fake"]
    assert reports["fake"].status == "failed"
    assert reports["fake"].errors == ["not configured: set SLO_FAKE_URL, --fake-url or --env"]
