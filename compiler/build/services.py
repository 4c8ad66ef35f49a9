"""Validated spec documents -> model, with the semantic checks that a schema cannot express.

Checks here produce diagnostics rather than exceptions, so one run reports every problem in
every file. A document with schema errors is not built (its shape cannot be trusted).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import promql_parser

from compiler.core import conventions, windows
from compiler.core.calendar import (
    CALENDAR_KEYS,
    calendar_range_problem,
    clock_minutes,
    location_problem,
)
from compiler.core.diagnostics import Diagnostic, Severity, error, warning
from compiler.core.durations import DurationError, format_duration, parse_duration
from compiler.core.model import (
    DEFAULT_MAX_GROUPS,
    ENGINES,
    PROMETHEUS_ENGINE,
    SLO,
    VMALERT_ENGINE,
    Alerting,
    Counter,
    Exhaustion,
    Indicator,
    KubernetesOutput,
    LatencyIndicator,
    Maintenance,
    Model,
    Outputs,
    RatioIndicator,
    Routing,
    Selector,
    Service,
    Threshold,
    TimeRange,
    TimesliceIndicator,
)
from compiler.spec import promql
from compiler.spec.validate import field_path
from compiler.spec.yaml_source import SourceDocument
from compiler.text.promtext import TEMPLATE_OPEN

# The generated promtool tests step through `for` minute by minute: 7d takes promtool ~10 s, 30d
# ~40 s. A condition pending for longer than a week is better written as an SLO.
MAX_FOR = 7 * 86400
METRIC_NAME_LABEL = "__name__"  # valid by the label grammar; Prometheus refuses it on a rule
SELF_STARTING = frozenset({"absent", "absent_over_time", "vector"})
# The indicator key a time-slice SLO's spec is given in (timeslice_slo): no spec can hold it, the
# schema allows no such key.
TIMESLICE = " timeslice"


def _decimal(value: object) -> Decimal:
    # str() first: Decimal(99.9) would carry the binary float's noise into PromQL.
    return Decimal(str(value))


def _selectors(indicator: Indicator | None) -> list[Selector]:
    """The plain selectors an indicator reads (expressions with $window have none)."""
    if isinstance(indicator, LatencyIndicator):
        return [indicator.histogram]
    if isinstance(indicator, RatioIndicator):
        counters = (indicator.total, indicator.errors, indicator.good)
        return [c.selector for c in counters if c is not None and c.selector is not None]
    return []


def _pairs(mapping: dict | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((mapping or {}).items()))


class DocumentBuilder:
    """Builds one document; every diagnostic names the field and points at it."""

    def __init__(self, doc: SourceDocument, source_file: str):
        self.doc = doc
        self.source_file = source_file
        self.diagnostics: list[Diagnostic] = []

    # --- helpers -------------------------------------------------------------------------
    def fail(self, path: tuple, check: str, message: str, key: bool = False) -> None:
        where = (
            self.doc.key_at(path) if key else self.doc.at(path)
        )  # key: point at the name, not its value
        self.diagnostics.append(error(where, check, f"{field_path(path)}: {message}"))

    def warn(self, path: tuple, check: str, message: str) -> None:
        self.diagnostics.append(warning(self.doc.at(path), check, f"{field_path(path)}: {message}"))

    def duration(self, path: tuple, text: str | None, default: int | None = None) -> int | None:
        if text is None:
            return default
        try:
            return parse_duration(text)
        except DurationError as exc:
            self.fail(path, "spec/duration", str(exc))
            return None


class ServiceBuilder(DocumentBuilder):
    def labels(self, path: tuple, mapping: dict | None) -> tuple[tuple[str, str], ...]:
        for key in mapping or {}:
            if key == METRIC_NAME_LABEL:
                self.diagnostics.append(
                    error(
                        self.doc.key_at(path + (key,)),
                        "spec/reserved-label",
                        f"{field_path(path + (key,))}: '{key}' holds a series' name in "
                        "Prometheus, which refuses it as a rule's label; choose another name",
                    )
                )
            elif key in conventions.RESERVED_LABELS:
                self.diagnostics.append(
                    error(
                        self.doc.key_at(path + (key,)),
                        "spec/reserved-label",
                        f"{field_path(path + (key,))}: label '{key}' is set by the compiler; "
                        "choose another name",
                    )
                )
        return _pairs(mapping)

    def expression(self, path: tuple, text: str, window: bool = False) -> Any:
        """The parsed expression, or None after a diagnostic; ``window``: $window allowed."""
        try:
            return promql.parse_spec(text, window=window)
        except promql.PromQLError as exc:
            reason = f"invalid PromQL: {exc}" if exc.check == "promql/syntax" else str(exc)
            self.fail(path, exc.check, reason)
            return None

    def counter(self, path: tuple, text: str) -> Counter | None:
        ast = self.expression(path, text, window=True)
        if ast is None:
            return None
        selector = promql.as_selector(ast)
        if selector is None and promql.WINDOW_PLACEHOLDER not in text:
            self.fail(
                path,
                "spec/counter",
                'must be a counter selector such as http_requests_total{job="api"}, '
                f"or an expression using [{promql.WINDOW_PLACEHOLDER}] for the rate window",
            )
            return None
        if selector is None:
            # The rule slo records from it (targets/prometheus.py, counter_rate): the sum of the
            # expression with the base rate window in place of $window. It must be valid too:
            # sum() of a scalar or of a range vector is not.
            window = format_duration(windows.BASE_RATE_WINDOW)
            rate = f"sum({text.strip().replace(promql.WINDOW_PLACEHOLDER, window)})"
            try:
                promql.parse(rate)
            except promql.PromQLError as exc:
                self.fail(
                    path,
                    "promql/window",
                    f"with {promql.WINDOW_PLACEHOLDER} = {window}, the rule slo records from it "
                    f"is not valid PromQL ({exc}); the expression must give an instant vector",
                )
                return None
        return Counter(text, selector)

    # --- document ------------------------------------------------------------------------
    def build(self) -> Service | None:
        data = self.doc.data
        service = data["service"]
        names: dict[str, tuple] = {}
        interval = self.evaluation_interval(data.get("evaluation_interval"))
        base = windows.base_window(interval or windows.DEFAULT_EVALUATION_INTERVAL)
        maintenance = self.maintenance(data.get("maintenance", []), ("maintenance",), base)
        slos = []
        for i, raw in enumerate(data.get("slos", [])):
            path = ("slos", i)
            self.unique(names, raw["name"], path)
            slo = self.slo(service, raw, path, base, maintenance)
            if slo:
                slos.append(slo)
                if interval is not None:
                    self.check_windows(slo, path, interval)
        thresholds = []
        for i, raw in enumerate(data.get("thresholds", [])):
            path = ("thresholds", i)
            self.unique(names, raw["name"], path)
            threshold = self.threshold(service, raw, path, base)
            if threshold:
                thresholds.append(threshold)
        for i, raw in enumerate(data.get("thresholds", [])):
            if "slo" in raw:  # after every objective's name: the generated name must be free
                where = ("thresholds", i)
                slo = self.timeslice_slo(service, raw, where, interval, names, base, maintenance)
                if slo:
                    slos.append(slo)
        labels = self.labels(("labels",), data.get("labels"))
        outputs = self.outputs(data.get("outputs", {}))
        engines = self.engines(data.get("engines"))
        if VMALERT_ENGINE in engines:
            self.check_vmalert_labels(data)
        if self.diagnostics and any(d.severity >= Severity.ERROR for d in self.diagnostics):
            return None
        return Service(
            name=service,
            team=data["team"],
            source_file=self.source_file,
            slos=tuple(slos),
            thresholds=tuple(thresholds),
            description=data.get("description", ""),
            labels=labels,
            grafana_url=data.get("grafana_url"),
            outputs=outputs,
            evaluation_interval=interval or windows.DEFAULT_EVALUATION_INTERVAL,
            engines=engines,
            maintenance=maintenance,
        )

    def check_vmalert_labels(self, data: dict) -> None:
        """vmalert (1.79) parses a recording rule's label values as Go templates, refusing the
        file when one does not parse, but stores them unexpanded: no escaping keeps the value the
        same on both engines. The service's and SLOs' labels go onto the objective's record, so
        ``{{`` cannot be in them when the service also compiles for vmalert."""
        places = [(("labels",), data.get("labels"))] + [
            (("slos", i, "labels"), raw.get("labels")) for i, raw in enumerate(data.get("slos", []))
        ]
        for path, labels in places:
            for key, value in (labels or {}).items():
                if TEMPLATE_OPEN in value:
                    self.fail(
                        path + (key,),
                        "spec/vmalert-label",
                        "vmalert reads the labels of recording rules as templates and refuses "
                        f"'{TEMPLATE_OPEN}' in them; remove it, or vmalert from 'engines'",
                    )

    def evaluation_interval(self, raw: str | None) -> int | None:
        path = ("evaluation_interval",)
        interval = self.duration(path, raw, windows.DEFAULT_EVALUATION_INTERVAL)
        if interval is None:
            return None
        low, high = windows.MIN_EVALUATION_INTERVAL, windows.MAX_EVALUATION_INTERVAL
        if not low <= interval <= high or windows.HOUR % windows.base_window(interval):
            self.fail(
                path,
                "spec/interval",
                f"{raw} is not a supported evaluation interval: use {format_duration(low)} to "
                f"{format_duration(high)}, such that the smallest common multiple of it and 5m "
                "divides an hour (e.g. 15s, 30s, 1m, 2m or 5m)",
            )
            return None
        return interval

    def check_windows(self, slo: SLO, path: tuple, interval: int) -> None:
        """Windows longer than the base window are built from pieces of it (windows.layout)."""
        base = windows.base_window(interval)
        exhaustion = slo.alerting.exhaustion
        if exhaustion is not None and exhaustion.over % base:
            self.fail(
                path + ("alerting", "exhaustion"),
                "spec/window",
                f"the forecast's pace window {format_duration(exhaustion.over)} is not a "
                f"multiple of {format_duration(base)}, the base window at an evaluation "
                f"interval of {format_duration(interval)}",
            )
        for tier in slo.alerting.tiers:
            for window in (tier.long, tier.short):
                if window > base and window % base:
                    self.fail(
                        path + ("alerting",),
                        "spec/window",
                        f"the {tier.severity} window {format_duration(window)} is not a "
                        f"multiple of {format_duration(base)}, the base window at an "
                        f"evaluation interval of {format_duration(interval)}",
                    )
                    return

    def engines(self, raw: list[str] | None) -> tuple[str, ...]:
        if raw is None:
            return (PROMETHEUS_ENGINE,)
        if PROMETHEUS_ENGINE not in raw:
            self.fail(
                ("engines",),
                "spec/engines",
                f"add {PROMETHEUS_ENGINE}: its rules are the ones the generated promtool "
                "tests prove, and the rules of every other engine are compiled to match them",
            )
        return tuple(engine for engine in ENGINES if engine in raw)

    def outputs(self, raw: dict) -> Outputs:
        kubernetes = raw.get("kubernetes", False)
        if kubernetes is False:
            return Outputs(mimir=raw.get("mimir", False))
        settings = kubernetes if isinstance(kubernetes, dict) else {}
        labels = settings.get("labels", {})
        for key in sorted(labels.keys() & conventions.KUBERNETES_MANAGED_LABELS.keys()):
            path = ("outputs", "kubernetes", "labels", key)
            self.diagnostics.append(
                error(
                    self.doc.key_at(path),
                    "spec/reserved-label",
                    f"{field_path(path)}: label '{key}' is set by the compiler",
                )
            )
        return Outputs(
            KubernetesOutput(settings.get("namespace"), _pairs(labels)), raw.get("mimir", False)
        )

    def unique(self, names: dict, name: str, path: tuple) -> None:
        if name in names:
            first = self.doc.at(names[name] + ("name",))
            self.fail(
                path + ("name",),
                "spec/duplicate-name",
                f"'{name}' is already used by {field_path(names[name])} (line {first.line})",
            )
        else:
            names[name] = path

    def slo(
        self,
        service: str,
        raw: dict,
        path: tuple,
        base: int = windows.BASE_RATE_WINDOW,
        inherited: tuple[Maintenance, ...] = (),  # the service's windows
    ) -> SLO | None:
        objective = _decimal(raw["objective"]) / 100
        calendar = str(raw.get("period", ""))
        if calendar not in windows.CALENDAR_REFERENCE:
            calendar = ""
        if calendar:
            period: int | None = windows.CALENDAR_REFERENCE[calendar]
        else:
            period = self.duration(path + ("period",), raw.get("period"), windows.DEFAULT_PERIOD)
        if period is not None and period < windows.MIN_PERIOD:
            self.fail(
                path + ("period",),
                "spec/period",
                f"{raw['period']} is shorter than the minimum period of 1d",
            )
            period = None
        if period is not None and period % windows.DAY:
            self.fail(
                path + ("period",),
                "spec/period",
                f"{raw['period']} is not a whole number of days (the period is built from "
                "one-day pieces)",
            )
            period = None
        if period is not None and period > windows.MAX_PERIOD:
            self.fail(
                path + ("period",),
                "spec/period",
                f"{raw['period']} is longer than the maximum period of "
                f"{format_duration(windows.MAX_PERIOD)}",
            )
            period = None
        indicator = self.indicator(raw["indicator"], path + ("indicator",))
        alerting = self.alerting(
            raw.get("alerting", {}), path + ("alerting",), objective, period, calendar
        )
        labels = self.labels(path + ("labels",), raw.get("labels"))
        by = self.grouping(raw, path, indicator, labels)
        maintenance = self.maintenance(raw.get("maintenance", []), path + ("maintenance",), base)
        if period is None or indicator is None or alerting is None or by is None:
            return None
        return SLO(
            service=service,
            name=raw["name"],
            objective=objective,
            period=period,
            indicator=indicator,
            alerting=alerting,
            description=raw.get("description", ""),
            labels=labels,
            by=by,
            max_groups=raw.get("max_groups", DEFAULT_MAX_GROUPS),
            source=self.doc.at(path),
            calendar=calendar,
            maintenance=maintenance,
            excluded=tuple(w for w in (*inherited, *maintenance) if w.exclude),
        )

    # --- maintenance windows ---------------------------------------------------------------
    def maintenance(self, raw: list, path: tuple, base: int) -> tuple[Maintenance, ...]:
        """The windows of a service or an SLO (README, "Maintenance windows"); an entry with an
        error is reported and left out (the document then builds nothing anyway)."""
        found = []
        names: dict[str, tuple] = {}
        for i, item in enumerate(raw):
            p = path + (i,)
            name = item.get("name", f"maintenance-{i + 1}")
            if "name" in item:
                self.unique(names, name, p)
            entry = self.maintenance_entry(item, p, name, base)
            if entry is not None:
                found.append(entry)
        return tuple(found)

    def maintenance_entry(self, item: dict, p: tuple, name: str, base: int) -> Maintenance | None:
        mute, exclude = item.get("mute", True), item.get("exclude", False)
        if not mute and not exclude:
            self.fail(
                p,
                "spec/maintenance",
                "does nothing with both mute and exclude false: set one of them to true",
            )
            return None
        one_off = [k for k in ("start", "end") if k in item]
        recurring = [k for k in ("times", *CALENDAR_KEYS, "location") if k in item]
        if one_off and recurring:
            self.fail(
                p + (recurring[0],),
                "spec/maintenance",
                "a window is either one-off (start, end) or recurring (times, weekdays, "
                "days_of_month, months, years), not both",
                key=True,
            )
            return None
        if one_off:
            return self.one_off(item, p, name, base, mute, exclude)
        if not recurring or recurring == ["location"]:
            self.fail(
                p,
                "spec/maintenance",
                "needs start and end (one-off) or at least one of times, weekdays, "
                "days_of_month, months, years (recurring)",
            )
            return None
        ok = True
        for j, t in enumerate(item.get("times", [])):
            start, end = clock_minutes(t["start_time"]), clock_minutes(t["end_time"])
            if start >= end:
                self.fail(
                    p + ("times", j),
                    "spec/maintenance-time",
                    f"start_time {t['start_time']} must be before end_time {t['end_time']} "
                    "(a window across midnight is two entries of times)",
                )
                ok = False
            elif exclude and (end - start) * 60 < base:
                self.fail(
                    p + ("times", j),
                    "spec/maintenance-time",
                    f"{t['start_time']}-{t['end_time']} is shorter than "
                    f"{format_duration(base)}, the base window the rules gate with exclude: "
                    "make it longer or drop exclude",
                )
                ok = False
        for key in CALENDAR_KEYS:
            for k, text in enumerate(item.get(key, [])):
                problem = calendar_range_problem(key, text)
                if problem:
                    self.fail(p + (key, k), "spec/maintenance-time", problem)
                    ok = False
        location = item.get("location")
        if location is not None:
            problem = location_problem(location)
            if problem:
                self.fail(p + ("location",), "spec/maintenance-location", problem)
                ok = False
            elif exclude and location != "UTC":
                self.fail(
                    p + ("location",),
                    "spec/maintenance-location",
                    f"'{location}': with exclude the rules gate events on the window, and "
                    "PromQL has no time zones: write the window in UTC (location: UTC, or no "
                    "location), or drop exclude",
                )
                ok = False
        if not ok:
            return None
        return Maintenance(
            name=name,
            recurring=TimeRange(
                times=tuple((t["start_time"], t["end_time"]) for t in item.get("times", [])),
                weekdays=tuple(item.get("weekdays", ())),
                days_of_month=tuple(item.get("days_of_month", ())),
                months=tuple(item.get("months", ())),
                years=tuple(item.get("years", ())),
                location=location,
            ),
            mute=mute,
            exclude=exclude,
            reason=item.get("reason", ""),
            source=self.doc.at(p),
        )

    def one_off(
        self, item: dict, p: tuple, name: str, base: int, mute: bool, exclude: bool
    ) -> Maintenance | None:
        for key in ("start", "end"):
            if key not in item:
                self.fail(
                    p, "spec/maintenance", f"a one-off window needs both start and end: add {key}"
                )
                return None
        times = {}
        for key in ("start", "end"):
            value = item[key]  # YAML reads an unquoted time as a datetime
            if not isinstance(value, (str, datetime)):
                self.fail(
                    p + (key,),
                    "spec/maintenance-time",
                    f"{value!r} is not an RFC 3339 time such as 2026-03-01T02:00:00Z",
                )
                return None
            text = str(value)
            try:
                moment = value if isinstance(value, datetime) else datetime.fromisoformat(text)
            except ValueError as exc:
                self.fail(p + (key,), "spec/maintenance-time", f"{text}: {exc}")
                return None
            if moment.tzinfo is None:
                self.fail(p + (key,), "spec/maintenance-time", f"{text}: give its UTC offset")
                return None
            times[key] = int(moment.timestamp())
        if times["end"] <= times["start"]:
            self.fail(p + ("end",), "spec/maintenance-time", "must be after start")
            return None
        if exclude and times["end"] - times["start"] < base:
            self.fail(
                p + ("end",),
                "spec/maintenance-time",
                f"the window is shorter than {format_duration(base)}, the base window the "
                "rules gate with exclude: make it longer or drop exclude",
            )
            return None
        return Maintenance(
            name=name,
            start=times["start"],
            end=times["end"],
            mute=mute,
            exclude=exclude,
            reason=item.get("reason", ""),
            source=self.doc.at(p),
        )

    def grouping(
        self,
        raw: dict,
        path: tuple,
        indicator: Indicator | None,
        labels: tuple[tuple[str, str], ...],
    ) -> tuple[str, ...] | None:
        """The ``by`` labels of a grouped SLO, () when it has none; None after an error."""
        by = tuple(raw.get("by", ()))
        ok = True
        if "max_groups" in raw and not by:
            self.fail(
                path + ("max_groups",),
                "spec/by",
                "only applies to a grouped SLO: add 'by: [label, ...]' or remove it",
                key=True,
            )
            ok = False
        fixed = dict(labels)
        for i, name in enumerate(by):
            where = path + ("by", i)
            if name in conventions.GROUP_RESERVED_LABELS or name.startswith("__"):
                self.fail(
                    where,
                    "spec/by",
                    f"'{name}' is a label slo or Prometheus sets on the SLO's series; "
                    "group by a label of the SLI's own series",
                )
                ok = False
            elif name in fixed:
                self.fail(
                    where,
                    "spec/by",
                    f"'{name}' is also one of the SLO's fixed labels; a group label takes its "
                    "value from the series, so it cannot be set here too",
                )
                ok = False
            elif name in conventions.UNBOUNDED_LABELS:
                self.warn(
                    where,
                    "spec/by-unbounded",
                    f"'{name}' usually has a value per request, user or process: grouping by it "
                    "can make thousands of SLOs (see max_groups)",
                )
            for selector in _selectors(indicator):
                for matcher in selector.matchers:
                    if matcher.name == name and matcher.op == "=":
                        self.warn(
                            where,
                            "spec/by-fixed",
                            f'the selector {selector.metric} matches {name}="{matcher.value}", '
                            "so there is only one group",
                        )
        if by and isinstance(indicator, RatioIndicator):
            for field in ("errors", "good", "total"):
                counter = getattr(indicator, field)
                if counter is None or counter.selector is not None:
                    continue
                # slo sums a $window expression per group: what it sums away is lost
                losses = promql.label_losses(promql.parse(counter.text), frozenset(by))
                if losses:
                    self.fail(
                        path + ("indicator", "ratio", field),
                        "spec/by",
                        f"the expression's {losses[0]}, so the SLO cannot group by it: keep "
                        f"the labels, e.g. sum by ({', '.join(by)}) (rate(x[$window]))",
                    )
                    ok = False
        return by if ok else None

    def indicator(self, raw: dict, path: tuple) -> Indicator | None:
        if TIMESLICE in raw:  # a threshold's time slices, built by timeslice_slo
            found: Indicator = raw[TIMESLICE]
            return found
        if "ratio" in raw:
            ratio, p = raw["ratio"], path + ("ratio",)
            if ("errors" in ratio) == ("good" in ratio):
                self.fail(
                    p, "spec/ratio", "needs exactly one of 'errors' or 'good' (besides 'total')"
                )
                return None
            parts = {
                k: self.counter(p + (k,), ratio[k])
                for k in ("errors", "good", "total")
                if k in ratio
            }
            total = parts.pop("total")
            if total is None or None in parts.values():
                return None
            return RatioIndicator(total, **parts)
        latency, p = raw["latency"], path + ("latency",)
        ast = self.expression(p + ("histogram",), latency["histogram"])
        if ast is None:
            return None
        selector = promql.as_selector(ast)
        if selector is None:
            self.fail(
                p + ("histogram",),
                "spec/histogram",
                'must be a histogram selector such as http_request_duration_seconds{job="api"}',
            )
            return None
        for suffix in ("_bucket", "_count", "_sum"):
            if selector.metric.endswith(suffix):
                self.fail(
                    p + ("histogram",),
                    "spec/histogram",
                    f"give the histogram's base name without '{suffix}' "
                    f"(e.g. {selector.metric[: -len(suffix)]})",
                )
                return None
        if any(m.name == "le" for m in selector.matchers):
            self.fail(
                p + ("histogram",),
                "spec/histogram",
                "must not select 'le'; the threshold chooses the bucket",
            )
            return None
        threshold = latency["threshold"]
        if isinstance(threshold, str):
            seconds = self.duration(p + ("threshold",), threshold)
            if seconds is None:
                return None
            value = Decimal(seconds)
        else:
            value = _decimal(threshold)
        return LatencyIndicator(selector, value, str(threshold))

    def alerting(
        self, raw: dict, path: tuple, objective: Decimal, period: int | None, calendar: str = ""
    ) -> Alerting | None:
        if period is None:
            return None
        # `page: false` drops a severity; `page: {labels: ...}` keeps it with extras of its own.
        enabled = {
            severity: raw.get(severity, True) is not False for severity in ("page", "ticket")
        }
        extras = {s: raw[s] for s in ("page", "ticket") if isinstance(raw.get(s), dict)}
        specs = windows.scaled_tiers(period)
        if "windows" in raw:
            custom = self.custom_windows(raw["windows"], path + ("windows",), period, calendar)
            if custom is None:
                return None
            specs = custom
        tiers = []
        for spec in specs:
            if not enabled[spec.severity]:
                continue
            tier = windows.burn_tier(spec, period, objective)
            if windows.unreachable(tier):
                self.warn(
                    path,
                    "spec/unreachable-tier",
                    f"the {tier.severity} tier "
                    f"{format_duration(tier.long)}/{format_duration(tier.short)} "
                    f"(burn rate {conventions.number(tier.factor)}) can never fire: it needs an "
                    f"error ratio of {conventions.number(tier.threshold * 100)}% with an "
                    f"objective of {conventions.number(objective * 100)}%",
                )
            tiers.append(tier)
        exhaustion = self.exhaustion(
            raw.get("exhaustion"), path + ("exhaustion",), period, bool(calendar)
        )
        if exhaustion is False:
            return None
        return Alerting(
            name=raw.get("name", conventions.BURN_ALERT),
            tiers=tuple(tiers),
            runbook_url=raw.get("runbook_url"),
            min_events=_decimal(raw["min_events"]) if "min_events" in raw else None,
            labels=self.labels(path + ("labels",), raw.get("labels")),
            annotations=_pairs(raw.get("annotations")),
            severity_labels=tuple(
                (s, self.labels(path + (s, "labels"), extra.get("labels")))
                for s, extra in sorted(extras.items())
                if extra.get("labels")
            ),
            severity_annotations=tuple(
                (s, _pairs(extra.get("annotations")))
                for s, extra in sorted(extras.items())
                if extra.get("annotations")
            ),
            exhaustion=exhaustion,
        )

    def exhaustion(
        self, raw: object, path: tuple, period: int, calendar: bool = False
    ) -> Exhaustion | Literal[False] | None:
        """The forecast's settings; None when it is off; False after an error.

        Off unless asked for on a rolling period, whose end never comes: ``within`` says how
        far ahead to look. A calendar period, whose end is known, has it on by default with
        ``within`` None: "until the period ends"."""
        if raw is False or (raw is None and not calendar):
            return None
        settings = raw if isinstance(raw, dict) else {}
        over = self.duration(path + ("over",), settings.get("over"), windows.DEFAULT_FORECAST_OVER)
        within = self.duration(path + ("within",), settings.get("within"))
        ok = over is not None and (within is not None or "within" not in settings)
        if over is not None and not windows.BASE_RATE_WINDOW <= over <= period:
            self.fail(
                path + ("over",) if "over" in settings else path,
                "spec/exhaustion",
                f"the forecast's pace window {format_duration(over)} must be from "
                f"{format_duration(windows.BASE_RATE_WINDOW)} to the period "
                f"{format_duration(period)}",
            )
            ok = False
        if within is None and "within" not in settings and not calendar:
            self.fail(
                path,
                "spec/exhaustion",
                "a rolling period never ends, so say how far ahead to look: add 'within' "
                "(e.g. within: 3d), or 'exhaustion: false'",
            )
            ok = False
        if within is not None and not 0 < within <= period:
            self.fail(
                path + ("within",),
                "spec/exhaustion",
                f"{settings['within']} must be longer than 0s and at most the period "
                f"{format_duration(period)}",
            )
            ok = False
        if not ok or over is None:
            return False
        return Exhaustion(over=over, within=within)

    def custom_windows(
        self, raw: list, path: tuple, period: int, calendar: str = ""
    ) -> tuple[windows.TierSpec, ...] | None:
        longest = windows.CALENDAR_SHORTEST.get(calendar, period)
        specs = []
        ok = True
        for i, item in enumerate(raw):
            p = path + (i,)
            long = self.duration(p + ("long",), item["long"])
            short = self.duration(p + ("short",), item["short"])
            if long is None or short is None:
                ok = False
                continue
            if short < windows.BASE_RATE_WINDOW:
                self.fail(
                    p + ("short",),
                    "spec/window",
                    f"{item['short']} is shorter than the base rate window "
                    f"{format_duration(windows.BASE_RATE_WINDOW)}",
                )
                ok = False
            if short > long:
                self.fail(
                    p + ("short",),
                    "spec/window",
                    f"short window {item['short']} is longer than the long window {item['long']}",
                )
                ok = False
            if long > longest:
                what = f"the period {format_duration(period)}"
                if calendar:  # the shortest the calendar period gets
                    what = f"the shortest {calendar} ({format_duration(longest)})"
                self.fail(
                    p + ("long",),
                    "spec/window",
                    f"long window {item['long']} is longer than {what}",
                )
                ok = False
            specs.append(
                windows.TierSpec(item["severity"], long, short, _decimal(item["budget"]) / 100)
            )
        seen = set()
        for i, spec in enumerate(specs):
            key = (spec.severity, spec.long, spec.short)
            if key in seen:
                self.fail(
                    path + (i,), "spec/window", "the same severity and window pair appears twice"
                )
                ok = False
            seen.add(key)
        return tuple(specs) if ok else None

    def threshold(
        self, service: str, raw: dict, path: tuple, base: int = windows.BASE_RATE_WINDOW
    ) -> Threshold | None:
        if ("above" in raw) == ("below" in raw):
            self.fail(path, "spec/threshold-comparison", "needs exactly one of 'above' or 'below'")
            return None
        ast = self.expression(path + ("expr",), raw["expr"])
        kind = None if ast is None else promql.value_type(ast)
        if kind in ("matrix", "string"):
            what = "a range vector" if kind == "matrix" else "a string"
            self.fail(
                path + ("expr",),
                "spec/threshold-expr",
                f"is {what}; a threshold compares an instant value: use an instant vector or "
                "a scalar (for a range, e.g. max_over_time(x[5m]))",
            )
            ast = None
        for_ = self.duration(path + ("for",), raw.get("for"), 0)
        if for_ is not None and for_ > MAX_FOR:
            self.fail(
                path + ("for",),
                "spec/duration",
                f"{raw['for']} is longer than {format_duration(MAX_FOR)}, the longest 'for' slo "
                "generates tests for",
            )
            for_ = None
        labels = self.labels(path + ("labels",), raw.get("labels"))
        maintenance = self.maintenance(raw.get("maintenance", []), path + ("maintenance",), base)
        for i, item in enumerate(raw.get("maintenance", [])):
            if item.get("exclude"):
                self.fail(
                    path + ("maintenance", i, "exclude"),
                    "spec/maintenance",
                    "exclude drops an SLO's events from its SLI and budget; a threshold has "
                    "none: mute its alerts (the default) instead",
                )
        if ast is None or for_ is None:
            return None
        op, value = (">", raw["above"]) if "above" in raw else ("<", raw["below"])
        return Threshold(
            service=service,
            name=raw["name"],
            expr=raw["expr"].strip(),
            op=op,
            value=_decimal(value),
            severity=raw["severity"],
            for_=for_,
            unit=raw.get("unit", "none"),
            description=raw.get("description", ""),
            runbook_url=raw.get("runbook_url"),
            labels=labels,
            annotations=_pairs(raw.get("annotations")),
            source=self.doc.at(path),
            maintenance=maintenance,
        )

    def timeslice_slo(
        self,
        service: str,
        raw: dict,
        path: tuple,
        interval: int | None,
        names: dict,
        base: int = windows.BASE_RATE_WINDOW,
        inherited: tuple[Maintenance, ...] = (),  # the service's windows
    ) -> SLO | None:
        """The time-slice SLO of a threshold with ``slo:``: an SLO like any other (period,
        alerting and their checks are the SLOs'), with the threshold's condition per slice as
        its indicator. A slice is the service's evaluation interval: the rules sample the gauge
        at that rate anyway, and it divides the base window, so windows hold whole slices."""
        spec, where = raw["slo"], path + ("slo",)
        name = conventions.timeslice_slo(raw["name"])
        if name in names:
            first = self.doc.at(names[name] + ("name",))
            self.fail(
                where,
                "spec/duplicate-name",
                f"its SLO is named '{name}', which {field_path(names[name])} (line "
                f"{first.line}) already uses",
                key=True,
            )
            return None
        names[name] = path
        if ("above" in raw) == ("below" in raw):
            return None  # the threshold reports it (spec/threshold-comparison)
        ast = self.expression(path + ("expr",), raw["expr"])
        if ast is None:
            return None
        if not _gauge(ast):
            self.fail(
                where,
                "spec/timeslice-gauge",
                "needs a gauge: the expression must return series exactly while there is data "
                "(an instant vector, not a scalar, vector() or absent()), as each slice with "
                "series counts and each one where the condition holds is bad",
                key=True,
            )
            return None
        op, value = (">", raw["above"]) if "above" in raw else ("<", raw["below"])
        slice_ = interval or windows.DEFAULT_EVALUATION_INTERVAL
        indicator = TimesliceIndicator(raw["expr"].strip(), op, _decimal(value), slice_)
        spec = {**spec, "name": name, "indicator": {TIMESLICE: indicator}}
        slo = self.slo(service, spec, where, base, inherited)
        if slo is not None and interval is not None:
            self.check_windows(slo, where, interval)
        return slo


def _is_vector(ast: Any) -> bool:
    while isinstance(ast, promql_parser.ParenExpr):
        ast = ast.expr
    if isinstance(ast, (promql_parser.VectorSelector, promql_parser.AggregateExpr)):
        return True
    if isinstance(ast, promql_parser.UnaryExpr):
        return _is_vector(ast.expr)
    if isinstance(ast, promql_parser.BinaryExpr):
        return _is_vector(ast.lhs) or _is_vector(ast.rhs)
    if isinstance(ast, promql_parser.Call):
        return bool(ast.func.return_type == promql_parser.ValueType.Vector)
    return False  # a number, a string, a range


def _gauge(ast: Any) -> bool:
    """Whether ``ast`` is an instant vector with series only while there is data: none of
    absent(), vector() or a date function of now (hour(), ...), which make series of nothing."""
    return _is_vector(ast) and not any(
        isinstance(node, promql_parser.Call)
        and (node.func.name in SELF_STARTING or not node.args)
        and node.func.return_type == promql_parser.ValueType.Vector
        for node in promql.walk(ast)
    )


def build_model(services: list[Service], routing: Routing | None = None) -> Model:
    return Model(tuple(sorted(services, key=lambda s: s.name)), routing)
