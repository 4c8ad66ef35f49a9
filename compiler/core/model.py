"""The compiler's model: what the specs mean, with every default applied.

Frozen dataclasses only: no YAML, no HTTP, no output format. Targets read this and nothing else.
Numbers that end up in PromQL are Decimals so that 99.9 stays 99.9 (not 0.9990000000000001).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from compiler.core.diagnostics import Position

# Where an object comes from when no spec file says (one built in code). Frozen: safe to share.
NOWHERE = Position("")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # one of = != =~ !~
    value: str


@dataclass(frozen=True)
class Selector:
    """An instant-vector selector such as ``http_requests_total{job="api",code=~"5.."}``."""

    metric: str
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class Counter:
    """A counter the SLI rates: either a plain selector, or a PromQL expression with ``$window``."""

    text: str  # as the user wrote it
    selector: Selector | None  # set when text is a plain selector


@dataclass(frozen=True)
class RatioIndicator:
    total: Counter
    errors: Counter | None = None  # exactly one of errors / good
    good: Counter | None = None


@dataclass(frozen=True)
class LatencyIndicator:
    histogram: Selector  # base name, without _bucket / _count
    threshold: Decimal  # the `le` bucket boundary, in the histogram's unit
    threshold_text: str  # as the user wrote it ("2s")


@dataclass(frozen=True)
class TimesliceIndicator:
    """A threshold's time slices: each ``slice`` seconds (aligned to absolute time) in which
    the gauge ``expr`` has data is an event, and a bad one when ``expr op value`` holds for any
    of its series. Built from a threshold with ``slo:`` (README, "Time-slice SLOs")."""

    expr: str  # the threshold's expression, as written
    op: str  # ">" (bad above) or "<" (bad below)
    value: Decimal
    slice: int  # seconds: the service's evaluation interval


Indicator = RatioIndicator | LatencyIndicator | TimesliceIndicator


@dataclass(frozen=True)
class BurnTier:
    """One multiwindow burn-rate alert: fire when both windows burn faster than ``factor``."""

    severity: str  # page | ticket
    long: int  # seconds
    short: int  # seconds
    budget_fraction: Decimal  # share of the period's error budget consumed within `long`
    factor: Decimal  # burn rate = budget_fraction * period / long
    threshold: Decimal  # error-ratio threshold = factor * (1 - objective)


@dataclass(frozen=True)
class Exhaustion:
    """The budget-exhaustion forecast: a ticket when, at the error rate of the last ``over``,
    the remaining error budget runs out within ``within``."""

    over: int  # seconds: the window whose errors give the current pace (a recorded size)
    # seconds; None: until the period ends (a calendar period's default, see
    # targets/prometheus.py time_left_expr)
    within: int | None


@dataclass(frozen=True)
class Alerting:
    name: str
    tiers: tuple[BurnTier, ...]
    runbook_url: str | None = None
    min_events: Decimal | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    # Extra labels / annotations for one severity's alerts only (e.g. a routing key on pages):
    # ((severity, ((name, value), ...)), ...). They win over `labels` / `annotations`.
    severity_labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    severity_annotations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    exhaustion: Exhaustion | None = None  # None: no ErrorBudgetExhaustion forecast

    def labels_for(self, severity: str) -> dict[str, str]:
        return dict(dict(self.severity_labels).get(severity, ()))

    def annotations_for(self, severity: str) -> dict[str, str]:
        return dict(dict(self.severity_annotations).get(severity, ()))


@dataclass(frozen=True)
class Maintenance:
    """A planned maintenance window of a service or of one SLO: recurring (``recurring``, one
    range in Alertmanager's time interval form) or one-off (``start``/``end``, UTC epoch
    seconds, end exclusive)."""

    name: str
    recurring: TimeRange | None = None
    start: int | None = None
    end: int | None = None
    mute: bool = True  # Alertmanager mutes the alerts (time interval, or a silence when one-off)
    exclude: bool = False  # the rules drop the events of the window from SLIs and budgets
    reason: str = ""
    source: Position = NOWHERE


# How many groups a grouped SLO may have before the cardinality guard raises a ticket: enough for
# regions, endpoints or tenants, far below what a label like `path` or `user` produces.
DEFAULT_MAX_GROUPS = 50


@dataclass(frozen=True)
class SLO:
    service: str
    name: str
    objective: Decimal  # as a ratio, e.g. 0.999
    period: int  # seconds
    indicator: Indicator
    alerting: Alerting
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    # Grouped SLO: each distinct combination of these labels' values is an SLO of its own, with
    # its own SLI, budget and alerts; () sums every selected series into one SLI.
    by: tuple[str, ...] = ()
    max_groups: int = DEFAULT_MAX_GROUPS  # more live groups raise a ticket (cardinality guard)
    source: Position = NOWHERE
    maintenance: tuple[Maintenance, ...] = ()  # the SLO's own windows, besides its service's
    # The windows whose events the rules drop: the service's and its own with exclude.
    excluded: tuple[Maintenance, ...] = ()
    # A calendar period ("month": from 00:00 UTC on the 1st; "week": from Monday 00:00 UTC), or
    # "" for a rolling one. A calendar SLO's ``period`` is its reference length (30d, 7d): its
    # windows are the reference's, its factors follow the actual length (windows.py, calendar).
    calendar: str = ""

    @property
    def error_budget(self) -> Decimal:
        return 1 - self.objective

    @property
    def objective_percent(self) -> Decimal:
        return (self.objective * 100).normalize()


@dataclass(frozen=True)
class Threshold:
    service: str
    name: str
    expr: str
    op: str  # ">" (above) or "<" (below)
    value: Decimal
    severity: str  # page | ticket | info
    for_: int = 0  # seconds
    unit: str = "none"
    description: str = ""
    runbook_url: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    source: Position = NOWHERE
    maintenance: tuple[Maintenance, ...] = ()  # its own windows (mute only), besides its service's


@dataclass(frozen=True)
class KubernetesOutput:
    namespace: str | None = None  # None: the namespace kubectl applies it to
    labels: tuple[tuple[str, str], ...] = ()  # for the Prometheus' ruleSelector


@dataclass(frozen=True)
class Outputs:
    """Rule packaging beyond plain Prometheus rule files, chosen per service."""

    kubernetes: KubernetesOutput | None = None  # a Prometheus Operator PrometheusRule
    mimir: bool = False  # a mimirtool / cortextool namespace file


PROMETHEUS_ENGINE, VMALERT_ENGINE = "prometheus", "vmalert"
ENGINES = (PROMETHEUS_ENGINE, VMALERT_ENGINE)


@dataclass(frozen=True)
class Service:
    name: str
    team: str
    source_file: str  # relative to the spec root, for headers and diagnostics
    slos: tuple[SLO, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    grafana_url: str | None = None
    outputs: Outputs = Outputs()
    evaluation_interval: int = 60  # seconds: the SLI group's interval (windows.py, layout)
    # The rule engines its rules are compiled for (ENGINES, in that order); Prometheus' rules
    # are always compiled: the promtool tests prove them, and every other engine's match them.
    engines: tuple[str, ...] = ("prometheus",)
    maintenance: tuple[Maintenance, ...] = ()  # windows of every objective of the service


# --- Alert routing (kind: Routing) -----------------------------------------------------------
# Secrets appear only as paths of files that Alertmanager reads (``*_file``), never as values.


@dataclass(frozen=True)
class PagerDuty:
    routing_key_file: str  # Events API v2 integration key
    url: str | None = None
    send_resolved: bool = True


@dataclass(frozen=True)
class Slack:
    channel: str
    api_url_file: str | None = None  # None: the global slack_api_url_file
    send_resolved: bool = True


@dataclass(frozen=True)
class Email:
    to: str
    settings: tuple[
        tuple[str, str | bool], ...
    ] = ()  # from, smarthost, auth_*: as Alertmanager names them
    send_resolved: bool = True


@dataclass(frozen=True)
class Notify:
    """What one receiver does: any of the three integrations, at least one."""

    pagerduty: PagerDuty | None = None
    slack: Slack | None = None
    email: Email | None = None


@dataclass(frozen=True)
class SeverityPolicy:
    severity: str  # page | ticket | info
    notify: Notify
    group_wait: int  # seconds
    group_interval: int
    repeat_interval: int
    active_time_intervals: tuple[str, ...] = ()
    mute_time_intervals: tuple[str, ...] = ()


@dataclass(frozen=True)
class TeamNotify:
    """A team's own receiver for one severity, instead of the severity's default."""

    team: str
    severity: str
    notify: Notify


@dataclass(frozen=True)
class LabelRoute:
    """A team's alerts of one severity that carry every label value of ``match`` (say, a grouped
    SLO's ``region="eu-west-1"``) go to their own receiver instead of the team's default."""

    team: str
    severity: str
    match: tuple[tuple[str, str], ...]  # (label, value), sorted by label
    notify: Notify


@dataclass(frozen=True)
class TimeRange:
    times: tuple[tuple[str, str], ...] = ()  # (start "09:00", end "17:00")
    weekdays: tuple[str, ...] = ()
    days_of_month: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    years: tuple[str, ...] = ()
    location: str | None = None


@dataclass(frozen=True)
class TimeInterval:
    name: str
    ranges: tuple[TimeRange, ...]


@dataclass(frozen=True, order=True)
class ObjectiveRef:
    """One objective (SLO or threshold) of one service: the ``service`` and ``slo`` labels of
    its alerts."""

    service: str
    objective: str


@dataclass(frozen=True)
class Dependency:
    """While an alert of ``upstream`` fires, alerts of its dependents are inhibited.

    ``dependents`` is the transitive closure (PostgreSQL <- PgBouncer <- app: a PostgreSQL
    outage silences the app even while PgBouncer itself stays up). An upstream alert never
    silences a dependent alert of a higher severity than its own.
    """

    upstream: ObjectiveRef
    dependents: tuple[ObjectiveRef, ...]  # sorted


@dataclass(frozen=True)
class BaseConfig:
    """A hand-written alertmanager.yml that the generated routes are merged into, as parsed
    once when the Routing spec is built (which also checked its shape: one mapping, a root
    route, no receiver or time interval named like slo's own)."""

    source_file: str
    # Plain YAML data (dicts, lists, scalars), keys in the order written. Never modified: the
    # Alertmanager target copies what it adds to. Left out of the hash, as a dict cannot be.
    data: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Routing:
    source_file: str
    severities: tuple[SeverityPolicy, ...]  # page, ticket, info
    group_by: tuple[str, ...]
    fallback: str  # severity whose receiver gets alerts that no generated route matches
    globals: tuple[tuple[str, str | bool], ...] = ()  # Alertmanager `global:` keys, as written
    teams: tuple[TeamNotify, ...] = ()  # sorted by team, then severity
    # Sorted by team, then as written (the first that matches wins), then severity.
    label_routes: tuple[LabelRoute, ...] = ()
    time_intervals: tuple[TimeInterval, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    dependency_equal: tuple[str, ...] = ()
    base_config: BaseConfig | None = None

    def policy(self, severity: str) -> SeverityPolicy:
        return next(p for p in self.severities if p.severity == severity)


@dataclass(frozen=True)
class Model:
    services: tuple[Service, ...]  # sorted by name
    routing: Routing | None = None
