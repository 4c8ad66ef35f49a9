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

from compiler import targets
from compiler.checks import consistency, secrets
from compiler.core.model import Model
from compiler.pipeline import output
from compiler.pipeline.load import assemble, load_file
from compiler.pipeline.sources import read_tree


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

    sources, _ = read_tree(specs)
    loaded = [timed("load", load_file, s.name, s.raw) for s in sources]
    emitted, extracts = {}, {}
    for entry in (e for f in loaded for e in f.services if e.service is not None):
        alone = Model((entry.service,), None)
        done = {}
        for target in (t for t in targets.REGISTRY if t.per_service):
            done[target.name] = timed(f"emit {target.name}", target.emit, alone)
        emitted[entry.name] = done
        for part in done.values():
            for path, document in part.documents.items():
                extracts[path] = timed(
                    "consistency read",
                    consistency.extract,
                    document.holds,
                    path,
                    part.files[path],
                    document.data,
                )
    stages.update(
        {name: {"wall_s": round(w, 3), "cpu_s": round(c, 3)} for name, (w, c) in spent.items()}
    )

    mark = _clocks()

    def record(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = _clocks()
        stages[name] = {"wall_s": round(now[0] - since[0], 3), "cpu_s": round(now[1] - since[1], 3)}
        return now

    model, diagnostics = assemble(sources, loaded, specs, [])
    if model is None:
        raise SystemExit("\n".join(d.render() for d in diagnostics))
    all_emitted = targets.emit(model, emitted)
    artifacts = all_emitted.files
    mark = record("assemble, global targets", mark)
    for path, document in all_emitted.documents.items():
        if path not in extracts:
            extracts[path] = consistency.extract(
                document.holds, path, artifacts[path], document.data
            )
    consistency.check(model, artifacts, extracts)
    secrets.in_artifacts(artifacts)
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
