"""Alertmanager silences that slo owns: one per one-off maintenance window of the specs (kept by
`slo push`), and the ad-hoc ones of `slo maintenance start`.

slo marks what it owns: ``createdBy`` is ``slo`` and the comment starts with ``slo window `` (a
window of the specs: `slo push` creates it, and expires it when the window left the specs) or
``slo maintenance `` (ad hoc: `slo maintenance end` expires it, `slo push` leaves it alone).
Silences anyone else created are never touched. A window that has passed needs nothing:
Alertmanager expires a silence at its end.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from compiler.core import conventions
from compiler.push.transport import PushError, Transport

LIVE_STATES = ("active", "pending")


@dataclass(frozen=True)
class Silence:
    matchers: tuple[tuple[str, str], ...]  # (label, value): equality matchers
    starts_at: int  # epoch seconds
    ends_at: int
    comment: str
    created_by: str = conventions.MAINTENANCE_CREATED_BY
    id: str = ""
    state: str = ""

    @property
    def window(self) -> bool:
        """A window of the specs, kept by `slo push`."""
        return self.owned and self.comment.startswith(conventions.MAINTENANCE_WINDOW_PREFIX)

    @property
    def adhoc(self) -> bool:
        return self.owned and self.comment.startswith(conventions.MAINTENANCE_COMMENT_PREFIX)

    @property
    def owned(self) -> bool:
        return self.created_by == conventions.MAINTENANCE_CREATED_BY

    @property
    def scope(self) -> str:
        """``service`` or ``service/slo``, from the matchers."""
        labels = dict(self.matchers)
        scope = labels.get(conventions.SERVICE, "?")
        if conventions.SLO in labels:
            scope += f"/{labels[conventions.SLO]}"
        return scope

    def same_window(self, other: Silence) -> bool:
        """The same window: matchers, comment and end; the start too, unless Alertmanager moved
        a start in the past to the moment it created the silence."""
        return (self.matchers, self.comment, self.ends_at) == (
            other.matchers,
            other.comment,
            other.ends_at,
        ) and (self.starts_at == other.starts_at or other.starts_at < self.starts_at)


def iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def to_api(silence: Silence) -> dict[str, Any]:
    return {
        "matchers": [
            {"name": name, "value": value, "isRegex": False, "isEqual": True}
            for name, value in silence.matchers
        ],
        "startsAt": iso(silence.starts_at),
        "endsAt": iso(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


def from_api(data: dict[str, Any]) -> Silence | None:
    """A silence of /api/v2/silences; None for one with matchers slo never writes."""
    try:
        matchers = []
        for m in data["matchers"]:
            if m.get("isRegex") or not m.get("isEqual", True):
                return None
            matchers.append((str(m["name"]), str(m["value"])))
        return Silence(
            matchers=tuple(matchers),
            starts_at=_seconds(data["startsAt"]),
            ends_at=_seconds(data["endsAt"]),
            comment=str(data.get("comment", "")),
            created_by=str(data.get("createdBy", "")),
            id=str(data["id"]),
            state=str((data.get("status") or {}).get("state", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def live(http: Transport) -> list[Silence]:
    """The active and pending silences Alertmanager holds, with matchers slo could write."""
    response = http.expect(
        http.request("GET", "/api/v2/silences"), (200,), "list silences (/api/v2/silences)"
    )
    try:
        items = response.json()
    except ValueError:
        items = None
    if not isinstance(items, list):
        raise PushError(f"{http.url('/api/v2/silences')} did not answer like Alertmanager")
    found = [from_api(item) for item in items if isinstance(item, dict)]
    return [s for s in found if s is not None and s.state in LIVE_STATES]


def create(http: Transport, silence: Silence) -> str:
    response = http.expect(
        http.request("POST", "/api/v2/silences", json=to_api(silence), retry_status=False),
        (200,),
        f"create the silence of {silence.scope}",
    )
    try:
        return str(response.json()["silenceID"])
    except (ValueError, KeyError, TypeError):
        raise PushError(
            f"{http.url('/api/v2/silences')} did not answer like Alertmanager"
        ) from None


def expire(http: Transport, silence_id: str) -> None:
    http.expect(
        http.request("DELETE", f"/api/v2/silence/{silence_id}"),
        (200,),
        f"expire silence {silence_id}",
    )


# --- the windows of the specs, as out/ holds them ----------------------------------------------
def windows(text: str) -> list[Silence]:
    """The silences of out/'s silences file (targets/alertmanager.py writes it)."""
    data = yaml.safe_load(text) or {}
    found = []
    for item in data.get("silences") or []:
        matchers = [(conventions.SERVICE, item["service"])]
        if item.get("slo"):
            matchers.append((conventions.SLO, item["slo"]))
        found.append(
            Silence(
                matchers=tuple(matchers),
                starts_at=_seconds(str(item["starts_at"])),
                ends_at=_seconds(str(item["ends_at"])),
                comment=str(item["comment"]),
            )
        )
    return found


def window_changes(
    wanted: Iterable[Silence], have: Iterable[Silence], now: int
) -> tuple[list[Silence], list[Silence], int]:
    """(to create, to expire, unchanged): every window not yet ended has its silence; every
    live window silence of slo's that is no window of out/ any more is expired."""
    wanted = [w for w in wanted if w.ends_at > now]
    have = [h for h in have if h.window]
    create = [w for w in wanted if not any(w.same_window(h) for h in have)]
    stale = [h for h in have if not any(w.same_window(h) for w in wanted)]
    return create, stale, len(wanted) - len(create)
