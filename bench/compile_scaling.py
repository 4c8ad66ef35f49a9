"""Benchmark 1: `slo compile` on synthetic trees of 100, 1,000 and 10,000 SLOs.

    python bench/compile_scaling.py                      # sizes 100,1000,10000, 3 runs each
    python bench/compile_scaling.py --sizes 10 --runs 1 --json results.json

Per size and run: a full compile into an empty directory, `promtool check rules` on the rule
files it wrote (the yardstick: the target is compile <= promtool), then one spec edited and
compiled again into the same directory (incremental). Medians of the runs go to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import gen_specs
from measure import BENCH_DIR, PROJECT_DIR, Run, machine_facts, median_of, run_measured

DEFAULT_JSON = BENCH_DIR / "results" / "compile.json"


def settle() -> None:
    """Write back what earlier runs left dirty (old output trees, caches) before timing the next:
    `slo compile` syncs its output, and would otherwise pay for the previous run's writes too."""
    os.sync()


def slo_compile(specs: Path, out: Path, cache: Path) -> Run:
    settle()
    argv = [
        sys.executable,
        "-m",
        "compiler",
        "compile",
        str(specs),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    run = run_measured(argv, cwd=PROJECT_DIR)
    if run.returncode != 0:
        raise SystemExit(f"slo compile failed:\n{run.output[-3000:]}")
    return run


def promtool_check(out: Path) -> Run:
    settle()
    rules = sorted(str(p) for p in (out / "prometheus" / "rules").glob("*.yml"))
    run = run_measured([shutil.which("promtool") or "promtool", "check", "rules", *rules])
    if run.returncode != 0:
        raise SystemExit(f"promtool check rules failed:\n{run.output[-3000:]}")
    return run


def phase_split(specs: Path, out: Path) -> dict:
    run = run_measured(
        [sys.executable, str(BENCH_DIR / "compile_phases.py"), str(specs), str(out)],
        cwd=PROJECT_DIR,
    )
    if run.returncode != 0:
        raise SystemExit(f"compile_phases failed:\n{run.output[-3000:]}")
    return json.loads(run.output.strip().splitlines()[-1])


def bench_size(slos: int, runs: int, work: Path, log) -> dict:
    specs, out = work / f"specs-{slos}", work / f"out-{slos}"
    shutil.rmtree(specs, ignore_errors=True)
    files = gen_specs.generate(slos, specs)
    full, check, incremental = [], [], []
    cache = work / f"cache-{slos}"
    for i in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(
            cache, ignore_errors=True
        )  # a full compile starts cold; the incremental one reuses it
        full.append(slo_compile(specs, out, cache))
        check.append(promtool_check(out))
        gen_specs.change_one(
            specs, i % files
        )  # a different file each run, so each run really changes one
        incremental.append(slo_compile(specs, out, cache))
        log(
            f"{slos:>6} SLOs run {i + 1}/{runs}: compile {full[-1].wall_s:.2f}s (cpu "
            f"{full[-1].cpu_s:.2f}s, "
            f"{full[-1].peak_rss_mib:.0f} MiB), promtool {check[-1].wall_s:.2f}s, incremental "
            f"{incremental[-1].wall_s:.2f}s"
        )
    rule_files = list((out / "prometheus" / "rules").glob("*.yml"))
    result = {
        "slos": slos,
        "spec_files": files,
        "rule_files": len(rule_files),
        "output_files": sum(1 for p in out.rglob("*") if p.is_file())
        - 1,  # minus the .slo-out marker
        "output_mib": round(
            sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20, 1
        ),
        "rules_mib": round(sum(p.stat().st_size for p in rule_files) / 2**20, 1),
        "compile": median_of(full),
        "promtool_check_rules": median_of(check),
        "incremental": median_of(incremental),
    }
    result["ratio_compile_to_promtool"] = round(
        result["compile"]["wall_s"] / result["promtool_check_rules"]["wall_s"], 2
    )
    result["ratio_compile_to_promtool_cpu"] = round(
        result["compile"]["cpu_s"] / result["promtool_check_rules"]["cpu_s"], 2
    )
    result["ratio_incremental_to_full"] = round(
        result["incremental"]["wall_s"] / result["compile"]["wall_s"], 2
    )
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    result["phases"] = phase_split(specs, out)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated SLO counts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write the results"
    )
    parser.add_argument(
        "--work", type=Path, help="scratch directory (default: a temporary one, removed after)"
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    facts = machine_facts()
    work = args.work or Path(tempfile.mkdtemp(prefix="slo-bench-compile-"))
    try:
        sizes = [bench_size(int(n), args.runs, work, log) for n in args.sizes.split(",")]
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    facts["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"machine": facts, "runs": args.runs, "sizes": sizes}, indent=1) + "\n"
    )
    log(f"wrote {args.json.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
