"""Sloth specs -> slo/v1.

Reads `version: prometheus/v1` documents, `sloth.slok.dev/v1` PrometheusServiceLevel objects (the
same fields in camelCase) and `AlertWindows` catalogs. Sloth has no per-SLO period: like its
`--default-slo-period`, the import's `--period` (default 30d) applies, and a catalog given for
that period supplies the alert windows, as Sloth's `--slo-period-windows-path` does.
"""

from __future__ import annotations

from typing import Any

from compiler.core import conventions, windows
from compiler.core.durations import format_duration
from compiler.importers import common, queries
from compiler.importers.common import Node, Options, Report
from compiler.importers.drafts import Objective, ServiceDraft
from compiler.spec.yaml_source import SourceDocument

SPEC_VERSION = "prometheus/v1"
CRD_API_VERSION = "sloth.slok.dev/v1"

# Sloth's catalog names the four tiers this way; slo/v1 lists them as windows.
CATALOG_TIERS = (("page", "quick"), ("page", "slow"), ("ticket", "quick"), ("ticket", "slow"))


def convert(
    documents: list[SourceDocument], options: Options, report: Report
) -> list[ServiceDraft]:
    catalogs: list[Node] = []
    specs: list[tuple[Node, Node | None]] = []  # (the spec, the object when it was a CRD)
    for doc in documents:
        node = Node(doc)
        data = doc.data
        if not isinstance(data, dict):
            report.fail(node, "import/format", "not a Sloth spec: expected a mapping")
        elif data.get("kind") == "AlertWindows":
            catalogs.append(node)
        elif (
            data.get("apiVersion") == CRD_API_VERSION
            and data.get("kind") == "PrometheusServiceLevel"
        ):
            if isinstance(data.get("spec"), dict):
                specs.append((node["spec"], node))
            else:
                report.fail(
                    node, "import/format", "a PrometheusServiceLevel needs a spec (a mapping)"
                )
        elif "version" in data:
            if data["version"] != SPEC_VERSION:
                report.fail(
                    node["version"],
                    "import/format",
                    f"'{data['version']}' is not a Sloth spec version slo can import; "
                    f"expected '{SPEC_VERSION}'",
                )
            else:
                specs.append((node, None))
        else:
            report.fail(
                node,
                "import/format",
                f"not a Sloth spec: expected 'version: {SPEC_VERSION}' or a {CRD_API_VERSION} "
                "PrometheusServiceLevel (OpenSLO documents import with --from openslo)",
            )
    tiers = catalog_windows(catalogs, options.period, report)
    return [
        service(spec, crd, options.period, tiers, report)
        for spec, crd in specs
        if isinstance(spec.value, dict)
    ]


# --- alert windows --------------------------------------------------------------------------------
def catalog_windows(
    catalogs: list[Node], period: int, report: Report
) -> list[dict[str, Any]] | None:
    """slo/v1 `windows` from the catalog for ``period``; None when the defaults say the same."""
    chosen = None
    for catalog in catalogs:
        spec = catalog["spec"]
        declared = (
            common.seconds(spec.get("sloPeriod", ""))
            if catalog.has("spec") and isinstance(spec.value, dict)
            else None
        )
        if declared != period:
            shown = spec.get("sloPeriod") if declared else "?"
            report.warn(
                catalog,
                "import/dropped",
                f"AlertWindows for sloPeriod {shown} not used: the import period is "
                f"{format_duration(period)} (pass --period to import for another period)",
            )
        elif chosen is not None:
            report.warn(
                catalog,
                "import/dropped",
                f"a second AlertWindows for {format_duration(period)}; the first one is used",
            )
        else:
            chosen = spec
    if chosen is None:
        return None
    found: list[dict[str, Any]] = []
    for severity, speed in CATALOG_TIERS:
        tier = (
            chosen[severity][speed]
            if chosen.has(severity) and chosen[severity].has(speed)
            else None
        )
        window = tier_window(tier, severity, period, report) if tier is not None else None
        if window is None:
            report.warn(
                chosen,
                "import/dropped",
                f"{severity}.{speed}: missing or unusable; that tier is not imported",
            )
        else:
            found.append(window)
    defaults = [
        {
            "severity": t.severity,
            "long": format_duration(t.long),
            "short": format_duration(t.short),
            "budget": common.yaml_number(t.budget_fraction * 100),
        }
        for t in windows.scaled_tiers(period)
    ]
    return None if found == defaults or not found else found


def tier_window(tier: Node, severity: str, period: int, report: Report) -> dict[str, Any] | None:
    long, short = (
        common.seconds(tier.get("longWindow", "")),
        common.seconds(tier.get("shortWindow", "")),
    )
    budget = common.decimal(tier.get("errorBudgetPercent"))
    if long is None or short is None or budget is None or not 0 < budget <= 100:
        return None
    if long > period:
        report.warn(
            tier["longWindow"],
            "import/dropped",
            f"longer than the period {format_duration(period)}; tier not imported",
        )
        return None
    if short < windows.BASE_RATE_WINDOW:
        base = format_duration(windows.BASE_RATE_WINDOW)
        report.warn(
            tier["shortWindow"],
            "import/changed",
            f"{tier.get('shortWindow')} is shorter than slo's base rate window; imported as {base}",
        )
        short = windows.BASE_RATE_WINDOW
    return {
        "severity": severity,
        "long": format_duration(long),
        "short": format_duration(min(short, long)),
        "budget": common.yaml_number(budget),
    }


# --- services and SLOs ----------------------------------------------------------------------------
def service(
    spec: Node, crd: Node | None, period: int, tiers: list[dict[str, Any]] | None, report: Report
) -> ServiceDraft:
    source_labels = spec.mapping("labels")
    team = _team(source_labels)
    if not spec.has("service"):
        report.fail(spec, "import/format", "a Sloth spec needs a service")
    draft = ServiceDraft(
        name=common.name(report, spec["service"]) if spec.has("service") else "unnamed",
        origin=spec["service"].position if spec.has("service") else spec.position,
        team=team,
        # A `team` label becomes the service's team, which slo puts on every alert as `team`.
        labels=common.labels(
            report,
            spec.pick("labels"),
            skip=("team",) if team and team == source_labels.get("team") else (),
        ),
    )
    if crd is not None:
        draft.outputs = kubernetes_output(crd, draft.name, report)
    plugins = spec.pick("slo_plugins", "sloPlugins")
    if plugins is not None:
        _plugins_dropped(plugins, report)
    for slo_node in spec.elements("slos"):
        slo = objective(slo_node, period, tiers, report)
        if slo is not None:
            draft.slos.append(slo)
    return draft


def _team(labels: dict[Any, Any]) -> str | None:
    for key in ("team", "owner"):
        value = labels.get(key)
        if isinstance(value, str) and common.valid_name(value) == value:
            return value
    return None


def kubernetes_output(crd: Node, service: str, report: Report) -> dict[str, Any]:
    """Sloth writes a PrometheusRule named after the object, in its namespace, with its labels."""
    metadata = crd["metadata"] if crd.has("metadata") else None
    if (
        metadata is not None
        and metadata.has("name")
        and metadata.get("name") != conventions.kubernetes_rule_name(service)
    ):
        report.warn(
            metadata["name"],
            "import/changed",
            f"the PrometheusRule is now named '{conventions.kubernetes_rule_name(service)}' "
            f"(Sloth wrote '{metadata.get('name')}'); delete Sloth's once slo's is applied",
        )
    return common.kubernetes_output(report, metadata)


def _plugins_dropped(node: Node, report: Report) -> None:
    ids = [str(p.get("id")) for p in node.elements("chain")]
    report.warn(
        node,
        "import/dropped",
        f"Sloth plugins ({', '.join(ids) or 'none'}) have no slo equivalent; not imported",
    )


def objective(
    node: Node, period: int, tiers: list[dict[str, Any]] | None, report: Report
) -> Objective | None:
    if not node.has("name"):
        report.warn(node, "import/unsupported", "SLO without a name; not imported")
        return None
    for key in ("objective", "sli"):
        if not node.has(key):
            report.warn(node, "import/unsupported", f"SLO without {key}; not imported")
    objective_percent = (
        common.objective(report, node["objective"], common.decimal(node.get("objective")))
        if node.has("objective")
        else None
    )
    indicator = sli(node["sli"], report) if node.has("sli") else None
    if objective_percent is None or indicator is None:
        return None
    body: dict[str, Any] = {"objective": objective_percent, "period": format_duration(period)}
    if node.get("description"):
        body["description"] = str(node.get("description"))
    slo_labels = common.labels(report, node.pick("labels"))
    if slo_labels:
        body["labels"] = slo_labels
    body["indicator"] = indicator
    plugins = node.pick("plugins")
    if plugins is not None:
        _plugins_dropped(plugins, report)
    alerting = alerts(node["alerting"] if node.has("alerting") else None, tiers, report)
    if alerting:
        body["alerting"] = alerting
    raw = node["sli"].pick("events") is None and node["sli"].pick("raw") is not None
    return Objective(
        common.name(report, node["name"]), body, node.position, (RAW_NOTE,) if raw else ()
    )


RAW_NOTE = (
    "Sloth raw SLI: errors is the error ratio; total counts its series, "
    "so each window averages the ratio"
)


def sli(node: Node, report: Report) -> dict[str, Any] | None:
    events, raw, plugin = node.pick("events"), node.pick("raw"), node.pick("plugin")
    if events is not None:
        errors, total = (
            events.pick("error_query", "errorQuery"),
            events.pick("total_query", "totalQuery"),
        )
        if errors is None or total is None:
            report.warn(
                events,
                "import/unsupported",
                "needs both an error and a total query; SLO not imported",
            )
            return None
        if not (_usable(errors, report) and _usable(total, report)):
            return None
        latency = queries.errors_as_latency(errors.value, total.value)
        if latency is not None:
            histogram, bound = latency
            return {
                "latency": {
                    "histogram": queries.selector_text(histogram),
                    "threshold": common.yaml_number(bound),
                }
            }
        return {"ratio": {"errors": _counter(errors.value), "total": _counter(total.value)}}
    if raw is not None:
        query = raw.pick("error_ratio_query", "errorRatioQuery")
        if query is None or not _usable(query, report):
            return None
        report.warn(
            query,
            "import/approximated",
            "raw error-ratio SLI: slo averages the ratio over 5m steps within each window "
            "instead of evaluating it over the whole window",
        )
        ratio = queries.with_placeholder(query.value)
        return {"ratio": {"errors": ratio, "total": f"count({ratio})"}}
    if plugin is not None:
        report.warn(
            plugin,
            "import/unsupported",
            f"SLI plugin '{plugin.get('id')}' is Go code that Sloth runs; write its queries as "
            "ratio errors/total. SLO not imported",
        )
        return None
    report.warn(node, "import/unsupported", "needs one of events, raw or plugin; SLO not imported")
    return None


def _usable(query: Node, report: Report) -> bool:
    text = query.value
    if not isinstance(text, str) or not queries.has_window(text):
        report.warn(
            query,
            "import/unsupported",
            "must use {{.window}} for the rate window, as Sloth requires; SLO not imported",
        )
        return False
    problem = queries.syntax_error(text)
    if problem:
        report.warn(query, "import/unsupported", f"invalid PromQL: {problem}; SLO not imported")
        return False
    return True


def _counter(text: str) -> str:
    selector = queries.rated_selector(text)
    return (
        queries.selector_text(selector) if selector is not None else queries.with_placeholder(text)
    )


# --- alerts ---------------------------------------------------------------------------------------
def alerts(node: Node | None, tiers: list[dict[str, Any]] | None, report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {}
    severities = {
        "page": node.pick("page_alert", "pageAlert") if node else None,
        "ticket": node.pick("ticket_alert", "ticketAlert") if node else None,
    }
    enabled = {s: not (n is not None and n.get("disable") is True) for s, n in severities.items()}
    if node is not None and node.has("name"):
        out["name"] = common.alert_name(report, node["name"])
    for severity, alert in severities.items():
        if not enabled[severity]:
            out[severity] = False
        elif alert is not None:
            extra = _labels_and_annotations(alert, report, runbook=False)
            if extra:
                out[severity] = extra
    if node is not None:
        out.update(_labels_and_annotations(node, report, runbook=True))
    if tiers and any(enabled.values()):
        kept = [t for t in tiers if enabled[t["severity"]]]
        if kept:
            out["windows"] = kept
        elif node is not None:
            # The catalog's tiers are all of the severity this SLO's alerting block disables:
            # nothing fires, in Sloth either.
            on = next(s for s in severities if enabled[s])
            report.warn(
                node,
                "import/dropped",
                f"the AlertWindows catalog has no {on} tiers, so this SLO has no alerts",
            )
            out.update(dict.fromkeys(severities, False))
    return out


def _labels_and_annotations(node: Node, report: Report, runbook: bool) -> dict[str, Any]:
    """slo/v1 `labels`, `annotations` (and `runbook_url` where allowed) of a Sloth alert block."""
    found: dict[str, Any] = {}
    labels = common.labels(report, node.pick("labels"))
    annotations, runbook_url = common.alert_annotations(report, node.pick("annotations"), runbook)
    if labels:
        found["labels"] = labels
    if annotations:
        found["annotations"] = annotations
    if runbook_url:
        found["runbook_url"] = runbook_url
    return found
