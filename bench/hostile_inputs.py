"""The worst spec trees we can build for `slo compile`, and how long each takes to refuse (or,
for the valid ones at the limits, to compile).

    python bench/hostile_inputs.py                 # every case at its full size
    python bench/hostile_inputs.py --small         # the sizes tests/test_hostile_inputs.py uses
    python bench/hostile_inputs.py --case deep-promql --json results.json

Each case is a builder: size -> {path under the spec tree: text}. Every case runs in a child
process of its own (`python -m compiler compile`, empty cache, measure.run_measured: wall time,
CPU time, peak memory); the table goes to stdout, as bench/README.md shows it. The suite runs
the same builders at their small sizes and asserts the diagnostics, not the time.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measure import PROJECT_DIR, machine_facts, run_measured

SERVICE = "apiVersion: slo/v1\nservice: {name}\nteam: payments\n"
THRESHOLD = "  - {{name: t{i}, expr: 'up{{job=\"j{i}\"}}', below: 1, severity: {severity}}}\n"
SLO = (
    "  - name: s{i}\n    objective: 99.9\n    indicator:\n      ratio:\n"
    '        errors: http_requests_total{{job="api",code=~"5..",i="{i}"}}\n'
    '        total: http_requests_total{{job="api",i="{i}"}}\n'
)
Files = dict[str, str]


def _service(name: str = "checkout") -> str:
    return SERVICE.format(name=name)


def many_errors(n: int) -> Files:
    """One file, n thresholds with an unknown severity: n errors (and the list is too long)."""
    rows = "".join(THRESHOLD.format(i=i, severity="urgent") for i in range(n))
    return {"svc.yaml": _service() + "thresholds:\n" + rows}


def threshold_expr(expr: str) -> Files:
    return {
        "svc.yaml": _service() + f"thresholds:\n  - {{name: t, expr: '{expr}', below: 1, "
        "severity: page}\n"
    }


def deep_promql(n: int) -> Files:
    """An expression nested n parentheses deep (4,000 characters, the longest an expression
    may be, hold 1,999)."""
    return threshold_expr("(" * n + "up" + ")" * n)


def operator_chain(n: int) -> Files:
    """up + up + ... with n terms: promql-parser's time grows with the square of n."""
    return threshold_expr("+".join(["up"] * n))


def wide_promql(n: int) -> Files:
    """n thresholds, each the costliest expression within the limits: ~3,900 characters of
    terms each nested 28 deep (promql-parser's walk took 0.2 s on one)."""
    term = "abs(" * 28 + 'up{{job="x{i}"}}' + ")" * 28
    expr = "+".join([term] * 40)
    expr = expr[: expr.rfind("+", 0, 3900)]
    rows = "".join(
        f"  - {{name: t{i}, expr: '{expr.format(i=i)}', below: 1, severity: page}}\n"
        for i in range(n)
    )
    return {"svc.yaml": _service() + "thresholds:\n" + rows}


def huge_list(n: int) -> Files:
    """A labels map of n keys and a thresholds list of n entries."""
    labels = "labels: {" + ", ".join(f"l{i}: x" for i in range(n)) + "}\n"
    rows = "".join(THRESHOLD.format(i=i, severity="page") for i in range(n))
    return {"svc.yaml": _service() + labels + "thresholds:\n" + rows}


def long_strings(n: int) -> Files:
    """A description, an expression and a label value of n characters each."""
    text = "x" * n
    return {
        "svc.yaml": _service()
        + f"description: {text}\nlabels: {{tier: {text}}}\n"
        + f"thresholds:\n  - {{name: t, expr: up{text}, below: 1, severity: page}}\n"
    }


def many_files(n: int) -> Files:
    """n spec files, each with one error."""
    return {
        f"team{i // 100}/svc{i}.yaml": _service(f"svc{i}")
        + "thresholds:\n"
        + THRESHOLD.format(i=i, severity="urgent")
        for i in range(n)
    }


def many_documents(n: int) -> Files:
    """One file of n small valid services, separated by `---` (a file may hold 100)."""
    docs = [
        _service(f"s{i}") + "thresholds:\n" + THRESHOLD.format(i=i, severity="page")
        for i in range(n)
    ]
    return {"svc.yaml": "---\n".join(docs)}


def at_the_limits(n: int) -> Files:
    """A valid service with n SLOs and 2n thresholds (the schema allows 100 and 200)."""
    slos = "".join(SLO.format(i=i) for i in range(n))
    rows = "".join(THRESHOLD.format(i=i, severity="page") for i in range(2 * n))
    return {"svc.yaml": _service() + "slos:\n" + slos + "thresholds:\n" + rows}


def slo_documents(n: int) -> Files:
    """One file of n services with 100 SLOs each (a service may have 100; a file may hold 500
    SLOs and thresholds, so 5 such services are the costliest valid file)."""
    slos = "".join(SLO.format(i=i) for i in range(100))
    docs = [_service(f"s{d}") + "slos:\n" + slos for d in range(n)]
    return {"svc.yaml": "---\n".join(docs)}


def alias_bomb(n: int) -> Files:
    """Each level's list holds the previous level n times: n**n nodes once expanded."""
    lines = ["a0: &a0 [x]"]
    for level in range(1, n + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * n) + "]")
    return {"svc.yaml": _service() + "description: x\n" + "\n".join(lines) + "\n"}


def deep_yaml(n: int) -> Files:
    """n nested flow sequences."""
    return {"svc.yaml": _service() + "labels: " + "[" * n + "]" * n + "\n"}


@dataclass(frozen=True)
class Case:
    build: Callable[[int], Files]
    size: int  # the bench's size: the worst that fits the limits (1 MiB a file, ...)
    small: int  # the suite's size


CASES = {
    "many-errors": Case(many_errors, 10_000, 40),
    "deep-promql": Case(deep_promql, 1_999, 31),
    "operator-chain": Case(operator_chain, 1_333, 62),
    "wide-promql": Case(wide_promql, 200, 2),
    "huge-list": Case(huge_list, 12_000, 201),
    "long-strings": Case(long_strings, 300_000, 4_001),
    "many-files": Case(many_files, 2_000, 3),
    "many-documents": Case(many_documents, 7_800, 101),
    "at-the-limits": Case(at_the_limits, 100, 2),
    "slo-documents": Case(slo_documents, 55, 6),
    "slo-documents-valid": Case(slo_documents, 5, 1),
    "alias-bomb": Case(alias_bomb, 9, 7),
    "deep-yaml": Case(deep_yaml, 100_000, 65),
}


def write_case(name: str, size: int, specs: Path) -> tuple[int, int]:
    """The case's spec tree under ``specs``; returns its files and bytes."""
    files = CASES[name].build(size)
    total = 0
    for rel, text in files.items():
        path = specs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        total += path.write_bytes(text.encode("utf-8"))
    return len(files), total


def run_case(name: str, size: int, work: Path) -> dict:
    specs, out = work / name / "slo", work / name / "out"
    files, input_bytes = write_case(name, size, specs)
    argv = [sys.executable, "-m", "compiler", "compile", str(specs), "--out", str(out)]
    run = run_measured([*argv, "--cache-dir", ""], cwd=PROJECT_DIR, timeout=600)
    lines = run.output.splitlines()
    written = re.search(r": (\d+) files;", lines[-1]) if lines else None
    if run.returncode == 0 and written:
        summary = f"compiled: {int(written.group(1)):,} files written"
    else:
        summary = lines[-1] if lines else ""
    return {
        "case": name,
        "size": size,
        "spec_files": files,
        "input_kib": round(input_bytes / 1024, 1),
        "exit": run.returncode,
        "summary": summary,
        **run.numbers(),
    }


def table(results: list[dict]) -> str:
    rows = [
        "| case | size | spec files | input | exit | what `slo compile` said | wall s | CPU s "
        "| peak MiB |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['case']} | {r['size']:,} | {r['spec_files']:,} | {r['input_kib']:,} KiB | "
            f"{r['exit']} | "
            f"{r['summary']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mib']:.0f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="the suite's sizes")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--work", type=Path, help="keep the spec trees and outputs here")
    args = parser.parse_args()
    names = args.case or list(CASES)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        results = []
        for name in names:
            case = CASES[name]
            results.append(run_case(name, case.small if args.small else case.size, work))
            print(f"{name}: {results[-1]['wall_s']:.2f}s", file=sys.stderr)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_facts(), "cases": results}, indent=2))


if __name__ == "__main__":
    main()
