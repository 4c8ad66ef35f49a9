"""vmalert (VictoriaMetrics' ruler): rule files into the directory its ``-rule`` glob reads,
reload, and read back. The Prometheus client's steps (prometheus.py) and file handling
(files.py: atomic writes, the ownership record, only slo's files touched, deletes only with
--prune), with what differs on vmalert:
  1. `vmalert -dryRun` on out/vmalert/rules (a file vmalert would refuse never reaches it); there
     is no lifecycle flag to ask for: vmalert always answers /-/reload;
  2. vmalert answers POST /-/reload at once and reloads afterwards, so the push waits (bounded)
     until /api/v1/rules shows the files now on disk, or until
     vmalert_config_last_reload_errors_total rises: vmalert refused them and keeps running its
     previous rules. Then the previous files are put back and reloaded;
  3. groups compare as in Prometheus' API, plus their query ``params`` (``nocache=1`` on every
     generated group), which a reload does not change in a running group: verify says to
     restart vmalert, and a push whose groups differ only so is not restored (restoring would
     put back files without the params, and the next push would meet the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from compiler.core import conventions
from compiler.core.durations import parse_duration
from compiler.push import files, rulegroups
from compiler.push.checks import Check, vmalert_dry_run
from compiler.push.client import Context, Delivers, Key, PushClient
from compiler.push.plan import Change, Plan, Progress, Restore
from compiler.push.prometheus import RELOAD_TIMEOUT, Prometheus, PrometheusPusher, Work
from compiler.push.transport import PushError, Transport

RULES_DIR_IN_OUT = Path(conventions.vmalert_rules_file("x")).parent  # vmalert/rules
RULES_DIR_HINT = (
    "set SLO_VMALERT_RULES_DIR (or --vmalert-rules-dir) to the directory vmalert loads rule "
    "files from (its -rule=DIR/*.yml)"
)
METRIC = "vmalert_config_last_reload_"
RELOADS, ERRORS, SUCCESSFUL, RELOADED_AT = (
    METRIC + s for s in ("total", "errors_total", "successful", "success_timestamp_seconds")
)
FIRST_PAUSE, MAX_PAUSE = 0.05, 1.0  # seconds between looks while vmalert reloads
PARAMS = "params "  # how a difference in a group's query params begins
# Seen on 1.79: a reload that changes only a running group's params succeeds, and the group keeps
# its old ones (/api/v1/rules shows them) until vmalert restarts.
PARAMS_HINT = "vmalert keeps a running group's old query params on reload: restart it to apply them"
# Seconds to wait, once vmalert counted the reload, for the files to show when its success
# timestamp did not move: a reload that found nothing new (files outside its -rule globs).
# /metrics lags up to a second behind, and parsing 1,000 files takes a few more.
SETTLE = 10.0
DEFAULT_INTERVAL = 60  # seconds: vmalert's -evaluationInterval default, for groups without one


@dataclass(frozen=True)
class Vmalert(Prometheus):
    """vmalert's URL and the directory its ``-rule`` glob reads (needed to push; diff works
    from the URL alone)."""


@dataclass(frozen=True)
class ReloadState:
    """vmalert's reload counters; its /metrics may show them up to a second late. The
    counter rises when a reload starts; the success timestamp (in whole seconds) moves when
    one changed the rules."""

    reloads: float
    errors: float
    successful: bool
    timestamp: float


def params(value: object) -> tuple[str, ...]:
    """A group's query parameters as ``name=value`` strings, sorted: from a rule file
    (``{nocache: ["1"]}``) or from /api/v1/rules (``["nocache=1"]``)."""
    if isinstance(value, dict):
        found = [
            f"{name}={item}"
            for name, items in value.items()
            for item in (items if isinstance(items, list) else [items])
        ]
    elif isinstance(value, list):
        found = [str(item) for item in value]
    else:
        found = []
    return tuple(sorted(found))


class VmalertPusher(PrometheusPusher):
    name = "vmalert"
    server = "vmalert"
    endpoint_type = Vmalert
    rules_in_out = RULES_DIR_IN_OUT
    rules_dir_hint = RULES_DIR_HINT
    rules_dir_setup = "start vmalert with -rule='{rules_dir}/*.yml'"
    rules_dir_loaded = "in vmalert's -rule flags"
    reload_metric = SUCCESSFUL

    def __init__(
        self,
        endpoint: Vmalert,
        out_dir: Path,
        transport: Transport,
        check: Check | None = vmalert_dry_run,
        prune: bool = False,
        reload_timeout: float = RELOAD_TIMEOUT,
    ):
        super().__init__(endpoint, out_dir, transport, check, prune)
        self.reload_timeout = reload_timeout
        self.touched: list[str] = []  # the files the last apply wrote or deleted

    @classmethod
    def rule_check(cls, context: Context) -> Check | None:
        return vmalert_dry_run if context.settings.checks else None

    # -- reading -------------------------------------------------------------------------
    def preflight_server(self) -> None:
        if self.reload_state() is None:
            raise PushError(
                f"{self.http.url('/metrics')} has no {RELOADS}: is {self.endpoint.url} vmalert?"
            )

    def live_groups(self) -> dict[tuple[str, str], dict]:
        data = self._get_json("/api/v1/rules", "list rules")
        groups = data.get("groups") or []  # null while vmalert has none
        return {
            (Path(g["file"]).name, g["name"]): {
                **rulegroups.canonical_api_group(g),
                "params": params(g.get("params")),
            }
            for g in groups
            if isinstance(g, dict) and "file" in g and "name" in g
        }

    def differences(self, group: dict, live: dict) -> list[str]:
        found = rulegroups.differences(rulegroups.canonical_group(group), live)
        want = params(group.get("params"))
        if want != live["params"]:
            found.insert(0, f"{PARAMS}{list(live['params'])} -> {list(want)}")
        return found

    def live_differences(self, was: dict, now: dict) -> list[str]:
        found = rulegroups.differences(was, now)
        if was["params"] != now["params"]:
            found.insert(0, f"{PARAMS}{list(now['params'])} -> {list(was['params'])}")
        return found

    # -- writing -------------------------------------------------------------------------
    def apply(self, plan: Plan, progress: Progress) -> None:
        work: Work = plan.work
        self.touched = [*work.write, *work.delete]
        super().apply(plan, progress)

    def restore(self, plan: Plan) -> Restore:
        pending = self.plan().pending
        if pending and all(
            change.details and all(detail.startswith(PARAMS) for detail in change.details)
            for change in pending
        ):
            return Restore(
                "",
                0,
                declined=(
                    "vmalert runs the new rules and differs only in query params it keeps "
                    "until restarted, so the new files stay: restart vmalert"
                ),
            )
        return super().restore(plan)

    def reload(self) -> None:
        """POST /-/reload, then wait until vmalert runs the touched files as they are on disk
        now (new or restored), or refused them."""
        before = self.reload_state()
        response = self.http.request("POST", "/-/reload", retry_status=False)
        if response.status_code != 200:
            body = " ".join(response.text.split())[:300]
            raise PushError(
                f"vmalert did not take the reload (HTTP {response.status_code}: {body})"
            )
        loaded, longest = self._on_disk(self.touched)
        self._await_reload(before, loaded, longest)

    def _on_disk(self, names: Iterable[str]) -> tuple[Callable[[], bool], float]:
        """Whether vmalert's groups from the files ``names`` are those the files on disk hold
        (but for query params, which a reload never changes), and the longest interval of
        those groups in seconds."""
        rules_dir = self.rules_dir()
        wanted: dict[str, dict[str, dict]] = {}
        for name in names:
            data = files.read_bytes(rules_dir / name)
            groups = rulegroups.parse_groups(data.decode("utf-8"), name) if data else ()
            wanted[name] = {g["name"]: g for g in groups}
        longest = max(
            (
                parse_duration(g["interval"]) if g.get("interval") else DEFAULT_INTERVAL
                for groups in wanted.values()
                for g in groups.values()
            ),
            default=DEFAULT_INTERVAL,
        )

        def loaded() -> bool:
            live = self.live_groups()
            for name, groups in wanted.items():
                have = {group: g for (file, group), g in live.items() if file == name}
                if have.keys() != groups.keys():
                    return False
                for g in groups:
                    found = self.differences(groups[g], have[g])
                    if any(not detail.startswith(PARAMS) for detail in found):
                        return False
            return True

        return loaded, float(longest)

    def _await_reload(
        self, before: ReloadState | None, loaded: Callable[[], bool], longest: float
    ) -> None:
        """Until vmalert refused the files (an error), runs them (``loaded``), or took the
        reload without changing them for ``SETTLE`` seconds (their directory is not in its
        ``-rule`` flags, say: verify then says what is not loaded).

        A reload that changed something may still show a group's old rules: seen on 1.79, a
        group updated soon after it was created keeps its old rules until its first
        evaluation, up to one interval later. So once vmalert counted a reload with changes,
        look until the longest interval of the files' groups has passed (within the timeout)
        before verify judges."""
        deadline = time.monotonic() + self.reload_timeout
        settled_at = changed_by = None
        pause = FIRST_PAUSE
        while True:
            now = self.reload_state()
            if before is not None and now is not None and now.errors > before.errors:
                raise PushError(
                    f"vmalert refused the rule files ({ERRORS} rose to {now.errors:g}) and keeps "
                    "running its previous rules; its log names the file and rule"
                )
            if now is None or now.successful:
                if loaded():
                    return
                if before is None or now is None or now.timestamp > before.timestamp:
                    changed_by = changed_by or min(time.monotonic() + longest + SETTLE, deadline)
                    if time.monotonic() >= changed_by:
                        return  # reloaded with changes: verify says what differs
                elif now.reloads > before.reloads:
                    settled_at = settled_at or time.monotonic() + SETTLE
                    if time.monotonic() >= settled_at:
                        return
            if time.monotonic() >= deadline:
                raise PushError(
                    f"vmalert did not finish the reload within {self.reload_timeout:g}s"
                )
            time.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)

    def reload_state(self) -> ReloadState | None:
        """The reload counters, or None when /metrics has none (not vmalert)."""
        response = self.http.expect(self.http.request("GET", "/metrics"), (200,), "read /metrics")
        found: dict[str, float] = {}
        for line in response.text.splitlines():
            name, _, rest = line.partition(" ")
            if name in (RELOADS, ERRORS, SUCCESSFUL, RELOADED_AT):
                try:
                    found[name] = float(rest.split()[0])
                except (ValueError, IndexError):
                    continue
        if len(found) < 4:
            return None
        return ReloadState(
            found[RELOADS], found[ERRORS], found[SUCCESSFUL] == 1, found[RELOADED_AT]
        )

    def reload_successful(self) -> bool | None:
        state = self.reload_state()
        return None if state is None else state.successful

    def still_differs(self, change: Change) -> str:
        problem = super().still_differs(change)
        if any(detail.startswith(PARAMS) for detail in change.details):
            problem += f" ({PARAMS_HINT})"
        return problem


CLIENT = PushClient(
    name=VmalertPusher.name,
    keys=(
        Key("url", "SLO_VMALERT_URL"),
        Key("rules_dir", "SLO_VMALERT_RULES_DIR", path=True),
    ),
    delivers=(
        Delivers(
            RULES_DIR_IN_OUT.as_posix(),
            "*.yml",
            "has no rule files: only services with `engines: [prometheus, vmalert]` get them "
            "(then run `slo compile`)",
        ),
    ),
    configure=VmalertPusher.configure,
    build=VmalertPusher.build,
)
