"""Validated Routing document -> model.Routing, with the checks a schema cannot express.

Some checks need the services: a team override must name a team that owns a service, and a
dependency must name existing services and objectives, without cycles. Secrets must never be
inline, neither in the spec nor in a base config that slo copies into the committed out/.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from compiler.build.base_config import problems as base_config_problems
from compiler.build.services import DocumentBuilder
from compiler.checks import secrets
from compiler.core import conventions
from compiler.core.calendar import calendar_range_problem, location_problem
from compiler.core.diagnostics import Severity, error, warning
from compiler.core.durations import format_duration
from compiler.core.model import (
    BaseConfig,
    Dependency,
    Email,
    LabelRoute,
    Notify,
    ObjectiveRef,
    PagerDuty,
    Routing,
    SeverityPolicy,
    Slack,
    TeamNotify,
    TimeInterval,
    TimeRange,
)
from compiler.spec.validate import field_path
from compiler.spec.yaml_source import SourceDocument, load_documents

# The timing of each tier (seeds: CRITICAL -> call within seconds; HIGH -> Slack within 5
# minutes; MEDIUM -> e-mail within 30 minutes and a daily reminder): group_wait,
# group_interval, repeat_interval, in seconds.
DEFAULT_TIMING = {
    "page": (10, 5 * 60, 60 * 60),
    "ticket": (60, 5 * 60, 12 * 60 * 60),
    "info": (10 * 60, 30 * 60, 24 * 60 * 60),
}
DEFAULT_FALLBACK = "ticket"

# The optional settings of an e-mail receiver, named as in Alertmanager's email_config.
EMAIL_SETTINGS = (
    "from",
    "smarthost",
    "hello",
    "auth_username",
    "auth_password_file",
    "auth_identity",
    "require_tls",
)


@dataclass(frozen=True)
class ServiceNames:
    """What routing needs to know of a service spec: its team, the names of its objectives and
    the labels its alerts carry besides slo's own."""

    team: str
    objectives: tuple[str, ...]
    group_labels: tuple[str, ...] = ()  # the `by` labels of its grouped SLOs
    fixed_labels: tuple[str, ...] = ()  # labels its spec sets on the service, SLOs, thresholds

    @classmethod
    def of(cls, data: dict) -> ServiceNames:
        """From a schema-valid Service document."""
        slos, thresholds = data.get("slos", []), data.get("thresholds", [])
        fixed = set(data.get("labels") or {})
        for slo in slos:
            alerting = slo.get("alerting") or {}
            fixed.update(slo.get("labels") or {}, alerting.get("labels") or {})
            for severity in ("page", "ticket"):
                if isinstance(alerting.get(severity), dict):
                    fixed.update(alerting[severity].get("labels") or {})
        for threshold in thresholds:
            fixed.update(threshold.get("labels") or {})
        return cls(
            data["team"],
            tuple(o["name"] for o in [*slos, *thresholds]),
            tuple(sorted({label for slo in slos for label in slo.get("by", ())})),
            tuple(sorted(fixed)),
        )


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known: {', '.join(sorted(known))}" if known else ""


class RoutingBuilder(DocumentBuilder):
    def __init__(
        self,
        doc: SourceDocument,
        source_file: str,
        services: dict[str, ServiceNames],
        base: tuple[str, bytes] | None = None,  # (display name, content) of base_config
    ):
        super().__init__(doc, source_file)
        self.services = services
        self.base = base
        # A base config's `global:`, which the generated receivers rely on too.
        self.base_globals: dict = {}

    # --- document ------------------------------------------------------------------------
    def build(self) -> Routing | None:
        data = self.doc.data
        base = self.base_config()
        globals_ = data.get("global") or {}
        self.duration(("global", "resolve_timeout"), globals_.get("resolve_timeout"))
        intervals = self.time_intervals(data.get("time_intervals") or {})
        severities = tuple(
            self.policy(severity, data["severities"][severity], ("severities", severity), intervals)
            for severity in conventions.SEVERITIES
        )
        teams, label_routes = self.teams(data.get("teams") or {})
        dependencies = self.dependencies(data.get("dependencies") or [])
        if any(d.severity >= Severity.ERROR for d in self.diagnostics):
            return None
        return Routing(
            source_file=self.source_file,
            severities=severities,
            group_by=tuple(data.get("group_by", conventions.DEFAULT_GROUP_BY)),
            fallback=data.get("fallback", DEFAULT_FALLBACK),
            globals=tuple(globals_.items()),
            teams=teams,
            label_routes=label_routes,
            time_intervals=intervals,
            dependencies=dependencies,
            dependency_equal=tuple(data.get("dependency_equal", ())),
            base_config=base,
        )

    def policy(
        self, severity: str, raw: dict, path: tuple, intervals: tuple[TimeInterval, ...]
    ) -> SeverityPolicy:
        # An invalid duration is reported and replaced by the default, so the checks below still
        # run.
        wait, group, repeat = DEFAULT_TIMING[severity]
        group_wait = self.duration(path + ("group_wait",), raw.get("group_wait"), wait) or wait
        group_interval = (
            self.duration(path + ("group_interval",), raw.get("group_interval"), group) or group
        )
        repeat_interval = (
            self.duration(path + ("repeat_interval",), raw.get("repeat_interval"), repeat) or repeat
        )
        if repeat_interval < group_interval:
            self.diagnostics.append(
                warning(
                    self.doc.at(path + ("repeat_interval",)),
                    "routing/repeat-interval",
                    f"{field_path(path + ('repeat_interval',))}: "
                    f"{format_duration(repeat_interval)} is shorter than group_interval "
                    f"{format_duration(group_interval)}; Alertmanager repeats no more often than "
                    "that",
                )
            )
        known = {i.name for i in intervals}
        for key in ("active_time_intervals", "mute_time_intervals"):
            for i, name in enumerate(raw.get(key, [])):
                if name not in known:
                    self.fail(
                        path + (key, i),
                        "routing/unknown-time-interval",
                        f"no time interval '{name}' is defined under time_intervals"
                        f"{_suggest(name, known)}",
                    )
        return SeverityPolicy(
            severity=severity,
            notify=self.notify(raw["notify"], path + ("notify",)),
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
            active_time_intervals=tuple(raw.get("active_time_intervals", ())),
            mute_time_intervals=tuple(raw.get("mute_time_intervals", ())),
        )

    def notify(self, raw: dict, path: tuple) -> Notify:
        globals_ = {**self.base_globals, **(self.doc.data.get("global") or {})}
        pagerduty = slack = email = None
        if "pagerduty" in raw:
            pd = raw["pagerduty"]
            pagerduty = PagerDuty(
                pd["routing_key_file"], pd.get("url"), pd.get("send_resolved", True)
            )
        if "slack" in raw:
            s = raw["slack"]
            if "api_url_file" not in s and "slack_api_url_file" not in globals_:
                self.fail(
                    path + ("slack",),
                    "routing/slack-url",
                    "needs 'api_url_file' here or 'slack_api_url_file' under global",
                )
            slack = Slack(s["channel"], s.get("api_url_file"), s.get("send_resolved", True))
        if "email" in raw:
            e = raw["email"]
            for key in ("from", "smarthost"):
                if key not in e and f"smtp_{key}" not in globals_:
                    self.fail(
                        path + ("email",),
                        "routing/email-settings",
                        f"needs '{key}' here or 'smtp_{key}' under global",
                    )
            settings = tuple((k, e[k]) for k in EMAIL_SETTINGS if k in e)
            email = Email(e["to"], settings, e.get("send_resolved", True))
        return Notify(pagerduty, slack, email)

    def teams(self, raw: dict) -> tuple[tuple[TeamNotify, ...], tuple[LabelRoute, ...]]:
        owners = {names.team for names in self.services.values()}
        found = []
        routes = []
        for team, overrides in sorted(raw.items()):
            if team not in owners:
                self.fail(
                    ("teams", team),
                    "routing/unknown-team",
                    f"no service spec has team '{team}'{_suggest(team, owners)}",
                    key=True,
                )
                continue
            for severity in conventions.SEVERITIES:
                if severity in overrides:
                    found.append(
                        TeamNotify(
                            team,
                            severity,
                            self.notify(overrides[severity], ("teams", team, severity)),
                        )
                    )
            routes += self.label_routes(team, overrides.get("routes", []))
        return tuple(found), tuple(routes)

    def label_routes(self, team: str, raw: list) -> list[LabelRoute]:
        """A team's routes on label values: each names a severity; a label that no alert of the
        team is known to carry is a warning; a route an earlier one always catches, an error."""
        services = [names for names in self.services.values() if names.team == team]
        grouped = {label for names in services for label in names.group_labels}
        fixed = {label for names in services for label in names.fixed_labels}
        found: list[LabelRoute] = []
        for i, route in enumerate(raw):
            path = ("teams", team, "routes", i)
            match = tuple(sorted(route["match"].items()))
            for label, _ in match:
                self.route_label(team, label, path + ("match", label), grouped, fixed)
            severities = [s for s in conventions.SEVERITIES if s in route]
            if not severities:
                self.fail(
                    path,
                    "routing/label-route",
                    "names no severity: add the receivers for page, ticket or info",
                )
            for severity in severities:
                earlier = next(
                    (
                        j
                        for j, r in enumerate(raw[:i])
                        if severity in r and set(r["match"].items()) <= set(match)
                    ),
                    None,
                )
                if earlier is not None:
                    self.fail(
                        path + ("match",),
                        "routing/label-route",
                        f"routes[{earlier}] already takes every {severity} alert this route "
                        "matches (the first route that matches wins): put the narrower route first",
                    )
                    continue
                notify = self.notify(route[severity], path + (severity,))
                found.append(LabelRoute(team, severity, match, notify))
        return found

    def route_label(
        self, team: str, label: str, path: tuple, grouped: set[str], fixed: set[str]
    ) -> None:
        if label in (conventions.TEAM, conventions.SEVERITY):
            self.fail(
                path,
                "routing/label-route",
                f"the route is already for team '{team}' and each severity it names; match on "
                "another label",
                key=True,
            )
        elif label not in grouped | fixed | conventions.RESERVED_LABELS:
            close = difflib.get_close_matches(label, sorted(grouped | fixed), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"its group labels: {', '.join(sorted(grouped)) or 'none'}"
            )
            self.diagnostics.append(
                warning(
                    self.doc.key_at(path),
                    "routing/ungrouped-label",
                    f"{field_path(path)}: no grouped SLO of team '{team}' has '{label}' under by "
                    f"({hint}); only an alert whose own labels or expression carry it reaches "
                    "this route",
                )
            )

    def time_intervals(self, raw: dict) -> tuple[TimeInterval, ...]:
        found = []
        for name, ranges in sorted(raw.items()):
            built = []
            for i, r in enumerate(ranges):
                path = ("time_intervals", name, i)
                for j, t in enumerate(r.get("times", [])):
                    if t["start_time"] >= t["end_time"]:
                        self.fail(
                            path + ("times", j),
                            "routing/time-range",
                            f"start_time {t['start_time']} must be before end_time {t['end_time']}",
                        )
                for key in ("weekdays", "days_of_month", "months", "years"):
                    for k, text in enumerate(r.get(key, [])):
                        problem = calendar_range_problem(key, text)
                        if problem:
                            self.fail(path + (key, k), "routing/time-range", problem)
                location = r.get("location")
                problem = None if location is None else location_problem(location)
                if problem:
                    self.fail(path + ("location",), "routing/location", problem)
                built.append(
                    TimeRange(
                        times=tuple((t["start_time"], t["end_time"]) for t in r.get("times", [])),
                        weekdays=tuple(r.get("weekdays", ())),
                        days_of_month=tuple(r.get("days_of_month", ())),
                        months=tuple(r.get("months", ())),
                        years=tuple(r.get("years", ())),
                        location=location,
                    )
                )
            found.append(TimeInterval(name, tuple(built)))
        return tuple(found)

    # --- dependencies --------------------------------------------------------------------
    def expand(self, ref: str, path: tuple) -> list[ObjectiveRef] | None:
        """``service`` -> all its objectives; ``service/objective`` -> that one."""
        service, _, objective = ref.partition("/")
        if service not in self.services:
            self.fail(
                path,
                "routing/unknown-service",
                f"no service spec defines service '{service}'{_suggest(service, self.services)}",
            )
            return None
        objectives = self.services[service].objectives
        if not objective:
            return [ObjectiveRef(service, o) for o in objectives]
        if objective not in objectives:
            self.fail(
                path,
                "routing/unknown-objective",
                f"service '{service}' has no SLO or threshold '{objective}'"
                f"{_suggest(objective, objectives)}",
            )
            return None
        return [ObjectiveRef(service, objective)]

    def dependencies(self, raw: list) -> tuple[Dependency, ...]:
        edges: dict[ObjectiveRef, set[ObjectiveRef]] = {}  # upstream -> direct dependents
        introduced: dict[
            tuple[ObjectiveRef, ObjectiveRef], tuple
        ] = {}  # edge -> path of the entry that declared it
        for i, entry in enumerate(raw):
            dependents = self.expand(entry["dependent"], ("dependencies", i, "dependent"))
            for j, ref in enumerate(entry["depends_on"]):
                upstreams = self.expand(ref, ("dependencies", i, "depends_on", j))
                if dependents is None or upstreams is None:
                    continue
                for up in upstreams:
                    for down in dependents:
                        edges.setdefault(up, set()).add(down)
                        introduced.setdefault((up, down), ("dependencies", i, "depends_on", j))
        closure = {up: _reachable(up, edges) for up in edges}
        reported: set[ObjectiveRef] = set()
        for up in sorted(closure):
            if up not in closure[up] or up in reported:
                continue
            cycle = sorted(
                n for n in closure[up] if up in closure.get(n, ())
            )  # the strongly connected set
            reported.update(cycle)
            where = min(p for (a, b), p in introduced.items() if a in cycle and b in cycle)
            members = ", ".join(f"{r.service}/{r.objective}" for r in cycle)
            if len(cycle) == 1:
                message = f"{members} would depend on itself and silence its own alerts"
            else:
                message = (
                    f"dependencies form a cycle through {members}; each would silence the other"
                )
            self.fail(where, "routing/dependency-cycle", message)
        if reported:
            return ()
        return tuple(Dependency(up, tuple(sorted(closure[up]))) for up in sorted(closure))

    # --- base config ---------------------------------------------------------------------
    def base_config(self) -> BaseConfig | None:
        if self.base is None:
            return None
        name, raw = self.base
        at_ref = ("base_config",)
        documents, diagnostics = load_documents(name, raw)
        self.diagnostics.extend(diagnostics)
        if diagnostics:
            return None
        if len(documents) != 1 or not isinstance(documents[0].data, dict):
            self.fail(
                at_ref,
                "routing/base-config",
                f"{name} must hold one YAML mapping (an alertmanager.yml)",
            )
            return None
        base = documents[0]
        data = base.data
        self.diagnostics.extend(secrets.in_base_config(base))
        structure = base_config_problems(base)
        self.diagnostics.extend(structure)
        if any(d.check_id == "routing/base-config" for d in structure):
            return None  # the checks below rely on its shape
        for i, receiver in enumerate(data.get("receivers") or []):
            name_ = receiver["name"]
            if name_.startswith(conventions.RECEIVER_PREFIX):
                self.diagnostics.append(
                    error(
                        base.at(("receivers", i, "name")),
                        "routing/base-conflict",
                        f"receivers[{i}].name: receiver names starting with "
                        f"'{conventions.RECEIVER_PREFIX}' are generated by slo; rename this one "
                        "(is this a compiled config rather than your base?)",
                    )
                )
        ours = set(self.doc.data.get("time_intervals") or {})
        for key in ("time_intervals", "mute_time_intervals"):
            for i, interval in enumerate(data.get(key) or []):
                if isinstance(interval, dict) and interval.get("name") in ours:
                    self.diagnostics.append(
                        error(
                            base.at((key, i, "name")),
                            "routing/base-conflict",
                            f"{key}[{i}].name: '{interval['name']}' is also defined in "
                            f"{self.source_file}; rename one of them",
                        )
                    )
        if isinstance(data.get("global"), dict):
            self.base_globals = data["global"]
        base_globals = self.base_globals
        for key, value in (self.doc.data.get("global") or {}).items():
            if key in base_globals and base_globals[key] != value:
                self.fail(
                    ("global", key),
                    "routing/base-conflict",
                    f"{name} already sets global {key} to {base_globals[key]!r}; the base "
                    "config's globals are kept, so drop this one",
                    key=True,
                )
        return BaseConfig(name, data)


def _reachable(
    start: ObjectiveRef, edges: dict[ObjectiveRef, set[ObjectiveRef]]
) -> set[ObjectiveRef]:
    seen: set[ObjectiveRef] = set()
    todo = list(edges.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen
