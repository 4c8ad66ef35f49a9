"""Benchmark 3: `slo push` of 1,000 dashboards and thousands of rule groups, then an unchanged
re-push.

    python bench/push_throughput.py                              # 1,000 services, 3 runs
    python bench/push_throughput.py --services 5 --runs 1 --json results.json

1,000 services (gen_specs.generate_split: every other service has 3 SLOs, so 3 rule groups, the
others 2 thresholds, so 1 group) compile to 1,001 dashboards (one per service and the overview)
and 2,000 rule groups in 1,000 rule files, the size the issue names. Per run, on fresh
servers on 127.0.0.1:
  - the in-process fake Grafana and fake Mimir of tests/fakes (the documented HTTP contracts), in
    this process, and a real Prometheus (the Debian binary) whose rule_files glob reads a temporary
    rules directory and whose lifecycle API is on, as `slo push` needs;
  - `slo push` of everything (all objects new), then the same `slo push` again with nothing changed.
    The second one must write nothing: no POST/PUT/DELETE at the fakes, no rule file touched (same
    inode, mtime and bytes, the ownership record included) and no Prometheus reload;
  - then each target alone (`slo push --only NAME`, first and again) on fresh servers of its own.
Wall and CPU time are the `slo push` process's; the fakes' CPU (this process) and Prometheus' CPU
are recorded beside, as are the requests each fake received. Medians of the runs go to --json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gen_specs
import yaml
from compile_scaling import slo_compile
from measure import BENCH_DIR, PROJECT_DIR, Run, machine_facts, run_measured
from prometheus_server import PrometheusServer

sys.path.insert(0, str(PROJECT_DIR / "tests"))
from fakes.grafana import FakeGrafana
from fakes.mimir import FakeMimir

from compiler.core import conventions

DEFAULT_JSON = BENCH_DIR / "results" / "push.json"
TARGETS = ("prometheus", "grafana", "mimir")
TARGET_SECONDS = 30  # issue 7: 1,000 dashboards + 2,000 groups within this, against loopback
TENANT = "bench"
PUSH_TIMEOUT = 900  # seconds; a bound for one `slo push`, far above anything expected
RELOADED = (
    "Completed loading of configuration file"  # Prometheus logs this (level info) on every (re)load
)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the servers -------------------------------------------------------------------------------
@dataclass
class Servers:
    grafana: FakeGrafana | None = None
    mimir: FakeMimir | None = None
    prometheus: PrometheusServer | None = None
    rules_dir: Path | None = None

    def env(self) -> dict[str, str]:
        """The environment `slo push` reads its targets from (SLO_* variables, as README
        "Pushing")."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLO_")}
        if self.prometheus:
            env.update(
                SLO_PROMETHEUS_URL=self.prometheus.url, SLO_PROMETHEUS_RULES_DIR=str(self.rules_dir)
            )
        if self.grafana:
            env.update(SLO_GRAFANA_URL=self.grafana.url, SLO_GRAFANA_TOKEN=self.grafana.token)
        if self.mimir:
            env.update(SLO_MIMIR_URL=self.mimir.url, SLO_MIMIR_TENANT=TENANT)
        return env

    def reloads(self) -> int:
        """Configuration loads Prometheus has logged so far (its start included)."""
        try:
            return self.prometheus.log_path.read_text(errors="replace").count(RELOADED)
        except OSError:
            return 0

    def rules_snapshot(self) -> dict[str, tuple]:
        """Every file in the rules directory (ownership record included): inode, mtime, size,
        digest."""
        found = {}
        for path in sorted(self.rules_dir.iterdir()):
            st = path.stat()
            found[path.name] = (
                st.st_ino,
                st.st_mtime_ns,
                st.st_size,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
        return found

    def mark(self) -> dict:
        """Where each server is now, so that what one push did can be told apart afterwards."""
        mark = {"self_cpu_s": _self_cpu()}
        if self.grafana:
            mark["grafana"] = len(self.grafana.log)
        if self.mimir:
            mark["mimir"] = len(self.mimir.log)
        if self.prometheus:
            mark.update(
                prometheus_cpu_s=self.prometheus.cpu_seconds(),
                reloads=self.reloads(),
                rules=self.rules_snapshot(),
            )
        return mark

    def since(self, mark: dict) -> dict:
        """What the servers saw since ``mark``: requests by method, writes, reloads, files
        touched, CPU."""
        seen: dict = {"fakes_cpu_s": round(_self_cpu() - mark["self_cpu_s"], 3)}
        for name in ("grafana", "mimir"):
            fake = getattr(self, name)
            if fake is None:
                continue
            requests = fake.log[mark[name] :]
            seen[name] = {
                "requests": len(requests),
                "by_method": dict(sorted(Counter(r.method for r in requests).items())),
                "writes": sum(r.method in WRITE_METHODS for r in requests),
            }
        if self.prometheus:
            before, after = mark["rules"], self.rules_snapshot()
            touched = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
            seen["prometheus"] = {
                "reloads": self.reloads() - mark["reloads"],
                "files_touched": len(touched),
                "files_touched_examples": touched[:5],
                "writes": len(touched) + self.reloads() - mark["reloads"],
                "cpu_s": round(self.prometheus.cpu_seconds() - mark["prometheus_cpu_s"], 3),
            }
        return seen

    def live_counts(self) -> dict[str, int]:
        """What each server holds now: dashboards, rule groups (slo's own records left out)."""
        counts = {}
        if self.grafana:
            counts["grafana_dashboards"] = len(
                set(self.grafana.dashboards) - {conventions.GRAFANA_RECORD_UID}
            )
        if self.mimir:
            counts["mimir_groups"] = sum(
                len(groups)
                for namespace, groups in self.mimir.rules.get(TENANT, {}).items()
                if namespace != conventions.MIMIR_RECORD_NAMESPACE
            )
        if self.prometheus:
            counts["prometheus_groups"] = len(self.prometheus.rule_groups())
        return counts


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process: the fakes
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def servers(names: tuple[str, ...], work: Path) -> Iterator[Servers]:
    """Fresh servers for ``names``; every one is stopped on the way out, whatever happened."""
    with contextlib.ExitStack() as stack:
        found = Servers()
        if "grafana" in names:
            found.grafana = stack.enter_context(FakeGrafana())
        if "mimir" in names:
            found.mimir = stack.enter_context(FakeMimir())
        if "prometheus" in names:
            home = Path(tempfile.mkdtemp(prefix="prometheus-", dir=work))
            stack.callback(shutil.rmtree, home, ignore_errors=True)
            found.rules_dir = home / "rules"
            found.rules_dir.mkdir()
            found.prometheus = stack.enter_context(
                PrometheusServer(
                    home / "data", rule_files=[found.rules_dir / "*.yml"], log_level="info"
                )
            )
        yield found


# --- pushing -----------------------------------------------------------------------------------
# Linux hands a child the peak RSS of the process it was forked from (exec records the forked copy's
# high-water mark), and this process holds the fakes and everything they were sent: every push
# would "peak" at this process's size. So the push is forked from a small launcher, which reports
# its children's usage: the push and what it waited for (promtool).
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
try:
    code = subprocess.call(sys.argv[2:], timeout=float(sys.argv[1]))
except subprocess.TimeoutExpired:
    code = 124
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
record = [wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code]
print("\\n@rusage " + json.dumps(record), flush=True)
sys.exit(code)
"""


def run_launched(argv: list[str], env: dict[str, str]) -> Run:
    launcher = run_measured(
        [sys.executable, "-c", LAUNCHER, str(PUSH_TIMEOUT), *argv],
        cwd=PROJECT_DIR,
        env=env,
        timeout=PUSH_TIMEOUT + 60,
    )
    output, _, numbers = launcher.output.rpartition("\n@rusage ")
    if not numbers:
        raise SystemExit(
            f"the launcher did not report ({launcher.returncode}):\n{launcher.output[-3000:]}"
        )
    wall, cpu, rss, code = json.loads(numbers)
    return Run(wall_s=wall, cpu_s=cpu, peak_rss_mib=rss, returncode=code, output=output)


def slo_push(
    specs: Path, out: Path, env: dict[str, str], only: tuple[str, ...]
) -> tuple[Run, dict]:
    """One `slo push` as a user runs it; its measurements and its JSON report."""
    argv = [
        sys.executable,
        "-m",
        "compiler",
        "push",
        str(specs),
        "--out",
        str(out),
        "--format",
        "json",
        "--only",
        ",".join(only),
    ]
    run = run_launched(argv, env)
    start = run.output.find('{\n  "title"')
    if run.returncode != 0 or start < 0:
        raise SystemExit(
            f"slo push --only {','.join(only)} failed ({run.returncode}):\n{run.output[-3000:]}"
        )
    report, _ = json.JSONDecoder().raw_decode(run.output[start:])
    return run, report


def measured_push(specs: Path, out: Path, live: Servers, only: tuple[str, ...]) -> dict:
    mark = live.mark()
    run, report = slo_push(specs, out, live.env(), only)
    return {
        **run.numbers(),
        "targets": {
            t["target"]: {"status": t["status"], **t["counts"]}
            for t in report["targets"]
            if t["target"] in only
        },
        "servers": live.since(mark),
    }


def push_twice(
    specs: Path, out: Path, names: tuple[str, ...], work: Path, expected: dict[str, int]
) -> dict:
    """On fresh servers for ``names``: the first push (everything new), then the same push again."""
    with servers(names, work) as live:
        first = measured_push(specs, out, live, names)
        landed = live.live_counts()
        wrong = {k: v for k, v in landed.items() if v != expected[k]}
        if wrong:
            raise SystemExit(f"after the first push the servers hold {wrong}, expected {expected}")
        again = measured_push(specs, out, live, names)
    return {"first": first, "repush": again, "live_after_first": landed}


# --- the tree ----------------------------------------------------------------------------------
def compiled_tree(services: int, work: Path) -> tuple[Path, Path, dict]:
    specs, out = work / "specs", work / "out"
    tree = gen_specs.generate_split(services, specs)
    compiled = slo_compile(specs, out, work / "cache")
    dashboards = sorted((out / "grafana" / "dashboards").glob("*.json"))
    rule_files = sorted((out / "prometheus" / "rules").glob("*.yml"))
    groups = [g for f in rule_files for g in yaml.safe_load(f.read_text())["groups"]]
    params = {
        "services": services,
        "spec_files": tree["spec_files"],
        "objectives": tree["slos"] + tree["thresholds"],
        "dashboards": len(dashboards),
        "dashboards_mib": round(sum(p.stat().st_size for p in dashboards) / 2**20, 1),
        "rule_files": len(rule_files),
        "rule_groups": len(groups),
        "rules": sum(len(g["rules"]) for g in groups),
        "rules_mib": round(sum(p.stat().st_size for p in rule_files) / 2**20, 1),
        "compile_wall_s": round(compiled.wall_s, 3),
    }
    return specs, out, params


# --- summary -----------------------------------------------------------------------------------
def medians(pushes: list[dict]) -> dict:
    """Median wall, CPU and RSS over runs, the largest write count on any run, every run's
    record."""
    keys = ("wall_s", "cpu_s", "peak_rss_mib")
    writes = {
        name: max(p["servers"][name]["writes"] for p in pushes)
        for name in TARGETS
        if name in pushes[0]["servers"]
    }
    return {
        **{k: round(statistics.median(p[k] for p in pushes), 3) for k in keys},
        "fakes_cpu_s": round(statistics.median(p["servers"]["fakes_cpu_s"] for p in pushes), 3),
        **(
            {
                "prometheus_cpu_s": round(
                    statistics.median(p["servers"]["prometheus"]["cpu_s"] for p in pushes), 3
                )
            }
            if "prometheus" in pushes[0]["servers"]
            else {}
        ),
        "max_writes": writes,
        "runs": pushes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--services",
        type=int,
        default=1000,
        help="services in the spec tree (dashboards = services + 1, rule groups = 2 x services)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-split", action="store_true", help="skip pushing each target alone")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write the results"
    )
    parser.add_argument(
        "--work", type=Path, help="scratch directory (default: a temporary one, removed after)"
    )
    args = parser.parse_args(argv)

    facts = machine_facts()
    work = args.work or Path(tempfile.mkdtemp(prefix="slo-bench-push-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        specs, out, params = compiled_tree(args.services, work)
        log(
            f"{params['services']} services: {params['dashboards']} dashboards, "
            f"{params['rule_groups']} rule groups "
            f"({params['rules']} rules) in {params['rule_files']} files; compiled in "
            f"{params['compile_wall_s']:.1f}s"
        )
        expected = {
            "grafana_dashboards": params["dashboards"],
            "mimir_groups": params["rule_groups"],
            "prometheus_groups": params["rule_groups"],
        }
        shapes = [TARGETS] + ([] if args.no_split else [(name,) for name in TARGETS])
        results: dict[tuple, list[dict]] = {shape: [] for shape in shapes}
        for i in range(args.runs):
            for shape in shapes:
                result = push_twice(specs, out, shape, work, expected)
                results[shape].append(result)
                f, r = result["first"], result["repush"]
                writes = {name: r["servers"][name]["writes"] for name in shape}
                log(
                    f"run {i + 1}/{args.runs} {'+'.join(shape)}: first push {f['wall_s']:.1f}s "
                    f"(cpu {f['cpu_s']:.1f}s), "
                    f"re-push {r['wall_s']:.1f}s (cpu {r['cpu_s']:.1f}s), writes on re-push "
                    f"{writes}"
                )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    def summary(shape: tuple) -> dict:
        runs = results[shape]
        return {
            "first": medians([r["first"] for r in runs]),
            "repush": medians([r["repush"] for r in runs]),
            "live_after_first": runs[0]["live_after_first"],
        }

    data = {
        "machine": {**facts, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "runs": args.runs,
        "params": params,
        "servers": {
            "prometheus": facts["prometheus"].split(" (")[0]
            + ", real, rules directory + POST /-/reload",
            "grafana": "in-process fake (tests/fakes/grafana.py), documented HTTP contract",
            "mimir": "in-process fake (tests/fakes/mimir.py), documented ruler API",
        },
        "all": summary(TARGETS),
        "split": {shape[0]: summary(shape) for shape in shapes if len(shape) == 1},
    }
    everything = data["all"]
    data["summary"] = {
        "target_s": TARGET_SECONDS,
        "first_push_wall_s": everything["first"]["wall_s"],
        "repush_wall_s": everything["repush"]["wall_s"],
        "within_target": everything["first"]["wall_s"] <= TARGET_SECONDS,
        "writes_on_repush": everything["repush"]["max_writes"],
        "repush_wrote_nothing": not any(everything["repush"]["max_writes"].values())
        and all(not s["repush"]["max_writes"].get(n) for n, s in data["split"].items()),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1) + "\n")
    log(f"wrote {args.json.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
