"""Alertmanager: routing by severity and team, inhibition, and a table of routing tests.

Standalone, the generated tree routes every alert by its ``severity`` label:

    route: receiver = the fallback severity's receiver (alerts with no known severity)
    ├── severity="page"    -> slo-page        timing of the page tier
    │   └── team="x"       -> slo-x-page      a team's own receiver
    │       └── region="eu" -> slo-x-page-region=eu   a team's route on a (group) label
    ├── severity="ticket"  -> slo-ticket
    └── severity="info"    -> slo-info

The root groups by the Routing spec's ``group_by`` and every ``by`` label of a grouped SLO, so
one group's page (region="eu") is never merged into another's. Alertmanager groups an alert by
the labels of ``group_by`` it has: alerts without a group label are grouped as before.

Merged into a base config, the same severity routes hang under one route matching
``objective_kind`` (which only alerts compiled by slo carry), placed first among the base's
routes: slo's alerts go where the Routing spec says, all others where the base says.
"""

from __future__ import annotations

import datetime
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler.core import conventions as names
from compiler.core.durations import format_duration
from compiler.core.model import (
    SLO,
    BaseConfig,
    Maintenance,
    Model,
    Notify,
    ObjectiveRef,
    Routing,
    Service,
    SeverityPolicy,
    Threshold,
    TimeRange,
)
from compiler.targets.protocol import Emitted, Proof, RouteTable, Target, ToolRun
from compiler.text.yamltext import Comment, dump

SCOPE = names.matcher(names.OBJECTIVE_KIND, names.OBJECTIVE_KINDS)

# Alertmanager's default Slack message has a title and no text: the annotations (what is
# wrong, the runbook, the dashboard) would never reach the channel.
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n"
    "{{ with .Annotations.description }}{{ . }}\n{{ end }}"
    "{{ with .Annotations.runbook_url }}Runbook: {{ . }}\n{{ end }}"
    "{{ with .Annotations.dashboard }}Dashboard: {{ . }}\n{{ end }}"
    "{{ end }}"
)


# --- receivers -----------------------------------------------------------------------------
def receiver_for(routing: Routing, team: str, severity: str) -> str:
    """The receiver an alert of ``team`` and ``severity`` must reach."""
    if any(t.team == team and t.severity == severity for t in routing.teams):
        return names.receiver(severity, team)
    return names.receiver(severity)


def integrations(notify: Notify, severity: str) -> dict:
    out: dict = {}
    if notify.pagerduty:
        pd = notify.pagerduty
        config: dict[str, Any] = {"routing_key_file": pd.routing_key_file}
        if pd.url:
            config["url"] = pd.url
        config["severity"] = names.PAGERDUTY_SEVERITY[severity]
        config["send_resolved"] = pd.send_resolved
        out["pagerduty_configs"] = [config]
    if notify.slack:
        slack = notify.slack
        config = {"channel": slack.channel}
        if slack.api_url_file:
            config["api_url_file"] = slack.api_url_file
        config["send_resolved"] = slack.send_resolved
        config["text"] = SLACK_TEXT
        out["slack_configs"] = [config]
    if notify.email:
        email = notify.email
        out["email_configs"] = [
            {"to": email.to, **dict(email.settings), "send_resolved": email.send_resolved}
        ]
    return out


def receivers(routing: Routing) -> list[dict]:
    found = [
        {"name": names.receiver(p.severity), **integrations(p.notify, p.severity)}
        for p in routing.severities
    ]
    found += [
        {"name": names.receiver(t.severity, t.team), **integrations(t.notify, t.severity)}
        for t in routing.teams
    ]
    found += [
        {
            "name": names.label_route_receiver(r.severity, r.team, r.match),
            **integrations(r.notify, r.severity),
        }
        for r in routing.label_routes
    ]
    return found


# --- routes --------------------------------------------------------------------------------
def severity_route(routing: Routing, policy: SeverityPolicy, model: Model | None = None) -> dict:
    route: dict[str, Any] = {
        "receiver": names.receiver(policy.severity),
        "matchers": [names.matcher(names.SEVERITY, policy.severity)],
        "group_wait": format_duration(policy.group_wait),
        "group_interval": format_duration(policy.group_interval),
        "repeat_interval": format_duration(policy.repeat_interval),
    }
    if policy.active_time_intervals:
        route["active_time_intervals"] = list(policy.active_time_intervals)
    if policy.mute_time_intervals:
        route["mute_time_intervals"] = list(policy.mute_time_intervals)
    teams = [team_route(routing, team, policy.severity) for team in routed_teams(routing)]
    teams = [severity_intervals(t, policy) for t in teams if t is not None]
    muted = maintenance_routes(model, routing, policy) if model is not None else []
    if muted or teams:
        route["routes"] = [*muted, *teams]
    return route


def severity_intervals(route: dict[str, Any], policy: SeverityPolicy) -> dict[str, Any]:
    """``route`` and every route under it with the severity's own time intervals: Alertmanager
    does not inherit ``active_time_intervals`` and ``mute_time_intervals`` (each route takes
    its own, dispatch/route.go), and an alert obeys the route it ends at, so a team's route
    without them would page in hours the severity keeps quiet."""
    if policy.active_time_intervals:
        route["active_time_intervals"] = list(policy.active_time_intervals)
    if policy.mute_time_intervals:
        route["mute_time_intervals"] = list(policy.mute_time_intervals)
    for child in route.get("routes", []):
        severity_intervals(child, policy)
    return route


# --- maintenance windows -------------------------------------------------------------------
def muting(windows: Sequence[Maintenance]) -> list[TimeRange]:
    """The recurring windows that mute: one-off windows are silences `slo push` creates."""
    return [w.recurring for w in windows if w.mute and w.recurring is not None]


def maintenance_intervals(model: Model) -> list[dict]:
    """A time interval per service, and per SLO, with recurring windows that mute."""
    found = []
    for service in model.services:
        if muting(service.maintenance):
            found.append(
                {
                    "name": names.maintenance_interval(service.name),
                    "time_intervals": [time_range(r) for r in muting(service.maintenance)],
                }
            )
        for objective in objectives(service):
            if muting(objective.maintenance):
                found.append(
                    {
                        "name": names.maintenance_interval(service.name, objective.name),
                        "time_intervals": [time_range(r) for r in muting(objective.maintenance)],
                    }
                )
    return found


def objectives(service: Service) -> list[SLO | Threshold]:
    """The SLOs and thresholds of ``service``: the ``slo`` label of their alerts."""
    return [*service.slos, *service.thresholds]


def _utc(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_off_silences(model: Model) -> list[dict]:
    """The one-off windows that mute, each the silence `slo push` keeps until it ends."""
    found = []
    for service in model.services:
        scoped: list[tuple[str | None, Maintenance]] = [(None, w) for w in service.maintenance]
        scoped += [(o.name, w) for o in objectives(service) for w in o.maintenance]
        for slo, w in scoped:
            if not w.mute or w.start is None or w.end is None:
                continue
            item = {"service": service.name}
            if slo is not None:
                item["slo"] = slo
            item.update(
                name=w.name,
                comment=names.window_comment(service.name, slo, w.name, w.reason),
                starts_at=_utc(w.start),
                ends_at=_utc(w.end),
            )
            item["source"] = service.source_file
            found.append(item)
    return found


SILENCES_NOTE = (
    "# `slo push` keeps an Alertmanager silence for each window until it ends, and expires the\n"
    "# silences of windows no longer here (push/silences.py)\n"
)


def maintenance_routes(model: Model, routing: Routing, policy: SeverityPolicy) -> list[dict]:
    """Under a severity's route, before the teams': a route per SLO and per service with
    windows that mute. Each routes exactly as the route it stands in for (the team's receiver
    and routes on labels, the severity's own time intervals) and mutes the windows as well:
    Alertmanager mutes by the route an alert ends at, and a route's time intervals are its
    own, not its parent's."""
    found = []
    for service in model.services:
        own = [names.maintenance_interval(service.name)] if muting(service.maintenance) else []
        raised = set()
        for objective in objectives(service):
            raised |= severities(objective)
            if muting(objective.maintenance) and policy.severity in severities(objective):
                extra = [*own, names.maintenance_interval(service.name, objective.name)]
                found.append(muted_route(routing, policy, service, extra, objective.name))
        if own and policy.severity in raised:
            found.append(muted_route(routing, policy, service, own))
    return found


def severities(objective: SLO | Threshold) -> set[str]:
    """The severities the alerts of an objective carry (a grouped SLO's guard: a ticket)."""
    if isinstance(objective, Threshold):
        return {objective.severity}
    return {t.severity for t in objective.alerting.tiers} | ({"ticket"} if objective.by else set())


def muted_route(
    routing: Routing,
    policy: SeverityPolicy,
    service: Service,
    intervals: Sequence[str],
    slo: str | None = None,
) -> dict:
    matchers = [names.matcher(names.SERVICE, service.name)]
    if slo is not None:
        matchers.append(names.matcher(names.SLO, slo))
    mute = [*policy.mute_time_intervals, *intervals]
    route: dict[str, Any] = {
        "receiver": receiver_for(routing, service.team, policy.severity),
        "matchers": matchers,
    }
    if policy.active_time_intervals:
        route["active_time_intervals"] = list(policy.active_time_intervals)
    route["mute_time_intervals"] = mute
    team = team_route(routing, service.team, policy.severity)
    if team is not None and "routes" in team:
        route["routes"] = [
            {
                **child,
                **(
                    {"active_time_intervals": list(policy.active_time_intervals)}
                    if policy.active_time_intervals
                    else {}
                ),
                "mute_time_intervals": mute,
            }
            for child in team["routes"]
        ]
    return route


def routed_teams(routing: Routing) -> list[str]:
    return sorted({t.team for t in routing.teams} | {r.team for r in routing.label_routes})


def team_route(routing: Routing, team: str, severity: str) -> dict | None:
    """A team's route under a severity's: its own receiver, and its routes on labels first.
    None when the team has neither for this severity."""
    labels = [r for r in routing.label_routes if r.team == team and r.severity == severity]
    own = any(t.team == team and t.severity == severity for t in routing.teams)
    if not own and not labels:
        return None
    route: dict[str, Any] = {
        "receiver": receiver_for(routing, team, severity),
        "matchers": [names.matcher(names.TEAM, team)],
    }
    if labels:
        route["routes"] = [
            {
                "receiver": names.label_route_receiver(severity, team, r.match),
                "matchers": [names.matcher(label, value) for label, value in r.match],
            }
            for r in labels
        ]
    return route


def group_by(model: Model, routing: Routing) -> list[str]:
    """The Routing spec's group_by, then every grouped SLO's ``by`` labels it lacks."""
    grouped = {label for service in model.services for slo in service.slos for label in slo.by}
    return [*routing.group_by, *sorted(grouped - set(routing.group_by))]


def severity_routes(routing: Routing, model: Model | None = None) -> list[dict]:
    return [severity_route(routing, policy, model) for policy in routing.severities]


def scoped_route(model: Model, routing: Routing) -> dict:
    """The route inserted into a base config: slo's alerts only."""
    return {
        "receiver": names.receiver(routing.fallback),
        "matchers": [SCOPE],
        "group_by": group_by(model, routing),
        "routes": severity_routes(routing, model),
    }


# --- inhibition ----------------------------------------------------------------------------
def objective_severities(model: Model, ref: ObjectiveRef) -> list[str]:
    """The severities the alerts of one objective can carry, most severe first."""
    found: set[str] = set()
    for service in model.services:
        if service.name != ref.service:
            continue
        found.update(
            t.severity
            for slo in service.slos
            if slo.name == ref.objective
            for t in slo.alerting.tiers
        )
        found.update(
            "ticket"
            for slo in service.slos
            if slo.name == ref.objective and slo.alerting.exhaustion is not None
        )
        found.update(th.severity for th in service.thresholds if th.name == ref.objective)
    return [s for s in names.SEVERITIES if s in found]


def inhibit_rules(model: Model, routing: Routing) -> list:
    rules: list = [
        Comment("a page silences the ticket and info alerts of the same service and SLO"),
        {
            "source_matchers": [SCOPE, names.matcher(names.SEVERITY, "page")],
            "target_matchers": [SCOPE, names.matcher(names.SEVERITY, ("ticket", "info"))],
            "equal": [names.SERVICE, names.SLO],
        },
    ]
    for dependency in routing.dependencies:
        up = dependency.upstream
        by_service: dict[str, list[str]] = {}
        for ref in dependency.dependents:
            by_service.setdefault(ref.service, []).append(ref.objective)
        for severity in objective_severities(model, up):
            # Never let an alert silence a more severe one: a ticket upstream mutes tickets and
            # info only.
            silenced = names.SEVERITIES[names.SEVERITIES.index(severity) :]
            rules.append(
                Comment(f"{up.service}/{up.objective} ({severity}) silences what depends on it")
            )
            for service, objectives in by_service.items():
                rule = {
                    "source_matchers": [
                        names.matcher(names.SERVICE, up.service),
                        names.matcher(names.SLO, up.objective),
                        names.matcher(names.SEVERITY, severity),
                    ],
                    "target_matchers": [
                        names.matcher(names.SERVICE, service),
                        names.matcher(names.SLO, objectives),
                        names.matcher(names.SEVERITY, silenced),
                    ],
                }
                if routing.dependency_equal:
                    rule["equal"] = list(routing.dependency_equal)
                rules.append(rule)
    return rules


# --- time intervals ------------------------------------------------------------------------
def time_range(r: TimeRange) -> dict:
    out: dict = {}
    if r.times:
        out["times"] = [{"start_time": start, "end_time": end} for start, end in r.times]
    for key in ("weekdays", "days_of_month", "months", "years"):
        if getattr(r, key):
            out[key] = list(getattr(r, key))
    if r.location:
        out["location"] = r.location
    return out


def time_intervals(routing: Routing) -> list[dict]:
    return [
        {"name": ti.name, "time_intervals": [time_range(r) for r in ti.ranges]}
        for ti in routing.time_intervals
    ]


# --- whole configs -------------------------------------------------------------------------
def standalone(model: Model, routing: Routing) -> dict:
    config: dict = {}
    if routing.globals:
        config["global"] = dict(routing.globals)
    config["route"] = {
        "receiver": names.receiver(routing.fallback),
        "group_by": group_by(model, routing),
        "routes": severity_routes(routing, model),
    }
    config["receivers"] = receivers(routing)
    config["inhibit_rules"] = inhibit_rules(model, routing)
    intervals = time_intervals(routing) + maintenance_intervals(model)
    if intervals:
        config["time_intervals"] = intervals
    return config


def merged(model: Model, routing: Routing, base_config: BaseConfig) -> dict:
    """The base config, its keys in their order, with slo's parts added (conflicts were refused
    in build)."""
    base = base_config.data
    config: dict = {}
    if routing.globals or "global" in base:
        config["global"] = {**dict(routing.globals), **(base.get("global") or {})}
    config.update((k, v) for k, v in base.items() if k != "global")
    route = dict(base["route"])
    route["routes"] = [scoped_route(model, routing), *(route.get("routes") or [])]
    config["route"] = route
    config["receivers"] = [*(base.get("receivers") or []), *receivers(routing)]
    config["inhibit_rules"] = [*(base.get("inhibit_rules") or []), *inhibit_rules(model, routing)]
    intervals = time_intervals(routing) + maintenance_intervals(model)
    if intervals:
        config["time_intervals"] = [*(base.get("time_intervals") or []), *intervals]
    return config


# --- routing tests -------------------------------------------------------------------------
def alert_labels(
    model: Model, routing: Routing, team: str, severity: str, wanted: tuple[str, ...] = ()
) -> dict[str, str]:
    """Labels of the team's first alert of this severity, or of a probe when it has none;
    with ``wanted`` labels, of its first SLO grouped by the most of them, if one is. A grouped
    SLO's alert carries its group labels, at a value no route on labels matches."""
    services = [s for s in model.services if s.team == team]
    grouped = [
        (len(set(wanted) & set(slo.by)), service.name, slo)
        for service in services
        for slo in service.slos
        if set(wanted) & set(slo.by) and any(t.severity == severity for t in slo.alerting.tiers)
    ]
    if grouped:
        _, service_name, slo = max(grouped, key=lambda found: found[0])  # the first of the most
        return _slo_labels(routing, service_name, slo, team, severity)
    for service in services:
        for slo in service.slos:
            if any(t.severity == severity for t in slo.alerting.tiers):
                return _slo_labels(routing, service.name, slo, team, severity)
        for th in service.thresholds:
            if th.severity == severity:
                return _labels(
                    names.threshold_alert(th.name),
                    "threshold",
                    service.name,
                    th.name,
                    team,
                    severity,
                )
    return _labels(
        names.ROUTE_TEST_ALERT,
        "threshold",
        services[0].name,
        names.ROUTE_TEST_OBJECTIVE,
        team,
        severity,
    )


def _slo_labels(routing: Routing, service: str, slo: SLO, team: str, severity: str) -> dict:
    labels = _labels(slo.alerting.name, "slo", service, slo.name, team, severity)
    labels.update((label, unrouted_value(routing, label)) for label in slo.by)
    return labels


def unrouted_value(routing: Routing, label: str) -> str:
    """A value of ``label`` that no route on labels matches: a group that has no route."""
    routed = {v for r in routing.label_routes for name, v in r.match if name == label}
    value = names.ROUTE_TEST_GROUP_VALUE
    while value in routed:
        value += "-other"
    return value


def _labels(
    alertname: str, kind: str, service: str, objective: str, team: str, severity: str
) -> dict[str, str]:
    return {
        "alertname": alertname,
        names.OBJECTIVE_KIND: kind,
        names.SERVICE: service,
        names.SLO: objective,
        names.TEAM: team,
        names.SEVERITY: severity,
    }


def forecast_route_test(model: Model, routing: Routing, team: str) -> list[dict]:
    """The team's first budget-exhaustion forecast reaches its ticket receiver (none without
    one)."""
    for service in model.services:
        for slo in service.slos:
            if service.team == team and slo.alerting.exhaustion is not None:
                labels = _slo_labels(routing, service.name, slo, team, "ticket")
                labels["alertname"] = names.EXHAUSTION_ALERT
                return [
                    {
                        "name": f"{team} ticket {names.EXHAUSTION_ALERT}",
                        "labels": labels,
                        "receivers": [receiver_for(routing, team, "ticket")],
                    }
                ]
    return []


def route_tests(model: Model, routing: Routing) -> dict:
    cases = []
    for team in sorted({s.team for s in model.services}):
        for severity in names.SEVERITIES:
            routes = [r for r in routing.label_routes if r.team == team and r.severity == severity]
            # Without a routed label value: the team's (or the severity's) receiver...
            wanted = tuple(sorted({label for r in routes for label, _ in r.match}))
            cases.append(
                {
                    "name": f"{team} {severity}",
                    "labels": alert_labels(model, routing, team, severity, wanted),
                    "receivers": [receiver_for(routing, team, severity)],
                }
            )
            if severity == "ticket":  # the forecast is a ticket too, whatever its tiers
                cases += forecast_route_test(model, routing, team)
            # ...with one, the route on it.
            for route in routes:
                labels = alert_labels(model, routing, team, severity, tuple(dict(route.match)))
                cases.append(
                    {
                        "name": " ".join([team, severity, *(f"{k}={v}" for k, v in route.match)]),
                        "labels": {**labels, **dict(route.match)},
                        "receivers": [names.label_route_receiver(severity, team, route.match)],
                    }
                )
    if routing.base_config is None:
        cases.append(
            {
                "name": "not from slo",
                "labels": {"alertname": names.ROUTE_TEST_FOREIGN_ALERT},
                "receivers": [names.receiver(routing.fallback)],
            }
        )
    config = posixpath.relpath(
        names.ALERTMANAGER_CONFIG, posixpath.dirname(names.ALERTMANAGER_ROUTE_TESTS)
    )
    return {"config": config, "cases": cases}


ROUTE_TESTS_NOTE = (
    "# `slo test` checks every case with\n"
    "#   amtool config routes test --config.file=<config> --verify.receivers=<receivers> <labels>\n"
)


# --- the target ----------------------------------------------------------------------------
def emit(model: Model) -> Emitted:
    routing = model.routing
    if routing is None:
        return Emitted()
    sources = routing.source_file
    if routing.base_config is not None:
        sources += f" and {routing.base_config.source_file}"
    config = (
        standalone(model, routing)
        if routing.base_config is None
        else merged(model, routing, routing.base_config)
    )
    files = {
        names.ALERTMANAGER_CONFIG: dump(config, names.header(sources)),
        names.ALERTMANAGER_ROUTE_TESTS: dump(
            route_tests(model, routing), names.header(sources) + ROUTE_TESTS_NOTE
        ),
    }
    silences = one_off_silences(model)
    if silences:
        specs = " and ".join(sorted({item.pop("source") for item in silences}))
        files[names.ALERTMANAGER_SILENCES] = dump(
            {"silences": silences}, names.header(specs) + SILENCES_NOTE
        )
    return Emitted(files)


def proofs(out_dir: Path, files: Sequence[str]) -> list[Proof]:
    """`amtool check-config` on the generated config, then every case of the routing table."""
    if names.ALERTMANAGER_CONFIG not in files:
        return []
    config = out_dir / names.ALERTMANAGER_CONFIG
    found: list[Proof] = [
        ToolRun(
            f"amtool check-config {config.as_posix()}",
            "amtool",
            ("check-config", str(config)),
            (config,),
        )
    ]
    if names.ALERTMANAGER_ROUTE_TESTS in files:
        found.append(RouteTable(out_dir / names.ALERTMANAGER_ROUTE_TESTS, config))
    return found


TARGET = Target("alertmanager", emit, per_service=False, proofs=proofs)
