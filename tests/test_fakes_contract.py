"""The fakes refuse what the real servers refuse.

Grafana: per endpoint, against its documented HTTP API (no Grafana runs here). Mimir: its ruler
validates a rule group as Prometheus' rule loader does, and its Alertmanager API a config as
Alertmanager does, so each refusal of the fake is checked against promtool / amtool themselves
(those halves start the binaries), and what they accept the fake accepts too.
"""

import json
import subprocess

import pytest
import requests
import yaml
from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir
from support import needs_amtool, needs_promtool

EDITOR = {"Authorization": "Bearer glsa_editor_token"}
JSON = {**EDITOR, "Content-Type": "application/json"}
TENANT = {"X-Scope-OrgID": "t1", "Content-Type": "application/yaml"}


@pytest.fixture
def grafana():
    with FakeGrafana() as fake:
        yield fake


def call(fake, method, path, body=None, headers=JSON, **params):
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    response = requests.request(
        method, fake.url + path, data=data, headers=headers, params=params, timeout=5
    )
    return response.status_code, (response.json() if response.content else None)


def board(uid, title, **extra):
    return {"uid": uid, "title": title, "panels": [], **extra}


# --- Grafana ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/dashboards/db", "/api/folders"])
def test_grafana_refuses_a_body_that_is_not_json_or_not_sent_as_json(grafana, path):
    body = {"dashboard": board("a", "A"), "uid": "f", "title": "F"}
    assert call(grafana, "POST", path, b"{not json")[0] == 400
    as_text = {**EDITOR, "Content-Type": "text/plain"}
    assert call(grafana, "POST", path, body, headers=as_text)[0] == 400
    assert call(grafana, "POST", path, body, headers=EDITOR)[0] == 400  # no Content-Type
    assert not grafana.dashboards and not grafana.folders


def test_grafana_dashboard_save_checks_the_model_and_locks_on_the_version(grafana):
    save = "/api/dashboards/db"
    for bad in (
        {"dashboard": "a string"},
        {"dashboard": {"uid": "a", "title": ""}},
        {"dashboard": {"uid": "a", "title": "A", "panels": {}}},
        {"dashboard": board("a/b", "A")},
        {"dashboard": board("x" * 41, "A")},
        {"dashboard": board("a", "A"), "folderUid": "no-such-folder"},
    ):
        assert call(grafana, "POST", save, bad)[0] == 400, bad
    status, saved = call(grafana, "POST", save, {"dashboard": board("a", "A")})
    assert status == 200 and saved["version"] == 1
    # overwrite false: only the version stored now may be saved over
    status, answer = call(grafana, "POST", save, {"dashboard": board("a", "A2", version=0)})
    assert (status, answer["status"]) == (412, "version-mismatch")
    assert call(grafana, "POST", save, {"dashboard": board("a", "A2", version=1)})[0] == 200
    stale = {"dashboard": board("a", "A3", version=1), "overwrite": False}
    assert call(grafana, "POST", save, stale)[0] == 412
    assert call(grafana, "POST", save, {**stale, "overwrite": True})[0] == 200
    status, answer = call(grafana, "POST", save, {"dashboard": board("b", "A3")})
    assert (status, answer["status"]) == (412, "name-exists")  # same title, same folder


def test_grafana_folders_list_get_update_and_delete_with_their_dashboards(grafana):
    assert call(grafana, "POST", "/api/folders", {"uid": "f1", "title": "One"})[0] == 200
    assert call(grafana, "POST", "/api/folders", {"uid": "f2", "title": "Two"})[0] == 200
    assert call(grafana, "POST", "/api/folders", {"uid": "f3", "title": "One"})[0] == 409
    assert call(grafana, "POST", "/api/folders", {"uid": "a/b", "title": "X"})[0] == 400
    assert call(grafana, "POST", "/api/folders", {"uid": "f4", "title": ""})[0] == 400
    status, listed = call(grafana, "GET", "/api/folders")
    assert status == 200 and [f["uid"] for f in listed] == ["f1", "f2"]
    assert [f["uid"] for f in call(grafana, "GET", "/api/folders", limit=1, page=2)[1]] == ["f2"]
    assert call(grafana, "GET", "/api/folders/nope")[0] == 404

    status, folder = call(grafana, "PUT", "/api/folders/f1", {"title": "Uno", "version": 1})
    assert status == 200 and folder["version"] == 2
    stale = {"title": "Eins", "version": 1}
    assert call(grafana, "PUT", "/api/folders/f1", stale)[1]["status"] == "version-mismatch"
    assert call(grafana, "PUT", "/api/folders/f1", {**stale, "overwrite": True})[0] == 200
    assert call(grafana, "PUT", "/api/folders/f1", {"title": "Two", "overwrite": True})[0] == 409
    assert call(grafana, "PUT", "/api/folders/nope", {"title": "X", "overwrite": True})[0] == 404

    for uid, folder_uid in (("d1", "f1"), ("d2", "f1"), ("d3", "f2")):
        body = {"dashboard": board(uid, uid.upper()), "folderUid": folder_uid}
        assert call(grafana, "POST", "/api/dashboards/db", body)[0] == 200
    assert call(grafana, "DELETE", "/api/folders/f1")[0] == 200
    assert set(grafana.dashboards) == {"d3"}, "deleting a folder deletes its dashboards"
    assert call(grafana, "GET", "/api/dashboards/uid/d1")[0] == 404
    assert call(grafana, "DELETE", "/api/folders/f1")[0] == 404


def test_grafana_search_filters_by_type_folder_uid_and_tag_and_honours_the_limit(grafana):
    grafana.add_folder("f1", "Folder one")
    grafana.add_folder("f2", "Folder two")
    for n in range(6):
        grafana.add_dashboard(board(f"d{n}", f"Board {n}", tags=["slo"] if n % 2 else []), "f1")
    grafana.add_dashboard(board("other", "Board in two", tags=["slo"]), "f2")

    def uids(**params):
        status, hits = call(grafana, "GET", "/api/search", **params)
        assert status == 200
        return [h["uid"] for h in hits]

    assert uids(type="dash-folder") == ["f1", "f2"]
    assert uids(type="dash-db") == ["d0", "d1", "d2", "d3", "d4", "d5", "other"]
    assert set(uids()) == {"f1", "f2", "d0", "d1", "d2", "d3", "d4", "d5", "other"}
    assert uids(type="dash-db", folderUIDs="f2") == ["other"]
    assert uids(type="dash-db", dashboardUIDs="d1,d2") == ["d1", "d2"]
    assert uids(type="dash-db", tag="slo") == ["d1", "d3", "d5", "other"]
    assert uids(type="dash-db", tag="slo", folderUIDs="f1", limit=2) == ["d1", "d3"]
    assert uids(type="dash-db", tag="slo", folderUIDs="f1", limit=2, page=2) == ["d5"]
    assert uids(type="dash-db", query="in two") == ["other"]


# --- Mimir: rule groups as Prometheus validates them ------------------------------------------
GOOD_GROUP = {
    "name": "g",
    "interval": "1m",
    "rules": [
        {"record": "job:up:sum", "expr": "sum by (job) (up)", "labels": {"team": "a"}},
        {
            "alert": "Down",
            "expr": "job:up:sum == 0",
            "for": "5m",
            "labels": {"severity": "page"},
            "annotations": {"summary": "{{ $labels.job }} is down"},
        },
    ],
}
BAD_GROUPS = {
    "unparsable expr": {"name": "g", "rules": [{"record": "a:b", "expr": "sum(("}]},
    "record and alert": {"name": "g", "rules": [{"record": "a:b", "alert": "A", "expr": "up"}]},
    "neither record nor alert": {"name": "g", "rules": [{"expr": "up"}]},
    "no expr": {"name": "g", "rules": [{"record": "a:b"}]},
    "unknown rule key": {"name": "g", "rules": [{"record": "a:b", "expr": "up", "bogus": 1}]},
    "unknown group key": {"name": "g", "bogus": 1, "rules": []},
    "no name": {"name": "", "rules": [{"record": "a:b", "expr": "up"}]},
    "bad record name": {"name": "g", "rules": [{"record": "a-b", "expr": "up"}]},
    "annotations on a record": {
        "name": "g",
        "rules": [{"record": "a:b", "expr": "up", "annotations": {"x": "y"}}],
    },
    "bad label name": {
        "name": "g",
        "rules": [{"alert": "A", "expr": "up", "labels": {"a-b": "x"}}],
    },
    "bad duration": {"name": "g", "rules": [{"alert": "A", "expr": "up", "for": "5 minutes"}]},
}


def post_group(fake, group) -> int:
    response = requests.post(
        fake.url + "/prometheus/config/v1/rules/ns",
        data=yaml.safe_dump(group),
        headers=TENANT,
        timeout=5,
    )
    return response.status_code


@pytest.mark.parametrize("case", sorted(BAD_GROUPS))
def test_mimir_refuses_a_rule_group_prometheus_refuses(case):
    with FakeMimir() as mimir:
        assert post_group(mimir, BAD_GROUPS[case]) == 400
        assert post_group(mimir, GOOD_GROUP) == 202
        assert [g["name"] for g in mimir.rules["t1"]["ns"]] == ["g"]
        assert mimir.rules["t1"]["ns"][0] == GOOD_GROUP


@needs_promtool
@pytest.mark.parametrize("case", sorted(BAD_GROUPS))
def test_promtool_refuses_each_group_the_fake_mimir_refuses(case, tmp_path):
    """The other half of the contract: the refusals are Prometheus' own, not the fake's."""

    def check(group) -> int:
        path = tmp_path / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": [group]}))
        argv = ["promtool", "check", "rules", str(path)]
        return subprocess.run(argv, capture_output=True, timeout=60).returncode

    assert check(BAD_GROUPS[case]) != 0
    assert check(GOOD_GROUP) == 0


# --- Mimir: the tenant's Alertmanager config as Alertmanager validates it ----------------------
GOOD_CONFIG = {
    "route": {
        "receiver": "default",
        "routes": [{"receiver": "pager", "matchers": ['severity="page"']}],
    },
    "receivers": [{"name": "default"}, {"name": "pager"}],
}
BAD_CONFIGS = {
    "undefined receiver": {**GOOD_CONFIG, "receivers": [{"name": "default"}]},
    "no route": {"receivers": [{"name": "default"}]},
    "root route without receiver": {**GOOD_CONFIG, "route": {"group_by": ["alertname"]}},
    "root route with matchers": {
        **GOOD_CONFIG,
        "route": {"receiver": "default", "matchers": ['a="b"']},
    },
    "repeated receiver": {**GOOD_CONFIG, "receivers": [{"name": "default"}] * 2},
    "unknown key": {**GOOD_CONFIG, "bogus": 1},
}


def post_config(fake, config) -> int:
    body = {"alertmanager_config": yaml.safe_dump(config), "template_files": {}}
    response = requests.post(
        fake.url + "/api/v1/alerts", data=yaml.safe_dump(body), headers=TENANT, timeout=5
    )
    return response.status_code


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_mimir_refuses_an_alertmanager_config_alertmanager_refuses(case):
    with FakeMimir() as mimir:
        assert post_config(mimir, BAD_CONFIGS[case]) == 400
        assert "t1" not in mimir.alertmanager
        assert post_config(mimir, GOOD_CONFIG) == 201


@needs_amtool
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_amtool_refuses_each_config_the_fake_mimir_refuses(case, tmp_path):
    def check(config) -> int:
        path = tmp_path / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config))
        argv = ["amtool", "check-config", str(path)]
        return subprocess.run(argv, capture_output=True, timeout=60).returncode

    assert check(BAD_CONFIGS[case]) != 0
    assert check(GOOD_CONFIG) == 0
