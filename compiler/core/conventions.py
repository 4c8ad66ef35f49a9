"""Every name the compiler generates, in one place.

Recording rules follow Prometheus' ``level:metric:operations`` convention. All generated
series carry the labels ``service`` and ``slo``; alerts add ``team``, ``severity`` and, for
burn-rate alerts, the window pair that fired.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Context, Decimal

from compiler.core.durations import format_duration

# Labels
SERVICE = "service"
SLO = "slo"
TEAM = "team"
SEVERITY = "severity"
LONG_WINDOW = "long_window"
SHORT_WINDOW = "short_window"
OBJECTIVE_KIND = (
    "objective_kind"  # "slo" or "threshold": lets routes and dashboards tell them apart
)
WINDOW = "window"
RESERVED_LABELS = frozenset(
    {SERVICE, SLO, TEAM, SEVERITY, LONG_WINDOW, SHORT_WINDOW, OBJECTIVE_KIND, "alertname"}
)

# Recording rules
# Events of each SLO in a trailing window: labels service, slo, kind (one of EVENT_KINDS) and
# window (a duration, or WEEK_WINDOW / PERIOD_WINDOW for the period's building blocks).
EVENTS = "slo:sli_events:increase"
KIND = "kind"
ERRORS, TOTAL, SECONDS = "errors", "total", "seconds"
# seconds: how much of the window had data (the coverage that weights every alert's ratio)
EVENT_KINDS = (ERRORS, TOTAL, SECONDS)
PIECE = "piece"  # transient: tells apart the terms of one window's sum, gone from its result
TILE = "slo_tile"  # transient: the calendar unit (period, day, hour) a calendar tile lies in
WEEK_WINDOW = "week"  # the week before the period group's last evaluation, from one-day pieces
PERIOD_WINDOW = "period"  # the SLO's whole period, up to the period group's last evaluation

# A grouped SLO's `by` labels travel on every series and alert it makes, beside the compiler's
# own labels, so they must not be one of them (nor `le`, which picks a histogram's bucket).
GROUP_RESERVED_LABELS = RESERVED_LABELS | {WINDOW, KIND, PIECE, TILE, "le", "__name__"}
# Labels that usually take a value per request, user or process: grouping by them makes
# thousands of SLOs, so the compiler warns (the cardinality guard would raise a ticket later).
UNBOUNDED_LABELS = frozenset(
    {
        "instance",
        "pod",
        "pod_name",
        "container_id",
        "path",
        "url",
        "uri",
        "user",
        "user_id",
        "id",
        "request_id",
        "trace_id",
        "session",
        "session_id",
        "ip",
        "client_ip",
        "email",
    }
)

OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
PERIOD = "slo:period:seconds"
PERIOD_ERROR_RATIO = "slo:sli_error:ratio_period"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
CURRENT_BURN_RATE = "slo:burn_rate:current"
THRESHOLD_VALUE = "slo:threshold:value"
GROUPS = "slo:groups:count"  # live groups of a grouped SLO (labels service, slo)


def error_ratio(window: int) -> str:
    return f"slo:sli_error:ratio_rate{format_duration(window)}"


# Alerts
BURN_ALERT = "ErrorBudgetBurn"
GROUPS_ALERT = "SLOGroupsOverLimit"  # a grouped SLO has more live groups than max_groups
# A ticket: at the pace of the last `over`, the remaining error budget runs out within `within`
EXHAUSTION_ALERT = "ErrorBudgetExhaustion"


def threshold_alert(name: str) -> str:
    """disk-usage -> DiskUsage"""
    return "".join(part.capitalize() for part in name.split("-"))


TIMESLICE_SUFFIX = "-slices"


def timeslice_slo(threshold: str) -> str:
    """The time-slice SLO of a threshold with ``slo:`` (its ``slo`` label, a name of its own so
    that dashboards and `slo status` keep the threshold's row apart): disk-usage ->
    disk-usage-slices."""
    return threshold + TIMESLICE_SUFFIX


# Rule groups and files
def group_sli(service: str) -> str:
    return f"slo-{service}-sli"


def group_period(service: str) -> str:
    return f"slo-{service}-period"


def group_thresholds(service: str) -> str:
    return f"slo-{service}-thresholds"


def rules_file(service: str) -> str:
    return f"prometheus/rules/{service}.rules.yml"


def tests_file(service: str) -> str:
    return f"prometheus/tests/{service}.test.yml"


def burn_tests_file(service: str) -> str:
    """The burn-rate alert tests, run at 5-minute steps (see targets/promtool/testfiles.py)."""
    return f"prometheus/tests/{service}.burn.test.yml"


def maintenance_tests_file(service: str) -> str:
    """The tests of maintenance windows that exclude events (targets/promtool/maintenance.py)."""
    return f"prometheus/tests/{service}.maintenance.test.yml"


CALENDAR_TESTS_SUFFIX = ".calendar.test.yml"
MONTH_TESTS_SUFFIX = ".month.test.yml"


def calendar_tests_file(service: str) -> str:
    """The calendar periods' tests, over a boundary (see targets/promtool/calendar.py)."""
    return f"prometheus/tests/{service}{CALENDAR_TESTS_SUFFIX}"


def month_tests_file(service: str) -> str:
    """A calendar month's period expression across 1970-02-01, on recorded windows given as
    input (see targets/promtool/calendar.py): no rules are evaluated for a month of steps."""
    return f"prometheus/tests/{service}{MONTH_TESTS_SUFFIX}"


def service_of_month_tests(path: str) -> str | None:
    """The service whose month tests ``path`` (a file name or path) holds, or None."""
    name = path.rsplit("/", 1)[-1]
    return name[: -len(MONTH_TESTS_SUFFIX)] if name.endswith(MONTH_TESTS_SUFFIX) else None


# Grafana
def dashboard_uid(service: str) -> str:
    return f"slo-{service}"  # names are <= 30 characters, so this stays within Grafana's 40


OVERVIEW_UID = "slo-overview"


def dashboard_link(grafana_url: str | None, service: str, slo: str) -> str:
    base = (grafana_url or "").rstrip("/")
    return f"{base}/d/{dashboard_uid(service)}/{service}?var-slo={slo}"


# Numbers in PromQL: at most 10 significant digits, no exponent, no float noise.
_TEN_DIGITS = Context(prec=10)


def number(value: Decimal | int | float) -> str:
    d = _TEN_DIGITS.create_decimal(str(value) if isinstance(value, float) else value).normalize()
    text = format(d, "f")
    return text


def header(source_file: str) -> str:
    return f"# generated by slo from {source_file}; do not edit\n"


# Files of the other targets (kept here so every target, push client and test agrees)
ALERTMANAGER_CONFIG = "alertmanager/alertmanager.yml"
ALERTMANAGER_ROUTE_TESTS = "alertmanager/routing-tests.yml"


def dashboard_file(service: str) -> str:
    return f"grafana/dashboards/{service}.json"


OVERVIEW_DASHBOARD_FILE = "grafana/dashboards/overview.json"
# Every dashboard slo pushes carries this tag, and push never overwrites one without it; what
# push may delete is only what its record lists (GRAFANA_RECORD_UID), never what has the tag.
GRAFANA_MANAGED_TAG = "slo-managed"
# The dashboard holding push's record of the dashboards it saved (in the shared folder). Its '_'
# cannot occur in a generated uid (slo-<service>), nor the record namespace's in slo-<service>.
GRAFANA_RECORD_UID = "slo_push_record"
GRAFANA_RECORD_TITLE = "slo push record"


def grafana_folder_uid(team: str) -> str:
    return f"slo-{team}"


# Mimir / Cortex ruler: one namespace per service under a prefix this tool owns
MIMIR_NAMESPACE_PREFIX = "slo-"


def mimir_namespace(service: str) -> str:
    return f"{MIMIR_NAMESPACE_PREFIX}{service}"


# Push's record of the rule groups it wrote in a tenant: one group in a namespace of its own
MIMIR_RECORD_NAMESPACE = "slo_push_record"
MIMIR_RECORD_GROUP = "slo_push_record"


def kubernetes_rule_file(service: str) -> str:
    return f"kubernetes/{service}.prometheusrule.yml"


def mimir_rule_file(service: str) -> str:
    return f"mimir/{service}.rules.yml"


# Grafana dashboards (targets/grafana/dashboards.py) and the local Grafana (grafana/provisioning/)
GRAFANA_SCHEMA_VERSION = (
    39  # Grafana 12 no longer migrates dashboards below 37; grafanalib defaults to 12
)
DASHBOARD_TAG = "slo"
DATASOURCE_VARIABLE = "datasource"
# The alert annotations link to the service dashboard with ?var-slo=<name> (dashboard_link above).
SLO_VARIABLE = "slo"
LOCAL_DATASOURCE_UID = "slo-prometheus"  # grafana/provisioning/datasources/prometheus.yml
# Every series the compiler records starts with this; a spec reading a name in it must read one
# we record.
SERIES_NAMESPACE = "slo:"


def overview_link(grafana_url: str | None = None) -> str:
    return f"{(grafana_url or '').rstrip('/')}/d/{OVERVIEW_UID}/overview"


# Push: what `slo push` writes on live systems, and how it marks what it owns
PUSH_OWNERSHIP_FILE = (
    ".slo-owned.json"  # in the Prometheus rules directory; lists the files slo wrote
)
TARGETS_FILE = "targets.yaml"  # named environments for `slo push --env NAME`
GRAFANA_SHARED_FOLDER_UID = (
    "slo"  # dashboards of no single team (the overview); cannot clash with slo-<team>
)
GRAFANA_SHARED_FOLDER_TITLE = "SLOs"


def grafana_push_message(source: str) -> str:
    """The version-history note of every dashboard version slo saves."""
    return f"slo push from {source}"


# Alertmanager routing (targets/alertmanager.py)
SEVERITIES = ("page", "ticket", "info")  # most severe first
OBJECTIVE_KINDS = (
    "slo",
    "threshold",
)  # values of OBJECTIVE_KIND: every alert slo generates carries one
DEFAULT_GROUP_BY = ("alertname", SERVICE, SLO)
# PagerDuty Events v2 accepts only critical|error|warning|info; Alertmanager's default would
# send our label value ("page"), which PagerDuty rejects.
PAGERDUTY_SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}
RECEIVER_PREFIX = "slo-"  # receivers slo adds to a base config; a base must not use the prefix
# Labels of routing-table cases with no alert of their own in the specs (routing-tests.yml)
ROUTE_TEST_ALERT = "RoutingTest"  # a team has no alert of that severity
ROUTE_TEST_OBJECTIVE = "routing-test"
ROUTE_TEST_GROUP_VALUE = "routing-test"  # a grouped SLO's group that no route on labels matches
ROUTE_TEST_FOREIGN_ALERT = (
    "NotFromSlo"  # an alert slo did not generate: standalone, it reaches the fallback
)


def receiver(severity: str, team: str | None = None) -> str:
    """slo-page, or slo-<team>-page for a team's override (severities have no hyphen: no clash)."""
    return f"{RECEIVER_PREFIX}{team}-{severity}" if team else f"{RECEIVER_PREFIX}{severity}"


def label_route_receiver(severity: str, team: str, match: Iterable[tuple[str, str]]) -> str:
    """slo-<team>-<severity>-<label>=<value>[-<label>=<value>...] for a team's route on labels.

    Label names hold no hyphen and values no '=' (nor ','), so no two routes share a name and
    none is a team's or a severity's receiver, which hold no '='."""
    labels = "-".join(f"{label}={value}" for label, value in sorted(match))
    return f"{receiver(severity, team)}-{labels}"


def maintenance_interval(service: str, slo: str | None = None) -> str:
    """The Alertmanager time interval of a service's (or one SLO's) recurring maintenance
    windows that mute: slo-maintenance-<service>[--<slo>] (names hold single hyphens only, so
    the double one keeps a service's and an SLO's apart)."""
    return f"{RECEIVER_PREFIX}maintenance-{service}" + (f"--{slo}" if slo else "")


MAINTENANCE_CREATED_BY = "slo"  # the createdBy of the silences slo creates and owns
# The comment of a silence slo owns starts with one of these (push/silences.py):
MAINTENANCE_WINDOW_PREFIX = "slo window "  # a one-off window of the specs: "<scope> <name>"
MAINTENANCE_COMMENT_PREFIX = "slo maintenance "  # `slo maintenance start`: "<scope>: <reason>"
ALERTMANAGER_SILENCES = "alertmanager/silences.yml"  # the one-off windows that mute


def window_comment(service: str, slo: str | None, name: str, reason: str) -> str:
    scope = f"{service}/{slo}" if slo else service
    return f"{MAINTENANCE_WINDOW_PREFIX}{scope} {name}" + (f": {reason}" if reason else "")


def matcher(label: str, values: str | Iterable[str]) -> str:
    """An Alertmanager matcher in the quoted form 0.25 and the UTF-8 parser of 0.27+ both read.

    Values are our names (lowercase letters, digits, hyphens) or label values the routing
    schema keeps to letters, digits and ``_.:/@+-``, so no escaping is needed.
    """
    values = list(values) if not isinstance(values, str) else [values]
    if len(values) == 1:
        return f'{label}="{values[0]}"'
    return f'{label}=~"{"|".join(values)}"'


# --- Platform formats and imports (issue 8) ------------------------------------------------------
# Prometheus Operator: one PrometheusRule per service, carrying these labels besides the user's.
KUBERNETES_RULE_API_VERSION = "monitoring.coreos.com/v1"
KUBERNETES_RULE_KIND = "PrometheusRule"
KUBERNETES_MANAGED_LABELS = {"app.kubernetes.io/managed-by": "slo"}


# VictoriaMetrics' vmalert (targets/vmalert.py): the same series from its own rule files
def vmalert_rules_file(service: str) -> str:
    return f"vmalert/rules/{service}.rules.yml"


# Every recording rule of the tree once, in the order `vmalert -replay` must evaluate them
VMALERT_REPLAY_FILE = "vmalert/replay.yml"


def vmalert_replay_group(index: int, interval: str) -> str:
    return f"slo-replay-{index}-{interval}"


# The VictoriaMetrics operator: a VMRule next to the PrometheusRule, same name and labels
VMRULE_API_VERSION = "operator.victoriametrics.com/v1beta1"
VMRULE_KIND = "VMRule"


def vmrule_file(service: str) -> str:
    return f"kubernetes/{service}.vmrule.yml"


def kubernetes_rule_name(service: str) -> str:
    return f"slo-{service}"


# `slo import`: one spec file per service under the output directory.
def imported_spec_file(service: str) -> str:
    return f"{service}.yaml"


UNOWNED_TEAM = "unowned"  # team of an imported service whose source names none (a warning says so)
# Source annotations whose names slo generates itself are kept under this prefix.
IMPORTED_ANNOTATION_PREFIX = "original_"
GENERATED_ANNOTATIONS = frozenset({"summary", "description", "dashboard"})


def absent_threshold(slo: str) -> str:
    """Threshold that stands in for Pyrra's SLOMetricAbsent alert of an imported SLO (<= 30
    characters)."""
    suffix = "-absent"
    return slo[: 30 - len(suffix)].rstrip("-") + suffix
