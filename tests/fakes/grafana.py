"""A fake Grafana implementing the documented HTTP contract slo push uses.

Contract (Grafana HTTP API docs: dashboard.md, folder.md, folder_dashboard_search.md):
  GET  /api/health                      200 {"database": "ok", ...}; no auth needed
  GET  /api/folders?limit&page          200 [{id, uid, title}] (limit default 1000)
  GET  /api/folders/:uid                200 folder | 404
  POST /api/folders {uid, title}        200 folder | 409 uid or title exists | 400 bad uid/title
  PUT  /api/folders/:uid {title, version | overwrite}
                                        200 folder | 404 | 409 title exists
                                        412 version-mismatch (overwrite false, stale version)
  DELETE /api/folders/:uid              200 {message, id, title}; deletes every dashboard in it
                                        | 404
  GET  /api/dashboards/uid/:uid         200 {"dashboard", "meta": {"folderUid", ...}} | 404
  POST /api/dashboards/db               200 {id, uid, url, status, version, slug}
                                        400 bad uid / missing title / unknown folder / a
                                            dashboard that is not an object or panels that are
                                            not a list
                                        412 version-mismatch (overwrite false, and the version
                                            sent is not the stored one: optimistic locking)
                                        412 name-exists (the same title in the folder)
  DELETE /api/dashboards/uid/:uid       200 {title, message, id} | 404
  GET  /api/search?query&tag&type&folderUIDs&dashboardUIDs&limit&page
                                        list of hits (dash-db and dash-folder); every tag must
                                        match; limit default 1000, at most 5000
A body that is not JSON, or sent without "Content-Type: application/json", is 400 "bad request
data" (Grafana binds bodies as JSON only). Auth: "Authorization: Bearer <token>"; a wrong or
missing token is 401, a viewer token 403 on writes.
"""

from __future__ import annotations

import json
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
        self.folders[uid] = {"id": self._new_id(), "uid": uid, "title": title, "version": 1}

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
        body = None
        if method in ("POST", "PUT"):
            body = _json_body(request)
            if body is None:
                return Response.json(400, {"message": "bad request data"})
        if path == "/api/folders" and method == "GET":
            return Response.json(200, self._list_folders(request.query))
        if path.startswith("/api/folders/"):
            return self._folder(path.rsplit("/", 1)[1], method, body)
        if path == "/api/folders" and method == "POST":
            return self._create_folder(body)
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
            return self._save(body)
        if path == "/api/search" and method == "GET":
            return Response.json(200, self._search(request.query))
        return Response.json(404, {"message": "Not found"})

    def _list_folders(self, query: dict[str, list[str]]) -> list[dict]:
        limit, page = _int(query, "limit", 1000), _int(query, "page", 1)
        listed = [
            {"id": f["id"], "uid": f["uid"], "title": f["title"]}
            for f in sorted(self.folders.values(), key=lambda f: f["title"])
        ]
        return listed[(page - 1) * limit : page * limit]

    def _folder(self, uid: str, method: str, body) -> Response:
        folder = self.folders.get(uid)
        if folder is None:
            return Response.json(404, {"message": "folder not found", "status": "not-found"})
        if method == "GET":
            return Response.json(200, folder)
        if method == "PUT":
            if not isinstance(body, dict) or not isinstance(body.get("title"), str):
                return Response.json(400, {"message": "folder title cannot be empty"})
            if not body.get("overwrite") and body.get("version") != folder["version"]:
                return Response.json(
                    412,
                    {
                        "message": "The folder has been changed by someone else",
                        "status": "version-mismatch",
                    },
                )
            if any(f["title"] == body["title"] and f["uid"] != uid for f in self.folders.values()):
                return Response.json(409, {"message": "a folder with the same name already exists"})
            folder.update(title=body["title"], version=folder["version"] + 1)
            return Response.json(200, folder)
        if method == "DELETE":
            del self.folders[uid]
            for dashboard_uid in [
                d for d, stored in self.dashboards.items() if stored["folderUid"] == uid
            ]:
                del self.dashboards[dashboard_uid]
            return Response.json(
                200,
                {
                    "message": f"Folder {folder['title']} deleted",
                    "id": folder["id"],
                    "title": folder["title"],
                },
            )
        return Response.json(405, {"message": "Method not allowed"})

    def _create_folder(self, body) -> Response:
        if not isinstance(body, dict):
            return Response.json(400, {"message": "bad request data"})
        problem = _uid_problem(body.get("uid"))
        if problem:
            return Response.json(400, {"message": problem})
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            return Response.json(400, {"message": "folder title cannot be empty"})
        if body["uid"] in self.folders or any(
            f["title"] == body.get("title") for f in self.folders.values()
        ):
            return Response.json(409, {"message": "a folder with the same name already exists"})
        self.add_folder(body["uid"], body.get("title", ""))
        return Response.json(200, self.folders[body["uid"]])

    def _save(self, body) -> Response:
        if not isinstance(body, dict):
            return Response.json(400, {"message": "bad request data"})
        dashboard = body.get("dashboard")
        if not isinstance(dashboard, dict):
            return Response.json(400, {"message": "bad request data"})
        if not isinstance(dashboard.get("title"), str) or not dashboard["title"].strip():
            return Response.json(400, {"message": "Dashboard title cannot be empty"})
        if "panels" in dashboard and not isinstance(dashboard["panels"], list):
            return Response.json(400, {"message": "bad request data"})
        uid = dashboard.get("uid")
        problem = _uid_problem(uid)
        if problem:
            return Response.json(400, {"message": problem})
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in self.folders:
            return Response.json(400, {"message": "folder not found"})
        overwrite = bool(body.get("overwrite"))
        existing = self.dashboards.get(uid)
        if (
            existing
            and not overwrite
            and (dashboard.get("version") or 0) != existing["dashboard"]["version"]
        ):
            return Response.json(
                412,
                {
                    "message": "The dashboard has been changed by someone else",
                    "status": "version-mismatch",
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
        kinds = set(query.get("type") or ["dash-folder", "dash-db"])
        folder_uids = _listed(query, "folderUIDs")
        dashboard_uids = _listed(query, "dashboardUIDs")
        limit = min(_int(query, "limit", 1000), 5000)
        page = _int(query, "page", 1)
        hits = []
        if "dash-folder" in kinds and not tags and dashboard_uids is None:
            for folder in sorted(self.folders.values(), key=lambda f: f["title"].lower()):
                if text and text not in folder["title"].lower():
                    continue
                if folder_uids is not None and "" not in folder_uids:
                    continue  # folders are at the root: only a search of the root lists them
                hits.append(
                    {
                        "id": folder["id"],
                        "uid": folder["uid"],
                        "title": folder["title"],
                        "url": f"/dashboards/f/{folder['uid']}",
                        "type": "dash-folder",
                        "tags": [],
                        "isStarred": False,
                    }
                )
        if "dash-db" in kinds:
            for uid, stored in sorted(
                self.dashboards.items(), key=lambda kv: kv[1]["dashboard"]["title"].lower()
            ):
                d = stored["dashboard"]
                if text and text not in d.get("title", "").lower():
                    continue
                if not all(t in (d.get("tags") or []) for t in tags):
                    continue
                if folder_uids is not None and stored["folderUid"] not in folder_uids:
                    continue
                if dashboard_uids is not None and uid not in dashboard_uids:
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


def _json_body(request: Request):
    """The JSON a write sends, or None when Grafana would not bind it (400 bad request data)."""
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        value = int((query.get(name) or [str(default)])[0])
    except ValueError:
        return default
    return value if value > 0 else default


def _listed(query: dict[str, list[str]], name: str) -> set[str] | None:
    """A filter given as repeated or comma-separated values; None when it is not given.
    ("general" is the root folder's uid in a search by folder.)"""
    if name not in query:
        return None
    values = {v for item in query[name] for v in item.split(",")}
    return {"" if v == "general" else v for v in values}
