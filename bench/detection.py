"""Detection bench: how soon after errors start do slo's rules page, and how soon do they clear?

    python bench/detection.py                      # 2 SLOs x 5 error ratios x 3 intervals (~5 min)
    python bench/detection.py --ratios 1 --intervals 60 --json one.json   # one scenario

For a 99.9%/30d ratio SLO and a 99%/28d latency SLO (one service, one spec, compiled by the
same code as `slo compile` into a temporary directory), at each error ratio and evaluation
interval: 6 hours of clean traffic at 1,000 requests a minute scraped every 15 s, then a share r
of the requests failing (latency: slower than the SLO's threshold), then clean traffic again.
promtool runs slo's rule file and a Sloth-style rule set for the same SLOs (sloth_rules.py; with
`group_eval_order`, so that promtool's random group order cannot make it late) on the same input
and reports every evaluation at which an alert fires (alert_timing.py).

Compared with the SRE Workbook formula, computed here (alert_timing.py), not taken from the
compiler: a tier pages once elapsed > long window x threshold / r (the short window holds only
errors by then). Criteria, checked and reported:
  - every page within one evaluation interval of the formula;
  - never after the Sloth-style rules;
  - no page where the formula says none (r below the lowest page threshold: 0.5% for 99.9%);
  - after errors stop, cleared within the short window (of the page tiers that fired) plus one
    interval.
Errors last until the formula's page plus a margin (max(15 min, 10 %)), or, when an SLO never
pages at that ratio, until its longest page window has held nothing but errors for 15 minutes.

A grouped SLO rides along (the ratio SLO with ``by: [region]``, three regions with the same
traffic each as the ungrouped one, one of them failing): its failing region must page exactly
when the ungrouped SLO does, with its ``region`` label, and the healthy regions never alert.
The Sloth-style rules have no groups, so they are not run for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import alert_timing as at
import sloth_rules
from measure import BENCH_DIR, machine_facts

from compiler import compile_tree

DEFAULT_JSON = BENCH_DIR / "results" / "detection.json"
SERVICE = "detection"
# (spec, period in seconds): the objective is a percent in the spec, a ratio in the formula.
SLOS = (
    (at.SloSpec("availability", "ratio", "99.9", "30d"), 30 * at.DAY),
    (at.SloSpec("latency", "latency", "99", "28d"), 28 * at.DAY),
)
# The grouped SLO: the ratio SLO per region; REGIONS[0] fails, the others stay healthy.
GROUPED = at.SloSpec(
    "availability-by-region", "ratio", "99.9", "30d", job="regional", by=("region",)
)
UNGROUPED = "availability"  # the SLO with the same objective and traffic per group
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
RATIOS = ("1", "0.1", "0.02", "0.007", "0.005")
INTERVALS = (15, 30, 60)
SCRAPE = 15
PER_MINUTE = 1000
MARGIN = 15 * at.MINUTE  # errors go on this long (at least) after the formula's page
BEFORE_ONSET = 30 * at.MINUTE  # evaluations watched before the onset: no page may fire there


def formula_tiers(spec: at.SloSpec, period: int) -> tuple[at.Tier, ...]:
    """The Workbook's tiers for this SLO. 28d keeps the 30d windows (README, spec reference)."""
    return at.tiers(period, Fraction(spec.objective) / 100)


def round_up(seconds: Fraction | int, step: int) -> int:
    return int(-(-Fraction(seconds) // step) * step)


def scenario(ratio: Fraction, interval: int) -> at.Traffic:
    """How long errors last and what follows, for every SLO of the bench at once."""
    longest, last = 0, Fraction(0)
    short = 0
    for spec, period in SLOS:
        tiers = formula_tiers(spec, period)
        page = at.time_to_page(tiers, ratio)
        pages = [t for t in tiers if t.severity == "page"]
        short = max([short] + [t.short for t in pages])
        if page is None:  # long enough for the longest page window to hold only errors
            longest = max([longest] + [t.long for t in pages])
        else:
            last = max(last, page + max(MARGIN, page / 10))
    # Errors stop on a whole minute, so that clear times count whole evaluations at every interval.
    errors = round_up(max(last, longest + MARGIN), at.MINUTE)
    after = round_up(short + 5 * at.MINUTE + 2 * interval + 5 * at.MINUTE, SCRAPE)
    return at.Traffic(ratio, errors, after=after, per_minute=PER_MINUTE, scrape=SCRAPE)


def build(work: Path) -> dict[str, Path]:
    """The spec, slo's rule file and the Sloth-style rule file under ``work``."""
    specs = work / "specs"
    specs.mkdir(parents=True)
    (specs / f"{SERVICE}.yaml").write_text(at.spec_text(SERVICE, [s for s, _ in SLOS] + [GROUPED]))
    result = compile_tree(specs)
    rules = {}
    for rel, text in result.artifacts.items():
        if rel.startswith("prometheus/rules/"):
            rules["slo"] = work / "slo.rules.yml"
            rules["slo"].write_text(text)
    # Sloth has no groups: its rule set covers the ungrouped SLOs
    ungrouped = [
        dataclasses.replace(service, slos=tuple(slo for slo in service.slos if not slo.by))
        for service in result.model.services
    ]
    model = dataclasses.replace(result.model, services=tuple(ungrouped))
    ((_, text),) = sloth_rules.rule_files(model).items()
    rules["sloth"] = work / "sloth.rules.yml"
    rules["sloth"].write_text(text)
    return rules


def page_match(rule_set: str, slo: str) -> at.Match:
    if rule_set == "slo":
        return at.matching(severity="page", slo=slo)
    return at.matching(sloth_severity="page", sloth_slo=slo)


def run_case(work: Path, rules: dict[str, Path], ratio: Fraction, interval: int) -> dict:
    traffic = scenario(ratio, interval)
    series = [s for spec, _ in SLOS for s in at.input_series(spec.kind, traffic)]
    healthy = dataclasses.replace(traffic, ratio=Fraction(0))
    for region in REGIONS:
        series += at.input_series(
            GROUPED.kind,
            traffic if region == REGIONS[0] else healthy,
            GROUPED.job,
            {"region": region},
        )
    grid = at.eval_grid(max(0, traffic.onset - BEFORE_ONSET), traffic.end, interval)
    timelines = {}
    for rule_set, path in rules.items():
        test = work / f"{rule_set}-{float(ratio)!r}-{interval}s.test.yml"
        test.write_text(
            at.test_file(
                [path.name],
                at.groups_of(path),
                interval,
                traffic.scrape,
                series,
                "ErrorBudgetBurn",
                grid,
            )
        )
        timelines[rule_set] = at.run_promtool(test)
    rows = []
    for spec, period in SLOS:
        tiers = formula_tiers(spec, period)
        formula = at.time_to_page(tiers, ratio)
        firing = at.paging_tiers(tiers, ratio, traffic.errors)
        bound = max((t.short for t in firing), default=0) + interval
        row: dict = {
            "slo": spec.name,
            "kind": spec.kind,
            "objective_percent": spec.objective,
            "period": spec.period,
            "error_ratio": float(ratio),
            "interval_s": interval,
            "errors_for_min": traffic.errors / 60,
            "formula_min": None if formula is None else float(formula / 60),
            "clear_bound_min": bound / 60 if firing else None,
        }
        for rule_set, timeline in timelines.items():
            match = page_match(rule_set, spec.name)
            early = at.first_firing(timeline, match, 0)
            page = at.first_firing(timeline, match, traffic.onset)
            clear = at.cleared(timeline, match, traffic.stop, grid) if page is not None else None
            row[f"{rule_set}_page_min"] = None if page is None else (page - traffic.onset) / 60
            row[f"{rule_set}_page_before_onset"] = early is not None and early < traffic.onset
            row[f"{rule_set}_clear_min"] = None if clear is None else (clear - traffic.stop) / 60
            row[f"{rule_set}_cleared"] = page is None or clear is not None
        row["checks"] = checks(row)
        rows.append(row)
    rows.append(grouped_row(rows, timelines["slo"], traffic, grid))
    return {"ratio": float(ratio), "interval_s": interval, "rows": rows}


def grouped_row(
    rows: list[dict], timeline: at.Timeline, traffic: at.Traffic, grid: list[int]
) -> dict:
    """The grouped SLO's row: its failing region against the ungrouped SLO of the same
    traffic, and whether any other region alerted at all."""
    (twin,) = [r for r in rows if r["slo"] == UNGROUPED]
    failing = at.matching(severity="page", slo=GROUPED.name, region=REGIONS[0])
    page = at.first_firing(timeline, failing, traffic.onset)
    early = at.first_firing(timeline, failing, 0)
    clear = at.cleared(timeline, failing, traffic.stop, grid) if page is not None else None
    others = {
        region: at.first_firing(timeline, at.matching(slo=GROUPED.name, region=region), 0)
        for region in REGIONS[1:]
    }
    unlabelled = at.first_firing(
        timeline, lambda alert: alert.get("slo") == GROUPED.name and "region" not in alert, 0
    )
    row = {
        **{k: twin[k] for k in ("error_ratio", "interval_s", "errors_for_min", "formula_min")},
        **{k: twin[k] for k in ("clear_bound_min", "objective_percent", "period")},
        "slo": GROUPED.name,
        "kind": f"{GROUPED.kind} by region",
        "grouped": True,
        "ungrouped_page_min": twin["slo_page_min"],
        "slo_page_min": None if page is None else (page - traffic.onset) / 60,
        "slo_page_before_onset": early is not None and early < traffic.onset,
        "slo_clear_min": None if clear is None else (clear - traffic.stop) / 60,
        "slo_cleared": page is None or clear is not None,
        "other_groups_alerted": sorted(r for r, t in others.items() if t is not None),
        "alert_without_region": unlabelled is not None,
        "sloth_page_min": None,
        "sloth_clear_min": None,
    }
    row["checks"] = grouped_checks(row)
    return row


def grouped_checks(row: dict) -> dict[str, bool]:
    """The grouped SLO's criteria (issue 18): its failing group pages as soon as the ungrouped
    SLO with the same traffic, with its label; the other groups never alert."""
    slo, twin = row["slo_page_min"], row["ungrouped_page_min"]
    return {
        "as_fast_as_ungrouped": slo == twin,
        "other_groups_silent": not row["other_groups_alerted"] and not row["alert_without_region"],
        "no_page_before_onset": not row["slo_page_before_onset"],
        "clears_in_time": slo is None
        or (row["slo_clear_min"] is not None and row["slo_clear_min"] <= row["clear_bound_min"]),
    }


def checks(row: dict) -> dict[str, bool]:
    """The criteria of issue 17 for one row (True: met)."""
    formula, slo, sloth = row["formula_min"], row["slo_page_min"], row["sloth_page_min"]
    interval = row["interval_s"] / 60
    found = {
        "within_one_interval": (
            slo is None if formula is None else slo is not None and abs(slo - formula) <= interval
        ),
        "not_after_sloth": slo is None or (sloth is not None and slo <= sloth) or formula is None,
        "no_page_below_threshold": formula is not None or slo is None,
        "no_page_before_onset": not row["slo_page_before_onset"],
        "clears_in_time": slo is None
        or (row["slo_clear_min"] is not None and row["slo_clear_min"] <= row["clear_bound_min"]),
    }
    if slo is None and sloth is not None:
        found["not_after_sloth"] = False
    return found


def minutes(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}"


def interval_text(seconds: int) -> str:
    return at.duration(seconds)


def table(rows: list[dict]) -> str:
    head = (
        "| SLO | error ratio | interval | formula | slo | Sloth-style | slo − formula "
        "| clear: slo | clear: Sloth-style | clear bound | criteria |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for r in rows:
        delta = (
            f"{r['slo_page_min'] - r['formula_min']:+.2f}"
            if r["slo_page_min"] is not None and r["formula_min"] is not None
            else "–"
        )
        failed = [name for name, ok in r["checks"].items() if not ok]
        slo_name = f"{r['objective_percent']}%/{r['period']} {r['kind']}"
        lines.append(
            f"| {slo_name} | {r['error_ratio'] * 100:g}% | {interval_text(r['interval_s'])} "
            f"| {minutes(r['formula_min'])} | {minutes(r['slo_page_min'])} "
            f"| {sloth_text(r, 'sloth_page_min')} | {delta} "
            f"| {clear_text(r, 'slo')} | {clear_text(r, 'sloth')} "
            f"| {minutes(r['clear_bound_min']) if r['clear_bound_min'] is not None else '–'} "
            f"| {'ok' if not failed else 'FAILED: ' + ', '.join(failed)} |"
        )
    return head + "\n".join(lines) + "\n"


def compact_table(rows: list[dict]) -> str:
    """The issue's layout: per SLO and error ratio, the formula, then slo's and the Sloth-style
    first page at each interval (minutes after the onset), then slo's clear times."""
    intervals = sorted({r["interval_s"] for r in rows})
    names = "/".join(interval_text(i) for i in intervals)
    head = (
        f"| SLO | error ratio | formula | slo ({names}) | Sloth-style ({names}) "
        f"| slo clears after errors stop ({names}) |\n|---|---:|---:|---:|---:|---:|\n"
    )
    cases: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        key = (f"{r['objective_percent']}%/{r['period']} {r['kind']}", r["error_ratio"])
        cases.setdefault(key, {})[r["interval_s"]] = r
    lines = []
    for (slo_name, ratio), by_interval in cases.items():
        ordered = [by_interval[i] for i in intervals if i in by_interval]

        def cells(column: str, ordered: list[dict] = ordered) -> str:
            return " / ".join(sloth_text(r, column) for r in ordered)

        clears = " / ".join(clear_text(r, "slo") for r in ordered)
        lines.append(
            f"| {slo_name} | {ratio * 100:g}% | {minutes(ordered[0]['formula_min'])} "
            f"| {cells('slo_page_min')} | {cells('sloth_page_min')} | {clears} |"
        )
    return head + "\n".join(lines) + "\n"


def sloth_text(row: dict, column: str) -> str:
    """Minutes; "n/a" for the Sloth-style rules of a grouped SLO (they have no groups)."""
    if row.get("grouped") and column.startswith("sloth"):
        return "n/a"
    return minutes(row[column])


def clear_text(row: dict, rule_set: str) -> str:
    if row[f"{rule_set}_page_min"] is None:
        return "–"
    value = row[f"{rule_set}_clear_min"]
    return "not cleared" if value is None else f"{value:.2f}"


def summary(rows: list[dict]) -> dict[str, bool]:
    names = list(dict.fromkeys(name for r in rows for name in r["checks"]))
    return {name: all(r["checks"].get(name, True) for r in rows) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratios", nargs="+", default=list(RATIOS), help="error ratios (0..1)")
    parser.add_argument("--intervals", nargs="+", type=int, default=list(INTERVALS), help="seconds")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--work", type=Path, help="keep the rule and test files here")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--check", action="store_true", help="exit 1 when a criterion is not met")
    args = parser.parse_args(argv)
    if not shutil.which("promtool"):
        print("promtool not found on PATH", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="slo-detection-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        rules = build(work)
        cases = [(Fraction(r), i) for r in args.ratios for i in args.intervals]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda c: run_case(work, rules, *c), cases))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    order = {spec.name: i for i, spec in enumerate([s for s, _ in SLOS] + [GROUPED])}
    rows = sorted(
        (row for res in results for row in res["rows"]),
        key=lambda r: (order[r["slo"]], -r["error_ratio"], r["interval_s"]),
    )
    criteria = summary(rows)
    print(compact_table(rows))
    print(table(rows))
    for name, ok in criteria.items():
        print(f"{'ok' if ok else 'FAILED'}: {name.replace('_', ' ')}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "scenario": {
                    "healthy_h": 6,
                    "requests_per_minute": PER_MINUTE,
                    "scrape_s": SCRAPE,
                    "slos": [
                        {
                            "name": s.name,
                            "kind": s.kind,
                            "objective": s.objective,
                            "period": s.period,
                        }
                        for s in [s for s, _ in SLOS] + [GROUPED]
                    ],
                    "grouped": {"slo": GROUPED.name, "by": "region", "regions": list(REGIONS)},
                },
                "rows": rows,
                "criteria": criteria,
                "machine": machine_facts(),
            },
            indent=2,
        )
        + "\n"
    )
    return 1 if args.check and not all(criteria.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
