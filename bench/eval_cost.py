"""Benchmark 2: what the generated rules cost a real Prometheus, and how exact their period SLI is.

    python bench/eval_cost.py                     # 5 services (15 SLOs), 10 instances each, 30 days
    python bench/eval_cost.py --services 1 --instances 1 --days 1 --quick    # the smoke test's size
    python bench/eval_cost.py --services 1 --instances 100 --days 7 --group-by instance \
        --json bench/results/eval-groups-100.json    # grouped SLOs: one group per instance

Steps (README "Rule evaluation cost" says what each number means):
  1. specs (gen_specs, SLOs only) -> our rules (slo compile) and a Sloth-style set (sloth_rules);
  2. synthetic counters and histograms (gen_metrics) ->
     `promtool tsdb create-blocks-from openmetrics`;
  3. a Prometheus without rules on that TSDB; through it, the recorded history of both sets
     (recording rules only produce data from the moment Prometheus runs them, so without this
     every long window would be nearly empty): ours by `compiler.backfill` (what `slo backfill`
     does: the raw rules' expressions through query_range, every recorded series computed from
     them, written as blocks), the Sloth-style 5-minute ratios by
     `promtool tsdb create-blocks-from rules`;
     then every rule expression of both sets is run as a query at the end of the data, with
     `stats=all` (samples touched, engine time), and the period SLIs are compared with the exact
     ratio of the synthetic events;
  4. live, from the end of the backfilled data on: each set in its own Prometheus on a copy of
     the TSDB, both at once, both scraping the data's next minutes from the bench as they fall
     due (so every sample is appended in order, as on a server that has run all along): every
     group's `evaluationTime` from /api/v1/rules over a few evaluations. Groups run every
     --measure-interval seconds so that this takes a minute, not the 5 minutes of our period
     group; per-hour costs use the real intervals.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gen_metrics
import gen_specs
import sloth_rules
import yaml
from measure import BENCH_DIR, machine_facts
from prometheus_server import Feed, PrometheusServer

from compiler import backfill, compile_tree
from compiler.core import conventions as names
from compiler.core.durations import format_duration, parse_duration
from compiler.core.windows import base_window, period_group_interval
from compiler.push.transport import Transport
from compiler.targets.prometheus import events, pin

DEFAULT_JSON = BENCH_DIR / "results" / "eval.json"
GLOBAL_INTERVAL = 60  # Prometheus' default evaluation_interval, and the backfill step
SETS = ("ours", "sloth")
# What each live Prometheus appended, rules and scrapes together. The live runs begin after
# the end of the blocks, so every sample is in order, as on a server that has been running
# all along: nothing out of order, out of bounds or too old.
APPENDS = {
    "appended": "prometheus_tsdb_head_samples_appended_total",
    "appended_out_of_order": "prometheus_tsdb_head_out_of_order_samples_appended_total",
    "out_of_bounds": "prometheus_tsdb_out_of_bound_samples_total",
    "too_old": "prometheus_tsdb_too_old_samples_total",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- 1. rule sets ------------------------------------------------------------------------------
def build_rule_sets(services: int, work: Path, by: tuple[str, ...] = ()):
    specs = work / "specs"
    gen_specs.generate(services * 3, specs, thresholds=False, by=by)
    result = compile_tree(specs)
    dirs = {name: work / "rules" / name for name in SETS}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for rel, text in result.artifacts.items():
        if rel.startswith("prometheus/rules/"):
            (dirs["ours"] / Path(rel).name).write_text(text)
    for name, text in sloth_rules.rule_files(result.model).items():
        (dirs["sloth"] / name).write_text(text)
    base_rules = [
        rule
        for service in result.model.services
        for group in sloth_rules.base_groups(service)
        for rule in group["rules"]
    ]
    base = work / "rules" / "sloth-base.yml"
    group = {"name": "sloth-base", "rules": union_rules(base_rules)}
    base.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False, width=1000))
    return result.model, dirs, base


def union_rules(rules: list[dict]) -> list[dict]:
    """One rule per recorded name, OR-ing every SLO's expression with its labels attached.

    `promtool tsdb create-blocks-from rules` writes one block per rule and 2-hour range: 30 days of
    15 per-SLO rules would be 5,400 blocks. The same series from 1 rule are 360.
    """
    by_name: dict[str, list[str]] = defaultdict(list)
    for rule in rules:
        expr = f"({rule['expr'].strip()})"
        for label, value in sorted(rule.get("labels", {}).items()):
            expr = f'label_replace({expr}, "{label}", "{value}", "", "")'
        by_name[rule["record"]].append(expr)
    return [{"record": name, "expr": "\nor\n".join(exprs)} for name, exprs in by_name.items()]


def load_rules(directory: Path) -> list[dict]:
    """Every group of every file, with its real evaluation interval in seconds."""
    groups = []
    for path in sorted(directory.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            interval = group.get("interval")
            seconds = parse_duration(interval) if interval else GLOBAL_INTERVAL
            groups.append(
                {
                    "file": path.name,
                    "name": group["name"],
                    "interval_s": seconds,
                    "rules": group["rules"],
                }
            )
    return groups


# --- 2. data -------------------------------------------------------------------------------------
def load_openmetrics(files: list[Path], tsdb: Path) -> None:
    """Backfill OpenMetrics files into ``tsdb`` (one promtool per file, on every CPU); removes
    them."""
    promtool = shutil.which("promtool") or "promtool"

    def load(path: Path) -> None:
        proc = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(tsdb)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"backfill of {path.name} failed: {proc.stderr[-2000:]}")
        path.unlink()

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(load, files))


def backfill_raw(data: gen_metrics.Synthetic, work: Path, tsdb: Path) -> dict:
    began = time.perf_counter()
    files = data.write_openmetrics(work / "openmetrics")
    generated = time.perf_counter()
    load_openmetrics(files, tsdb)
    return {
        "generate_s": round(generated - began, 1),
        "backfill_s": round(time.perf_counter() - generated, 1),
    }


def backfill_rules(prom: PrometheusServer, rules: Path, start: int, end: int, out: Path) -> float:
    began = time.perf_counter()
    proc = subprocess.run(
        [
            shutil.which("promtool") or "promtool",
            "tsdb",
            "create-blocks-from",
            "rules",
            "-q",
            f"--start={start}",
            f"--end={end}",
            f"--url={prom.url}",
            f"--output-dir={out}",
            f"--eval-interval={GLOBAL_INTERVAL}s",
            str(rules),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"rule backfill of {rules.name} failed: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"
        )
    return time.perf_counter() - began


def backfill_ours(prom: PrometheusServer, model, since: int, until: int, out: Path) -> dict:
    """The history of every series our rules record, as `slo backfill` computes it: the raw
    rules' own expressions through ``prom``'s query_range on each group's evaluation grid
    (phase 0: the rules are not live there), every longer window, ratio and period series
    combined from them as the rules do, written as TSDB blocks into ``out``. ``since`` and
    ``until`` in seconds."""
    began = time.perf_counter()
    api = backfill.QueryApi(Transport(prom.url, timeout=600))
    services = [s for s in model.services if s.slos]
    plans = backfill.plan(services, api, since * 1000, until * 1000, backfill.PROMETHEUS)
    result = backfill.compute(plans, api, since * 1000, backfill.PROMETHEUS)
    computed = time.perf_counter()
    summary = backfill.write(result, backfill.PROMETHEUS, output_dir=out).replace(
        str(out), out.name
    )
    return {
        "compute_s": round(computed - began, 1),
        "write_s": round(time.perf_counter() - computed, 1),
        "written": summary,
        "period_grids": {
            p.service.name: {"phase_ms": p.period.phase, "interval_s": p.period.interval}
            for p in plans
        },
    }


def move_blocks(source: Path, tsdb: Path) -> None:
    for block in source.iterdir():
        if block.is_dir():
            block.rename(tsdb / block.name)
    shutil.rmtree(source, ignore_errors=True)


def settle(prom: PrometheusServer, quiet_for: float, deadline: float) -> float:
    """Wait until Prometheus has compacted the backfilled 2h blocks (they would cost CPU
    mid-measurement)."""
    if quiet_for <= 0:
        return 0.0
    began = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = (
            prom.metric("prometheus_tsdb_blocks_loaded"),
            prom.metric("prometheus_tsdb_compactions_total"),
        )
        if state != last:
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            break
        time.sleep(2)
    return time.monotonic() - began


# --- 3. query stats and accuracy -----------------------------------------------------------
def rule_key(rule: dict) -> str:
    """A name per kind of rule: the events rules share one metric name, so the window tells
    the raw ones (5m), each longer window, and the period's apart; the service's one rule of
    raw seconds (every raw window's) goes by its kind."""
    if "alert" in rule:
        return f"alert {rule['alert']}"
    if rule["record"] != names.EVENTS:
        return rule["record"]
    labels = rule.get("labels", {})
    if names.WINDOW not in labels and names.KIND in labels:
        return f'{names.EVENTS}{{{names.KIND}="{labels[names.KIND]}"}}'
    return f'{names.EVENTS}{{{names.WINDOW}="{labels.get(names.WINDOW, "longer windows")}"}}'


def query_stats(prom: PrometheusServer, groups: list[dict], at: int) -> dict:
    """Every rule expression once, as a query at ``at``: samples touched and engine time."""
    per_evaluation = {"samples": 0, "eval_s": 0.0}
    per_hour = {"samples": 0.0, "eval_s": 0.0}
    by_rule: dict[str, dict[str, float]] = defaultdict(
        lambda: {"samples_per_hour": 0.0, "eval_s_per_hour": 0.0}
    )
    for group in groups:
        per_hour_factor = 3600 / group["interval_s"]
        for rule in group["rules"]:
            stats = prom.query(rule["expr"], at, stats=True)["stats"]
            samples = stats["samples"]["totalQueryableSamples"]
            seconds = stats["timings"]["evalTotalTime"]
            per_evaluation["samples"] += samples
            per_evaluation["eval_s"] += seconds
            per_hour["samples"] += samples * per_hour_factor
            per_hour["eval_s"] += seconds * per_hour_factor
            key = rule_key(rule)
            by_rule[key]["samples_per_hour"] += samples * per_hour_factor
            by_rule[key]["eval_s_per_hour"] += seconds * per_hour_factor
    return {
        "samples_per_evaluation_of_all_groups": per_evaluation["samples"],
        "engine_s_per_evaluation_of_all_groups": round(per_evaluation["eval_s"], 4),
        "samples_per_hour": round(per_hour["samples"]),
        "engine_s_per_hour": round(per_hour["eval_s"], 3),
        "by_rule": {
            k: {
                "samples_per_hour": round(v["samples_per_hour"]),
                "engine_s_per_hour": round(v["eval_s_per_hour"], 3),
            }
            for k, v in sorted(by_rule.items())
        },
    }


def scalar(prom: PrometheusServer, expr: str, at: int) -> float | None:
    result = prom.query(expr, at)["result"]
    return float(result[0]["value"][1]) if result else None


def our_period_rules(groups: list[dict]) -> dict[tuple[str, str], str]:
    """(service, slo) -> the expression of our period SLI rule, exactly as compiled."""
    return {
        (rule["labels"][names.SERVICE], rule["labels"][names.SLO]): rule["expr"]
        for group in groups
        for rule in group["rules"]
        if rule.get("record") == names.PERIOD_ERROR_RATIO
    }


def period_end(service, grid: dict, at: int) -> int:
    """The end of the period our rule reports at ``at``: the period group's last evaluation
    at or before ``at``, less one base window and one interval of that group (README, "How the
    rules are built")."""
    step, phase = grid["interval_s"] * 1000, grid["phase_ms"]
    last = (at * 1000 - phase) // step * step + phase
    interval = service.evaluation_interval
    return last // 1000 - base_window(interval) - period_group_interval(interval)


def accuracy(
    prom: PrometheusServer,
    model,
    data: gen_metrics.Synthetic,
    ours: dict[tuple[str, str], str],
    grids: dict[str, dict],
) -> list[dict]:
    """Each SLO's period SLI at the end of the data against the exact ratio of the events in the
    window each rule reads: Sloth's end at the end of the data, ours 10 minutes earlier."""
    rows = []
    for index, service in enumerate(model.services):
        ours_end = period_end(service, grids[service.name], data.end)
        for slo in service.slos:
            period = slo.period
            bad, total = data.exact_ratio(index, slo.name, period)
            bad_ours, total_ours = data.exact_ratio(index, slo.name, period, at=ours_end)
            p = format_duration(period)
            ours_expr = ours[(slo.service, slo.name)]
            if slo.by:  # one period SLI per group: their events together are the whole's
                group = pin(period_group_interval(service.evaluation_interval))
                kinds = (names.ERRORS, names.TOTAL)
                reads = [events(slo.service, names.PERIOD_WINDOW, slo.name, k) for k in kinds]
                ours_expr = " / ".join(f"sum(last_over_time({r}[{group}]))" for r in reads)
            values = {
                "exact": bad / total if total else None,
                "exact_ours": bad_ours / total_ours if total_ours else None,
                "ours": scalar(prom, ours_expr, data.end),
                "sloth": scalar(prom, sloth_rules.period_ratio(slo), data.end),
                "sloth_raw": scalar(prom, sloth_rules.raw_ratio(slo, p), data.end),
            }
            row = {
                "service": slo.service,
                "slo": slo.name,
                "period": p,
                "objective_pct": float(slo.objective_percent),
                "ours_window_end_before_data_end_s": data.end - ours_end,
            }
            for k, v in values.items():
                row[f"{k}_pct"] = None if v is None else round(v * 100, 5)
            for k, exact in (("ours", "exact_ours"), ("sloth", "exact"), ("sloth_raw", "exact")):
                if values[k] is not None and values[exact] is not None:
                    row[f"{k}_error_pp"] = round((values[k] - values[exact]) * 100, 5)
            rows.append(row)
    return rows


# --- 4. live evaluation ----------------------------------------------------------------------
def link_copy(source: Path, target: Path) -> None:
    """Blocks are immutable, so hard links give each run its own TSDB without copying gigabytes."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        source,
        target,
        copy_function=os.link,
        ignore=shutil.ignore_patterns("wal", "chunks_head", "lock", "queries.active"),
    )


def live_rules(groups: list[dict], interval: int, directory: Path) -> list[Path]:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    by_file: dict[str, list[dict]] = defaultdict(list)
    for g in groups:
        by_file[g["file"]].append(
            {"name": g["name"], "interval": f"{interval}s", "rules": g["rules"]}
        )
    paths = []
    for name, file_groups in sorted(by_file.items()):
        path = directory / name
        path.write_text(yaml.safe_dump({"groups": file_groups}, sort_keys=False, width=1000))
        paths.append(path)
    return paths


def measure_live(
    name: str,
    groups: list[dict],
    template: Path,
    work: Path,
    interval: int,
    evaluations: int,
    runs: int = 1,
    feed: str | None = None,
) -> list[dict]:
    """``groups`` in their own Prometheus on a copy of ``template``, scraping ``feed`` for the
    raw data's next minutes: ``runs`` measurements, one after the other, each over
    ``evaluations`` evaluations of every group."""
    tsdb = work / f"live-{name}"
    link_copy(template, tsdb)
    files = live_rules(groups, interval, work / f"live-rules-{name}")
    with PrometheusServer(tsdb, files, scrape_target=feed) as prom:
        return [measure_run(name, prom, groups, interval, evaluations) for _ in range(runs)]


def run_limit_s(interval: int, evaluations: int) -> int:
    """How long one live run may take: its evaluations, three intervals' slack for the groups'
    phases, and two minutes for a slow start."""
    return interval * (evaluations + 3) + 120


def measure_run(
    name: str, prom: PrometheusServer, groups: list[dict], interval: int, evaluations: int
) -> dict:
    real_interval = {g["name"]: g["interval_s"] for g in groups}
    samples: dict[str, dict[str, float]] = defaultdict(
        dict
    )  # group -> lastEvaluation -> evaluationTime
    rule_samples: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    began, cpu0 = time.monotonic(), prom.cpu_seconds()
    appended0 = {k: prom.metric(metric) for k, metric in APPENDS.items()}
    # An evaluation under way when the run begins counts for the run before (or none).
    seen = {g["name"]: g["lastEvaluation"] for g in prom.rule_groups()}
    deadline = began + run_limit_s(interval, evaluations)
    while time.monotonic() < deadline:
        for g in prom.rule_groups():
            stamp = g["lastEvaluation"]
            if stamp.startswith("0001") or stamp == seen.get(g["name"]):
                continue
            if stamp in samples[g["name"]] or len(samples[g["name"]]) >= evaluations:
                continue
            samples[g["name"]][stamp] = g["evaluationTime"]
            for i, rule in enumerate(g["rules"]):
                rule_samples[(g["name"], i, rule["name"])].append(rule["evaluationTime"])
        if len(samples) == len(groups) and all(len(v) >= evaluations for v in samples.values()):
            break
        time.sleep(min(1.0, interval / 4))
    elapsed, cpu = time.monotonic() - began, prom.cpu_seconds() - cpu0
    appends = {k: int(prom.metric(metric) - appended0[k]) for k, metric in APPENDS.items()}
    missing = [g["name"] for g in groups if len(samples.get(g["name"], {})) < evaluations]
    if missing:
        raise RuntimeError(
            f"{name}: {len(missing)} group(s) did not evaluate {evaluations} times, e.g. "
            f"{missing[:3]}"
        )
    median = {g: statistics.median(v.values()) for g, v in samples.items()}
    by_rule: dict[str, float] = defaultdict(float)
    rules_of = {g["name"]: g["rules"] for g in groups}
    for (group, index, rule_name), times in rule_samples.items():
        rules = rules_of[group]
        key = rule_key(rules[index]) if index < len(rules) else rule_name
        by_rule[key] += statistics.median(times) * 3600 / real_interval[group]
    return {
        "groups": len(groups),
        "evaluation_s_all_groups_once": round(sum(median.values()), 4),
        "evaluation_s_per_hour": round(
            sum(t * 3600 / real_interval[g] for g, t in median.items()), 3
        ),
        "prometheus_cpu_s_per_cycle": round(cpu / max(1.0, elapsed / interval), 3),
        "samples_appended": appends,
        "by_rule_s_per_hour": {k: round(v, 3) for k, v in sorted(by_rule.items())},
        "by_group_s_per_hour": {
            g: round(t * 3600 / real_interval[g], 4) for g, t in sorted(median.items())
        },
    }


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5, help="services, 3 SLOs each")
    parser.add_argument(
        "--instances",
        type=int,
        default=10,
        help="instances per service (raw series per SLO scale with it)",
    )
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--runs", type=int, default=3, help="live measurement runs per rule set")
    parser.add_argument(
        "--measure-interval",
        type=int,
        default=15,
        help="group interval (s) during live measurement",
    )
    parser.add_argument(
        "--evaluations", type=int, default=4, help="evaluations per group per live run"
    )
    parser.add_argument(
        "--lead",
        type=int,
        default=15,
        help="minutes from the start of the run to the end of the backfilled data, where the "
        "live runs begin: longer than the preparation takes",
    )
    parser.add_argument(
        "--quick", action="store_true", help="skip waiting for compaction (tiny data sets)"
    )
    parser.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="LABEL",
        help="group every SLO by this label of the data (instance: one group per instance); "
        "the Sloth-style set stays ungrouped",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument(
        "--work", type=Path, help="scratch directory (default: a temporary one, removed after)"
    )
    args = parser.parse_args(argv)

    facts = machine_facts()
    work = args.work or Path(tempfile.mkdtemp(prefix="slo-bench-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = run(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    facts["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {"machine": facts, **results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {args.json.name}")
    return 0


def run(args, work: Path) -> dict:
    model, rule_dirs, base = build_rule_sets(args.services, work, tuple(args.group_by))
    groups = {name: load_rules(rule_dirs[name]) for name in SETS}
    # The backfilled data ends --lead minutes from now, when the live runs begin, and the live
    # servers scrape its next minutes as they fall due: the rules append in order, as on a
    # server that has run all along, and their windows find every piece recorded before.
    end = int(time.time()) // 60 * 60 + args.lead * 60
    # The feed outlasts the longest the live runs may take, plus the wait past the data's end.
    live_s = args.runs * run_limit_s(args.measure_interval, args.evaluations) + 300
    data = gen_metrics.Synthetic(
        args.services, args.instances, end=end, days=args.days, feed_minutes=live_s // 60 + 1
    )
    log(
        f"{data.series_count()} raw series, {data.sample_count():,} samples; "
        f"{data.burst_minutes()} burst minutes"
    )
    tsdb = work / "tsdb"
    tsdb.mkdir(parents=True, exist_ok=True)
    prep = backfill_raw(data, work, tsdb)
    log(f"generated in {prep['generate_s']}s, backfilled in {prep['backfill_s']}s")
    quiet = 0 if args.quick else 75  # Prometheus looks for compactions once a minute
    settle_deadline = 1800
    with PrometheusServer(tsdb) as prom:
        prep["settle_raw_s"] = round(settle(prom, quiet, time.monotonic() + settle_deadline), 1)
        # The recorded series start 5 minutes into the data, so that each 5m increase has a full
        # window.
        start = data.start + 5 * 60
        prep["backfill_rules_sloth_s"] = round(
            backfill_rules(prom, base, start, data.end, work / "blocks-sloth"), 1
        )
        log(f"backfilled the 5m ratios of sloth in {prep['backfill_rules_sloth_s']}s")
        ours = backfill_ours(prom, model, start, data.end, work / "blocks-ours")
        prep["backfill_ours"] = ours
        log(
            f"backfilled our recorded series in {ours['compute_s']}s + {ours['write_s']}s: "
            f"{ours['written']}"
        )
    for name in SETS:
        move_blocks(work / f"blocks-{name}", tsdb)
    with PrometheusServer(tsdb) as prom:
        prep["settle_rules_s"] = round(settle(prom, quiet, time.monotonic() + settle_deadline), 1)
        prep["blocks"] = int(prom.metric("prometheus_tsdb_blocks_loaded"))
        log(f"TSDB settled: {prep['blocks']} blocks")
        stats = {name: query_stats(prom, groups[name], data.end) for name in SETS}
        # Sloth with its optimization turned off (disableOptimized): the period from the raw
        # counters.
        raw_period = [
            {
                "interval_s": GLOBAL_INTERVAL,
                "rules": [
                    {
                        "record": "slo:sli_error:ratio_rate<period> (raw)",
                        "expr": sloth_rules.raw_ratio(slo, format_duration(slo.period)),
                    }
                ],
            }
            for service in model.services
            for slo in service.slos
        ]
        stats["sloth_raw_period_rules_only"] = query_stats(prom, raw_period, data.end)
        rows = accuracy(
            prom,
            model,
            data,
            our_period_rules(groups["ours"]),
            prep["backfill_ours"]["period_grids"],
        )
        log("query stats and period SLIs done")
    live, timing = measure_both(args, groups, data, tsdb, work)
    summary = summarize(live, stats, rows)
    return {
        "params": {
            "services": args.services,
            "slos": sum(len(s.slos) for s in model.services),
            "instances_per_service": args.instances,
            "group_by": args.group_by,
            "groups_per_slo": args.instances if "instance" in args.group_by else 1,
            "days": args.days,
            "scrape_interval_s": gen_metrics.SCRAPE_INTERVAL,
            "raw_series": data.series_count(),
            "raw_samples": data.sample_count(),
            "global_evaluation_interval_s": GLOBAL_INTERVAL,
            "measure_interval_s": args.measure_interval,
            "evaluations_per_run": args.evaluations,
            "runs": args.runs,
            "lead_min": args.lead,
            **timing,
            "feed_minutes": data.feed_minutes,
        },
        "prep": prep,
        "summary": summary,
        "rules": {
            name: {"groups": len(groups[name]), "rules": sum(len(g["rules"]) for g in groups[name])}
            for name in SETS
        },
        "query_stats": stats,
        "live": {name: {**median_live(runs), "runs": runs} for name, runs in live.items()},
        "accuracy": rows,
    }


def measure_both(
    args, groups: dict[str, list[dict]], data: gen_metrics.Synthetic, tsdb: Path, work: Path
) -> tuple[dict[str, list[dict]], dict]:
    """Both sets live at once, each in its own Prometheus started at the end of the data, both
    scraping the same feed: they see the same minutes (one after the other, the second would
    find a stretch of raw data and pieces missing). Returns the runs of each set, and when
    they began and ended (seconds from the end of the data) and how often the feed was
    scraped."""
    wait = data.end + 1 - time.time()
    if wait > 0:
        log(f"waiting {wait:.0f}s for the end of the backfilled data")
        time.sleep(wait)
    else:
        log(f"the preparation ended {-wait:.0f}s after the data: raise --lead")
    began = time.time()
    with Feed(data.latest_feed) as feed, ThreadPoolExecutor(max_workers=len(SETS)) as pool:
        futures = {
            name: pool.submit(
                measure_live,
                name,
                groups[name],
                tsdb,
                work,
                args.measure_interval,
                args.evaluations,
                args.runs,
                feed.address,
            )
            for name in SETS
        }
        live = {name: future.result() for name, future in futures.items()}
    ended = time.time()
    if ended > data.end + data.feed_minutes * 60:
        log("the live runs outlasted the feed: its last minute was served again")
    for name in SETS:
        log(f"live {name}: " + ", ".join(f"{r['evaluation_s_per_hour']}s" for r in live[name]))
    return live, {
        "live_runs_from_data_end_s": [round(began - data.end), round(ended - data.end)],
        "feed_scrapes": feed.scrapes,
    }


def median_live(runs: list[dict]) -> dict:
    keys = ("evaluation_s_all_groups_once", "evaluation_s_per_hour", "prometheus_cpu_s_per_cycle")
    return {k: round(statistics.median(r[k] for r in runs), 4) for k in keys}


def summarize(live: dict, stats: dict, rows: list[dict]) -> dict:
    ours, sloth = median_live(live["ours"]), median_live(live["sloth"])

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    def worst(key: str) -> float | None:
        errors = [abs(r[key]) for r in rows if r.get(key) is not None]
        return round(max(errors), 4) if errors else None

    return {
        "eval_time_per_hour_ours_over_sloth": ratio(
            ours["evaluation_s_per_hour"], sloth["evaluation_s_per_hour"]
        ),
        "samples_per_hour_ours_over_sloth": ratio(
            stats["ours"]["samples_per_hour"], stats["sloth"]["samples_per_hour"]
        ),
        "engine_time_per_hour_ours_over_sloth": ratio(
            stats["ours"]["engine_s_per_hour"], stats["sloth"]["engine_s_per_hour"]
        ),
        "period_sli_max_error_pp": {
            k: worst(f"{k}_error_pp") for k in ("ours", "sloth", "sloth_raw")
        },
    }


if __name__ == "__main__":
    sys.exit(main())
