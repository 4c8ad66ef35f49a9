"""A single Prometheus server: rule files into its rules directory, reload, and read back.

Order of a push, each step only if the one before succeeded:
  1. promtool check rules on out/ (a file Prometheus would reject never reaches the server);
  2. the lifecycle API must be on (it is what reloads), asked via /api/v1/status/flags;
  3. write changed files atomically; with --prune, delete the files slo recorded as its own
     (the ownership file, files.py) that are no longer generated;
  4. POST /-/reload, then prometheus_config_last_reload_successful must be 1. If not, the old
     files are put back and Prometheus reloads them, so it keeps running what it ran before;
  5. /api/v1/rules must show every generated group, equal to the file. If not (a file changed
     underneath, a directory Prometheus does not read), the push restores: the previous files
     are put back and reloaded, and /api/v1/rules must show the groups it showed before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from compiler.push import files, rulegroups
from compiler.push import restore as restoring
from compiler.push.checks import Check, promtool_check_rules
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress, Restore
from compiler.push.transport import CONNECT_TIMEOUT, PushError, Transport

RULES_DIR_IN_OUT = Path("prometheus") / "rules"
# Prometheus answers POST /-/reload only once it has re-read and re-parsed every rule file: 9-17 s
# for 1,000 files with 60,000 rules on 2 cores (bench/README.md, push throughput). Cut off at the
# per-request timeout (10 s), the reload was sent again while the first was still running, and
# after the retries the push "restored" files that were fine. So the reload waits longer.
RELOAD_TIMEOUT = 120.0
LIFECYCLE_HINT = (
    "the lifecycle API is off: start Prometheus with --web.enable-lifecycle so that slo can "
    "reload it"
)
RELOAD_METRIC = "prometheus_config_last_reload_successful"
RULES_DIR_HINT = (
    "set SLO_PROMETHEUS_RULES_DIR (or --prometheus-rules-dir) to the directory "
    "Prometheus loads rule files from"
)


@dataclass(frozen=True)
class Prometheus:
    url: str
    rules_dir: Path | None  # needed to push; diff works from the URL alone


@dataclass
class Work:
    write: dict[str, bytes] = field(default_factory=dict)  # file name -> new text
    delete: list[str] = field(default_factory=list)
    owned_after: set[str] = field(default_factory=set)
    reload: bool = False
    # what the push changes, as it was: the groups loaded from those files (plan), the files
    # and the ownership record (apply)
    live_before: dict[tuple[str, str], dict] = field(default_factory=dict)
    snapshot: restoring.Snapshot[str, files.Backup] = field(default_factory=restoring.Snapshot)
    owned_before: set[str] = field(default_factory=set)


class PrometheusPusher:
    """Prometheus' pusher, and the steps vmalert's (vmalert.py) shares: what differs between
    the two servers is in the class attributes and the methods the subclass overrides."""

    name = "prometheus"
    server = "Prometheus"  # in messages
    endpoint_type = Prometheus  # what ``configure`` makes
    rules_in_out = RULES_DIR_IN_OUT  # the rule files it delivers, under out/
    rules_dir_hint = RULES_DIR_HINT
    # completes "create it and ..." when the rules directory is missing
    rules_dir_setup = "list {rules_dir}/*.yml in rule_files"
    # completes "is <rules dir>/*.yml ...?" when a created group is not loaded
    rules_dir_loaded = "listed in rule_files of prometheus.yml"
    reload_metric = RELOAD_METRIC  # 0 when the last reload failed

    def __init__(
        self,
        endpoint: Prometheus,
        out_dir: Path,
        transport: Transport,
        check: Check | None = promtool_check_rules,
        prune: bool = False,
    ):
        self.endpoint = endpoint
        self.source = Path(out_dir) / self.rules_in_out
        self.http = transport
        self.check = check
        self.prune = prune
        self.desired = rulegroups.load_rule_files(self.source)

    @classmethod
    def rule_check(cls, context: Context) -> Check | None:
        """What checks the rule files before they are written, unless the run skips checks."""
        return promtool_check_rules if context.settings.checks else None

    @classmethod
    def configure(cls, section: Section) -> Prometheus:
        return cls.endpoint_type(section.url, section.path("rules_dir"))

    @classmethod
    def build(cls, endpoint: Prometheus, context: Context) -> PrometheusPusher:
        return cls(
            endpoint,
            context.out_dir,
            context.transport(endpoint.url),
            cls.rule_check(context),
            prune=context.settings.prune,
        )

    # -- reading -------------------------------------------------------------------------
    def preflight(self) -> None:
        rules_dir = self.rules_dir()
        if not rules_dir.is_dir():
            setup = self.rules_dir_setup.format(rules_dir=rules_dir)
            raise PushError(f"rules directory {rules_dir} does not exist; create it and {setup}")
        if self.check is not None:
            self.check([self.source / name for name in self.desired])
        self.preflight_server()

    def preflight_server(self) -> None:
        """That the server is the one this pusher reloads, able to reload."""
        flags = self._get_json("/api/v1/status/flags", "read flags")
        if str(flags.get("web.enable-lifecycle", "")).lower() != "true":
            raise PushError(LIFECYCLE_HINT)

    def rules_dir(self) -> Path:
        """The directory Prometheus loads rule files from; needed to push (preflight)."""
        if self.endpoint.rules_dir is None:
            raise PushError(self.rules_dir_hint)
        return self.endpoint.rules_dir

    def live_groups(self) -> dict[tuple[str, str], dict]:
        """(file name, group name) -> canonical group, for every group the server has loaded."""
        data = self._get_json("/api/v1/rules", "list rules")
        return {
            (Path(g["file"]).name, g["name"]): rulegroups.canonical_api_group(g)
            for g in data.get("groups", [])
        }

    def plan(self) -> Plan:
        plan, work = Plan(), Work()
        live = self.live_groups()
        rules_dir = self.endpoint.rules_dir
        if rules_dir is not None and not rules_dir.is_dir():
            rules_dir = None  # preflight says so; diff compares with the server alone
        if rules_dir is None:
            plan.notes.append(
                "rules directory not given: files slo no longer generates are not looked for"
            )
        ownership = files.owned_files(rules_dir) if rules_dir is not None else files.Ownership()
        plan.notes.extend(ownership.ignored)
        owned = ownership.files
        for name, rule_file in self.desired.items():
            file_changes = []
            for group in rule_file.groups:
                what = f"group {group['name']} ({name})"
                have = live.get((name, group["name"]))
                if have is None:
                    file_changes.append(Change("created", what))
                    continue
                found = self.differences(group, have)
                file_changes.append(Change("updated" if found else "unchanged", what, tuple(found)))
            if rules_dir is not None:
                on_disk = files.read_bytes(rules_dir / name)
                data = rule_file.text.encode("utf-8")
                if on_disk is not None and name not in owned:
                    raise PushError(
                        f"{rules_dir / name} exists but was not written by slo; refusing to "
                        "replace it (move it away)"
                    )
                if on_disk != data:
                    work.write[name] = data
                    if all(c.kind == "unchanged" for c in file_changes):
                        file_changes.append(
                            Change(
                                "updated",
                                f"file {name}",
                                ("text differs; its rule groups are equal",),
                            )
                        )
            plan.changes.extend(file_changes)
        work.owned_after = set(self.desired)
        if rules_dir is not None:
            work.owned_after |= self._plan_stale(rules_dir, owned, live, plan, work)
        work.reload = bool(plan.pending)
        touched = {*work.write, *work.delete}
        work.live_before = {key: group for key, group in live.items() if key[0] in touched}
        plan.work, plan.steps = work, len(work.write) + len(work.delete)
        return plan

    def differences(self, group: dict, live: dict) -> list[str]:
        """How the ``live`` group (as ``live_groups`` gives it) differs from the file's."""
        return rulegroups.differences(rulegroups.canonical_group(group), live)

    def _plan_stale(
        self,
        rules_dir: Path,
        owned: set[str],
        live: dict[tuple[str, str], dict],
        plan: Plan,
        work: Work,
    ) -> set[str]:
        """Files slo recorded as its own that out/ no longer has: deleted with --prune, else
        listed in a note. Returns those that stay (and so stay in the record)."""
        kept = set()
        for name in sorted(owned - set(self.desired)):
            if not files.exists(rules_dir / name):
                continue  # gone already: left out of the record
            why = (
                f"slo's: {files.ownership_path(rules_dir)} lists it as written by slo; "
                "out/ no longer has it"
            )
            groups = [group for (file, group) in sorted(live) if file == name]
            if not self.prune:
                kept.add(name)
                plan.notes.append(
                    f"file {name} ({len(groups)} groups) is no longer generated ({why}); "
                    "--prune deletes it"
                )
                continue
            work.delete.append(name)
            gone = [Change("deleted", f"group {group} ({name})", (why,)) for group in groups]
            plan.changes.extend(gone or [Change("deleted", f"file {name}", (why,))])
        return kept

    # -- writing -------------------------------------------------------------------------
    def apply(self, plan: Plan, progress: Progress) -> None:
        work: Work = plan.work
        if not work.reload:
            return
        rules_dir = self.rules_dir()
        work.owned_before = files.owned_files(rules_dir).files
        for name in [*work.write, *work.delete]:
            backup = files.read(rules_dir / name)
            work.snapshot.keep(name, None if backup.data is None else backup)
        try:
            # the record before the files exist
            files.record_owned(rules_dir, work.owned_before | set(work.write))
            files.write_all_atomic(rules_dir, work.write, progress)
            for name in work.delete:
                files.delete(rules_dir, name)
                progress(1)
            files.record_owned(rules_dir, work.owned_after)
        except OSError as exc:
            failed = self._put_back(work)
            outcome = "previous files restored" if not failed else "; ".join(failed)
            raise PushError(
                f"writing into {rules_dir} failed ({exc.strerror or exc}); {outcome}"
            ) from None
        files.reload_or_restore(
            self.reload,
            lambda: self._put_back(work),
            "rule files were",
            self.server,
        )

    def _put_back(self, work: Work) -> list[str]:
        """The previous files and ownership record; what could not be put back, one a line."""
        rules_dir = self.rules_dir()
        failed = restoring.put_back(
            work.snapshot,
            write=lambda name, backup: files.restore(rules_dir / name, backup),
            remove=lambda name: files.delete(rules_dir, name),
        )
        problems = [f"file {name}: could not be put back: {why}" for name, why in failed.items()]
        try:
            files.record_owned(rules_dir, work.owned_before)
        except OSError as exc:
            problems.append(f"{files.ownership_path(rules_dir)}: could not be put back: {exc}")
        return problems

    def restore(self, plan: Plan) -> Restore:
        """The previous files back (unless apply put them back after a refused reload), a
        reload, and the groups of those files read back: those loaded before the push."""
        work: Work = plan.work
        restored = f"the previous rules are loaded by {self.server} again"
        if not work.snapshot:
            return Restore(restored, 0)
        failed = []
        if not work.snapshot.done:
            failed = self._put_back(work)
            try:
                self.reload()
            except PushError as exc:
                failed.append(f"reloading the previous files failed: {exc}")
        touched = set(work.snapshot.before)
        now = {key: group for key, group in self.live_groups().items() if key[0] in touched}
        problems = restoring.compare(
            {**dict.fromkeys(now), **work.live_before},
            now,
            lambda key: f"group {key[1]} ({key[0]})",
            self.live_differences,
        )
        return restoring.outcome(restored, len(work.snapshot), problems, failed)

    def live_differences(self, was: dict, now: dict) -> list[str]:
        """How a live group (as ``live_groups`` gives it) differs from what it was."""
        return rulegroups.differences(was, now)

    def reload(self) -> None:
        # A 500 here is Prometheus refusing the new configuration: retrying cannot help.
        wait = (CONNECT_TIMEOUT, max(self.http.timeout, RELOAD_TIMEOUT))
        response = self.http.request("POST", "/-/reload", retry_status=False, timeout=wait)
        if response.status_code == 403:
            raise PushError(f"reload refused (403): {LIFECYCLE_HINT}")
        if response.status_code != 200:
            body = " ".join(response.text.split())
            raise PushError(
                f"Prometheus rejected the reload (HTTP {response.status_code}: {body}); "
                "its log names the file and rule"
            )
        if self.reload_successful() is False:
            raise PushError(
                f"Prometheus answered the reload but {RELOAD_METRIC} is 0; its log says why"
            )

    def reload_successful(self) -> bool | None:
        response = self.http.expect(self.http.request("GET", "/metrics"), (200,), "read /metrics")
        for line in response.text.splitlines():
            if line.startswith(RELOAD_METRIC + " "):
                return float(line.split()[1]) == 1
        return None

    def verify(self) -> list[str]:
        problems = []
        if self.reload_successful() is False:
            problems.append(f"{self.reload_metric} is 0: the last reload failed")
        for change in self.plan().pending:
            if change.kind == "created":
                problems.append(
                    f"{change.object} is not loaded: is {self.endpoint.rules_dir}/*.yml "
                    f"{self.rules_dir_loaded}?"
                )
            else:
                problems.append(self.still_differs(change))
        return problems

    def still_differs(self, change: Change) -> str:
        """What verify says of a group that is loaded but not as its file says."""
        return (
            f"{change.object} still differs after reload: "
            f"{'; '.join(change.details) or change.kind}"
        )

    def _get_json(self, path: str, what: str) -> dict:
        response = self.http.expect(self.http.request("GET", path), (200,), f"{what} ({path})")
        try:
            data = response.json()["data"]
        except (ValueError, KeyError, TypeError):
            data = None
        if not isinstance(data, dict):
            raise PushError(f"{what}: {self.http.url(path)} did not answer like Prometheus")
        return data


CLIENT = PushClient(
    name=PrometheusPusher.name,
    keys=(
        Key("url", "SLO_PROMETHEUS_URL"),
        Key("rules_dir", "SLO_PROMETHEUS_RULES_DIR", path=True),
    ),
    delivers=(
        Delivers(RULES_DIR_IN_OUT.as_posix(), "*.yml", "has no rule files; run `slo compile`"),
    ),
    configure=PrometheusPusher.configure,
    build=PrometheusPusher.build,
)
