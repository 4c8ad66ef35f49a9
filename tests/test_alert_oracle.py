"""An oracle for burn-rate alerts that shares no code with the compiler's model.

The generated promtool tests take their expected minutes from the same model as the rules, so a
wrong burn-rate factor, window or comparison in that model moves both and nothing fails. Here
the expectations come from the SRE Workbook's formula and the README's spec reference, written
out below (windows by hand, thresholds and firing minutes computed in this file), and the rules
from a fresh compile of a handful of reference SLOs, run under promtool:

    burn rate  = budget share x period / long window        threshold = burn rate x (1 - objective)
    first page = min over the page tiers of long window x threshold / error ratio
                 (after a clean long window; a tier whose long window holds fewer than
                 min_events events never fires)

One promtool run covers every reference SLO (each reads its own `job`); bench/alert_timing.py
(also used by bench/detection.py, the full-size version) writes the input series and the test
file and reads promtool's report of which alerts fire at each evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import pytest
import yaml
from support import bench_script, needs_promtool

from compiler import compile_tree

at = bench_script("alert_timing")

M, H, D = 60, 3600, 86400
SERVICE = "oracle"
INTERVAL = 60  # evaluation interval and scrape interval of the promtool run
# Today's windows average 5-minute rates, so they run up to ~2.5 minutes (at low ratios up to
# 5) behind the events; the exact-window rules page within one interval. What must hold today.
TODAY_LAG = (
    6 * M
)  # the slack of the tier and page-order checks; one interval is the real bound (below)
NEAR = Fraction(105, 100)  # error ratio = 1.05 x the first page tier's threshold

# The default windows, SRE Workbook table 5-8 (README "Default tiers"): 30d and 28d keep them.
WORKBOOK = [
    ("page", 1 * H, 5 * M, 2),
    ("page", 6 * H, 30 * M, 5),
    ("ticket", 1 * D, 2 * H, 10),
    ("ticket", 3 * D, 6 * H, 10),
]
# 7d: each window x 7/30 snapped to the ladder 5m 10m 15m 30m 1h 2h 3h 6h 12h 1d ... on a log
# scale, never below 5m: 1h -> 14m -> 15m, 5m -> 1.2m -> 5m; 6h -> 1.4h -> 1h, 30m -> 7m -> 5m;
# 1d -> 5.6h -> 6h, 2h -> 28m -> 30m; 3d -> 16.8h -> 12h, 6h -> 1.4h -> 1h.
WEEK = [
    ("page", 15 * M, 5 * M, 2),
    ("page", 1 * H, 5 * M, 5),
    ("ticket", 6 * H, 30 * M, 10),
    ("ticket", 12 * H, 1 * H, 10),
]
CUSTOM = [("page", 30 * M, 5 * M, Fraction(3, 2)), ("ticket", 1 * D, 2 * H, 10)]


@dataclass(frozen=True)
class Reference:
    name: str
    kind: str
    objective: str  # percent
    period: str
    period_s: int
    windows: list  # (severity, long, short, budget percent), as the README says they must be
    alerting: dict | None = None
    per_minute: int = 1000
    min_events: int = 0
    ratio: Fraction | None = None  # the error ratio of the scenario; None: NEAR x first tier

    def tiers(self) -> list[tuple[str, int, int, Fraction]]:
        """(severity, long, short, threshold), from the formula."""
        out = []
        for severity, long, short, budget in self.windows:
            factor = Fraction(budget) / 100 * self.period_s / long
            out.append((severity, long, short, factor * (1 - Fraction(self.objective) / 100)))
        return out

    def eligible(self, long: int) -> bool:
        return self.per_minute * long / 60 >= self.min_events

    def error_ratio(self) -> Fraction:
        if self.ratio is not None:
            return self.ratio
        first = min((t for t in self.tiers() if t[0] == "page"), key=lambda t: t[1])
        return NEAR * first[3]

    def first_page(self) -> tuple[Fraction, tuple[str, int, int, Fraction]]:
        """(seconds from the onset, the tier) of the first page."""
        r = self.error_ratio()
        fires = [
            (Fraction(max(long, short)) * threshold / r, (sev, long, short, threshold))
            for sev, long, short, threshold in self.tiers()
            if sev == "page" and r > threshold and self.eligible(long)
        ]
        return min(fires)


REFERENCES = [
    Reference("ratio-30d", "ratio", "99.9", "30d", 30 * D, WORKBOOK),
    Reference("latency-28d", "latency", "99", "28d", 28 * D, WORKBOOK),
    Reference("ratio-7d", "ratio", "99.5", "7d", 7 * D, WEEK),
    Reference(
        "custom-windows",
        "ratio",
        "99",
        "30d",
        30 * D,
        CUSTOM,
        alerting={
            "windows": [
                {"severity": "page", "long": "30m", "short": "5m", "budget": 1.5},
                {"severity": "ticket", "long": "1d", "short": "2h", "budget": 10},
            ]
        },
    ),
    # 100 requests a minute: 6,000 in the 1h window, 36,000 in 6h. A total outage must not page
    # through the 1h tier; the 6h tier pages, at 6h x 0.6% / 100%.
    Reference(
        "low-traffic",
        "ratio",
        "99.9",
        "30d",
        30 * D,
        WORKBOOK,
        alerting={"min_events": 10000},
        per_minute=100,
        min_events=10000,
        ratio=Fraction(1),
    ),
]
IDS = [r.name for r in REFERENCES]


def spec_of(ref: Reference):
    return at.SloSpec(ref.name, ref.kind, ref.objective, ref.period, ref.alerting, job=ref.name)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A fresh compile of the reference SLOs: the rule file's path and its alert rules."""
    work = tmp_path_factory.mktemp("oracle")
    (work / "slo").mkdir()
    (work / "slo" / "oracle.yaml").write_text(
        at.spec_text(SERVICE, [spec_of(r) for r in REFERENCES])
    )
    result = compile_tree(work / "slo")
    (text,) = [t for p, t in result.artifacts.items() if p.startswith("prometheus/rules/")]
    path = work / "oracle.rules.yml"
    path.write_text(text)
    alerts = [r for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]
    return path, alerts


# --- what the rules say, against the formula ---------------------------------------------------
# A slow tier (windows.slow_tier) reads a ratio of the SLI group as it was one base window ago:
# last_over_time(slo:sli_error:ratio_rate6h{...}[59s999ms] offset 5m) > 0.01
COMPARISON = re.compile(
    r"slo:sli_error:ratio_rate(\w+)\{([^}]*)\}(?:\[\w+\](?: offset \w+)?\))?"
    r"\s*>(?!=)\s*([0-9.eE+-]+)"
)


@pytest.mark.parametrize("ref", REFERENCES, ids=IDS)
def test_each_tier_compares_both_windows_with_the_formulas_threshold(compiled, ref):
    _, alerts = compiled
    mine = [a for a in alerts if a["labels"].get("slo") == ref.name]
    found = {}
    for alert in mine:
        labels = alert["labels"]
        key = (labels["severity"], labels["long_window"], labels["short_window"])
        found[key] = sorted(
            (window, float(number)) for window, _, number in COMPARISON.findall(alert["expr"])
        )
    expected = {
        (sev, at.duration(long), at.duration(short)): sorted(
            [(at.duration(long), float(threshold)), (at.duration(short), float(threshold))]
        )
        for sev, long, short, threshold in ref.tiers()
    }
    # Decimals in the rules; 28d's 0.9333.. x 1% is rounded there.
    assert found.keys() == expected.keys()
    for key, comparisons in expected.items():
        assert [w for w, _ in found[key]] == [w for w, _ in comparisons], key
        assert [x for _, x in found[key]] == pytest.approx([x for _, x in comparisons], rel=1e-9)


def test_the_oracles_formula_gives_the_workbooks_burn_rates_for_30_days():
    """The formula itself, against the Workbook's published burn rates 14.4, 6, 3 and 1."""
    ref = REFERENCES[0]
    assert [t[3] / (1 - Fraction("0.999")) for t in ref.tiers()] == [
        Fraction("14.4"),
        6,
        3,
        1,
    ]


# --- when they fire, under promtool --------------------------------------------------------------
@pytest.fixture(scope="module")
def timeline(compiled, tmp_path_factory):
    """One promtool run: every reference SLO gets its error ratio at the same onset, after 6h of
    clean traffic (the longest page window), until well past its latest expected page."""
    rules, _ = compiled
    last = max(ref.first_page()[0] for ref in REFERENCES)
    errors = int(-(-(last + TODAY_LAG + 5 * M) // INTERVAL) * INTERVAL)
    series = []
    traffic = None
    for ref in REFERENCES:
        traffic = at.Traffic(
            ref.error_ratio(), errors, healthy=6 * H, per_minute=ref.per_minute, scrape=INTERVAL
        )
        series += at.input_series(ref.kind, traffic, job=ref.name)
    assert traffic is not None
    test = rules.parent / "oracle.test.yml"
    grid = at.eval_grid(traffic.onset - 30 * M, traffic.end, INTERVAL)
    test.write_text(
        at.test_file(
            [rules.name], at.groups_of(rules), INTERVAL, INTERVAL, series, "ErrorBudgetBurn", grid
        )
    )
    return traffic.onset, at.run_promtool(test)


def first_page(timeline, ref: Reference) -> tuple[int, dict] | None:
    onset, found = timeline
    for t in sorted(found):
        pages = [a for a in found[t] if a.get("slo") == ref.name and a.get("severity") == "page"]
        if pages:
            return t - onset, pages[0]
    return None


@pytest.mark.binaries
@needs_promtool
@pytest.mark.parametrize("ref", REFERENCES, ids=IDS)
def test_the_first_page_comes_from_the_formulas_tier_never_early(timeline, ref):
    expected, (_, long, short, _) = ref.first_page()
    got = first_page(timeline, ref)
    assert got is not None, f"{ref.name}: no page; the formula says {float(expected) / 60:.2f} min"
    at_s, alert = got
    assert (alert["long_window"], alert["short_window"]) == (
        at.duration(long),
        at.duration(short),
    ), f"{ref.name}: paged first by the wrong tier"
    assert at_s >= expected, f"{ref.name}: paged at {at_s / 60} min, before the formula's"
    assert at_s <= expected + TODAY_LAG, f"{ref.name}: paged at {at_s / 60} min, far too late"


@pytest.mark.binaries
@needs_promtool
def test_every_first_page_within_one_interval_of_the_formula(timeline):
    late = {}
    for ref in REFERENCES:
        expected, _ = ref.first_page()
        got = first_page(timeline, ref)
        if got is None or not expected <= got[0] <= expected + INTERVAL:
            late[ref.name] = (float(expected) / 60, got and got[0] / 60)
    assert not late, f"(formula, paged) in minutes after the onset: {late}"
