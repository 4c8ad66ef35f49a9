"""Push proves delivery, target by target, with the compiled examples (not hand-made files).

Each target: the real compiled output lands, judged by reading the live system back through its
own API and comparing with the files in out/ (not with the pusher's comparison code); and a
write the server answers as done but that does not land, or lands different, fails the push,
which restores: an earlier version of the examples' output is live, the push of the current one
is acknowledged but lands different, and afterwards the live system, read back through its own
API, holds exactly what it held before the push.
"""

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
import requests
import yaml
from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir
from fakes.server import Request, Response
from support import (
    ROOT,
    compile_into,
    copy_specs,
    files_of,
    needs_alertmanager,
    needs_prometheus,
    needs_promtool,
    needs_victoria_metrics,
    servers,
    slo,
)
from support.outtrees import push

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import alertmanager
from compiler.push import endpoints as ep
from compiler.push.grafana import Grafana
from compiler.push.mimir import Mimir
from compiler.push.prometheus import Prometheus, PrometheusPusher
from compiler.push.transport import Secret
from compiler.push.vmalert import Vmalert, VmalertPusher

TENANT = "tenant-1"
CHANGED = "pizza-api"  # the service whose objects differ between the earlier version and now
NEW = "enterprise-scanner"  # the service the earlier version did not have yet


@pytest.fixture
def out(compiled_examples, tmp_path) -> Path:
    """A private copy of the freshly compiled examples."""
    return Path(shutil.copytree(compiled_examples.out, tmp_path / "out"))


def compile_examples(tmp: Path, objective: str = "99") -> tuple[Path, Model]:
    """The examples compiled into ``tmp``/out (for Prometheus and vmalert), pizza-api's first
    objective set to ``objective`` (every rule, group and dashboard of it changes)."""
    spec_dir = copy_specs(ROOT / "slo", tmp)
    spec = spec_dir / "pizza-ordering.yaml"
    text = spec.read_text()
    assert "objective: 99\n" in text and "team: pizza-platform\n" in text
    text = text.replace("objective: 99\n", f"objective: {objective}\n", 1)
    spec.write_text(text)
    return tmp / "out", compile_into(spec_dir, tmp / "out").model


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """out/ as an earlier version of the examples compiled it: pizza-api's objective was 98, and
    enterprise-scanner did not exist yet (no rule file, no dashboard). Read it, copy to edit."""
    tree, _ = compile_examples(tmp_path_factory.mktemp("earlier"), objective="98")
    (tree / conventions.rules_file(NEW)).unlink()
    (tree / conventions.dashboard_file(NEW)).unlink()
    return tree


def earlier_copy(earlier: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(earlier, tmp_path / "earlier"))


def assert_restored(report, what: str) -> None:
    """The push failed, said why, and says it restored ``what``."""
    assert report.status == "failed", report.errors
    assert report.errors, "a failure without a reason"
    assert report.restore is not None, report.errors
    assert report.restore.summary().startswith(f"restored: {what}"), report.restore
    assert report.restore.objects > 0


def changed_underneath(monkeypatch, pusher: type, change: Callable[[Path], None]) -> list[int]:
    """The first reload of ``pusher`` runs after another process (config management, say)
    rewrote the files slo just wrote: ``change`` gets the rules directory or config file. The
    write was acknowledged; what the server loads is different. Later reloads (the restore's) are
    left alone. Returns the reloads so far, one entry each."""
    original = pusher.reload
    reloads: list[int] = []

    def reload(self) -> None:
        if not reloads:
            target = getattr(self.endpoint, "rules_dir", None) or self.endpoint.config
            change(target)
        reloads.append(1)
        original(self)

    monkeypatch.setattr(pusher, "reload", reload)
    return reloads


def drop_a_rule(path: Path) -> None:
    """The rule file at ``path`` with the last rule of its first group gone."""
    data = yaml.safe_load(path.read_text())
    data["groups"][0]["rules"].pop()
    path.write_text(yaml.safe_dump(data, sort_keys=False))


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
    panels. ``only``: just the saves whose body holds it; ``times``: just that many (-1: all)."""

    lose = False
    mangle = False
    only = b""
    times = -1

    def faulty(self, request: Request) -> bool:
        """Whether the fault hits ``request`` (route runs one request at a time)."""
        if b"sloPushRecord" in request.body or self.only not in request.body or self.times == 0:
            return False
        self.times -= self.times > 0
        return True

    def route(self, request: Request) -> Response:
        if request.path == "/api/dashboards/db" and self.faulty(request):
            if self.lose:
                return Response.json(200, {"status": "success", "version": 1})
            if self.mangle:
                body = json.loads(request.body)
                body["dashboard"]["panels"] = []
                request.body = json.dumps(body).encode()
        return super().route(request)


def grafana_endpoints(fake) -> ep.Endpoints:
    return ep.Endpoints({"grafana": Grafana(fake.url, Secret(fake.token))})


def read_dashboard(grafana, uid: str) -> dict | None:
    """A dashboard as Grafana's API answers it, without Grafana's own id and version; None when
    it answers 404."""
    answer = requests.get(
        f"{grafana.url}/api/dashboards/uid/{uid}",
        headers={"Authorization": f"Bearer {grafana.token}"},
        timeout=5,
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, uid
    return {k: v for k, v in answer.json()["dashboard"].items() if k not in ("id", "version")}


def assert_dashboards_live(grafana, wanted: dict[str, dict]) -> None:
    """Grafana holds every dashboard of ``wanted`` (uid -> the JSON of out/) as it is there,
    with slo's managed tag."""
    for uid, body in wanted.items():
        live = read_dashboard(grafana, uid)
        assert live is not None, uid
        body = {k: v for k, v in body.items() if k not in ("id", "version")}  # Grafana's
        tags = body.pop("tags", [])
        tags += [] if conventions.GRAFANA_MANAGED_TAG in tags else [conventions.GRAFANA_MANAGED_TAG]
        assert live.pop("tags") == tags
        assert live == body, uid


def test_grafana_holds_every_compiled_dashboard_as_compiled(out, compiled_examples):
    with FakeGrafana() as grafana:
        report = push(grafana_endpoints(grafana), compiled_examples.model, out)["grafana"]
        assert report.status == "pushed", report.errors
        wanted = compiled_dashboards(out)
        assert len(wanted) >= 2
        assert_dashboards_live(grafana, wanted)


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


def test_grafana_a_dashboard_that_lands_different_restores_the_earlier_ones(
    out, compiled_examples, earlier, tmp_path
):
    """Grafana acknowledges every save, but stores pizza-api's dashboard without its panels:
    the push fails, and Grafana holds the earlier dashboards again; the one the push created is
    gone."""
    before = earlier_copy(earlier, tmp_path)
    with LossyGrafana() as grafana:
        endpoints = grafana_endpoints(grafana)
        assert push(endpoints, compiled_examples.model, before)["grafana"].status == "pushed"
        grafana.mangle, grafana.times = True, 1
        grafana.only = f'"uid": "{conventions.dashboard_uid(CHANGED)}"'.encode()
        report = push(endpoints, compiled_examples.model, out)["grafana"]
        assert_restored(report, "the previous dashboards are live again")
        assert grafana.times == 0, "the fault hit the push's save"
        assert any("panels differs" in e for e in report.errors), report.errors
        assert_dashboards_live(grafana, compiled_dashboards(before))
        assert read_dashboard(grafana, conventions.dashboard_uid(NEW)) is None


# --- Mimir ------------------------------------------------------------------------------------
class LossyMimir(FakeMimir):
    """Answers every rule group post 202; ``lose`` drops it, else ``mangle`` drops a rule.
    ``only``: just the posts whose body holds it; ``times``: just that many (-1: all)."""

    lose = False
    mangle = False
    only = b""
    times = -1

    def faulty(self, request: Request) -> bool:
        if conventions.MIMIR_RECORD_NAMESPACE in unquote(request.path):
            return False
        if self.only not in request.body or self.times == 0:
            return False
        self.times -= self.times > 0
        return True

    def route(self, request: Request) -> Response:
        posting = request.method == "POST" and request.path.startswith("/prometheus/config")
        if posting and self.faulty(request):
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


def by_name(namespaces: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """Namespace -> group name -> group (the order of groups is the ruler's), slo's record left
    out (a restore never narrows it)."""
    return {
        ns: {group["name"]: group for group in groups}
        for ns, groups in namespaces.items()
        if ns != conventions.MIMIR_RECORD_NAMESPACE
    }


def live_alertmanager_status(fake) -> int:
    answer = requests.get(fake.url + "/api/v1/alerts", headers={"X-Scope-OrgID": TENANT}, timeout=5)
    return answer.status_code


@needs_promtool
def test_mimir_a_group_that_lands_different_restores_the_earlier_groups(
    out, compiled_examples, earlier, tmp_path
):
    """The ruler acknowledges every group, but stores one of pizza-api's without its last rule:
    the push fails, and the ruler holds the earlier groups again; the groups and the Alertmanager
    config the push created are gone."""
    before = earlier_copy(earlier, tmp_path)
    (before / conventions.ALERTMANAGER_CONFIG).unlink()  # the tenant had none
    with LossyMimir() as mimir:
        endpoints = mimir_endpoints(mimir)
        assert push(endpoints, compiled_examples.model, before)["mimir"].status == "pushed"
        earlier_live = live_namespaces(mimir)
        assert live_alertmanager_status(mimir) == 404
        mimir.mangle, mimir.times, mimir.only = True, 1, f"slo-{CHANGED}-".encode()
        report = push(endpoints, compiled_examples.model, out)["mimir"]
        assert_restored(report, "the previous rule groups and Alertmanager config are live again")
        assert mimir.times == 0, "the fault hit the push's post"
        now = by_name(live_namespaces(mimir))
        assert now == by_name(earlier_live)
        assert conventions.mimir_namespace(NEW) not in now
        assert live_alertmanager_status(mimir) == 404


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


# --- restores of the file targets ---------------------------------------------------------------
def loaded_rules(url: str) -> dict[tuple[str, str], list]:
    """Every loaded group by (file, name): its rules as the rules API shows them, and its query
    params (vmalert)."""
    groups = get_json(url + "/api/v1/rules")["data"]["groups"] or []  # vmalert: null for none
    return {
        (Path(g["file"]).name, g["name"]): [
            g.get("params"),
            *[(r["name"], r["query"], r.get("duration"), r.get("labels")) for r in g["rules"]],
        ]
        for g in groups
    }


@needs_prometheus
def test_prometheus_a_file_changed_underneath_restores_the_earlier_rules(
    out, compiled_examples, earlier, tmp_path, monkeypatch
):
    """Between slo's write and the reload another process rewrites pizza-api's rule file: the
    reload succeeds, but a group lands without a rule. The push fails, and Prometheus runs the
    earlier rules again; the file the push created is gone."""
    before = earlier_copy(earlier, tmp_path)
    with servers.prometheus(tmp_path / "prometheus") as server:
        rules_dir = server.directory / "rules"
        endpoints = ep.Endpoints({"prometheus": Prometheus(server.url, rules_dir)})
        assert push(endpoints, compiled_examples.model, before)["prometheus"].status == "pushed"
        earlier_rules, earlier_files = loaded_rules(server.url), files_of(rules_dir)
        name = Path(conventions.rules_file(CHANGED)).name
        reloads = changed_underneath(monkeypatch, PrometheusPusher, lambda d: drop_a_rule(d / name))
        report = push(endpoints, compiled_examples.model, out)["prometheus"]
        assert_restored(report, "the previous rules are loaded by Prometheus again")
        assert any("still differs after reload" in e for e in report.errors), report.errors
        assert len(reloads) == 2, "the push's reload, then the restore's"
        assert loaded_rules(server.url) == earlier_rules
        assert files_of(rules_dir) == earlier_files


@needs_alertmanager
def test_alertmanager_a_config_changed_underneath_restores_the_earlier_one(
    out, compiled_examples, tmp_path, monkeypatch
):
    """Between slo's write and the reload another process rewrites the config without its
    inhibit rules: the reload succeeds, but not with what slo wrote. `slo push` fails (exit 1),
    says it restored, and Alertmanager runs the config it ran before."""

    def without_inhibitions(config: Path) -> None:
        data = yaml.safe_load(config.read_text())
        assert data.pop("inhibit_rules")
        config.write_text(yaml.safe_dump(data, sort_keys=False))

    with servers.alertmanager(tmp_path / "alertmanager") as server:
        changed_underneath(monkeypatch, alertmanager.AlertmanagerPusher, without_inhibitions)
        env = {"SLO_ALERTMANAGER_URL": server.url, "SLO_ALERTMANAGER_CONFIG": str(server.config)}
        result = slo("push", ROOT / "slo", "--out", out, "--only", "alertmanager", env=env)
        assert result.exit_code == 1, result.output
        assert "error: after reload: inhibit_rules: missing live" in result.output
        assert "  restored: the previous config is live again (1 object(s) put back)" in (
            result.output
        )
        status = get_json(server.url + "/api/v2/status")
        assert yaml.safe_load(status["config"]["original"])["receivers"] == [{"name": "boot"}]
        assert server.config.read_text() == servers.BOOT_CONFIG


@pytest.mark.binaries
@needs_victoria_metrics
def test_vmalert_a_file_changed_underneath_restores_the_earlier_rules(tmp_path, monkeypatch):
    """As for Prometheus: vmalert reloads a rule file another process rewrote after slo's
    write; the push fails, and vmalert runs the rules it ran before (its own, none of slo's).

    The earlier rules are vmalert's own here, not an earlier push's: vmalert 1.79 takes a
    reloaded group that changed only once the group has started, after a random delay of up to
    its interval (1m), so a push soon after the first one could not be judged in seconds."""
    now, model = compile_examples(tmp_path / "now")
    name = Path(conventions.vmalert_rules_file(CHANGED)).name
    theirs = "groups:\n- name: theirs\n  rules:\n  - record: theirs:up:sum\n    expr: sum(up)\n"
    with servers.victoria_metrics(tmp_path / "vm") as datasource:
        (tmp_path / "vmalert" / "rules").mkdir(parents=True)
        (tmp_path / "vmalert" / "rules" / "team-x.yml").write_text(theirs)
        with servers.vmalert(tmp_path / "vmalert", datasource) as server:
            rules_dir = server.directory / "rules"
            earlier_rules, earlier_files = loaded_rules(server.url), files_of(rules_dir)
            assert list(earlier_rules) == [("team-x.yml", "theirs")]
            endpoints = ep.Endpoints({"vmalert": Vmalert(server.url, rules_dir)})
            reloads = changed_underneath(
                monkeypatch, VmalertPusher, lambda d: drop_a_rule(d / name)
            )
            report = push(endpoints, model, now, only=["vmalert"])["vmalert"]
            assert_restored(report, "the previous rules are loaded by vmalert again")
            assert any("still differs after reload" in e for e in report.errors), report.errors
            assert len(reloads) == 2, "the push's reload, then the restore's"
            assert loaded_rules(server.url) == earlier_rules
            owned = files_of(rules_dir).pop(conventions.PUSH_OWNERSHIP_FILE)
            assert files_of(rules_dir) == {**earlier_files, conventions.PUSH_OWNERSHIP_FILE: owned}
            assert json.loads(owned)["files"] == [], "slo owns no file there any more"
