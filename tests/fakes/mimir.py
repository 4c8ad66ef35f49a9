"""A fake Grafana Mimir implementing the ruler and Alertmanager configuration APIs slo push uses.

Contract (Mimir HTTP API reference), per tenant given in X-Scope-OrgID (401 without it):
  GET    /prometheus/config/v1/rules                    200 YAML {namespace: [groups]}
                                                        | 404 no rule groups
  GET    /prometheus/config/v1/rules/{ns}               200 YAML {ns: [groups]} | 404
  GET    /prometheus/config/v1/rules/{ns}/{group}       200 YAML group | 404
  POST   /prometheus/config/v1/rules/{ns}               body: exactly one group (YAML) -> 202 | 400
                                                        (validated as Prometheus' rulefmt does:
                                                        see rule_group_problem)
  DELETE /prometheus/config/v1/rules/{ns}/{group}       202 | 404
  DELETE /prometheus/config/v1/rules/{ns}               202
  GET    /api/v1/alerts                                 200 YAML {template_files,
                                                        alertmanager_config} | 404
  POST   /api/v1/alerts                                 201 | 400 (the config validated as
                                                        amtool check-config does, in part: see
                                                        alertmanager_config_problem)
  DELETE /api/v1/alerts                                 200
Path segments arrive percent-encoded. With ``token`` set, "Authorization: Bearer <token>" is
required too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

import promql_parser
import yaml

from compiler.push.rulegroups import gc_paused  # the same pause the push itself takes
from fakes.server import FakeServer, Request, Response

PREFIX = "/prometheus/config/v1/rules"


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: answers in a few ms, not tens
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # and reads a posted group in 0.8 ms, not 7


GROUP_KEYS = {
    "name",
    "interval",
    "limit",
    "rules",
    "source_tenants",
    "query_offset",
    "evaluation_delay",
}
RULE_KEYS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DURATION = re.compile(r"^(([0-9]+)(y|w|d|h|m|s|ms))+$")
AM_KEYS = {
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "templates",
    "mute_time_intervals",
    "time_intervals",
}


def rule_group_problem(group) -> str | None:
    """Why Prometheus' rule loader (rulefmt, which Mimir's ruler uses) refuses ``group``, or None.
    Strict YAML (unknown keys are errors), a name, rules each with exactly one of record and
    alert, an expr that parses, valid names; the Go templates of alerts are not parsed here."""
    if not isinstance(group, dict):
        return "a rule group must be a mapping"
    unknown = sorted(set(group) - GROUP_KEYS, key=str)
    if unknown:
        return f"field {unknown[0]} not found in type rulefmt.RuleGroup"
    if not isinstance(group.get("name"), str) or not group["name"]:
        return "Groupname must not be empty"
    for key in ("interval", "query_offset", "evaluation_delay"):
        if key in group and not (isinstance(group[key], str) and DURATION.match(group[key])):
            return f"{key}: not a valid duration string: {group[key]!r}"
    rules = group.get("rules")
    if not isinstance(rules, list):
        return f"group {group['name']!r}: rules must be a list"
    for number, rule in enumerate(rules, 1):
        problem = _rule_problem(rule)
        if problem:
            return f"group {group['name']!r}, rule {number}: {problem}"
    return None


def _rule_problem(rule) -> str | None:
    if not isinstance(rule, dict):
        return "a rule must be a mapping"
    unknown = sorted(set(rule) - RULE_KEYS, key=str)
    if unknown:
        return f"field {unknown[0]} not found in type rulefmt.Rule"
    record, alert = rule.get("record"), rule.get("alert")
    if record and alert:
        return "only one of 'record' and 'alert' must be set"
    if not record and not alert:
        return "one of 'record' or 'alert' must be set"
    if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
        return "field 'expr' must be set in rule"
    try:
        promql_parser.parse(rule["expr"])
    except (ValueError, TypeError) as exc:
        return f"could not parse expression: {exc}"
    if record:
        if not isinstance(record, str) or not METRIC_NAME.match(record):
            return "invalid recording rule name"
        for key in ("annotations", "for", "keep_firing_for"):
            if key in rule:
                return f"invalid field '{key}' in recording rule"
    for key in ("for", "keep_firing_for"):
        if key in rule and not (isinstance(rule[key], str) and DURATION.match(rule[key])):
            return f"{key}: not a valid duration string: {rule[key]!r}"
    for key, what in (("labels", "label"), ("annotations", "annotation")):
        values = rule.get(key) or {}
        if not isinstance(values, dict):
            return f"{key} must be a mapping"
        for name, value in values.items():
            if not isinstance(name, str) or not LABEL_NAME.match(name):
                return f"invalid {what} name: {name!r}"
            if not isinstance(value, str):
                return f"invalid {what} value for {name}: {value!r}"
    return None


def alertmanager_config_problem(config) -> str | None:
    """Why Alertmanager (amtool check-config, and Mimir's validation of a tenant's config)
    refuses ``config``, or None: unknown top-level keys, a missing or matching root route,
    unnamed or repeated receivers, a route to a receiver that is not defined."""
    if not isinstance(config, dict):
        return "the configuration must be a mapping"
    unknown = sorted(set(config) - AM_KEYS, key=str)
    if unknown:
        return f"field {unknown[0]} not found in type config.plain"
    route = config.get("route")
    if not isinstance(route, dict):
        return "no route provided in config"
    if not route.get("receiver"):
        return "root route must specify a default receiver"
    if any(key in route for key in ("match", "match_re", "matchers")):
        return "root route must not have any matchers"
    names = []
    for receiver in config.get("receivers") or []:
        name = receiver.get("name") if isinstance(receiver, dict) else None
        if not name:
            return "missing name in receiver"
        if name in names:
            return f'notification config name "{name}" is not unique'
        names.append(name)
    pending = [route]
    while pending:  # bounded: every route is visited once
        current = pending.pop()
        receiver = current.get("receiver")
        if receiver and receiver not in names:
            return f'undefined receiver "{receiver}" used in route'
        pending.extend(r for r in current.get("routes") or [] if isinstance(r, dict))
    return None


def _load(text):
    return yaml.load(text, Loader=_Loader)


def _yaml(status: int, data) -> Response:
    # Without the cyclic collector: it walks the whole heap over and over while a big answer is
    # built (a tenant of 3,996 groups: 6.9 s with it, 2.7 s without).
    with gc_paused():
        return Response(
            status, yaml.dump(data, Dumper=_Dumper, sort_keys=False).encode(), "application/yaml"
        )


@dataclass
class FakeMimir(FakeServer):
    token: str | None = None
    rules: dict[str, dict[str, list[dict]]] = field(
        default_factory=dict
    )  # tenant -> namespace -> groups
    alertmanager: dict[str, dict] = field(
        default_factory=dict
    )  # tenant -> {"template_files", "alertmanager_config"}

    def route(self, request: Request) -> Response:
        tenant = request.headers.get("X-Scope-OrgID")
        if not tenant:
            return Response.text(401, "no org id")
        if (
            self.token is not None
            and request.headers.get("Authorization") != f"Bearer {self.token}"
        ):
            return Response.text(401, "unauthorized")
        if request.path.startswith(PREFIX):
            return self._rules(tenant, request)
        if request.path == "/api/v1/alerts":
            return self._alertmanager(tenant, request)
        return Response.text(404, "not found")

    def _rules(self, tenant: str, request: Request) -> Response:
        namespaces = self.rules.setdefault(tenant, {})
        parts = [unquote(p) for p in request.path[len(PREFIX) :].split("/") if p]
        method = request.method
        if method == "GET" and not parts:
            if not namespaces:
                return Response.text(404, "no rule groups found")
            return _yaml(200, namespaces)
        if method == "GET" and len(parts) == 1:
            if parts[0] not in namespaces:
                return Response.text(404, "no rule groups found")
            return _yaml(200, {parts[0]: namespaces[parts[0]]})
        if method == "GET" and len(parts) == 2:
            for group in namespaces.get(parts[0], []):
                if group["name"] == parts[1]:
                    return _yaml(200, group)
            return Response.text(404, "group does not exist")
        if method == "POST" and len(parts) == 1:
            try:
                group = _load(request.body)
            except yaml.YAMLError as exc:
                return Response.text(400, f"unable to parse rule group: {exc}")
            problem = rule_group_problem(group)
            if problem:
                return Response.text(400, f"invalid rule group: {problem}")
            groups = [g for g in namespaces.get(parts[0], []) if g["name"] != group["name"]]
            namespaces[parts[0]] = groups + [group]
            return Response.json(
                202, {"status": "success", "data": None, "errorType": "", "error": ""}
            )
        if method == "DELETE" and len(parts) == 2:
            groups = namespaces.get(parts[0], [])
            if not any(g["name"] == parts[1] for g in groups):
                return Response.text(404, "group does not exist")
            namespaces[parts[0]] = [g for g in groups if g["name"] != parts[1]]
            if not namespaces[parts[0]]:
                del namespaces[parts[0]]
            return Response.json(
                202, {"status": "success", "data": None, "errorType": "", "error": ""}
            )
        if method == "DELETE" and len(parts) == 1:
            namespaces.pop(parts[0], None)
            return Response.json(
                202, {"status": "success", "data": None, "errorType": "", "error": ""}
            )
        return Response.text(405, "method not allowed")

    def _alertmanager(self, tenant: str, request: Request) -> Response:
        if request.method == "GET":
            config = self.alertmanager.get(tenant)
            return (
                _yaml(200, config)
                if config
                else Response.text(404, "alertmanager config not found")
            )
        if request.method == "POST":
            try:
                body = _load(request.body)
                parsed = _load(body["alertmanager_config"])
            except (yaml.YAMLError, KeyError, TypeError) as exc:
                return Response.text(400, f"error marshalling YAML Alertmanager config: {exc}")
            problem = alertmanager_config_problem(parsed)
            if problem:
                return Response.text(400, f"error validating Alertmanager config: {problem}")
            self.alertmanager[tenant] = {
                "template_files": body.get("template_files") or {},
                "alertmanager_config": body["alertmanager_config"],
            }
            return Response.text(201, "")
        if request.method == "DELETE":
            self.alertmanager.pop(tenant, None)
            return Response.text(200, "")
        return Response.text(405, "method not allowed")
