"""Grafana Mimir / Cortex ruler: one namespace per service, and the tenant's Alertmanager config.

slo writes its groups into namespaces named conventions.mimir_namespace(service), but a name is
not ownership: another team may well call a namespace slo-latency. What push may delete is what
its record lists: one rule group in a namespace of its own (conventions.MIMIR_RECORD_NAMESPACE)
naming every (namespace, group) slo wrote in the tenant. The record is widened before groups are
written (a crash leaves a recorded group, never an unrecorded one) and narrowed after deletes.
Only with --prune, and only a group the record lists and out/ no longer has, is deleted; every
other group, in any namespace, is left alone (with --prune, a note names those in slo-
namespaces). Unlike `mimirtool rules sync`, which treats every namespace of the tenant as its
own. Living in the ruler, the record is the same for every machine that pushes.

A push whose groups or Alertmanager config are not in place afterwards (read back) is restored:
every group it wrote or deleted is posted again as plan() read it, those it created are
deleted, and the tenant's Alertmanager config goes back (or is deleted when there was none). The
record stays as the push widened it: it may list a group that is gone (left out at the next
push), never miss one slo may have left (a post answered too late can land after the restore).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import yaml

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import alertmanager, parallel, rulegroups
from compiler.push import restore as restoring
from compiler.push.checks import Check, promtool_check_rules
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress, Restore
from compiler.push.prometheus import RULES_DIR_IN_OUT
from compiler.push.transport import PushError, Secret, Transport
from compiler.spec.yaml_source import load_data

RULES_API = "/prometheus/config/v1/rules"
# libyaml's emitter: the pure-Python one took 4 ms per rule group, 17 s of a first push of 3,996
# groups (bench/README.md, push throughput); libyaml writes the same YAML in 0.7 ms.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ALERTMANAGER_API = "/api/v1/alerts"
RECORD_LABEL = "slo_push_record"  # on the record's one rule: {namespace: [group, ...]} as JSON
RECORD_OBJECT = (
    f"record {conventions.MIMIR_RECORD_GROUP} (namespace {conventions.MIMIR_RECORD_NAMESPACE}: "
    "the rule groups slo wrote)"
)
# Names a record may list: a namespace slo-<service>, a group of letters, digits, '-' and '_'.
_NAMESPACE = re.compile(
    re.escape(conventions.MIMIR_NAMESPACE_PREFIX) + r"[a-z][a-z0-9]*(-[a-z0-9]+)*"
)
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")

Groups = set[tuple[str, str]]  # (namespace, group name)
ALERTMANAGER_OBJECT = "alertmanager config"


@dataclass(frozen=True)
class Mimir:
    url: str
    tenant: str
    token: Secret | None


@dataclass
class Work:
    save: list[tuple[str, dict]] = field(default_factory=list)  # (namespace, group as in the file)
    delete: list[tuple[str, str]] = field(default_factory=list)  # (namespace, group name)
    alertmanager: bool = False
    record: Groups | None = None  # written before any group: what was and will be slo's
    record_after: Groups | None = None  # written after the deletes, when it is smaller
    # what plan() read: the live groups by namespace, the Alertmanager config ({template_files,
    # alertmanager_config}, None when there is none); apply() keeps what it writes in the
    # snapshots, restore() puts back
    live: dict[str, list[dict]] = field(default_factory=dict)
    alertmanager_before: dict | None = None
    snapshot: restoring.Snapshot[tuple[str, str], dict] = field(default_factory=restoring.Snapshot)
    alertmanager_snapshot: restoring.Snapshot[str, dict] = field(default_factory=restoring.Snapshot)


@dataclass
class Record:
    """Push's record as read back from the ruler."""

    groups: Groups = field(default_factory=set)
    exists: bool = False
    clean: bool = True  # False when entries were ignored: then it is written again without them


def record_group(groups: Groups) -> dict:
    """The record as a rule group: one recording rule that records nothing (``vector(1) < 0``
    is always empty), the record in a label."""
    listed: dict[str, list[str]] = {}
    for namespace, name in sorted(groups):
        listed.setdefault(namespace, []).append(name)
    return {
        "name": conventions.MIMIR_RECORD_GROUP,
        "rules": [
            {
                "record": conventions.MIMIR_RECORD_GROUP,
                "expr": "vector(1) < 0",
                "labels": {
                    "about": "slo push's record of the rule groups it wrote; records nothing",
                    RECORD_LABEL: json.dumps(listed, separators=(",", ":"), sort_keys=True),
                },
            }
        ],
    }


def _written_by_slo(namespace: object, name: object) -> bool:
    """Whether a record entry has the form of a group slo writes (no '/', no '..', no space)."""
    return (
        isinstance(namespace, str)
        and isinstance(name, str)
        and _NAMESPACE.fullmatch(namespace) is not None
        and _GROUP.fullmatch(name) is not None
    )


def _recorded(groups: list) -> object:
    """The JSON in the record group's label, or None when ``groups`` holds no record."""
    for group in groups:
        if isinstance(group, dict) and group.get("name") == conventions.MIMIR_RECORD_GROUP:
            try:
                return json.loads(group["rules"][0]["labels"][RECORD_LABEL])
            except (LookupError, TypeError, ValueError, RecursionError):
                return None
    return None


def group_body(group: dict) -> bytes:
    """A rule group as the ruler takes it: one group, as YAML."""
    return yaml.dump(group, Dumper=_Dumper, sort_keys=False, allow_unicode=True).encode("utf-8")


def _yaml(response: requests.Response, what: str) -> Any:
    try:
        with rulegroups.gc_paused():
            return load_data(response.text)
    except yaml.YAMLError:
        raise PushError(f"{what}: the answer is not YAML") from None


class MimirPusher:
    name = "mimir"

    def __init__(
        self,
        endpoint: Mimir,
        out_dir: Path,
        rule_files: dict[str, str],
        transport: Transport,
        check: Check | None = promtool_check_rules,
        prune: bool = False,
    ):
        """``rule_files``: namespace -> rule file path under out/ (one per service)."""
        self.endpoint = endpoint
        self.prune = prune
        self.out_dir = Path(out_dir)
        self.http = transport
        self.check = check
        self.rule_files = rule_files
        self.groups = {
            namespace: rulegroups.parse_groups((self.out_dir / rel).read_text("utf-8"), rel)
            for namespace, rel in rule_files.items()
        }
        am = self.out_dir / conventions.ALERTMANAGER_CONFIG
        self.am_text = am.read_text("utf-8") if am.is_file() else None

    def preflight(self) -> None:
        if self.check is not None and self.rule_files:
            self.check([self.out_dir / rel for rel in self.rule_files.values()])

    # -- reading -------------------------------------------------------------------------
    def live_rules(self) -> dict[str, list[dict]]:
        response = self.http.expect(
            self.http.request("GET", RULES_API), (200, 404), f"list rule groups ({RULES_API})"
        )
        if response.status_code == 404:  # the ruler's answer for a tenant without any rule group
            return {}
        data = _yaml(response, "list rule groups") or {}
        if not isinstance(data, dict):
            raise PushError(f"{self.http.url(RULES_API)} did not answer like a Mimir ruler")
        return {str(ns): list(groups or []) for ns, groups in data.items()}

    def live_alertmanager(self) -> str | None:
        data = self.alertmanager_body()
        return None if data is None else data.get("alertmanager_config")

    def alertmanager_body(self) -> dict | None:
        """The tenant's Alertmanager configuration as the API holds it, or None."""
        response = self.http.expect(
            self.http.request("GET", ALERTMANAGER_API), (200, 404), "read Alertmanager config"
        )
        if response.status_code == 404:
            return None
        data = _yaml(response, "read Alertmanager config") or {}
        return data if isinstance(data, dict) else {}

    def plan(self) -> Plan:
        plan, work = Plan(), Work()
        live = work.live = self.live_rules()
        for namespace, groups in self.groups.items():
            have = {g.get("name"): g for g in live.get(namespace, [])}
            for group in groups:
                what = f"group {group['name']} (namespace {namespace})"
                if group["name"] not in have:
                    change = Change("created", what)
                else:
                    found = rulegroups.differences(
                        rulegroups.canonical_group(group),
                        rulegroups.canonical_group(have[group["name"]]),
                    )
                    change = Change("updated" if found else "unchanged", what, tuple(found))
                plan.changes.append(change)
                if change.kind != "unchanged":
                    work.save.append((namespace, group))
        generated = {(ns, group["name"]) for ns, groups in self.groups.items() for group in groups}
        record = self.read_record(live, plan)
        kept = self._plan_stale(record, generated, live, plan, work)
        if self.prune:
            self._note_unrecorded(record, generated, live, plan)
        after = generated | kept
        if not (record.exists and record.clean and record.groups == after):
            work.record = record.groups | after
            work.record_after = after if after != work.record else None
            added, removed = len(after - record.groups), len(record.groups - after)
            plan.changes.append(
                Change(
                    "updated" if record.exists else "created",
                    RECORD_OBJECT,
                    (f"lists {len(after)} group(s): {added} added, {removed} removed",),
                )
            )
        if self.am_text is not None:
            work.alertmanager_before = self.alertmanager_body()
            plan.changes.append(self._plan_alertmanager(self.am_text, work.alertmanager_before))
            work.alertmanager = plan.changes[-1].kind != "unchanged"
        records = (work.record is not None) + (work.record_after is not None)
        plan.work = work
        plan.steps = len(work.save) + len(work.delete) + work.alertmanager + records
        return plan

    def read_record(self, live: dict[str, list[dict]], plan: Plan) -> Record:
        """The record in the ruler; an entry that is not a group slo could have written is
        ignored with a note (never deleted), and left out when the record is written next."""
        namespace = conventions.MIMIR_RECORD_NAMESPACE
        if namespace not in live:
            return Record()
        data = _recorded(live[namespace])
        if not isinstance(data, dict):
            plan.notes.append(
                f"{RECORD_OBJECT} cannot be read (edited by hand?): nothing is deleted, and the "
                "record is written again from the groups slo generates"
            )
            return Record(exists=True, clean=False)
        record = Record(exists=True)
        for listed_namespace, names in data.items():
            for name in names if isinstance(names, list) else [names]:
                if _written_by_slo(listed_namespace, name) and isinstance(names, list):
                    record.groups.add((listed_namespace, name))
                    continue
                record.clean = False
                plan.notes.append(
                    f"{RECORD_OBJECT} lists group {name!r} in namespace {listed_namespace!r}, "
                    "which is not a group slo could have written: ignored (never deleted), and "
                    "left out of the record"
                )
        return record

    def _plan_stale(
        self, record: Record, generated: Groups, live: dict[str, list[dict]], plan: Plan, work: Work
    ) -> Groups:
        """Recorded groups out/ no longer has: deleted with --prune, else noted. Returns those
        that stay recorded."""
        present = {
            (ns, g.get("name"))
            for ns, groups in live.items()
            for g in groups
            if isinstance(g, dict)
        }
        kept = set()
        for namespace, name in sorted(record.groups - generated):
            if (namespace, name) not in present:
                continue  # gone already: left out of the record
            what = f"group {name} (namespace {namespace})"
            why = (
                f"slo's: listed in its record (group {conventions.MIMIR_RECORD_GROUP} in "
                f"namespace {conventions.MIMIR_RECORD_NAMESPACE}) as written by slo push; "
                "out/ no longer has it"
            )
            if self.prune:
                work.delete.append((namespace, name))
                plan.changes.append(Change("deleted", what, (why,)))
            else:
                kept.add((namespace, name))
                plan.notes.append(f"{what} is no longer generated ({why}); --prune deletes it")
        return kept

    def _note_unrecorded(
        self, record: Record, generated: Groups, live: dict[str, list[dict]], plan: Plan
    ) -> None:
        """With --prune: groups in slo- namespaces the record does not list, left alone."""
        for namespace in sorted(
            ns for ns in live if ns.startswith(conventions.MIMIR_NAMESPACE_PREFIX)
        ):
            for group in live[namespace]:
                name = group.get("name") if isinstance(group, dict) else group
                if (namespace, name) in generated or (namespace, name) in record.groups:
                    continue
                plan.notes.append(
                    f"group {name} (namespace {namespace}) is in a "
                    f"{conventions.MIMIR_NAMESPACE_PREFIX} namespace but slo's record does not "
                    "list it: not deleted (someone else's, or written by a slo without a "
                    "record: delete it by hand if it is a leftover)"
                )

    def _plan_alertmanager(self, text: str, live_body: dict | None) -> Change:
        desired = alertmanager.parse_config(text, conventions.ALERTMANAGER_CONFIG)
        live_text = None if live_body is None else live_body.get("alertmanager_config")
        if live_text is None:
            return Change("created", "alertmanager config")
        live = alertmanager.parse_config(live_text, "live Alertmanager config")
        if live == desired:
            return Change("unchanged", "alertmanager config")
        return Change(
            "updated",
            "alertmanager config",
            tuple(alertmanager.differences(desired, live) or ["differs"]),
        )

    # -- writing -------------------------------------------------------------------------
    def apply(self, plan: Plan, progress: Progress) -> None:
        work: Work = plan.work
        if work.record is not None:  # before any group: a crash leaves nothing unrecorded
            try:
                self._save_record(work.record)
            except PushError as exc:
                raise PushError(f"{exc}; no rule group was saved or deleted") from None
            progress(1)
        recorded = work.record or set()

        def delete(item: tuple[str, str]) -> None:
            if item not in recorded:  # plan() never asks for this; a guard against a mistake
                raise PushError(
                    f"refusing to delete group {item[1]} in namespace {item[0]}: slo's record "
                    "does not list it"
                )
            self._delete(item)

        for key in [(namespace, group["name"]) for namespace, group in work.save] + work.delete:
            work.snapshot.keep(key, _group_in(work.live, *key))
        errors = parallel.each(work.save, self._save, progress)
        errors += parallel.each(work.delete, delete, progress)
        if work.alertmanager:
            work.alertmanager_snapshot.keep(ALERTMANAGER_OBJECT, work.alertmanager_before)
            try:
                self._save_alertmanager()
            except PushError as exc:
                errors.append(str(exc))
            progress(1)
        if errors:
            total = len(work.save) + len(work.delete) + work.alertmanager
            raise PushError(f"{len(errors)} of {total} Mimir writes failed:\n" + "\n".join(errors))
        if work.record_after is not None:  # only once every delete went through
            self._save_record(work.record_after)
            progress(1)

    def _save_record(self, groups: Groups) -> None:
        namespace, group = conventions.MIMIR_RECORD_NAMESPACE, record_group(groups)
        response = self.http.request(
            "POST",
            f"{RULES_API}/{quote(namespace, safe='')}",
            data=group_body(group),
            headers={"Content-Type": "application/yaml"},
        )
        self.http.expect(response, (200, 202), f"save {RECORD_OBJECT}")

    def _save(self, item: tuple[str, dict]) -> None:
        namespace, group = item
        response = self.http.request(
            "POST",
            f"{RULES_API}/{quote(namespace, safe='')}",
            data=group_body(group),
            headers={"Content-Type": "application/yaml"},
        )
        self.http.expect(
            response, (200, 202), f"save group {group['name']} in namespace {namespace}"
        )

    def _delete(self, item: tuple[str, str]) -> None:
        namespace, name = item
        path = f"{RULES_API}/{quote(namespace, safe='')}/{quote(name, safe='')}"
        self.http.expect(
            self.http.request("DELETE", path),
            (200, 202, 404),
            f"delete group {name} in namespace {namespace}",
        )

    def _save_alertmanager(self) -> None:
        self._post_alertmanager({"template_files": {}, "alertmanager_config": self.am_text})

    def _post_alertmanager(self, config: dict) -> None:
        body = yaml.safe_dump(
            {
                "template_files": config.get("template_files") or {},
                "alertmanager_config": config.get("alertmanager_config") or "",
            },
            sort_keys=False,
            allow_unicode=True,
        )
        response = self.http.request(
            "POST",
            ALERTMANAGER_API,
            data=body.encode("utf-8"),
            headers={"Content-Type": "application/yaml"},
        )
        self.http.expect(response, (200, 201), "save Alertmanager config")

    def verify(self) -> list[str]:
        return [f"{c.object}: {c.kind} after push" for c in self.plan().pending]

    def restore(self, plan: Plan) -> Restore:
        """Every group apply() wrote or deleted back as plan() read it, those it created
        deleted, the Alertmanager config back; then read back."""
        work: Work = plan.work
        restored = "the previous rule groups and Alertmanager config are live again"
        objects = len(work.snapshot) + len(work.alertmanager_snapshot)
        if not objects:
            return Restore(restored, 0)
        errors = restoring.rewiden_record(
            work, self._save_record, f"{RECORD_OBJECT}: could not list the groups put back again"
        )
        failed = restoring.put_back(
            work.snapshot, lambda key, group: self._save((key[0], group)), self._delete
        )
        failed_am = restoring.put_back(
            work.alertmanager_snapshot,
            lambda _, body: self._post_alertmanager(body),
            lambda _: self._delete_alertmanager(),
        )
        live = self.live_rules()
        before = work.snapshot.before
        now = {key: found for key in before if (found := _group_in(live, *key)) is not None}
        problems = restoring.compare(
            before,
            now,
            lambda key: f"group {key[1]} (namespace {key[0]})",
            lambda was, have: rulegroups.differences(
                rulegroups.canonical_group(was), rulegroups.canonical_group(have)
            ),
            failed,
        )
        if work.alertmanager_snapshot:
            am_now = self.alertmanager_body()
            problems += restoring.compare(
                work.alertmanager_snapshot.before,
                {} if am_now is None else {ALERTMANAGER_OBJECT: am_now},
                str,
                _alertmanager_differences,
                failed_am,
            )
        return restoring.outcome(restored, objects, problems, errors)

    def _delete_alertmanager(self) -> None:
        """The tenant's Alertmanager config, which the push created."""
        response = self.http.request("DELETE", ALERTMANAGER_API)
        self.http.expect(response, (200, 202, 204, 404), "delete Alertmanager config")


def _group_in(live: dict[str, list[dict]], namespace: str, name: str) -> dict | None:
    for group in live.get(namespace, []):
        if isinstance(group, dict) and group.get("name") == name:
            return group
    return None


def _alertmanager_differences(was: dict, now: dict) -> list[str]:
    """How the tenant's Alertmanager configuration differs from what it was."""
    found = []
    if (was.get("template_files") or {}) != (now.get("template_files") or {}):
        found.append("template_files differ")
    old, new = (str(config.get("alertmanager_config") or "") for config in (was, now))
    if old != new and _parsed(old) != _parsed(new):
        found.append("alertmanager_config differs")
    return found


def _parsed(text: str) -> object:
    """An Alertmanager configuration's text as data, or the text when it is not YAML."""
    try:
        return alertmanager.parse_config(text, "live Alertmanager config")
    except PushError:
        return text


def namespaces(model: Model, out_dir: Path) -> dict[str, str]:
    """Namespace -> rule file under out/, for every service whose rule file exists."""
    return {
        conventions.mimir_namespace(s.name): conventions.rules_file(s.name)
        for s in model.services
        if (out_dir / conventions.rules_file(s.name)).is_file()
    }


def _configure(section: Section) -> Mimir | None:
    tenant = section.text("tenant")
    if not tenant:
        section.problem(
            "url", "targets/tenant", "mimir needs a tenant: set SLO_MIMIR_TENANT (X-Scope-OrgID)"
        )
        return None
    return Mimir(section.url, tenant, section.token())


def _build(endpoint: Mimir, context: Context) -> MimirPusher:
    http = context.transport(
        endpoint.url, token=endpoint.token, headers={"X-Scope-OrgID": endpoint.tenant}
    )
    check = promtool_check_rules if context.settings.checks else None
    rule_files = namespaces(context.model, context.out_dir)
    return MimirPusher(
        endpoint, context.out_dir, rule_files, http, check, prune=context.settings.prune
    )


CLIENT = PushClient(
    name=MimirPusher.name,
    keys=(
        Key("url", "SLO_MIMIR_URL"),
        Key("tenant", "SLO_MIMIR_TENANT"),
        Key("token_file", "SLO_MIMIR_TOKEN_FILE", path=True),
    ),
    delivers=(
        Delivers(RULES_DIR_IN_OUT.as_posix(), "*.yml", "has no rule files; run `slo compile`"),
        Delivers(conventions.ALERTMANAGER_CONFIG),  # the tenant's Alertmanager, when compiled
    ),
    configure=_configure,
    build=_build,
)
