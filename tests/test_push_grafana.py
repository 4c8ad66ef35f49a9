"""Push to a fake Grafana that implements the documented API: folders, managed dashboards,
errors, faults."""

import pytest
from fakes.grafana import FakeGrafana
from fakes.server import Response
from support.outtrees import (
    dashboard,
    diff,
    push,
    settings,
    specs,
    write_dashboard,
    write_rules,
)

from compiler.core import conventions
from compiler.push import endpoints as ep
from compiler.push import runner
from compiler.push.grafana import RECORD_KEY, Grafana
from compiler.push.transport import PushError, Secret


@pytest.fixture
def grafana():
    with FakeGrafana() as fake:
        yield fake


def endpoints_for(fake, token=None, timeout=10.0) -> ep.Endpoints:
    return ep.Endpoints(
        {"grafana": Grafana(fake.url, Secret(token or fake.token))}, timeout=timeout
    )


def recorded(grafana) -> dict[str, str]:
    """Dashboard uid -> folder uid, as slo's record in Grafana lists them."""
    record = grafana.dashboards[conventions.GRAFANA_RECORD_UID]["dashboard"]
    return record[RECORD_KEY]["dashboards"]


def boards(grafana) -> set[str]:
    """The uids of the dashboards in Grafana, slo's record left out."""
    return set(grafana.dashboards) - {conventions.GRAFANA_RECORD_UID}


def deletes(grafana) -> list[str]:
    return [r.path for r in grafana.log if r.method == "DELETE"]


def out_tree(tmp_path, services=("checkout",), overview=True):
    out = tmp_path / "out"
    model = write_rules(specs(tmp_path), out)
    for service in services:
        write_dashboard(out, conventions.dashboard_file(service), dashboard(service))
    if overview:
        body = {**dashboard("x"), "uid": conventions.OVERVIEW_UID, "title": "SLO overview"}
        write_dashboard(out, conventions.OVERVIEW_DASHBOARD_FILE, body)
    return model, out


def test_push_creates_team_folders_and_managed_dashboards_then_changes_nothing(tmp_path, grafana):
    model, out = out_tree(tmp_path)
    report = push(endpoints_for(grafana), model, out)["grafana"]
    assert report.status == "pushed", report.errors
    assert (
        report.summary() == "5 created, 0 updated, 0 deleted, 0 unchanged"
    )  # 2 folders, 2 dashboards, the record of what slo saved

    team_folder = conventions.grafana_folder_uid("payments")  # checkout belongs to team payments
    assert grafana.folders[team_folder]["title"] == "payments"
    assert conventions.GRAFANA_SHARED_FOLDER_UID in grafana.folders
    saved = grafana.dashboards[conventions.dashboard_uid("checkout")]
    assert saved["folderUid"] == team_folder
    assert saved["message"] == "slo push from grafana/dashboards/checkout.json"
    assert conventions.GRAFANA_MANAGED_TAG in saved["dashboard"]["tags"]
    assert (
        grafana.dashboards[conventions.OVERVIEW_UID]["folderUid"]
        == conventions.GRAFANA_SHARED_FOLDER_UID
    )
    assert recorded(grafana) == {"slo-checkout": team_folder, "slo-overview": "slo"}
    assert grafana.dashboards[conventions.GRAFANA_RECORD_UID]["folderUid"] == "slo"
    posts = [r.json() for r in grafana.writes() if r.path == "/api/dashboards/db"]
    assert all(p["dashboard"]["id"] is None for p in posts)
    # Dashboards are saved with the version read in the plan (0: new), never overwriting blind;
    # the record is slo's alone and overwrites.
    saves = {p["dashboard"]["uid"]: (p["overwrite"], p["dashboard"].get("version")) for p in posts}
    assert saves == {
        "slo-checkout": (False, 0),
        "slo-overview": (False, 0),
        conventions.GRAFANA_RECORD_UID: (True, None),
    }

    writes = len(grafana.writes())
    again = push(endpoints_for(grafana), model, out)["grafana"]
    assert again.summary() == "0 created, 0 updated, 0 deleted, 2 unchanged"
    assert len(grafana.writes()) == writes, "a push without changes wrote to Grafana"


def test_a_dashboard_without_the_managed_tag_is_tagged_on_push(tmp_path, grafana):
    model, out = out_tree(tmp_path, overview=False)
    body = {**dashboard("checkout"), "tags": ["slo"]}
    write_dashboard(out, conventions.dashboard_file("checkout"), body)
    assert push(endpoints_for(grafana), model, out)["grafana"].status == "pushed"
    assert grafana.dashboards["slo-checkout"]["dashboard"]["tags"] == [
        "slo",
        conventions.GRAFANA_MANAGED_TAG,
    ]


def test_a_foreign_tagged_dashboard_in_another_folder_survives_prune(tmp_path, grafana):
    """Before, --prune deleted every dashboard carrying the slo-managed tag: anyone's."""
    grafana.add_folder("team-x", "team x")
    theirs = {"uid": "team-board", "title": "Team board", "tags": [conventions.GRAFANA_MANAGED_TAG]}
    grafana.add_dashboard(theirs, "team-x")
    model, out = out_tree(tmp_path)
    report = push(endpoints_for(grafana), model, out, prune=True)["grafana"]
    assert report.status == "pushed" and report.plan.counts()["deleted"] == 0, report.errors
    assert "team-board" in grafana.dashboards and not deletes(grafana)


def test_only_dashboards_slo_recorded_are_pruned_and_only_with_prune(tmp_path, grafana):
    """A tag and a prefix are not ownership: tagged dashboards slo did not save survive --prune,
    in another team's folder and in slo's own; the one slo saved and no longer generates goes
    with --prune only, and the report says why it is slo's."""
    grafana.add_folder("team-x", "team x")
    tagged = ["slo", conventions.GRAFANA_MANAGED_TAG]
    grafana.add_dashboard({"uid": "team-board", "title": "Team board", "tags": tagged}, "team-x")
    model, out = out_tree(tmp_path)
    write_dashboard(out, conventions.dashboard_file("retired"), dashboard("retired"))
    assert push(endpoints_for(grafana), model, out)["grafana"].status == "pushed"
    assert recorded(grafana)["slo-retired"] == "slo"
    grafana.add_dashboard(
        {"uid": "slo-copy", "title": "SLO: checkout (copy)", "tags": tagged}, "slo-payments"
    )
    (out / conventions.dashboard_file("retired")).unlink()

    kept = push(endpoints_for(grafana), model, out)["grafana"]
    assert kept.status == "pushed" and kept.plan.counts()["deleted"] == 0, kept.errors
    assert [n for n in kept.plan.notes if "slo-retired" in n and "--prune deletes it" in n]
    assert "slo-retired" in grafana.dashboards and recorded(grafana)["slo-retired"] == "slo"
    assert not deletes(grafana)

    pruned = push(endpoints_for(grafana), model, out, prune=True)["grafana"]
    assert pruned.status == "pushed", pruned.errors
    assert [(c.object, c.details) for c in pruned.plan.changes if c.kind == "deleted"] == [
        (
            "dashboard slo-retired (SLO: retired)",
            (
                "slo's: saved by slo push into folder slo, listed in its record (dashboard "
                "slo_push_record), still there and still tagged slo-managed; out/ no longer has it",
            ),
        )
    ]
    assert deletes(grafana) == ["/api/dashboards/uid/slo-retired"]
    assert boards(grafana) == {"slo-checkout", "slo-overview", "team-board", "slo-copy"}
    assert grafana.dashboards["team-board"]["dashboard"]["version"] == 1
    assert grafana.dashboards["slo-copy"]["dashboard"]["version"] == 1
    assert "slo-retired" not in recorded(grafana)
    unrecorded = [n for n in pruned.plan.notes if "slo's record does not list it" in n]
    assert len(unrecorded) == 2
    assert "dashboard team-board (Team board) in folder team-x" in unrecorded[1]


def test_a_recorded_dashboard_moved_or_untagged_since_is_no_longer_slos(tmp_path, grafana):
    grafana.add_folder("team-x", "team x")
    model, out = out_tree(tmp_path, overview=False)
    for name in ("moved", "untagged"):
        write_dashboard(out, conventions.dashboard_file(name), dashboard(name))
    assert push(endpoints_for(grafana), model, out)["grafana"].status == "pushed"
    grafana.dashboards["slo-moved"]["folderUid"] = "team-x"  # a team took it over
    grafana.dashboards["slo-untagged"]["dashboard"]["tags"] = ["slo"]
    for name in ("moved", "untagged"):
        (out / conventions.dashboard_file(name)).unlink()

    report = push(endpoints_for(grafana), model, out, prune=True)["grafana"]
    assert report.status == "pushed", report.errors
    assert not deletes(grafana) and {"slo-moved", "slo-untagged"} <= boards(grafana)
    notes = " ".join(report.plan.notes)
    assert "slo saved it into folder slo, but it is in folder team-x now, so no longer" in notes
    assert "slo-untagged (SLO: untagged): no longer tagged slo-managed, so no longer" in notes
    assert recorded(grafana) == {"slo-checkout": "slo-payments"}


def test_entries_of_the_record_that_are_not_uids_slo_could_have_saved_are_ignored(
    tmp_path, grafana
):
    model, out = out_tree(tmp_path, overview=False)
    assert push(endpoints_for(grafana), model, out)["grafana"].status == "pushed"
    grafana.add_dashboard({"uid": "x", "title": "X", "tags": [conventions.GRAFANA_MANAGED_TAG]})
    record = grafana.dashboards[conventions.GRAFANA_RECORD_UID]["dashboard"][RECORD_KEY]
    planted = {"../x": "slo", "a/b": "slo", "x": "../slo", "y": 7, "z" * 41: "slo"}
    record["dashboards"].update(planted)

    report = push(endpoints_for(grafana), model, out, prune=True)["grafana"]
    assert report.status == "pushed", report.errors
    ignored = [n for n in report.plan.notes if "not a dashboard slo could have saved" in n]
    assert len(ignored) == len(planted)
    assert not deletes(grafana) and "x" in grafana.dashboards
    assert recorded(grafana) == {"slo-checkout": "slo-payments"}, "written again without them"
    assert [c.kind for c in report.plan.pending] == ["updated"]


def test_a_foreign_dashboard_at_the_record_uid_is_never_overwritten(tmp_path, grafana):
    grafana.add_dashboard({"uid": conventions.GRAFANA_RECORD_UID, "title": "Mine", "tags": []})
    model, out = out_tree(tmp_path, overview=False)
    report = push(endpoints_for(grafana), model, out)["grafana"]
    assert report.status == "failed" and "that is not slo's record" in report.errors[0]
    assert not grafana.writes()


def test_a_foreign_dashboard_with_a_generated_uid_or_title_is_never_overwritten(tmp_path, grafana):
    model, out = out_tree(tmp_path, overview=False)
    grafana.add_dashboard({"uid": "slo-checkout", "title": "Hand made", "tags": []})
    report = push(endpoints_for(grafana), model, out)["grafana"]
    assert report.status == "failed"
    assert "slo does not manage (no slo-managed tag); refusing to overwrite it" in report.errors[0]
    assert grafana.dashboards["slo-checkout"]["dashboard"]["title"] == "Hand made"
    assert not grafana.writes()

    del grafana.dashboards["slo-checkout"]
    grafana.add_folder("slo-payments", "payments")
    grafana.add_dashboard(
        {"uid": "hand-made", "title": "SLO: checkout", "tags": []}, folder_uid="slo-payments"
    )
    clash = push(endpoints_for(grafana), model, out)["grafana"]
    assert (
        clash.status == "failed"
        and "already has a dashboard titled 'SLO: checkout' (uid hand-made)" in clash.errors[0]
    )
    assert not grafana.writes()


def test_credentials_and_permission_errors_say_what_to_do_without_the_token(tmp_path, grafana):
    model, out = out_tree(tmp_path)
    wrong = push(endpoints_for(grafana, token="glsa_wrong_secret"), model, out)["grafana"]
    assert wrong.status == "failed"
    assert (
        "rejected the credentials (401)" in wrong.errors[0]
        and "SLO_GRAFANA_TOKEN" in wrong.errors[0]
    )
    assert "glsa_wrong_secret" not in " ".join(wrong.errors)

    viewer = push(endpoints_for(grafana, token=grafana.viewer_token), model, out)["grafana"]
    assert viewer.status == "failed" and "may not do this (403)" in viewer.errors[0]
    assert not grafana.dashboards


def test_412_and_400_answers_are_explained(tmp_path, grafana):
    model, out = out_tree(tmp_path, overview=False)
    original = (
        grafana.route
    )  # a 412 carries Grafana's JSON body, so it is answered by a route, not a fault

    def route(request):
        if request.path == "/api/dashboards/db":
            return Response.json(
                412,
                {
                    "message": "A dashboard with the same name in the folder already exists",
                    "status": "name-exists",
                },
            )
        return original(request)

    grafana.route = route
    report = push(endpoints_for(grafana), model, out)["grafana"]
    assert report.status == "failed"
    assert "same title or uid in that folder (412 name-exists)" in report.errors[0]

    grafana.route = original
    long_uid = {**dashboard("checkout"), "uid": "x" * 41}
    write_dashboard(out, conventions.dashboard_file("checkout"), long_uid)
    bad = push(endpoints_for(grafana), model, out)["grafana"]
    assert (
        bad.status == "failed"
        and "rejected it as invalid (400): uid too long, max 40 characters" in bad.errors[0]
    )


def test_push_converges_through_5xx_dropped_connections_and_slow_answers(tmp_path, grafana):
    model, out = out_tree(tmp_path, services=("checkout",))
    grafana.fail("POST", "/api/dashboards/db", status=502, times=2)
    grafana.drop("GET", "/api/dashboards/uid/", times=1)
    grafana.slow(
        "POST", "/api/folders", delay=1.0, times=1
    )  # answered after the client gave up; still carried out
    report = push(endpoints_for(grafana, timeout=0.3), model, out)["grafana"]
    assert report.status == "pushed", report.errors
    assert report.summary() == "5 created, 0 updated, 0 deleted, 0 unchanged"
    assert boards(grafana) == {"slo-checkout", "slo-overview"}
    assert not any(f.times for f in grafana.faults), "every injected fault was met"
    assert not diff(endpoints_for(grafana), model, out)["grafana"].changed


def test_a_persistent_5xx_is_reported_restored_and_a_later_push_converges(tmp_path, grafana):
    model, out = out_tree(tmp_path)
    # The first try and all 3 retries of one dashboard fail; the other dashboard is not affected.
    grafana.fail(
        "POST", "/api/dashboards/db", status=500, times=4, body_contains=b'"uid": "slo-checkout"'
    )
    report = push(endpoints_for(grafana), model, out)["grafana"]
    assert report.status == "failed"
    assert report.errors[0].startswith("1 of 2 dashboard writes failed")
    assert "HTTP 500" in report.errors[0] and "after 4 attempts" in report.errors[0]
    # The other dashboard was saved, then taken back with the team's folder the push created:
    # Grafana is as it was before, not half new, but for slo's record (which never loses a
    # dashboard slo may have left) in its folder.
    assert report.restore is not None and report.restore.summary().startswith("restored: ")
    assert boards(grafana) == set()
    assert set(grafana.folders) == {conventions.GRAFANA_SHARED_FOLDER_UID}

    again = push(endpoints_for(grafana), model, out)["grafana"]
    assert (
        again.status == "pushed"
        and again.summary() == "3 created, 0 updated, 0 deleted, 0 unchanged"  # 1 folder, 2
    )


def test_a_changed_dashboard_is_an_update_and_id_or_version_alone_is_not(tmp_path, grafana):
    model, out = out_tree(tmp_path, overview=False)
    assert push(endpoints_for(grafana), model, out)["grafana"].status == "pushed"
    stored = grafana.dashboards["slo-checkout"]["dashboard"]
    stored["version"], stored["id"] = 42, 4242  # Grafana's own bookkeeping
    assert not diff(endpoints_for(grafana), model, out)["grafana"].changed

    write_dashboard(out, conventions.dashboard_file("checkout"), dashboard("checkout", panels=2))
    report = diff(endpoints_for(grafana), model, out)["grafana"]
    assert [(c.kind, c.object, c.details) for c in report.plan.pending] == [
        (
            "updated",
            "dashboard slo-checkout (grafana/dashboards/checkout.json)",
            ("panels differs",),
        )
    ]


def test_a_write_that_timed_out_but_landed_is_not_reported_as_missing(tmp_path, grafana):
    """Every try of one save answers after the client gave up, yet Grafana saved it: reading
    back says so."""
    model, out = out_tree(tmp_path, overview=False)
    grafana.slow(
        "POST", "/api/dashboards/db", delay=0.5, times=4, body_contains=b'"uid": "slo-checkout"'
    )
    report = push(endpoints_for(grafana, timeout=0.2), model, out)["grafana"]
    assert report.status == "pushed", report.errors
    assert any("reading back shows every object in place" in note for note in report.plan.notes)
    assert "slo-checkout" in grafana.dashboards


def test_after_failed_writes_the_report_lists_exactly_what_did_not_land(tmp_path, grafana):
    model, out = out_tree(tmp_path)
    grafana.fail(
        "POST", "/api/dashboards/db", status=500, times=4, body_contains=b'"uid": "slo-overview"'
    )
    grafana.slow(  # the other save: late every time, but carried out
        "POST", "/api/dashboards/db", delay=0.5, times=4, body_contains=b'"uid": "slo-checkout"'
    )
    report = push(endpoints_for(grafana, timeout=0.2), model, out)["grafana"]
    assert report.status == "failed"
    missing = [e for e in report.errors if e.startswith("not in place after the push: ")]
    assert missing == [
        "not in place after the push: dashboard slo-overview (grafana/dashboards/overview.json): "
        "created after push (not saved)"
    ]
    # Then the push restores: the dashboard that landed is deleted again. A save answered too
    # late may still land after that (no client can stop it), and slo's record keeps listing it.
    assert report.restore is not None and report.restore.objects == 4  # 2 folders too
    grafana.settle()
    assert boards(grafana) <= {"slo-checkout"}
    record = grafana.dashboards[conventions.GRAFANA_RECORD_UID]["dashboard"]
    assert set(record["sloPushRecord"]["dashboards"]) == {"slo-checkout", "slo-overview"}


def test_a_dashboard_changed_between_plan_and_save_is_refused_not_overwritten(tmp_path, grafana):
    """Optimistic locking: push saves with the version it read, so an edit made in Grafana after
    the plan (which the plan never showed) is kept; Grafana answers 412 version-mismatch and the
    push fails saying to run it again. The next push, which sees the edit, overwrites it."""
    model, out = out_tree(tmp_path, overview=False)
    assert push(endpoints_for(grafana), model, out)["grafana"].status == "pushed"
    changed = {**dashboard("checkout"), "title": "SLO: checkout (v2)"}
    write_dashboard(out, conventions.dashboard_file("checkout"), changed)
    pushers, _ = runner.build(endpoints_for(grafana), model, settings(out))
    (pusher,) = pushers
    plan = pusher.plan()
    assert [c.kind for c in plan.pending] == ["updated"]
    # Someone saves the dashboard in the UI after the plan was read:
    stored = grafana.dashboards["slo-checkout"]["dashboard"]
    stored.update(description="edited in the UI", version=stored["version"] + 1)
    with pytest.raises(PushError, match=r"changed in Grafana while slo was saving it \(412"):
        pusher.apply(plan, lambda n: None)
    assert grafana.dashboards["slo-checkout"]["dashboard"]["description"] == "edited in the UI"

    again = push(endpoints_for(grafana), model, out)["grafana"]
    assert again.status == "pushed", again.errors
    live = grafana.dashboards["slo-checkout"]["dashboard"]
    assert live["title"] == "SLO: checkout (v2)" and "description" not in live
