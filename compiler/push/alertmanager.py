"""A single Alertmanager: its config file replaced atomically, reloaded, and read back.

The file at SLO_ALERTMANAGER_CONFIG is the one Alertmanager loads (--config.file); slo owns it
as a whole, since Alertmanager has exactly one. amtool checks the new config first; a reload
that still fails (Alertmanager's 500 names the reason) puts the old file back and reloads it.
The file is replaced and restored with its mode, owner and group (a 0600 file stays 0600), and
must be a regular file: a symbolic link there is a refusal, never followed (files.py).

The live side is /api/v2/status, whose ``config.original`` is the loaded config *with defaults
filled in and secrets masked*. Comparison is therefore by meaning: everything out/ sets must be
there live (a masked ``<secret>`` matches anything, ``60m`` matches ``1h``); keys only the live
side has are defaults, except top-level sections out/ does not have at all.

A reload that succeeds but leaves another config running (the file changed underneath, or
Alertmanager loads another file) fails the push, which then restores: the previous file back,
a reload, and /api/v2/status must show the config it showed before.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compiler.core import conventions
from compiler.core import files as core_files
from compiler.push import files, silences
from compiler.push import restore as restoring
from compiler.push.checks import Check, amtool_check_config
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress, Restore
from compiler.push.rulegroups import seconds
from compiler.push.transport import PushError, Transport
from compiler.spec.yaml_source import load_data

MASKED = "<secret>"
FILLED_IN_SECTIONS = {"global"}  # top-level sections Alertmanager adds when the file has none
MATCHER_LISTS = {"matchers", "source_matchers", "target_matchers"}
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_DURATION = re.compile(r"^(\d+(ms|[smhdwy]))+$")


def parse_config(text: str, where: str) -> dict:
    try:
        data = load_data(text)
    except yaml.YAMLError as exc:
        raise PushError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PushError(f"{where}: not an Alertmanager config (expected a mapping)")
    return data


def differences(desired: dict, live: dict) -> list[str]:
    """Where ``live`` lacks or contradicts ``desired``, as field paths (never values: they may
    be secrets)."""
    found = _compare(desired, live, "")
    for key in sorted(set(live) - set(desired) - FILLED_IN_SECTIONS):
        if live[key]:
            found.append(f"{key}: set live, absent from out/")
    return found


def _compare(want: object, have: object, path: str) -> list[str]:
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path or '(config)'} differs"]
        found = []
        for key, value in want.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in have:
                found.append(f"{sub}: missing live")
            else:
                found.extend(_compare(value, have[key], sub))
        return found
    if isinstance(want, list):
        if path == "receivers" and all(isinstance(r, dict) and "name" in r for r in want):
            if not isinstance(have, list):
                return ["receivers differ"]
            return _compare_named(
                {r["name"]: r for r in want},
                {r.get("name"): r for r in have if isinstance(r, dict)},
            )
        if not isinstance(have, list) or len(want) != len(have):
            live = len(have) if isinstance(have, list) else "no"
            return [f"{path}: {live} entries live, {len(want)} in out/"]
        if path.rsplit(".", 1)[-1] in MATCHER_LISTS:  # Alertmanager sorts matchers on load
            same = sorted(map(_matcher, want)) == sorted(map(_matcher, have))
            return [] if same else [f"{path} differs"]
        found = []
        for i, (w, h) in enumerate(zip(want, have)):
            found.extend(_compare(w, h, f"{path}[{i}]"))
        return found
    return [] if _same_scalar(want, have) else [f"{path} differs"]


def _compare_named(want: dict, have: dict) -> list[str]:
    found = [f"receiver {name}: missing live" for name in want if name not in have]
    found += [f"receiver {name}: live only" for name in have if name not in want]
    for name in want:
        if name in have:
            found.extend(_compare(want[name], have[name], f"receivers[{name}]"))
    return found


def _matcher(text: Any) -> Any:  # a matcher string, or whatever the list holds instead
    match = _MATCHER.match(text) if isinstance(text, str) else None
    if not match:
        return text
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return f"{name}{op}{value}"


def _same_scalar(want: object, have: object) -> bool:
    if want == have or have == MASKED:
        return True
    if (
        isinstance(want, str)
        and isinstance(have, str)
        and _DURATION.match(want)
        and _DURATION.match(have)
    ):
        return seconds(want) == seconds(have)
    return str(want) == str(have) and not isinstance(want, (dict, list))


@dataclass(frozen=True)
class Alertmanager:
    url: str
    config: Path | None  # the file Alertmanager loads; needed to push


CONFIG = "config"  # the one object of this target, in messages


@dataclass
class Work:
    write: bool  # the file's text differs from out/'s
    reload: bool  # the loaded config differs from out/'s
    live_before: dict  # the loaded config, from /api/v2/status, before the push
    snapshot: restoring.Snapshot[str, files.Backup] = field(default_factory=restoring.Snapshot)
    # the silences of one-off windows (push/silences.py): to create, to expire; and what apply
    # did, for restore: the ids it created, the silences it expired
    create: list[silences.Silence] = field(default_factory=list)
    stale: list[silences.Silence] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    expired: list[silences.Silence] = field(default_factory=list)


def _silence_object(silence: silences.Silence) -> str:
    return f"silence {silence.comment.removeprefix(conventions.MAINTENANCE_WINDOW_PREFIX)}"


def _silence_times(silence: silences.Silence) -> str:
    return f"{silences.iso(silence.starts_at)} to {silences.iso(silence.ends_at)}"


class AlertmanagerPusher:
    name = "alertmanager"

    def __init__(
        self,
        endpoint: Alertmanager,
        out_dir: Path,
        transport: Transport,
        check: Check | None = amtool_check_config,
    ):
        self.endpoint = endpoint
        self.source = Path(out_dir) / conventions.ALERTMANAGER_CONFIG
        self.http = transport
        self.check = check
        self.text = self.source.read_text("utf-8")
        self.desired = parse_config(self.text, str(self.source))
        windows = Path(out_dir) / conventions.ALERTMANAGER_SILENCES
        try:
            self.windows = silences.windows(windows.read_text("utf-8")) if windows.is_file() else []
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise PushError(f"{windows}: not slo's silences file: {exc}") from None
        self.now = time.time  # when windows end, against Alertmanager's clock (tests set it)

    def config_file(self) -> Path:
        """The file Alertmanager loads; needed to push (preflight)."""
        if self.endpoint.config is None:
            raise PushError(
                "set SLO_ALERTMANAGER_CONFIG (or --alertmanager-config) to the file Alertmanager "
                "loads (--config.file)"
            )
        return self.endpoint.config

    def preflight(self) -> None:
        config = self.config_file()
        if not config.parent.is_dir():
            raise PushError(f"directory {config.parent} of the Alertmanager config does not exist")
        if self.check is not None:
            self.check([self.source])

    def live_config(self) -> dict:
        response = self.http.expect(
            self.http.request("GET", "/api/v2/status"), (200,), "read status (/api/v2/status)"
        )
        try:
            original = response.json()["config"]["original"]
        except (ValueError, KeyError, TypeError):
            raise PushError(
                f"{self.http.url('/api/v2/status')} did not answer like Alertmanager"
            ) from None
        return parse_config(original, "live config")

    def plan(self) -> Plan:
        live = self.live_config()
        found = differences(self.desired, live)
        write = False
        config = self.endpoint.config
        if config is not None:
            write = files.read_bytes(config) != self.text.encode("utf-8")
            if write and not found:
                found = ["file text differs; the loaded config is equal"]
        receivers = len(self.desired.get("receivers") or [])
        change = Change(
            "updated" if found else "unchanged", f"config ({receivers} receivers)", tuple(found)
        )
        work = Work(write=write, reload=bool(found), live_before=live)
        create, stale, unchanged = silences.window_changes(
            self.windows, silences.live(self.http), int(self.now())
        )
        work.create, work.stale = create, stale
        changes = [change]
        changes += [Change("created", _silence_object(w), (_silence_times(w),)) for w in create]
        changes += [
            Change("deleted", _silence_object(h), ("its window is no longer in out/",))
            for h in stale
        ]
        notes = [f"{unchanged} maintenance silence(s) in place"] if unchanged else []
        return Plan(changes, notes=notes, work=work, steps=1 + len(create) + len(stale))

    def apply(self, plan: Plan, progress: Progress) -> None:
        work: Work = plan.work
        if work.reload:
            self._apply_config(work, progress)
        for silence in work.stale:
            silences.expire(self.http, silence.id)
            work.expired.append(silence)
            progress(1)
        for silence in work.create:
            work.created.append(silences.create(self.http, silence))
            progress(1)

    def _apply_config(self, work: Work, progress: Progress) -> None:
        config = self.config_file()
        previous = files.read(config)  # with its mode, owner and group: it may hold secrets
        work.snapshot.keep(CONFIG, None if previous.data is None else previous)
        if work.write:
            try:
                core_files.write_atomic(
                    config, self.text.encode("utf-8"), sync_directory=True, keep=True
                )
            except OSError as exc:
                raise PushError(f"writing {config} failed: {exc.strerror or exc}") from None
        progress(1)
        files.reload_or_restore(
            self.reload, lambda: list(self._put_back(work).values()), "config was", "Alertmanager"
        )

    def _put_back(self, work: Work) -> dict[str, str]:
        config = self.config_file()
        return restoring.put_back(
            work.snapshot,
            write=lambda _, backup: files.restore(config, backup),
            remove=lambda _: config.unlink(missing_ok=True),
        )

    def restore(self, plan: Plan) -> Restore:
        """The previous file back (unless apply put it back after a refused reload), a reload,
        and /api/v2/status read back: the config it showed before the push."""
        work: Work = plan.work
        restored = "the previous config is live again"
        errors = self._restore_silences(work)
        if not work.snapshot:
            if errors:
                return restoring.outcome(restored, 0, [], errors)
            return Restore(restored, len(work.created) + len(work.expired))
        failed: dict[str, str] = {}
        if not work.snapshot.done:
            failed = self._put_back(work)
            try:
                self.reload()
            except PushError as exc:
                errors.append(f"reloading the previous config failed: {exc}")
        problems = restoring.compare(
            {CONFIG: work.live_before},
            {CONFIG: self.live_config()},
            lambda _: CONFIG,
            lambda was, now: [] if was == now else differences(was, now) or ["differs"],
            failed,
        )
        return restoring.outcome(restored, len(work.snapshot), problems, errors)

    def _restore_silences(self, work: Work) -> list[str]:
        """The silences apply created expired, those it expired created again (as new
        silences: Alertmanager cannot revive one)."""
        errors = []
        for silence_id in work.created:
            try:
                silences.expire(self.http, silence_id)
            except PushError as exc:
                errors.append(f"expiring silence {silence_id} failed: {exc}")
        for silence in work.expired:
            try:
                silences.create(self.http, silence)
            except PushError as exc:
                errors.append(f"creating {_silence_object(silence)} again failed: {exc}")
        return errors

    def reload(self) -> None:
        # A 500 is Alertmanager refusing the config, with the reason in its body: not worth
        # retrying.
        response = self.http.request("POST", "/-/reload", retry_status=False)
        if response.status_code != 200:
            body = " ".join(response.text.split())
            raise PushError(
                f"Alertmanager rejected the reload (HTTP {response.status_code}): {body}"
            )

    def verify(self) -> list[str]:
        return [
            f"after reload: {detail}" for change in self.plan().pending for detail in change.details
        ]


def _configure(section: Section) -> Alertmanager:
    return Alertmanager(section.url, section.path("config"))


def _build(endpoint: Alertmanager, context: Context) -> AlertmanagerPusher:
    check = amtool_check_config if context.settings.checks else None
    return AlertmanagerPusher(endpoint, context.out_dir, context.transport(endpoint.url), check)


CLIENT = PushClient(
    name=AlertmanagerPusher.name,
    keys=(
        Key("url", "SLO_ALERTMANAGER_URL"),
        Key("config", "SLO_ALERTMANAGER_CONFIG", path=True),
    ),
    delivers=(
        Delivers(
            conventions.ALERTMANAGER_CONFIG,
            missing="not found (the Alertmanager target is not compiled)",
        ),
        Delivers(conventions.ALERTMANAGER_SILENCES),
    ),
    configure=_configure,
    build=_build,
)
