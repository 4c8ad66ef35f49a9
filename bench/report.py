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


def _pp(value: float, sign: bool = True) -> str:
    """Percentage points; errors below what the JSON resolves (1e-5) are shown as such, not as 0."""
    if abs(value) < 1e-5:
        return "< 0.00001"
    return f"{value:+.5f}" if sign else f"{value:.5f}"


def machine_table(facts: dict) -> list[str]:
    return [
        "| machine | |",
        "|---|---|",
        f"| CPUs | {facts['cpus']} × {facts['cpu_model']} |",
        f"| memory | {facts['memory_gib']} GiB |",
        f"| OS | {facts['os']} |",
        f"| Python | {facts['python']} |",
        f"| promtool / prometheus | {facts['promtool'].split(' (')[0]} / "
        f"{facts['prometheus'].split(' (')[0]} |",
        f"| slo commit | `{facts['slo_commit']}` |",
        "| load average (1/5/15 min) at start → end | "
        f"{' / '.join(map(str, facts['load_average_at_start']))} → "
        f"{' / '.join(map(str, facts.get('load_average_at_end', [])))} |",
    ]


def compile_tables(data: dict) -> list[str]:
    lines = [
        f"Medians of {data['runs']} runs; wall time (CPU time in brackets). Peak RSS is the "
        "compile's.",
        "",
        "| SLOs | spec files | output files (MiB) | `slo compile` | peak RSS | `promtool check "
        "rules` | compile / promtool | incremental (1 file changed) | incremental / full |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in data["sizes"]:
        c, p, i = size["compile"], size["promtool_check_rules"], size["incremental"]
        lines.append(
            f"| {size['slos']:,} | {size['spec_files']:,} | {size['output_files']:,} "
            f"({size['output_mib']}) "
            f"| {_s(c['wall_s'])} ({_s(c['cpu_s'])}) | {c['peak_rss_mib']:.0f} MiB "
            f"| {_s(p['wall_s'])} ({_s(p['cpu_s'])}) | **{size['ratio_compile_to_promtool']}** "
            f"(CPU {size['ratio_compile_to_promtool_cpu']}) "
            f"| {_s(i['wall_s'])} ({_s(i['cpu_s'])}) | {size['ratio_incremental_to_full']} |"
        )
    largest = data["sizes"][-1]
    stages = largest["phases"]["stages"]
    lines += [
        "",
        f"Where a full compile of {largest['slos']:,} SLOs spends its time (one in-process run, "
        "CPU seconds):",
        "",
        "| " + " | ".join(stages) + " |",
        "|" + "---:|" * len(stages),
        "| " + " | ".join(f"{v['cpu_s']:.1f}" for v in stages.values()) + " |",
    ]
    return lines


def fixes_table(before: dict, after: dict) -> list[str]:
    """The largest size before and after the performance fixes of this branch."""
    b, a = before["sizes"][-1], after["sizes"][-1]
    rows = [
        ("`slo compile`, wall", _s(b["compile"]["wall_s"]), _s(a["compile"]["wall_s"])),
        ("`slo compile`, CPU", _s(b["compile"]["cpu_s"]), _s(a["compile"]["cpu_s"])),
        (
            "peak RSS",
            f"{b['compile']['peak_rss_mib']:.0f} MiB",
            f"{a['compile']['peak_rss_mib']:.0f} MiB",
        ),
        (
            "compile / `promtool check rules` (wall)",
            str(b["ratio_compile_to_promtool"]),
            str(a["ratio_compile_to_promtool"]),
        ),
        (
            "compile / `promtool check rules` (CPU)",
            str(b["ratio_compile_to_promtool_cpu"]),
            str(a["ratio_compile_to_promtool_cpu"]),
        ),
        ("incremental, wall", _s(b["incremental"]["wall_s"]), _s(a["incremental"]["wall_s"])),
    ]
    stages_before, stages_after = b["phases"]["stages"], a["phases"]["stages"]
    for stage in list(stages_before) + [
        s for s in stages_after if s not in stages_before
    ]:  # stages were renamed over time
        cells = [
            _s(st[stage]["cpu_s"]) if stage in st else "–" for st in (stages_before, stages_after)
        ]
        rows.append((f"stage `{stage}`, CPU", *cells))
    lines = [
        f"{a['slos']:,} SLOs before the performance fixes of this branch (slo "
        f"`{before['machine']['slo_commit']}`) and after "
        f"(`{after['machine']['slo_commit']}`), medians of {after['runs']} runs each:",
        "",
        "| | before | after |",
        "|---|---:|---:|",
    ]
    return lines + [f"| {name} | {x} | {y} |" for name, x, y in rows]


def same_shape(data: dict, main: dict) -> bool:
    """Whether an extra eval run has the main run's services, days and no grouping: only those
    compare by raw series (the grouped runs have their own section in the README)."""
    p, q = data["params"], main["params"]
    return not p.get("group_by") and p["services"] == q["services"] and p["days"] == q["days"]


def cardinality_table(results: list[dict]) -> list[str]:
    """Our rules read recorded series beyond the base window; Sloth's read every raw series, so
    the gap grows with them. Each row says which rules it measured (its slo commit)."""
    lines = [
        "| instances per service | raw series behind each SLO | samples per hour: slo / "
        "Sloth-style | engine time per hour: slo / Sloth-style | evaluation time per hour: slo / "
        "Sloth-style | live appends | slo commit |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for data in sorted(results, key=lambda d: d["params"]["instances_per_service"]):
        p, st, live, s = data["params"], data["query_stats"], data["live"], data["summary"]
        lines.append(
            f"| {p['instances_per_service']} | {2 * p['instances_per_service']} "
            f"| {_n(st['ours']['samples_per_hour'])} / {_n(st['sloth']['samples_per_hour'])} = "
            f"**{s['samples_per_hour_ours_over_sloth']}** "
            f"| {_s(st['ours']['engine_s_per_hour'])} / {_s(st['sloth']['engine_s_per_hour'])} = "
            f"**{s['engine_time_per_hour_ours_over_sloth']}** "
            f"| {_s(live['ours']['evaluation_s_per_hour'])} / "
            f"{_s(live['sloth']['evaluation_s_per_hour'])} = "
            f"**{s['eval_time_per_hour_ours_over_sloth']}** "
            f"| {live_appends(data)} | `{data['machine'].get('slo_commit', '?')}` |"
        )
    return lines


def live_appends(data: dict) -> str:
    """How the run's live servers took what the rules recorded: runs from before the feed
    measured after the end of blocks that reached past them, out of order (bench/README.md)."""
    return "in order" if "live_runs_from_data_end_s" in data["params"] else "out of order"


def eval_tables(data: dict) -> list[str]:
    p, s = data["params"], data["summary"]
    live, stats = data["live"], data["query_stats"]
    lines = [
        f"{p['slos']} SLOs ({p['services']} services × 3; periods 30d, 28d and 7d), "
        f"{p['instances_per_service']} instances each: "
        f"{p['raw_series']} raw series, {_n(p['raw_samples'])} samples over {p['days']:g} days at "
        f"a {p['scrape_interval_s']}s scrape interval. "
        f"Real intervals: {p['global_evaluation_interval_s']}s for every group except our period "
        "group (5m). "
        f"Live evaluation: median of {p['runs']} runs × {p['evaluations_per_run']} evaluations per "
        f"group; what the rules recorded was appended {live_appends(data)}.",
        "",
        "| rule set | groups | rules | evaluation time per hour (live `evaluationTime`) | samples "
        "touched per hour (`stats=all`) | engine time per hour (`stats=all`) | Prometheus process "
        "CPU per measurement cycle (every group once) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    titles = {"ours": "slo (this project)", "sloth": "Sloth-style (optimized period)"}
    for name in ("ours", "sloth"):
        lines.append(
            f"| {titles[name]} | {data['rules'][name]['groups']} | {data['rules'][name]['rules']} "
            f"| {_s(live[name]['evaluation_s_per_hour'])} | {_n(stats[name]['samples_per_hour'])} "
            f"| {_s(stats[name]['engine_s_per_hour'])} | "
            f"{_s(live[name]['prometheus_cpu_s_per_cycle'])} |"
        )
    raw = stats["sloth_raw_period_rules_only"]
    lines.append(
        "| Sloth's period rule unoptimized (raw counters over the period; that rule alone) | | "
        f"{p['slos']} | | {_n(raw['samples_per_hour'])} | {_s(raw['engine_s_per_hour'])} | |"
    )
    lines += [
        "",
        f"**slo / Sloth-style: evaluation time per hour {s['eval_time_per_hour_ours_over_sloth']}, "
        f"samples per hour {s['samples_per_hour_ours_over_sloth']}, engine time per hour "
        f"{s['engine_time_per_hour_ours_over_sloth']}.**",
        "",
        "Period SLI (error ratio over the SLO period, read at the end of the data) against the "
        "exact ratio of the synthetic events in the window each rule reads (ours ends 10 minutes "
        "earlier: one base window and one interval of the period group), in percent; errors in "
        "percentage points:",
        "",
        "| SLO | period | exact, 10 min before the end | slo | error | exact at the end "
        "| Sloth-style | error | Sloth unoptimized | error |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["accuracy"]:
        exact_ours = row.get("exact_ours_pct", row["exact_pct"])
        lines.append(
            f"| {row['service']} {row['slo']} | {row['period']} | {exact_ours:.4f} | "
            f"{row['ours_pct']:.4f} | {_pp(row['ours_error_pp'])} | {row['exact_pct']:.4f} "
            f"| {row['sloth_pct']:.4f} | {_pp(row['sloth_error_pp'])} | {row['sloth_raw_pct']:.4f} "
            f"| {_pp(row['sloth_raw_error_pp'])} |"
        )
    worst = s["period_sli_max_error_pp"]
    lines += [
        "",
        f"Largest error: **slo {_pp(worst['ours'], sign=False)} pp**, Sloth-style "
        f"{_pp(worst['sloth'], sign=False)} pp, "
        f"Sloth unoptimized {_pp(worst['sloth_raw'], sign=False)} pp.",
    ]
    top = sorted(stats["ours"]["by_rule"].items(), key=lambda kv: -kv[1]["samples_per_hour"])[:4]
    share = stats["ours"]["samples_per_hour"] or 1
    lines += [
        "",
        "Where our rules spend their samples (share of samples per hour): "
        + ", ".join(f"`{k}` {v['samples_per_hour'] / share:.0%}" for k, v in top)
        + ".",
    ]
    runs = live["ours"].get("runs", [])
    if runs and "by_rule_s_per_hour" in runs[0]:
        by_rule: dict[str, list[float]] = {}
        for run in runs:
            for k, v in run["by_rule_s_per_hour"].items():
                by_rule.setdefault(k, []).append(v)
        median = {k: sorted(v)[len(v) // 2] for k, v in by_rule.items()}
        total = sum(median.values()) or 1
        top = sorted(median.items(), key=lambda kv: -kv[1])[:5]
        lines += [
            "",
            "Where their live evaluation time goes (per-rule `evaluationTime`, median of the runs, "
            "per hour): " + ", ".join(f"`{k}` {_s(v)} ({v / total:.0%})" for k, v in top) + ".",
        ]
    return lines


PUSH_SHAPES = (
    ("all", "Prometheus + Grafana + Mimir"),
    ("prometheus", "Prometheus alone"),
    ("grafana", "Grafana alone"),
    ("mimir", "Mimir alone"),
)


def _push_shape(data: dict, key: str) -> dict | None:
    return data["all"] if key == "all" else data.get("split", {}).get(key)


def _push_objects(p: dict, key: str) -> str:
    dashboards, groups = f"{p['dashboards']:,} dashboards", f"{p['rule_groups']:,} rule groups"
    return {
        "all": f"{dashboards}; {groups} to each ruler",
        "prometheus": f"{groups} in {p['rule_files']:,} files",
        "grafana": f"{dashboards} in {p['folders']:,} folders" if "folders" in p else dashboards,
        "mimir": f"{groups} in {p['rule_files']:,} namespaces",
    }[key]


def _push_requests(push: dict) -> str:
    """What the servers were asked in the first run (the same in every run)."""
    seen = push["runs"][0]["servers"]
    parts = [
        f"{name.capitalize()} {seen[name]['requests']:,}"
        for name in ("grafana", "mimir")
        if name in seen
    ]
    if "prometheus" in seen:
        reloads = seen["prometheus"]["reloads"]
        parts.append(f"{reloads} Prometheus reload{'s' if reloads != 1 else ''}")
    return ", ".join(parts)


def _push_writes(push: dict) -> str:
    """Writes in the worst run: write requests at the fakes, files touched and reloads at
    Prometheus."""
    runs = [r["servers"] for r in push["runs"]]
    parts = [
        f"{name.capitalize()} {max(s[name]['writes'] for s in runs)}"
        for name in ("grafana", "mimir")
        if name in runs[0]
    ]
    if "prometheus" in runs[0]:
        files = max(s["prometheus"]["files_touched"] for s in runs)
        reloads = max(s["prometheus"]["reloads"] for s in runs)
        parts.append(f"Prometheus {files} files, {reloads} reloads")
    total = sum(push["max_writes"].values())
    return f"**{total}** ({', '.join(parts)})"


def push_tables(data: dict, before: dict | None = None) -> list[str]:
    p, everything = data["params"], data["all"]
    lines = [
        f"{p['services']:,} services ({p['objectives']:,} objectives, `gen_specs.py`): "
        f"{p['dashboards']:,} dashboards "
        f"({p['dashboards_mib']} MiB) for Grafana and {p['rule_groups']:,} rule groups "
        f"({p['rules']:,} rules, {p['rule_files']:,} files, "
        f"{p['rules_mib']} MiB) for each of Prometheus and Mimir. Prometheus "
        f"{data['machine']['prometheus'].split(' (')[0].split('version ')[-1]} "
        "is the real server; Grafana and Mimir are the in-process fakes of `tests/fakes`. Medians "
        f"of {data['runs']} runs, "
        f"fresh servers each; wall time of `slo push` (its CPU time in brackets).",
        "",
        "| targets | objects | first push | re-push, nothing changed | writes on re-push (worst "
        "run) | requests, first push / re-push | server CPU, first push: fakes / Prometheus | peak "
        "RSS |",
        "|---|---|---:|---:|---|---|---:|---:|",
    ]
    for key, title in PUSH_SHAPES:
        shape = _push_shape(data, key)
        if shape is None:
            continue
        first, again = shape["first"], shape["repush"]
        prom_cpu = _s(first["prometheus_cpu_s"]) if "prometheus_cpu_s" in first else "–"
        lines.append(
            f"| {title} | {_push_objects(p, key)} | {_s(first['wall_s'])} ({_s(first['cpu_s'])}) | "
            f"{_s(again['wall_s'])} ({_s(again['cpu_s'])}) "
            f"| {_push_writes(again)} | {_push_requests(first)} / {_push_requests(again)} | "
            f"{_s(first['fakes_cpu_s'])} / {prom_cpu} "
            f"| {first['peak_rss_mib']:.0f} MiB |"
        )
    s = data["summary"]
    verdict = "met" if s["within_target"] else "missed"
    lines += [
        "",
        f"**First push of everything: {_s(s['first_push_wall_s'])} against the target of "
        f"{s['target_s']} s ({verdict}). "
        f"Unchanged re-push: {_s(s['repush_wall_s'])}, and it wrote "
        + (
            "nothing in any run** (no write request, no rule file touched, no reload)."
            if s["repush_wrote_nothing"]
            else "something** (see the writes column)."
        ),
    ]
    if before and before["params"]["rule_groups"] != data["params"]["rule_groups"]:
        before = None  # measured on a tree of another size: not comparable
    if before:
        b, a = before["all"], everything
        rows = [
            ("first push, wall", _s(b["first"]["wall_s"]), _s(a["first"]["wall_s"])),
            ("first push, CPU of `slo push`", _s(b["first"]["cpu_s"]), _s(a["first"]["cpu_s"])),
            ("re-push, wall", _s(b["repush"]["wall_s"]), _s(a["repush"]["wall_s"])),
            ("re-push, CPU of `slo push`", _s(b["repush"]["cpu_s"]), _s(a["repush"]["cpu_s"])),
            (
                "peak RSS",
                f"{b['first']['peak_rss_mib']:.0f} MiB",
                f"{a['first']['peak_rss_mib']:.0f} MiB",
            ),
        ]
        lines += [
            "",
            "All three targets before the push fixes of this branch (slo "
            f"`{before['machine']['slo_commit']}`) and after "
            f"(`{data['machine']['slo_commit']}`), the same fakes, medians of {before['runs']} and "
            f"{data['runs']} runs:",
            "",
            "| | before | after |",
            "|---|---:|---:|",
        ] + [f"| {name} | {x} | {y} |" for name, x, y in rows]
    return lines


def tables(
    compile_data: dict | None,
    eval_data: dict | None,
    before: dict | None = None,
    more_evals: list[dict] = (),
    push_data: dict | None = None,
    push_before: dict | None = None,
) -> str:
    lines = [
        BEGIN,
        "",
        "_Generated by `bench/report.py` from `bench/results/*.json`; do not edit by hand._",
        "",
    ]
    if compile_data:
        lines += ["### Compile scaling", ""] + compile_tables(compile_data) + [""]
        if before:
            lines += fixes_table(before, compile_data) + [""]
        lines += machine_table(compile_data["machine"]) + [""]
    if eval_data:
        lines += (
            ["### Rule evaluation cost and period SLI accuracy", ""] + eval_tables(eval_data) + [""]
        )
        if more_evals:
            lines += [
                "Cost against the number of raw series each SLO reads (same SLOs, same traffic "
                "shape):",
                "",
            ]
            same = [d for d in more_evals if same_shape(d, eval_data)]
            lines += cardinality_table([eval_data, *same]) + [""]
        lines += machine_table(eval_data["machine"]) + [""]
    if push_data:
        lines += ["### Push throughput", ""] + push_tables(push_data, push_before) + [""]
        lines += machine_table(push_data["machine"]) + [""]
    lines.append(END)
    return "\n".join(lines)


def chart(
    compile_data: dict | None,
    eval_data: dict | None,
    path: Path,
    more_evals: list[dict] = (),
    push_data: dict | None = None,
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install -e .[bench]); chart skipped", file=sys.stderr)
        return False
    fig, grid = plt.subplots(2, 2, figsize=(14, 9.6))
    axes = grid.flatten()
    if compile_data:
        ax = axes[0]
        slos = [s["slos"] for s in compile_data["sizes"]]
        ax.plot(
            slos,
            [s["compile"]["wall_s"] for s in compile_data["sizes"]],
            "o-",
            label="slo compile (wall)",
        )
        ax.plot(
            slos,
            [s["compile"]["cpu_s"] for s in compile_data["sizes"]],
            "o--",
            label="slo compile (CPU)",
        )
        ax.plot(
            slos,
            [s["promtool_check_rules"]["wall_s"] for s in compile_data["sizes"]],
            "s-",
            label="promtool check rules (wall)",
        )
        ax.plot(
            slos,
            [s["incremental"]["wall_s"] for s in compile_data["sizes"]],
            "^:",
            label="incremental, 1 file (wall)",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SLOs")
        ax.set_ylabel("seconds")
        ax.set_title("Compile time")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    if eval_data:
        ax = axes[1]
        configs = sorted(
            [eval_data, *more_evals], key=lambda d: d["params"]["instances_per_service"]
        )
        labels = [
            f"{2 * d['params']['instances_per_service']} raw series/SLO\n"
            f"(slo {d['machine'].get('slo_commit', '?')})"
            for d in configs
        ]
        x = range(len(configs))
        ax.bar(
            [i - 0.2 for i in x],
            [d["live"]["ours"]["evaluation_s_per_hour"] for d in configs],
            width=0.4,
            label="slo",
        )
        ax.bar(
            [i + 0.2 for i in x],
            [d["live"]["sloth"]["evaluation_s_per_hour"] for d in configs],
            width=0.4,
            label="Sloth-style",
        )
        for i, d in enumerate(configs):
            ax.annotate(
                f"×{d['summary']['eval_time_per_hour_ours_over_sloth']:.2f}",
                (i - 0.2, d["live"]["ours"]["evaluation_s_per_hour"]),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(list(x), labels)
        ax.set_ylabel("rule evaluation seconds per hour (live)")
        ax.set_title(f"Rule cost, {eval_data['params']['slos']} SLOs, 30 days of data")
        ax.legend(fontsize=8)
        ax = axes[2]
        rows = eval_data["accuracy"]
        labels = [f"{r['service'][-2:]} {r['slo'][:8]}" for r in rows]
        width = 0.27
        for offset, key, title in (
            (-width, "ours", "slo"),
            (0, "sloth", "Sloth-style"),
            (width, "sloth_raw", "Sloth unoptimized"),
        ):
            ax.bar(
                [i + offset for i in range(len(rows))],
                [r[f"{key}_error_pp"] for r in rows],
                width=width,
                label=title,
            )
        ax.axhline(0.1, color="grey", lw=0.8, ls="--")
        ax.axhline(-0.1, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("period SLI − exact (percentage points)")
        worst = eval_data["summary"]["period_sli_max_error_pp"]
        ax.set_title(
            f"Period SLI error (dashed: ±0.1 pp); largest: slo {worst['ours']}, unoptimized "
            f"{worst['sloth_raw']}",
            fontsize=9,
        )
        ax.legend(fontsize=8)
    if push_data:
        ax = axes[3]
        shapes = [(key, title) for key, title in PUSH_SHAPES if _push_shape(push_data, key)]
        x = range(len(shapes))
        first = [_push_shape(push_data, key)["first"]["wall_s"] for key, _ in shapes]
        again = [_push_shape(push_data, key)["repush"]["wall_s"] for key, _ in shapes]
        ax.bar([i - 0.2 for i in x], first, width=0.4, label="first push (everything new)")
        ax.bar([i + 0.2 for i in x], again, width=0.4, label="re-push, nothing changed")
        for i, key in enumerate(k for k, _ in shapes):
            writes = sum(_push_shape(push_data, key)["repush"]["max_writes"].values())
            ax.annotate(
                f"{writes} writes", (i + 0.2, again[i]), ha="center", va="bottom", fontsize=8
            )
        target = push_data["summary"]["target_s"]
        ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.annotate(
            f"target {target} s",
            (len(shapes) - 0.5, target),
            ha="right",
            va="bottom",
            fontsize=8,
            color="grey",
        )
        ax.set_xticks(list(x), [title.replace(" + ", "\n+ ") for _, title in shapes], fontsize=8)
        ax.set_ylabel("seconds (wall, median)")
        p = push_data["params"]
        ax.set_title(
            f"slo push: {p['dashboards']:,} dashboards, {p['rule_groups']:,} groups per ruler "
            "(loopback)",
            fontsize=10,
        )
        ax.legend(fontsize=8)
    else:
        axes[3].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return True


def load(name: str) -> dict | None:
    path = BENCH_DIR / "results" / name
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    compile_data, eval_data, before = (
        load("compile.json"),
        load("eval.json"),
        load("compile-before-fixes.json"),
    )
    push_data, push_before = load("push.json"), load("push-before-fixes.json")
    more_evals = [
        json.loads(p.read_text()) for p in sorted((BENCH_DIR / "results").glob("eval-*.json"))
    ]
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README.name} has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(
        head + tables(compile_data, eval_data, before, more_evals, push_data, push_before) + tail
    )
    drawn = chart(compile_data, eval_data, CHART, more_evals, push_data)
    print(f"updated {README.name}" + (f" and {CHART.name}" if drawn else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
