"""A fake Grafana implementing the documented HTTP contract slo push uses.

Contract (Grafana HTTP API docs: dashboard.md, folder.md, folder_dashboard_search.md):
  GET  /api/health                      200 {"database": "ok", ...}; no auth needed
  GET  /api/folders/:uid                200 folder | 404
  POST /api/folders {uid, title}        200 folder | 409 uid or title exists | 400 bad uid
  GET  /api/dashboards/uid/:uid         200 {"dashboard", "meta": {"folderUid", ...}} | 404
  POST /api/dashboards/db               200 {id, uid, url, status, version, slug}
                                        400 bad uid / missing title / unknown folder
                                        412 version-mismatch (overwrite false, stale version)
                                        412 name-exists (same uid without overwrite, or the
                                            same title in the folder)
  DELETE /api/dashboards/uid/:uid       200 {title, message, id} | 404
  GET  /api/search?query&tag&type&limit&page   list of hits; every tag must match
Auth: "Authorization: Bearer <token>"; a wrong or missing token is 401, a viewer token 403 on
writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fakes.server import FakeServer, Request, Response

UID = re.compile(r"^[A-Za-z0-9_-]+$")


def _uid_problem(uid) -> str | None:
    if not isinstance(uid, str) or not UID.match(uid):
        return "uid contains illegal characters"
    if len(uid) > 40:
        return "uid too long, max 40 characters"
    return None


@dataclass
class FakeGrafana(FakeServer):
    token: str = "glsa_editor_token"
    viewer_token: str = "glsa_viewer_token"
    folders: dict[str, dict] = field(default_factory=dict)  # uid -> folder
    dashboards: dict[str, dict] = field(
        default_factory=dict
    )  # uid -> {"dashboard", "folderUid", "message"}
    _next_id: int = 1

    # -- helpers tests use to set the scene ------------------------------------------------
    def add_folder(self, uid: str, title: str) -> None:
        self.folders[uid] = {"id": self._new_id(), "uid": uid, "title": title}

    def add_dashboard(self, body: dict, folder_uid: str = "") -> None:
        self.dashboards[body["uid"]] = {
            "dashboard": {**body, "id": self._new_id(), "version": 1},
            "folderUid": folder_uid,
            "message": "",
        }

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- the contract ----------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/api/health" and method in ("GET", "HEAD"):
            return Response.json(200, {"commit": "fake", "database": "ok", "version": "10.4.0"})
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Bearer {self.token}", f"Bearer {self.viewer_token}"):
            return Response.json(401, {"message": "Invalid API key"})
        if method != "GET" and auth == f"Bearer {self.viewer_token}":
            return Response.json(403, {"message": "Access denied"})
        if path.startswith("/api/folders/") and method == "GET":
            folder = self.folders.get(path.rsplit("/", 1)[1])
            return (
                Response.json(200, folder)
                if folder
                else Response.json(404, {"message": "folder not found"})
            )
        if path == "/api/folders" and method == "POST":
            return self._create_folder(request.json())
        if path.startswith("/api/dashboards/uid/"):
            uid = path.rsplit("/", 1)[1]
            stored = self.dashboards.get(uid)
            if stored is None:
                return Response.json(404, {"message": "Dashboard not found"})
            if method == "GET":
                return Response.json(
                    200,
                    {
                        "dashboard": stored["dashboard"],
                        "meta": {"folderUid": stored["folderUid"], "url": f"/d/{uid}"},
                    },
                )
            if method == "DELETE":
                del self.dashboards[uid]
                title = stored["dashboard"].get("title")
                return Response.json(
                    200,
                    {
                        "title": title,
                        "message": f"Dashboard {title} deleted",
                        "id": stored["dashboard"]["id"],
                    },
                )
        if path == "/api/dashboards/db" and method == "POST":
            return self._save(request.json())
        if path == "/api/search" and method == "GET":
            return Response.json(200, self._search(request.query))
        return Response.json(404, {"message": "Not found"})

    def _create_folder(self, body: dict) -> Response:
        problem = _uid_problem(body.get("uid"))
        if problem:
            return Response.json(400, {"message": problem})
        if body["uid"] in self.folders or any(
            f["title"] == body.get("title") for f in self.folders.values()
        ):
            return Response.json(409, {"message": "a folder with the same name already exists"})
        self.add_folder(body["uid"], body.get("title", ""))
        return Response.json(200, self.folders[body["uid"]])

    def _save(self, body: dict) -> Response:
        dashboard = body.get("dashboard")
        if not isinstance(dashboard, dict) or not dashboard.get("title"):
            return Response.json(400, {"message": "Dashboard title cannot be empty"})
        uid = dashboard.get("uid")
        problem = _uid_problem(uid)
        if problem:
            return Response.json(400, {"message": problem})
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in self.folders:
            return Response.json(400, {"message": "folder not found"})
        overwrite = bool(body.get("overwrite"))
        existing = self.dashboards.get(uid)
        if existing and not overwrite:
            if (
                dashboard.get("version") is not None
                and dashboard.get("version") != existing["dashboard"]["version"]
            ):
                return Response.json(
                    412,
                    {
                        "message": "The dashboard has been changed by someone else",
                        "status": "version-mismatch",
                    },
                )
            return Response.json(
                412,
                {
                    "message": "A dashboard with the same uid already exists",
                    "status": "name-exists",
                },
            )
        for other_uid, other in self.dashboards.items():
            if (
                other_uid != uid
                and other["folderUid"] == folder_uid
                and other["dashboard"].get("title") == dashboard["title"]
            ):
                return Response.json(
                    412,
                    {
                        "message": "A dashboard with the same name in the folder already exists",
                        "status": "name-exists",
                    },
                )
        version = existing["dashboard"]["version"] + 1 if existing else 1
        ident = existing["dashboard"]["id"] if existing else self._new_id()
        self.dashboards[uid] = {
            "dashboard": {**dashboard, "id": ident, "version": version},
            "folderUid": folder_uid,
            "message": body.get("message", ""),
        }
        slug = re.sub(r"[^a-z0-9]+", "-", dashboard["title"].lower()).strip("-")
        return Response.json(
            200,
            {
                "id": ident,
                "uid": uid,
                "url": f"/d/{uid}/{slug}",
                "status": "success",
                "version": version,
                "slug": slug,
            },
        )

    def _search(self, query: dict[str, list[str]]) -> list[dict]:
        text = (query.get("query") or [""])[0].lower()
        tags = query.get("tag") or []
        limit = int((query.get("limit") or ["1000"])[0])
        page = int((query.get("page") or ["1"])[0])
        hits = []
        for uid, stored in sorted(self.dashboards.items()):
            d = stored["dashboard"]
            if text and text not in d.get("title", "").lower():
                continue
            if not all(t in (d.get("tags") or []) for t in tags):
                continue
            folder = self.folders.get(stored["folderUid"], {})
            hits.append(
                {
                    "id": d["id"],
                    "uid": uid,
                    "title": d.get("title"),
                    "url": f"/d/{uid}",
                    "type": "dash-db",
                    "tags": d.get("tags") or [],
                    "isStarred": False,
                    "folderUid": stored["folderUid"],
                    "folderTitle": folder.get("title", ""),
                }
            )
        return hits[(page - 1) * limit : page * limit]
