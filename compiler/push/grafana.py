"""Grafana: folders per team, dashboards by uid, and only dashboards slo manages are ever touched.

slo owns a dashboard when it carries the managed tag (conventions.GRAFANA_MANAGED_TAG); push
adds the tag to every dashboard it saves. An existing dashboard with a generated uid but
without the tag belongs to someone else, and push refuses to overwrite it. So does a dashboard
with the same title in the target folder, which Grafana would otherwise refuse (412) or merge.
Only with --prune are managed dashboards that out/ no longer has deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import parallel
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress
from compiler.push.transport import HttpError, PushError, Secret, Transport

DASHBOARDS_IN_OUT = Path("grafana") / "dashboards"
IGNORED_FIELDS = ("id", "version")  # set by Grafana on every save
SEARCH_PAGE = 5000  # Grafana's maximum page size


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


def load_dashboards(out_dir: Path, folder_of: dict[str, Folder]) -> list[Dashboard]:
    """Every dashboard under out/, with the managed tag added and its folder attached."""
    found = []
    shared = Folder(conventions.GRAFANA_SHARED_FOLDER_UID, conventions.GRAFANA_SHARED_FOLDER_TITLE)
    for path in sorted((Path(out_dir) / DASHBOARDS_IN_OUT).glob("*.json")):
        rel = path.relative_to(out_dir).as_posix()
        try:
            body = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise PushError(f"{rel}: not valid JSON ({exc})") from None
        if not isinstance(body, dict) or not isinstance(body.get("uid"), str) or not body["uid"]:
            raise PushError(f"{rel}: a dashboard needs a string uid")
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
        for folder in sorted({d.folder for d in self.dashboards}, key=lambda f: f.uid):
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
            change = self._plan_dashboard(dashboard)
            plan.changes.append(change)
            if change.kind != "unchanged":
                work.save.append(dashboard)
        generated = {d.uid for d in self.dashboards}
        for found in self.managed():
            if found["uid"] in generated:
                continue
            what = f"dashboard {found['uid']} ({found.get('title', '')})"
            if self.prune:
                work.delete.append(found["uid"])
                plan.changes.append(Change("deleted", what))
            else:
                plan.notes.append(
                    f"{what} is managed by slo but no longer generated; --prune deletes it"
                )
        plan.work, plan.steps = work, len(work.folders) + len(work.save) + len(work.delete)
        return plan

    def _plan_dashboard(self, dashboard: Dashboard) -> Change:
        what = f"dashboard {dashboard.uid} ({dashboard.file})"
        response = self._call(
            "GET", f"/api/dashboards/uid/{quote(dashboard.uid, safe='')}", (200, 404), what
        )
        if response.status_code == 404:
            self._refuse_title_clash(dashboard)
            return Change("created", what)
        live = response.json()
        body, meta = live.get("dashboard") or {}, live.get("meta") or {}
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
            self._create_folder(folder)
            progress(1)
        errors = parallel.each(work.save, self._save, progress)
        errors += parallel.each(work.delete, self._delete, progress)
        if errors:
            total = len(work.save) + len(work.delete)
            raise PushError(
                f"{len(errors)} of {total} dashboard writes failed:\n" + "\n".join(errors)
            )

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

    def _save(self, dashboard: Dashboard) -> None:
        body = {k: v for k, v in dashboard.body.items() if k not in IGNORED_FIELDS}
        payload = {
            "dashboard": {**body, "id": None},
            "folderUid": dashboard.folder.uid,
            "message": conventions.grafana_push_message(dashboard.file),
            # slo's copy wins over edits made in the UI; those show in `slo diff` first
            "overwrite": True,
        }
        self._call(
            "POST", "/api/dashboards/db", (200,), f"save dashboard {dashboard.uid}", json=payload
        )

    def _delete(self, uid: str) -> None:
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
