"""Where one compile spends its time, stage by stage, in one process (no workers).

    python bench/compile_phases.py SPECS OUT      # prints one JSON object

Runs the same functions as `slo compile -j 1 --cache-dir ''`, in-process, timing each stage with
the CPU clock of this process (so other jobs on the machine do not inflate it) and the wall
clock. The per-file stages (load, each per-service target, reading back for the consistency
check) are what `slo compile` spreads over its worker processes; the rest runs once.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from compiler import pipeline, targets

from compiler.checks import consistency
from compiler.checks import secrets as secret_scan
from compiler.core import conventions
from compiler.core.model import Model
from compiler.pipeline import output
from compiler.targets import prometheus as prometheus_rules


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def phases(specs: Path, out: Path) -> dict:
    stages: dict[str, dict[str, float]] = {}
    spent: dict[str, list[float]] = {}

    def timed(name: str, function, *args):
        wall, cpu = _clocks()
        result = function(*args)
        now = _clocks()
        total = spent.setdefault(name, [0.0, 0.0])
        total[0] += now[0] - wall
        total[1] += now[1] - cpu
        return result

    sources = [
        (pipeline.display_name(specs, p), p.read_bytes()) for p in pipeline.spec_files(specs)
    ]
    loaded = [timed("load", pipeline.load_file, name, raw) for name, raw in sources]
    emitted, extracts = {}, {}
    for entry in (e for f in loaded for e in f.services if e.service is not None):
        alone = Model((entry.service,), None)
        done = {}
        for name in sorted(targets.PER_SERVICE - {"prometheus"}):
            done[name] = timed(f"emit {name}", targets.TARGETS[name], alone)
        files, documents = timed("emit prometheus", prometheus_rules.emit_with_documents, alone)
        done["prometheus"] = (files, [])
        emitted[entry.name] = done
        for kind, path, source in (
            ("rules", conventions.rules_file(entry.name), done["prometheus"][0]),
            ("dashboard", conventions.dashboard_file(entry.name), done["grafana"][0]),
        ):
            if path in source:
                extracts[path] = timed(
                    "consistency read",
                    consistency.extract,
                    kind,
                    path,
                    source[path],
                    documents.get(path),
                )
    stages.update(
        {name: {"wall_s": round(w, 3), "cpu_s": round(c, 3)} for name, (w, c) in spent.items()}
    )

    mark = _clocks()

    def record(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = _clocks()
        stages[name] = {"wall_s": round(now[0] - since[0], 3), "cpu_s": round(now[1] - since[1], 3)}
        return now

    model, diagnostics = pipeline._assemble(
        [(n, r, None) for n, r in sources], loaded, specs, pipeline.Diagnostics()
    )
    if model is None:
        raise SystemExit("\n".join(d.render() for d in diagnostics))
    artifacts, _ = targets.emit_all(model, emitted)
    mark = record("assemble, global targets", mark)
    consistency.check(model, artifacts, extracts)
    secret_scan.in_artifacts(artifacts)
    mark = record("check", mark)
    output.write_tree(artifacts, out)
    record("write", mark)
    return {
        "stages": stages,
        "files": len(artifacts),
        "output_mib": round(sum(len(t.encode()) for t in artifacts.values()) / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    print(json.dumps(phases(Path(sys.argv[1]), Path(sys.argv[2]))))
