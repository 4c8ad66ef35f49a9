"""Where one compile spends its time: load (YAML, schema, build), each target, and the write.

    python bench/compile_phases.py SPECS OUT      # prints one JSON object

Runs the same functions as `slo compile`, in-process, timing each stage with the CPU clock of
this process (so other jobs on the machine do not inflate it) and the wall clock.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from compiler import output, pipeline, targets


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def phases(specs: Path, out: Path) -> dict:
    stages: dict[str, dict[str, float]] = {}

    def record(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = _clocks()
        stages[name] = {"wall_s": round(now[0] - since[0], 3), "cpu_s": round(now[1] - since[1], 3)}
        return now

    mark = _clocks()
    model, diagnostics = pipeline.load_tree(specs)
    if model is None:
        raise SystemExit("\n".join(d.render() for d in diagnostics))
    mark = record("load", mark)
    artifacts: dict[str, str] = {}
    for name in sorted(targets.TARGETS):
        files, _ = targets.TARGETS[name](model)
        artifacts.update(files)
        mark = record(f"emit {name}", mark)
    output.write_tree(dict(sorted(artifacts.items())), out)
    record("write", mark)
    return {
        "stages": stages,
        "files": len(artifacts),
        "output_mib": round(sum(len(t.encode()) for t in artifacts.values()) / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    print(json.dumps(phases(Path(sys.argv[1]), Path(sys.argv[2]))))
