"""Measuring a child process (wall time, CPU time, peak RSS) and describing the machine.

Wall time is what a user waits for; CPU time (user + system) is what the machine spends and
moves much less than wall time when other jobs share the cores, so both are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # user + system of the child and everything it waited for
    peak_rss_mib: float  # largest resident set of the child (or of its largest waited-for child)
    returncode: int
    output: str = ""

    def numbers(self) -> dict:
        d = asdict(self)
        d.pop("output")
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def run_measured(
    argv: list[str],
    cwd: Path | None = None,
    timeout: float = 3600,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``argv`` to completion; wait4(2) gives this child's own CPU time and peak RSS."""
    with tempfile.TemporaryFile() as log, open(os.devnull, "rb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=devnull, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"{Path(argv[0]).name} did not finish within {timeout}s")
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(
            status
        )  # tell Popen the child is already reaped
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
        returncode=proc.returncode,
        output=output,
    )


def median_of(runs: list[Run]) -> dict:
    """Median of each number over several runs, plus every run's numbers for the record."""
    keys = ("wall_s", "cpu_s", "peak_rss_mib")
    return {
        **{k: round(statistics.median(getattr(r, k) for r in runs), 3) for k in keys},
        "runs": [r.numbers() for r in runs],
    }


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_facts() -> dict:
    """What a reader needs to compare these numbers with their own (no paths, no host names)."""
    cpu = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = match.group(1).strip() if match else platform.processor() or "unknown"
    except OSError:
        pass
    mem_gib = None
    try:
        match = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem_gib = round(int(match.group(1)) / 1024 / 1024, 1) if match else None
    except OSError:
        pass
    os_name = platform.system()
    try:
        match = re.search(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text(), re.M)
        os_name = match.group(1) if match else os_name
    except OSError:
        pass
    promtool = shutil.which("promtool")
    prometheus = shutil.which("prometheus")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": mem_gib,
        "os": os_name,
        "python": platform.python_version(),
        "promtool": _first_line([promtool, "--version"]) if promtool else "not installed",
        "prometheus": _first_line([prometheus, "--version"]) if prometheus else "not installed",
        "slo_commit": _first_line(["git", "-C", str(PROJECT_DIR), "rev-parse", "--short", "HEAD"]),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def size_benchmark(description: str, measure: Callable[[Path], dict]) -> dict:
    """The command line of a size benchmark (``--services``, ``--examples``, ``--json``):
    ``measure`` of gen_specs.py's synthetic tree of that many services, then of the example
    specs; the numbers written as JSON when asked, and returned by tree."""
    import gen_specs  # beside this file; only the size benchmarks need it

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--services", type=int, default=2000, help="synthetic services")
    parser.add_argument("--examples", type=Path, default=PROJECT_DIR / "slo", help="spec tree")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gen_specs.generate(5 * args.services, Path(tmp))
        results = {"benchmark": measure(Path(tmp)), "examples": measure(args.examples)}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
