"""Push proves delivery, target by target, with the compiled examples (not hand-made files).

Each target: the real compiled output lands, judged by reading the live system back through its
own API and comparing with the files in out/ (not with the pusher's comparison code); and a
write the server answers as done but that does not land, or lands different, fails the push.
"""

import json
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
import yaml
from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir
from fakes.server import Request, Response
from support import needs_alertmanager, needs_prometheus, needs_promtool, servers
from support.outtrees import push

from compiler.core import conventions
from compiler.push import alertmanager
from compiler.push import endpoints as ep
from compiler.push.grafana import Grafana
from compiler.push.mimir import Mimir
from compiler.push.prometheus import Prometheus
from compiler.push.transport import Secret

TENANT = "tenant-1"


@pytest.fixture
def out(compiled_examples, tmp_path) -> Path:
    """A private copy of the freshly compiled examples."""
    return Path(shutil.copytree(compiled_examples.out, tmp_path / "out"))


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def compiled_dashboards(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted((out / "grafana" / "dashboards").glob("*.json")):
        body = json.loads(path.read_text())
        found[body["uid"]] = body
    return found


def compiled_groups(out: Path) -> dict[str, list[dict]]:
    """Rule file name -> its groups, as out/ has them."""
    return {
        path.name: yaml.safe_load(path.read_text())["groups"]
        for path in sorted((out / "prometheus" / "rules").glob("*.yml"))
    }


# --- Grafana ----------------------------------------------------------------------------------
class LossyGrafana(FakeGrafana):
    """Answers every dashboard save as done; ``lose`` drops it, else ``mangle`` drops its
    panels."""

    lose = False
    mangle = False

    def route(self, request: Request) -> Response:
        if request.path == "/api/dashboards/db" and b"sloPushRecord" not in request.body:
            if self.lose:
                return Response.json(200, {"status": "success", "version": 1})
            if self.mangle:
                body = json.loads(request.body)
                body["dashboard"]["panels"] = []
                request.body = json.dumps(body).encode()
        return super().route(request)


def grafana_endpoints(fake) -> ep.Endpoints:
    return ep.Endpoints({"grafana": Grafana(fake.url, Secret(fake.token))})


def test_grafana_holds_every_compiled_dashboard_as_compiled(out, compiled_examples):
    with FakeGrafana() as grafana:
        report = push(grafana_endpoints(grafana), compiled_examples.model, out)["grafana"]
        assert report.status == "pushed", report.errors
        wanted = compiled_dashboards(out)
        assert len(wanted) >= 2
        for uid, body in wanted.items():
            answer = requests.get(
                f"{grafana.url}/api/dashboards/uid/{uid}",
                headers={"Authorization": f"Bearer {grafana.token}"},
                timeout=5,
            )
            assert answer.status_code == 200, uid
            live = {
                k: v for k, v in answer.json()["dashboard"].items() if k not in ("id", "version")
            }
            body = {k: v for k, v in body.items() if k not in ("id", "version")}  # Grafana's
            tags = body.pop("tags", [])
            tags += (
                [] if conventions.GRAFANA_MANAGED_TAG in tags else [conventions.GRAFANA_MANAGED_TAG]
            )
            assert live.pop("tags") == tags
            assert live == body, uid


@pytest.mark.parametrize("fault", ["lose", "mangle"])
def test_grafana_saves_answered_but_not_landed_fail_the_push(out, compiled_examples, fault):
    with LossyGrafana() as grafana:
        setattr(grafana, fault, True)
        report = push(grafana_endpoints(grafana), compiled_examples.model, out)["grafana"]
        assert report.status == "failed"
        missing = [e for e in report.errors if "after push" in e]
        assert len(missing) == len(compiled_dashboards(out)), report.errors
        if fault == "mangle":
            assert all("panels differs" in e for e in missing), missing


# --- Mimir ------------------------------------------------------------------------------------
class LossyMimir(FakeMimir):
    """Answers every rule group post 202; ``lose`` drops it, else ``mangle`` drops a rule."""

    lose = False
    mangle = False

    def route(self, request: Request) -> Response:
        posting = request.method == "POST" and request.path.startswith("/prometheus/config")
        if posting and conventions.MIMIR_RECORD_NAMESPACE not in unquote(request.path):
            if self.lose:
                return Response.json(202, {"status": "success"})
            if self.mangle:
                group = yaml.safe_load(request.body)
                group["rules"] = group["rules"][:-1]
                request.body = yaml.safe_dump(group).encode()
        return super().route(request)


def mimir_endpoints(fake) -> ep.Endpoints:
    return ep.Endpoints({"mimir": Mimir(fake.url, TENANT, None)})


def live_namespaces(fake) -> dict[str, list[dict]]:
    answer = requests.get(
        fake.url + "/prometheus/config/v1/rules", headers={"X-Scope-OrgID": TENANT}, timeout=5
    )
    assert answer.status_code == 200
    return yaml.safe_load(answer.text)


@needs_promtool  # push checks the rule files with promtool first
def test_mimir_holds_every_compiled_group_as_compiled(out, compiled_examples):
    with FakeMimir() as mimir:
        report = push(mimir_endpoints(mimir), compiled_examples.model, out)["mimir"]
        assert report.status == "pushed", report.errors
        live = {
            group["name"]: group
            for namespace, groups in live_namespaces(mimir).items()
            if namespace != conventions.MIMIR_RECORD_NAMESPACE
            for group in groups
        }
        wanted = {g["name"]: g for groups in compiled_groups(out).values() for g in groups}
        assert set(live) == set(wanted)
        for name, group in wanted.items():
            assert live[name] == group, name


@needs_promtool
@pytest.mark.parametrize("fault", ["lose", "mangle"])
def test_mimir_groups_answered_but_not_landed_fail_the_push(out, compiled_examples, fault):
    with LossyMimir() as mimir:
        setattr(mimir, fault, True)
        report = push(mimir_endpoints(mimir), compiled_examples.model, out)["mimir"]
        assert report.status == "failed"
        assert any("group" in e for e in report.errors), report.errors


# --- Prometheus -------------------------------------------------------------------------------
@needs_prometheus
def test_prometheus_loads_every_compiled_group_and_rule(out, compiled_examples, tmp_path):
    with servers.prometheus(tmp_path / "prometheus") as server:
        endpoints = ep.Endpoints({"prometheus": Prometheus(server.url, server.directory / "rules")})
        report = push(endpoints, compiled_examples.model, out)["prometheus"]
        assert report.status == "pushed", report.errors
        loaded = get_json(server.url + "/api/v1/rules")["data"]["groups"]
        live = {(Path(g["file"]).name, g["name"]): [r["name"] for r in g["rules"]] for g in loaded}
        wanted = {
            (file, g["name"]): [r.get("record") or r.get("alert") for r in g["rules"]]
            for file, groups in compiled_groups(out).items()
            for g in groups
        }
        assert live == wanted


@needs_prometheus
def test_prometheus_reloading_without_loading_the_files_fails_the_push(
    out, compiled_examples, tmp_path
):
    """The files are written and the reload answers 200, but this Prometheus reads another
    directory: nothing landed, and the push says so."""
    with servers.prometheus(tmp_path / "prometheus", rule_glob="elsewhere/*.yml") as server:
        endpoints = ep.Endpoints({"prometheus": Prometheus(server.url, server.directory / "rules")})
        report = push(endpoints, compiled_examples.model, out)["prometheus"]
        assert report.status == "failed"
        assert get_json(server.url + "/api/v1/rules")["data"]["groups"] == []
        assert len(report.errors) == sum(len(g) for g in compiled_groups(out).values())


# --- Alertmanager -----------------------------------------------------------------------------
def receivers_of(text: str) -> list[str]:
    return sorted(r["name"] for r in yaml.safe_load(text)["receivers"])


@needs_alertmanager
def test_alertmanager_runs_the_compiled_config(out, compiled_examples, tmp_path):
    with servers.alertmanager(tmp_path / "alertmanager") as server:
        endpoints = ep.Endpoints(
            {"alertmanager": alertmanager.Alertmanager(server.url, server.config)}
        )
        report = push(endpoints, compiled_examples.model, out)["alertmanager"]
        assert report.status == "pushed", report.errors
        wanted = (out / conventions.ALERTMANAGER_CONFIG).read_text()
        status = get_json(server.url + "/api/v2/status")
        assert receivers_of(status["config"]["original"]) == receivers_of(wanted)
        live = sorted(r["name"] for r in get_json(server.url + "/api/v2/receivers"))
        assert live == receivers_of(wanted)


@needs_alertmanager
def test_alertmanager_reloading_another_file_fails_the_push(out, compiled_examples, tmp_path):
    """Push writes the file it was told and the reload answers 200, but this Alertmanager runs
    another file: the compiled config never lands, and the push says so."""
    elsewhere = tmp_path / "elsewhere.yml"
    elsewhere.write_text(servers.BOOT_CONFIG)
    with servers.alertmanager(tmp_path / "alertmanager") as server:
        endpoints = ep.Endpoints({"alertmanager": alertmanager.Alertmanager(server.url, elsewhere)})
        report = push(endpoints, compiled_examples.model, out)["alertmanager"]
        assert report.status == "failed", report.errors
        assert any("after reload" in e for e in report.errors), report.errors
        status = get_json(server.url + "/api/v2/status")
        assert receivers_of(status["config"]["original"]) == ["boot"]
