"""The compiler's model: what the specs mean, with every default applied.

Frozen dataclasses only: no YAML, no HTTP, no output format. Targets read this and nothing else.
Numbers that end up in PromQL are Decimals so that 99.9 stays 99.9 (not 0.9990000000000001).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from compiler.diagnostics import Position


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


Indicator = RatioIndicator | LatencyIndicator


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

    def labels_for(self, severity: str) -> dict[str, str]:
        return dict(dict(self.severity_labels).get(severity, ()))

    def annotations_for(self, severity: str) -> dict[str, str]:
        return dict(dict(self.severity_annotations).get(severity, ()))


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
    source: Position = Position("")

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
    source: Position = Position("")


@dataclass(frozen=True)
class KubernetesOutput:
    namespace: str | None = None  # None: the namespace kubectl applies it to
    labels: tuple[tuple[str, str], ...] = ()  # for the Prometheus' ruleSelector


@dataclass(frozen=True)
class Outputs:
    """Rule packaging beyond plain Prometheus rule files, chosen per service."""

    kubernetes: KubernetesOutput | None = None  # a Prometheus Operator PrometheusRule
    mimir: bool = False  # a mimirtool / cortextool namespace file


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


@dataclass(frozen=True)
class Model:
    services: tuple[Service, ...]  # sorted by name
