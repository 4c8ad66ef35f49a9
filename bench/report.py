"""Turn bench/results/*.json into the tables of bench/README.md and the chart bench/results.png.

    python bench/report.py            # rewrites the part of README.md between the results markers

The tables are plain text derived from the JSON only, so re-running this without new
measurements changes nothing. The chart needs matplotlib (`pip install -e .[bench]`); without
it the tables are still written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from measure import BENCH_DIR

README = BENCH_DIR / "README.md"
CHART = BENCH_DIR / "results.png"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _n(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def machine_table(facts: dict) -> list[str]:
    return [
        "| machine | |",
        "|---|---|",
        f"| CPUs | {facts['cpus']} × {facts['cpu_model']} |",
        f"| memory | {facts['memory_gib']} GiB |",
        f"| OS | {facts['os']} |",
        f"| Python | {facts['python']} |",
        f"| promtool / prometheus | {facts['promtool'].split(' (')[0]} / {facts['prometheus'].split(' (')[0]} |",
        f"| slo commit | `{facts['slo_commit']}` |",
        f"| load average (1/5/15 min) at start → end | {' / '.join(map(str, facts['load_average_at_start']))} → "
        f"{' / '.join(map(str, facts.get('load_average_at_end', [])))} |",
    ]


def compile_tables(data: dict) -> list[str]:
    lines = [
        f"Medians of {data['runs']} runs; wall time (CPU time in brackets). Peak RSS is the compile's.",
        "",
        "| SLOs | spec files | output files (MiB) | `slo compile` | peak RSS | `promtool check rules` | compile / promtool | incremental (1 file changed) | incremental / full |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in data["sizes"]:
        c, p, i = size["compile"], size["promtool_check_rules"], size["incremental"]
        lines.append(
            f"| {size['slos']:,} | {size['spec_files']:,} | {size['output_files']:,} ({size['output_mib']}) "
            f"| {_s(c['wall_s'])} ({_s(c['cpu_s'])}) | {c['peak_rss_mib']:.0f} MiB "
            f"| {_s(p['wall_s'])} ({_s(p['cpu_s'])}) | **{size['ratio_compile_to_promtool']}** (CPU {size['ratio_compile_to_promtool_cpu']}) "
            f"| {_s(i['wall_s'])} ({_s(i['cpu_s'])}) | {size['ratio_incremental_to_full']} |"
        )
    largest = data["sizes"][-1]
    stages = largest["phases"]["stages"]
    lines += [
        "",
        f"Where a full compile of {largest['slos']:,} SLOs spends its time (one in-process run, CPU seconds):",
        "",
        "| " + " | ".join(stages) + " |",
        "|" + "---:|" * len(stages),
        "| " + " | ".join(f"{v['cpu_s']:.1f}" for v in stages.values()) + " |",
    ]
    return lines


def eval_tables(data: dict) -> list[str]:
    p, s = data["params"], data["summary"]
    live, stats = data["live"], data["query_stats"]
    lines = [
        f"{p['slos']} SLOs ({p['services']} services × 3; periods 30d, 28d and 7d), {p['instances_per_service']} instances each: "
        f"{p['raw_series']} raw series, {_n(p['raw_samples'])} samples over {p['days']:g} days at a {p['scrape_interval_s']}s scrape interval. "
        f"Real intervals: {p['global_evaluation_interval_s']}s for every group except our period group (5m). "
        f"Live evaluation: median of {p['runs']} runs × {p['evaluations_per_run']} evaluations per group.",
        "",
        "| rule set | groups | rules | evaluation time per hour (live `evaluationTime`) | samples touched per hour (`stats=all`) | engine time per hour (`stats=all`) | Prometheus CPU per evaluation of all groups |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    titles = {"ours": "slo (this project)", "sloth": "Sloth-style (optimized period)"}
    for name in ("ours", "sloth"):
        lines.append(
            f"| {titles[name]} | {data['rules'][name]['groups']} | {data['rules'][name]['rules']} "
            f"| {_s(live[name]['evaluation_s_per_hour'])} | {_n(stats[name]['samples_per_hour'])} "
            f"| {_s(stats[name]['engine_s_per_hour'])} | {_s(live[name]['prometheus_cpu_s_per_cycle'])} |"
        )
    raw = stats["sloth_raw_period_rules_only"]
    lines.append(f"| Sloth's period rule unoptimized (raw counters over the period; that rule alone) | | {p['slos']} | | {_n(raw['samples_per_hour'])} | {_s(raw['engine_s_per_hour'])} | |")
    lines += [
        "",
        f"**slo / Sloth-style: evaluation time per hour {s['eval_time_per_hour_ours_over_sloth']}, "
        f"samples per hour {s['samples_per_hour_ours_over_sloth']}, engine time per hour {s['engine_time_per_hour_ours_over_sloth']}.**",
        "",
        "Period SLI (error ratio over the SLO period, at the end of the data) against the exact ratio of the synthetic events, in percent; errors in percentage points:",
        "",
        "| SLO | period | exact | slo | error | Sloth-style | error | Sloth unoptimized | error |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["accuracy"]:
        lines.append(
            f"| {row['service']} {row['slo']} | {row['period']} | {row['exact_pct']:.4f} | {row['ours_pct']:.4f} | {row['ours_error_pp']:+.4f} "
            f"| {row['sloth_pct']:.4f} | {row['sloth_error_pp']:+.4f} | {row['sloth_raw_pct']:.4f} | {row['sloth_raw_error_pp']:+.4f} |"
        )
    worst = s["period_sli_max_error_pp"]
    lines += ["", f"Largest error: slo {worst['ours']} pp, Sloth-style {worst['sloth']} pp, Sloth unoptimized {worst['sloth_raw']} pp."]
    top = sorted(stats["ours"]["by_rule"].items(), key=lambda kv: -kv[1]["samples_per_hour"])[:4]
    share = stats["ours"]["samples_per_hour"] or 1
    lines += [
        "",
        "Where our rules spend their samples (share of samples per hour): "
        + ", ".join(f"`{k}` {v['samples_per_hour'] / share:.0%}" for k, v in top)
        + ".",
    ]
    return lines


def tables(compile_data: dict | None, eval_data: dict | None) -> str:
    lines = [BEGIN, "", "_Generated by `bench/report.py` from `bench/results/*.json`; do not edit by hand._", ""]
    if compile_data:
        lines += ["### Compile scaling", ""] + compile_tables(compile_data) + [""]
        lines += machine_table(compile_data["machine"]) + [""]
    if eval_data:
        lines += ["### Rule evaluation cost and period SLI accuracy", ""] + eval_tables(eval_data) + [""]
        lines += machine_table(eval_data["machine"]) + [""]
    lines.append(END)
    return "\n".join(lines)


def chart(compile_data: dict | None, eval_data: dict | None, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install -e .[bench]); chart skipped", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    if compile_data:
        ax = axes[0]
        slos = [s["slos"] for s in compile_data["sizes"]]
        ax.plot(slos, [s["compile"]["wall_s"] for s in compile_data["sizes"]], "o-", label="slo compile (wall)")
        ax.plot(slos, [s["compile"]["cpu_s"] for s in compile_data["sizes"]], "o--", label="slo compile (CPU)")
        ax.plot(slos, [s["promtool_check_rules"]["wall_s"] for s in compile_data["sizes"]], "s-", label="promtool check rules (wall)")
        ax.plot(slos, [s["incremental"]["wall_s"] for s in compile_data["sizes"]], "^:", label="incremental, 1 file (wall)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SLOs")
        ax.set_ylabel("seconds")
        ax.set_title("Compile time")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    if eval_data:
        ax = axes[1]
        live, stats = eval_data["live"], eval_data["query_stats"]
        names = ["slo", "Sloth-style"]
        evals = [live["ours"]["evaluation_s_per_hour"], live["sloth"]["evaluation_s_per_hour"]]
        engine = [stats["ours"]["engine_s_per_hour"], stats["sloth"]["engine_s_per_hour"]]
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], evals, width=0.4, label="rule evaluation time (live)")
        ax.bar([i + 0.2 for i in x], engine, width=0.4, label="query engine time (stats=all)")
        ax.set_xticks(list(x), names)
        ax.set_ylabel("seconds per hour of operation")
        ax.set_title(f"Rule cost, {eval_data['params']['slos']} SLOs")
        ax.legend(fontsize=8)
        ax = axes[2]
        rows = eval_data["accuracy"]
        labels = [f"{r['service'][-2:]} {r['slo'][:8]}" for r in rows]
        width = 0.27
        for offset, key, title in ((-width, "ours", "slo"), (0, "sloth", "Sloth-style"), (width, "sloth_raw", "Sloth unoptimized")):
            ax.bar([i + offset for i in range(len(rows))], [r[f"{key}_error_pp"] for r in rows], width=width, label=title)
        ax.axhline(0.1, color="grey", lw=0.8, ls="--")
        ax.axhline(-0.1, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("period SLI − exact (percentage points)")
        ax.set_title("Period SLI error (dashed: ±0.1 pp)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return True


def load(name: str) -> dict | None:
    path = BENCH_DIR / "results" / name
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    compile_data, eval_data = load("compile.json"), load("eval.json")
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README.name} has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(head + tables(compile_data, eval_data) + tail)
    chart(compile_data, eval_data, CHART)
    print(f"updated {README.name}" + (f" and {CHART.name}" if CHART.exists() else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
