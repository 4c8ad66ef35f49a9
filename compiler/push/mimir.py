"""Grafana Mimir / Cortex ruler: one namespace per service, and the tenant's Alertmanager config.

slo owns the namespaces under conventions.MIMIR_NAMESPACE_PREFIX and nothing else in the
tenant. Unlike `mimirtool rules sync`, which treats every namespace of the tenant as its own and
deletes what its files lack, push deletes stale groups only inside owned namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import yaml

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import alertmanager, parallel, rulegroups
from compiler.push.checks import Check, promtool_check_rules
from compiler.push.client import Context, Delivers, Key, PushClient, Section
from compiler.push.plan import Change, Plan, Progress
from compiler.push.prometheus import RULES_DIR_IN_OUT
from compiler.push.transport import PushError, Secret, Transport
from compiler.spec.yaml_source import load_data

RULES_API = "/prometheus/config/v1/rules"
# libyaml's emitter: the pure-Python one took 4 ms per rule group, 17 s of a first push of 3,996
# groups (bench/README.md, push throughput); libyaml writes the same YAML in 0.7 ms.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ALERTMANAGER_API = "/api/v1/alerts"


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


def owned(namespace: str) -> bool:
    return namespace.startswith(conventions.MIMIR_NAMESPACE_PREFIX)


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
    ):
        """``rule_files``: namespace -> rule file path under out/ (one per service)."""
        self.endpoint = endpoint
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
        response = self.http.expect(
            self.http.request("GET", ALERTMANAGER_API), (200, 404), "read Alertmanager config"
        )
        if response.status_code == 404:
            return None
        data = _yaml(response, "read Alertmanager config") or {}
        return data.get("alertmanager_config") if isinstance(data, dict) else None

    def plan(self) -> Plan:
        plan, work = Plan(), Work()
        live = self.live_rules()
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
        for namespace in sorted(ns for ns in live if owned(ns)):
            wanted = {g["name"] for g in self.groups.get(namespace, ())}
            for group in live[namespace]:
                if group.get("name") not in wanted:
                    work.delete.append((namespace, group["name"]))
                    plan.changes.append(
                        Change("deleted", f"group {group['name']} (namespace {namespace})")
                    )
        if self.am_text is not None:
            plan.changes.append(self._plan_alertmanager(self.am_text))
            work.alertmanager = plan.changes[-1].kind != "unchanged"
        plan.work, plan.steps = work, len(work.save) + len(work.delete) + work.alertmanager
        return plan

    def _plan_alertmanager(self, text: str) -> Change:
        desired = alertmanager.parse_config(text, conventions.ALERTMANAGER_CONFIG)
        live_text = self.live_alertmanager()
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
        errors = parallel.each(work.save, self._save, progress)
        errors += parallel.each(work.delete, self._delete, progress)
        if work.alertmanager:
            try:
                self._save_alertmanager()
            except PushError as exc:
                errors.append(str(exc))
            progress(1)
        if errors:
            total = len(work.save) + len(work.delete) + work.alertmanager
            raise PushError(f"{len(errors)} of {total} Mimir writes failed:\n" + "\n".join(errors))

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
        if not owned(namespace):  # plan() never asks for this; a guard against a future mistake
            raise PushError(
                f"refusing to delete from namespace {namespace}, which slo does not own"
            )
        path = f"{RULES_API}/{quote(namespace, safe='')}/{quote(name, safe='')}"
        self.http.expect(
            self.http.request("DELETE", path),
            (200, 202, 404),
            f"delete group {name} in namespace {namespace}",
        )

    def _save_alertmanager(self) -> None:
        body = yaml.safe_dump(
            {"template_files": {}, "alertmanager_config": self.am_text},
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
    return MimirPusher(endpoint, context.out_dir, rule_files, http, check)


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
