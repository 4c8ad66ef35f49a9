"""Grafana: folders per team, dashboards by uid, and only dashboards slo saved are ever deleted.

Push adds the managed tag (conventions.GRAFANA_MANAGED_TAG) to every dashboard it saves. An
existing dashboard with a generated uid but without the tag belongs to someone else, and push
refuses to overwrite it. So does a dashboard with the same title in the target folder, which
Grafana would otherwise refuse (412) or merge.

A tag is not ownership: anyone can add it, and "Save as" copies it. What push may delete is
what its record lists: a dashboard in Grafana itself (conventions.GRAFANA_RECORD_UID, in the
shared folder) whose JSON lists every dashboard uid slo saved and the folder it saved it in.
The record is widened before dashboards are saved (a crash leaves a recorded dashboard, never
an unrecorded one) and narrowed after deletes. Only with --prune, and only a dashboard that the
record lists, out/ no longer has, and that is still in the folder slo saved it in and still
tagged, is deleted; every other stale one is a note in the report. Living in Grafana, the record
is the same for every machine that pushes (a CI job on a fresh clone included).

A push whose dashboards are not in place afterwards (read back) is restored: every dashboard it
saved or deleted is saved again as plan() read it, those it created are deleted, and so are the
folders it created while they hold no dashboard. The record stays as the push widened it: it
may list a dashboard that is gone (left out at the next push), never miss one slo may have left
(a save answered too late can still land after the restore).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import parallel
from compiler.push import restore as restoring
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress, Restore
from compiler.push.transport import HttpError, PushError, Secret, Transport

DASHBOARDS_IN_OUT = Path("grafana") / "dashboards"
IGNORED_FIELDS = ("id", "version")  # set by Grafana on every save
SEARCH_PAGE = 5000  # Grafana's maximum page size
UID = re.compile(r"[A-Za-z0-9_-]{1,40}")  # what Grafana accepts as a dashboard or folder uid
RECORD_KEY = "sloPushRecord"  # in the record dashboard's JSON: {"dashboards": {uid: folder uid}}
RECORD_OBJECT = f"record {conventions.GRAFANA_RECORD_UID} (the dashboards slo saved)"
RECORD_TEXT = (
    "slo push keeps here its record of the dashboards it saved in this Grafana: their uids and "
    f"folders, in this dashboard's JSON model under `{RECORD_KEY}`. `slo push --prune` deletes "
    "only dashboards listed here that slo no longer generates, and only while they are still in "
    f"the folder slo saved them in and still tagged `{conventions.GRAFANA_MANAGED_TAG}`; a tag "
    "alone never makes a dashboard slo's. Written by slo push: do not edit. Deleted, the record "
    "starts again from the dashboards slo generates, and none saved before is ever pruned."
)


@dataclass(frozen=True)
class Grafana:
    url: str
    token: Secret | None


@dataclass(frozen=True)
class Folder:
    uid: str
    title: str


@dataclass(frozen=True)
class Dashboard:
    file: str  # path under out/, for messages and the version note
    body: dict  # the JSON, managed tag included
    folder: Folder

    @property
    def uid(self) -> str:
        return str(self.body["uid"])  # load_dashboards made sure it is a string

    @property
    def title(self) -> str:
        return str(self.body.get("title", ""))


@dataclass
class Work:
    folders: list[Folder] = field(default_factory=list)
    save: list[Dashboard] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    record: dict[str, str] | None = None  # written before any save: what was and will be slo's
    record_after: dict[str, str] | None = None  # written after the deletes, when it is smaller
    # uid -> the version plan() read; a save sends it, so that Grafana refuses (412
    # version-mismatch) a dashboard changed since, instead of overwriting a change nobody saw
    versions: dict[str, int] = field(default_factory=dict)
    # uid -> the dashboard as plan() read it ({"dashboard", "folderUid"}), None where there was
    # none. apply() keeps those it writes in the snapshot, restore() puts them back.
    previous: dict[str, dict | None] = field(default_factory=dict)
    snapshot: restoring.Snapshot[str, dict] = field(default_factory=restoring.Snapshot)
    folders_created: list[Folder] = field(default_factory=list)


@dataclass
class Record:
    """Push's record as read back from Grafana: dashboard uid -> folder uid slo saved it in."""

    dashboards: dict[str, str] = field(default_factory=dict)
    exists: bool = False
    clean: bool = True  # False when entries were ignored: then it is written again without them


def shared_folder() -> Folder:
    return Folder(conventions.GRAFANA_SHARED_FOLDER_UID, conventions.GRAFANA_SHARED_FOLDER_TITLE)


def record_body(dashboards: dict[str, str]) -> dict:
    """The record dashboard: a text panel saying what it is, the record in its JSON."""
    return {
        "uid": conventions.GRAFANA_RECORD_UID,
        "title": conventions.GRAFANA_RECORD_TITLE,
        "tags": [conventions.GRAFANA_MANAGED_TAG],
        "editable": False,
        "schemaVersion": conventions.GRAFANA_SCHEMA_VERSION,
        "panels": [
            {
                "id": 1,
                "type": "text",
                "title": "What slo push may delete",
                "gridPos": {"h": 8, "w": 24, "x": 0, "y": 0},
                "options": {"mode": "markdown", "content": RECORD_TEXT},
            }
        ],
        RECORD_KEY: {"dashboards": dict(sorted(dashboards.items()))},
    }


def load_dashboards(out_dir: Path, folder_of: dict[str, Folder]) -> list[Dashboard]:
    """Every dashboard under out/, with the managed tag added and its folder attached."""
    found = []
    shared = shared_folder()
    for path in sorted((Path(out_dir) / DASHBOARDS_IN_OUT).glob("*.json")):
        rel = path.relative_to(out_dir).as_posix()
        try:
            body = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise PushError(f"{rel}: not valid JSON ({exc})") from None
        if not isinstance(body, dict) or not isinstance(body.get("uid"), str) or not body["uid"]:
            raise PushError(f"{rel}: a dashboard needs a string uid")
        if body["uid"] == conventions.GRAFANA_RECORD_UID:
            raise PushError(f"{rel}: uid {body['uid']} is where slo push keeps its record")
        tags = list(body.get("tags") or [])
        if conventions.GRAFANA_MANAGED_TAG not in tags:
            tags.append(conventions.GRAFANA_MANAGED_TAG)
        found.append(Dashboard(rel, {**body, "tags": tags}, folder_of.get(rel, shared)))
    return found


def comparable(dashboard: dict) -> dict:
    return {k: v for k, v in dashboard.items() if k not in IGNORED_FIELDS}


def explain(exc: HttpError, what: str) -> PushError:
    """A Grafana error answer in words that say what to do."""
    status = exc.status
    reason = ""
    try:
        body = json.loads(exc.body)
        reason, detail = body.get("status", ""), body.get("message", "")
    except (ValueError, AttributeError):
        detail = exc.body
    if status == 401:
        return PushError(
            f"{what}: Grafana rejected the credentials (401); set a valid service-account token "
            "in SLO_GRAFANA_TOKEN or SLO_GRAFANA_TOKEN_FILE"
        )
    if status == 403:
        return PushError(
            f"{what}: the token may not do this (403); it needs the Editor role "
            "(dashboards:write, folders:create)"
        )
    if status == 412 and reason == "version-mismatch":
        return PushError(
            f"{what}: changed in Grafana while slo was saving it (412 version-mismatch); "
            "run slo push again"
        )
    if status == 412 and reason == "name-exists":
        return PushError(
            f"{what}: Grafana has a dashboard with the same title or uid in that folder "
            f"(412 name-exists): {detail}"
        )
    if status == 412:
        return PushError(f"{what}: Grafana refused to save it (412 {reason}): {detail}")
    if status == 400:
        return PushError(f"{what}: Grafana rejected it as invalid (400): {detail}")
    return PushError(f"{what}: {exc}")


class GrafanaPusher:
    name = "grafana"

    def __init__(
        self,
        endpoint: Grafana,
        out_dir: Path,
        folder_of: dict[str, Folder],
        transport: Transport,
        prune: bool = False,
    ):
        self.endpoint = endpoint
        self.http = transport
        self.prune = prune
        self.dashboards = load_dashboards(out_dir, folder_of)

    def _call(
        self, method: str, path: str, ok: tuple[int, ...], what: str, **kwargs: Any
    ) -> requests.Response:
        try:
            return self.http.expect(self.http.request(method, path, **kwargs), ok, what)
        except HttpError as exc:
            raise explain(exc, what) from None

    def preflight(self) -> None:
        response = self._call("GET", "/api/health", (200,), "Grafana health (/api/health)")
        if response.json().get("database") != "ok":
            raise PushError(f"Grafana reports its database as {response.json().get('database')!r}")

    # -- reading -------------------------------------------------------------------------
    def plan(self) -> Plan:
        plan, work = Plan(), Work()
        record = self.read_record(plan)
        for folder in sorted(
            {d.folder for d in self.dashboards} | {shared_folder()}, key=lambda f: f.uid
        ):
            response = self._call(
                "GET",
                f"/api/folders/{quote(folder.uid, safe='')}",
                (200, 404),
                f"folder {folder.uid}",
            )
            if response.status_code == 404:
                work.folders.append(folder)
                plan.changes.append(Change("created", f"folder {folder.uid} ({folder.title})"))
        for dashboard in self.dashboards:
            change = self._plan_dashboard(dashboard, work.versions, work.previous)
            plan.changes.append(change)
            if change.kind != "unchanged":
                work.save.append(dashboard)
        generated = {d.uid: d.folder.uid for d in self.dashboards}
        kept = self._plan_stale(record, generated, plan, work)
        if self.prune:
            self._note_unrecorded(record, generated, plan)
        after = {**kept, **generated}
        if not (record.exists and record.clean and record.dashboards == after):
            work.record = {**record.dashboards, **after}
            work.record_after = after if after != work.record else None
            added = len(set(after) - set(record.dashboards))
            removed = len(set(record.dashboards) - set(after))
            plan.changes.append(
                Change(
                    "updated" if record.exists else "created",
                    RECORD_OBJECT,
                    (f"lists {len(after)} dashboard(s): {added} added, {removed} removed",),
                )
            )
        writes = len(work.folders) + len(work.save) + len(work.delete)
        plan.work = work
        plan.steps = writes + (work.record is not None) + (work.record_after is not None)
        return plan

    def read_record(self, plan: Plan) -> Record:
        """The record in Grafana; an entry that is not a uid slo could have saved is ignored with
        a note (never deleted), and left out when the record is written next."""
        uid = conventions.GRAFANA_RECORD_UID
        what = f"record {uid}"
        response = self._call("GET", f"/api/dashboards/uid/{quote(uid, safe='')}", (200, 404), what)
        if response.status_code == 404:
            return Record()
        live = response.json()
        body = live.get("dashboard") if isinstance(live, dict) else None
        body = body if isinstance(body, dict) else {}
        if conventions.GRAFANA_MANAGED_TAG not in (body.get("tags") or []):
            raise PushError(
                f"{what}: Grafana has a dashboard with uid {uid} that is not slo's record (no "
                f"{conventions.GRAFANA_MANAGED_TAG} tag); refusing to overwrite it"
            )
        data = body.get(RECORD_KEY)
        listed = data.get("dashboards") if isinstance(data, dict) else None
        if not isinstance(listed, dict):
            plan.notes.append(
                f"{what} holds no list of dashboards (edited by hand?): nothing is deleted, "
                "and the record is written again from the dashboards slo generates"
            )
            return Record(exists=True, clean=False)
        record = Record(exists=True)
        for dashboard, folder in listed.items():
            if _is_uid(dashboard) and dashboard != uid and _is_uid(folder):
                record.dashboards[dashboard] = folder
            else:
                record.clean = False
                plan.notes.append(
                    f"{what} lists {dashboard!r} in folder {folder!r}, which is not a dashboard "
                    "slo could have saved: ignored (never deleted), and left out of the record"
                )
        return record

    def _plan_stale(
        self, record: Record, generated: dict[str, str], plan: Plan, work: Work
    ) -> dict[str, str]:
        """Recorded dashboards out/ no longer has: deleted with --prune when still where slo
        saved them and still tagged, else noted. Returns those that stay recorded."""
        kept = {}
        for uid, folder in sorted(record.dashboards.items()):
            if uid in generated:
                continue
            response = self._call(
                "GET", f"/api/dashboards/uid/{quote(uid, safe='')}", (200, 404), f"dashboard {uid}"
            )
            if response.status_code == 404:
                continue  # gone already: left out of the record
            work.previous[uid] = stored(response)
            live = response.json()
            live = live if isinstance(live, dict) else {}
            body, meta = live.get("dashboard"), live.get("meta")
            body, meta = (
                body if isinstance(body, dict) else {},
                meta if isinstance(meta, dict) else {},
            )
            what = f"dashboard {uid} ({body.get('title', '')})"
            now_in = meta.get("folderUid") or ""
            if now_in != folder:
                plan.notes.append(
                    f"{what}: slo saved it into folder {folder}, but it is in folder "
                    f"{now_in or '(root)'} now, so no longer slo's: never deleted, and left out "
                    "of the record"
                )
                continue
            if conventions.GRAFANA_MANAGED_TAG not in (body.get("tags") or []):
                plan.notes.append(
                    f"{what}: no longer tagged {conventions.GRAFANA_MANAGED_TAG}, so no longer "
                    "slo's: never deleted, and left out of the record"
                )
                continue
            why = (
                f"slo's: saved by slo push into folder {folder}, listed in its record "
                f"(dashboard {conventions.GRAFANA_RECORD_UID}), still there and still tagged "
                f"{conventions.GRAFANA_MANAGED_TAG}; out/ no longer has it"
            )
            if self.prune:
                work.delete.append(uid)
                plan.changes.append(Change("deleted", what, (why,)))
            else:
                kept[uid] = folder
                plan.notes.append(f"{what} is no longer generated ({why}); --prune deletes it")
        return kept

    def _note_unrecorded(self, record: Record, generated: dict[str, str], plan: Plan) -> None:
        """With --prune: tagged dashboards the record does not list, which it leaves alone."""
        for found in self.managed():
            uid = found.get("uid")
            if (
                uid in generated
                or uid in record.dashboards
                or uid == conventions.GRAFANA_RECORD_UID
            ):
                continue
            plan.notes.append(
                f"dashboard {uid} ({found.get('title', '')}) in folder "
                f"{found.get('folderUid') or '(root)'} is tagged "
                f"{conventions.GRAFANA_MANAGED_TAG} but slo's record does not list it: not "
                "deleted (a copy someone made, or saved by a slo without a record: delete it by "
                "hand if it is a leftover)"
            )

    def _plan_dashboard(
        self, dashboard: Dashboard, versions: dict[str, int], previous: dict[str, dict | None]
    ) -> Change:
        what = f"dashboard {dashboard.uid} ({dashboard.file})"
        response = self._call(
            "GET", f"/api/dashboards/uid/{quote(dashboard.uid, safe='')}", (200, 404), what
        )
        previous[dashboard.uid] = stored(response)
        if response.status_code == 404:
            self._refuse_title_clash(dashboard)
            return Change("created", what)
        live = response.json()
        body, meta = live.get("dashboard") or {}, live.get("meta") or {}
        if isinstance(body.get("version"), int):
            versions[dashboard.uid] = body["version"]
        if conventions.GRAFANA_MANAGED_TAG not in (body.get("tags") or []):
            raise PushError(
                f"{what}: Grafana already has a dashboard with uid {dashboard.uid} that slo does "
                f"not manage (no {conventions.GRAFANA_MANAGED_TAG} tag); refusing to overwrite it"
            )
        found = []
        if (meta.get("folderUid") or "") != dashboard.folder.uid:
            found.append(f"folder {meta.get('folderUid') or '(root)'} -> {dashboard.folder.uid}")
        want, have = comparable(dashboard.body), comparable(body)
        fields = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        if fields:
            found.append(f"{', '.join(fields)} differ{'s' if len(fields) == 1 else ''}")
            if "title" in fields:
                self._refuse_title_clash(dashboard)
        return Change("updated" if found else "unchanged", what, tuple(found))

    def _refuse_title_clash(self, dashboard: Dashboard) -> None:
        params = {"query": dashboard.title, "type": "dash-db", "limit": SEARCH_PAGE}
        hits = self._call(
            "GET", "/api/search", (200,), f"search for title {dashboard.title!r}", params=params
        ).json()
        for hit in hits:
            if (
                hit.get("title") == dashboard.title
                and hit.get("uid") != dashboard.uid
                and (hit.get("folderUid") or "") == dashboard.folder.uid
            ):
                raise PushError(
                    f"dashboard {dashboard.uid} ({dashboard.file}): folder "
                    f"{dashboard.folder.uid} already has a dashboard titled {dashboard.title!r} "
                    f"(uid {hit.get('uid')}) that slo does not manage; rename one of them"
                )

    def managed(self) -> list[dict]:
        """Every dashboard carrying the managed tag, over all pages of /api/search."""
        found: list[dict] = []
        page = 1
        while True:
            params = {
                "tag": conventions.GRAFANA_MANAGED_TAG,
                "type": "dash-db",
                "limit": SEARCH_PAGE,
                "page": page,
            }
            hits = self._call(
                "GET", "/api/search", (200,), "search for managed dashboards", params=params
            ).json()
            found.extend(
                h for h in hits if conventions.GRAFANA_MANAGED_TAG in (h.get("tags") or [])
            )
            if len(hits) < SEARCH_PAGE:
                return sorted(found, key=lambda h: h["uid"])
            page += 1

    # -- writing -------------------------------------------------------------------------
    def apply(self, plan: Plan, progress: Progress) -> None:
        work: Work = plan.work
        for folder in work.folders:
            work.folders_created.append(folder)
            self._create_folder(folder)
            progress(1)
        if work.record is not None:  # before any save: a crash leaves nothing unrecorded
            try:
                self._save_record(work.record)
            except PushError as exc:
                raise PushError(f"{exc}; no dashboard was saved or deleted") from None
            progress(1)
        recorded = work.record or {}

        def delete(uid: str) -> None:
            if uid not in recorded:  # plan() never asks for this; a guard against a mistake
                raise PushError(
                    f"refusing to delete dashboard {uid}: slo's record does not list it"
                )
            self._delete(uid)

        for uid in [d.uid for d in work.save] + work.delete:
            work.snapshot.keep(uid, work.previous.get(uid))
        errors = parallel.each(
            work.save, lambda d: self._save(d, work.versions.get(d.uid, 0)), progress
        )
        errors += parallel.each(work.delete, delete, progress)
        if errors:
            total = len(work.save) + len(work.delete)
            raise PushError(
                f"{len(errors)} of {total} dashboard writes failed:\n" + "\n".join(errors)
            )
        if work.record_after is not None:  # only once every delete went through
            self._save_record(work.record_after)
            progress(1)

    def _save_record(self, dashboards: dict[str, str]) -> None:
        payload = {
            "dashboard": {**record_body(dashboards), "id": None},
            "folderUid": conventions.GRAFANA_SHARED_FOLDER_UID,
            "message": "slo push: its record of the dashboards it saved",
            "overwrite": True,
        }
        self._call("POST", "/api/dashboards/db", (200,), f"save {RECORD_OBJECT}", json=payload)

    def _create_folder(self, folder: Folder) -> None:
        what = f"create folder {folder.uid}"
        response = self._call(
            "POST",
            "/api/folders",
            (200, 409),
            what,
            json={"uid": folder.uid, "title": folder.title},
        )
        if (
            response.status_code == 409
        ):  # created by a retried request, or a concurrent push: fine if it is ours
            check = self._call(
                "GET", f"/api/folders/{quote(folder.uid, safe='')}", (200, 404), what
            )
            if check.status_code == 404:
                raise PushError(
                    f"{what}: Grafana has another folder titled {folder.title!r} (409); rename it"
                )

    def _save(self, dashboard: Dashboard, version: int) -> None:
        """Save with the version plan() read (0: it was not there). slo's copy wins over edits
        made in the UI before the plan, which it showed; one made since is refused by Grafana
        (412 version-mismatch) rather than overwritten unseen, and the push says to run again."""
        body = {k: v for k, v in dashboard.body.items() if k not in IGNORED_FIELDS}
        payload = {
            "dashboard": {**body, "id": None, "version": version},
            "folderUid": dashboard.folder.uid,
            "message": conventions.grafana_push_message(dashboard.file),
            "overwrite": False,
        }
        self._call(
            "POST", "/api/dashboards/db", (200,), f"save dashboard {dashboard.uid}", json=payload
        )

    def _delete(self, uid: str) -> None:
        if not _is_uid(uid) or uid == conventions.GRAFANA_RECORD_UID:
            raise PushError(f"refusing to delete dashboard {uid!r}: not a uid slo saved")
        self._call(
            "DELETE",
            f"/api/dashboards/uid/{quote(uid, safe='')}",
            (200, 404),
            f"delete dashboard {uid}",
        )

    def verify(self) -> list[str]:
        return [
            f"{c.object}: {c.kind} after push ({'; '.join(c.details) or 'not saved'})"
            for c in self.plan().pending
        ]

    def restore(self, plan: Plan) -> Restore:
        """Every dashboard apply() saved or deleted back as plan() read it, those it created
        deleted, then the folders it created while empty; then read back."""
        work: Work = plan.work
        restored = "the previous dashboards are live again"
        objects = len(work.snapshot) + len(work.folders_created)
        if not objects:
            return Restore(restored, 0)
        errors = restoring.rewiden_record(
            work,
            self._save_record,
            f"{RECORD_OBJECT}: could not list the dashboards put back again",
        )
        failed = restoring.put_back(work.snapshot, self._put_back, self._delete)
        errors += [problem for f in work.folders_created for problem in self._remove_folder(f)]
        now = {uid: self._read(uid) for uid in work.snapshot.before}
        problems = restoring.compare(
            work.snapshot.before,
            {uid: found for uid, found in now.items() if found},
            lambda uid: f"dashboard {uid}",
            _differences,
            failed,
        )
        return restoring.outcome(restored, objects, problems, errors)

    def _put_back(self, uid: str, previous: dict) -> None:
        body = {k: v for k, v in previous["dashboard"].items() if k not in IGNORED_FIELDS}
        payload = {
            "dashboard": {**body, "id": None},
            "folderUid": previous["folderUid"],
            "message": "slo push: restored after a push that did not land",
            "overwrite": True,
        }
        self._call("POST", "/api/dashboards/db", (200,), f"put back dashboard {uid}", json=payload)

    def _remove_folder(self, folder: Folder) -> list[str]:
        """Delete a folder the push created, unless a dashboard is in it (deleting a folder
        deletes its dashboards); what was left, and why. The one holding slo's record stays
        with it, unreported."""
        what = f"folder {folder.uid} ({folder.title})"
        try:
            params = {"folderUIDs": folder.uid, "type": "dash-db", "limit": 2}
            inside = self._call("GET", "/api/search", (200,), f"search {what}", params=params)
            uids = {hit.get("uid") for hit in inside.json() if isinstance(hit, dict)}
            if uids == {conventions.GRAFANA_RECORD_UID}:
                return []
            if uids:
                return [f"{what}: created by the push, left in place: it holds dashboards now"]
            path = f"/api/folders/{quote(folder.uid, safe='')}"
            self._call("DELETE", path, (200, 404), f"delete {what}")
            if self._call("GET", path, (200, 404), what).status_code == 200:
                return [f"{what}: created by the push, still there after deleting it"]
        except PushError as exc:
            return [f"{what}: created by the push, could not be deleted: {exc}"]
        return []

    def _read(self, uid: str) -> dict | None:
        response = self._call(
            "GET", f"/api/dashboards/uid/{quote(uid, safe='')}", (200, 404), f"read back {uid}"
        )
        return stored(response)


def stored(response: requests.Response) -> dict | None:
    """A dashboard as GET /api/dashboards/uid/... answered: its JSON and folder; None on 404."""
    if response.status_code == 404:
        return None
    live = response.json()
    live = live if isinstance(live, dict) else {}
    body, meta = live.get("dashboard"), live.get("meta")
    return {
        "dashboard": body if isinstance(body, dict) else {},
        "folderUid": (meta.get("folderUid") or "") if isinstance(meta, dict) else "",
    }


def _differences(was: dict, now: dict) -> list[str]:
    found = []
    if was["folderUid"] != now["folderUid"]:
        found.append(f"folder {now['folderUid'] or '(root)'} -> {was['folderUid'] or '(root)'}")
    want, have = comparable(was["dashboard"]), comparable(now["dashboard"])
    fields = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if fields:
        found.append(f"{', '.join(fields)} differ{'s' if len(fields) == 1 else ''}")
    return found


def _is_uid(value: object) -> bool:
    return isinstance(value, str) and UID.fullmatch(value) is not None


def folders(model: Model) -> dict[str, Folder]:
    """Dashboard file under out/ -> its team's folder; the rest go to the shared folder."""
    return {
        conventions.dashboard_file(s.name): Folder(conventions.grafana_folder_uid(s.team), s.team)
        for s in model.services
    }


def _configure(section: Section) -> Grafana:
    return Grafana(section.url, section.token())


def _build(endpoint: Grafana, context: Context) -> GrafanaPusher:
    http = context.transport(endpoint.url, token=endpoint.token)
    return GrafanaPusher(
        endpoint, context.out_dir, folders(context.model), http, prune=context.settings.prune
    )


CLIENT = PushClient(
    name=GrafanaPusher.name,
    keys=(
        Key("url", "SLO_GRAFANA_URL"),
        Key("token", "SLO_GRAFANA_TOKEN", secret=True),
        Key("token_file", "SLO_GRAFANA_TOKEN_FILE", path=True),
    ),
    delivers=(
        Delivers(
            DASHBOARDS_IN_OUT.as_posix(),
            "*.json",
            "has no dashboards (the Grafana target is not compiled)",
        ),
    ),
    configure=_configure,
    build=_build,
)
