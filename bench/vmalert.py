"""vmalert at scale: `vmalert -dryRun` on the benchmark tree, and the generated tests on vmalert.

    python bench/vmalert.py dryrun --services 2000   # gen_specs tree, every service on vmalert
    python bench/vmalert.py tests                    # slo/ with every service on vmalert

`dryrun` writes the gen_specs tree (5 objectives per service) with `engines: [prometheus,
vmalert]` in every spec, compiles it and runs `vmalert -dryRun` on every vmalert rule file and
the replay file, the way `slo test` does (one vmalert run over all files). `tests` copies slo/,
switches every service to both engines, compiles it and runs `slo test --engine vmalert`'s
runner (a fresh VictoriaMetrics, `vmalert -replay`) on it. Both print and (--json) write their
timings.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gen_specs
from measure import PROJECT_DIR, machine_facts

from compiler.checks import toolrun, vmtest

ENGINES = "engines: [prometheus, vmalert]\n"


def both_engines(root: Path) -> int:
    """Every Service spec under ``root`` compiled for vmalert too; returns how many."""
    count = 0
    for path in sorted(root.rglob("*.yaml")):
        text = path.read_text()
        if "engines:" in text:
            continue
        text, n = re.subn(r"^(service: .*\n)", lambda m: m[1] + ENGINES, text, flags=re.M)
        path.write_text(text)
        count += n
    return count


def compile_tree(specs: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "compiler", "compile", str(specs), "--out", str(out)],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def dryrun(services: int, work: Path) -> dict:
    specs, out = work / "specs", work / "out"
    gen_specs.generate(services * 5, specs)
    switched = both_engines(specs)
    compile_s = compile_tree(specs, out)
    proofs = toolrun.proofs_for(out, only={"vmalert", "vmalert-replay"})
    files = sum(len(p.files) for p in proofs if isinstance(p, toolrun.EachFile))
    started = time.perf_counter()
    results = toolrun.run_proofs(proofs)
    dryrun_s = time.perf_counter() - started
    failed = [r.output[-2000:] for r in results if not r.ok]
    return {
        "services": services,
        "services_on_vmalert": switched,
        "files": files,
        "rule_bytes": sum(p.stat().st_size for p in (out / "vmalert").rglob("*.yml")),
        "compile_s": round(compile_s, 2),
        "dryrun_s": round(dryrun_s, 2),
        "passed": not failed,
        "failures": failed,
    }


def tests(work: Path) -> dict:
    specs, out = work / "slo", work / "out"
    shutil.copytree(PROJECT_DIR / "slo", specs)
    switched = both_engines(specs)
    compile_tree(specs, out)
    suites = [vmtest.load_suite(out, path) for path in vmtest.test_files(out)]
    started = time.perf_counter()
    results = vmtest.run(out)
    run_s = time.perf_counter() - started
    return {
        "services_on_vmalert": switched,
        "test_files": len(suites),
        "tests": sum(len(s.cases) for s in suites),
        "run_s": round(run_s, 2),
        "passed": all(r.ok for r in results),
        "failures": [r.output for r in results if not r.ok],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["dryrun", "tests"])
    parser.add_argument("--services", type=int, default=2000, help="dryrun: services")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--work", type=Path, help="keep the scratch files here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slo-bench-vmalert-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        if args.what == "dryrun":
            result = dryrun(args.services, work)
        else:
            result = tests(work)
    result["machine"] = machine_facts()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if not result["passed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
