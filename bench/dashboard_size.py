"""Size of the Grafana dashboards `slo compile` writes: per service dashboard and the overview.

    python bench/dashboard_size.py                    # 2,000 services (10,000 objectives) and slo/
    python bench/dashboard_size.py --services 20 --json sizes.json

Services of the synthetic tree (`gen_specs.py`) each have 3 SLOs (ratio, latency, good/total
ratio) and 2 thresholds. Only the dashboards are generated (the model is loaded, then the two
Grafana targets emit), so this takes seconds, not a whole compile. Sizes are the bytes of each
file as written to out/.
"""

from __future__ import annotations

from pathlib import Path

from measure import size_benchmark

from compiler.core import conventions as names
from compiler.pipeline import load_tree
from compiler.targets.grafana import dashboards


def sizes(root: Path) -> dict:
    """Bytes of every service dashboard and of the overview, for the spec tree at ``root``."""
    model, diagnostics = load_tree(root)
    if model is None:
        raise SystemExit("\n".join(d.render() for d in diagnostics))
    files = dashboards.emit_services(model).files
    per_service = sorted(len(text.encode()) for text in files.values())
    overview = dashboards.emit_overview(model).files[names.OVERVIEW_DASHBOARD_FILE]
    return {
        "services": len(model.services),
        "dashboards": len(per_service),
        "avg_bytes": round(sum(per_service) / len(per_service)) if per_service else 0,
        "max_bytes": per_service[-1] if per_service else 0,
        "min_bytes": per_service[0] if per_service else 0,
        "total_bytes": sum(per_service),
        "overview_bytes": len(overview.encode()),
    }


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def main() -> None:
    for name, r in size_benchmark(__doc__.split("\n\n")[0], sizes).items():
        print(
            f"{name}: {r['dashboards']} service dashboards, average {kib(r['avg_bytes'])}, "
            f"max {kib(r['max_bytes'])}, min {kib(r['min_bytes'])}; "
            f"overview {kib(r['overview_bytes'])}"
        )


if __name__ == "__main__":
    main()
