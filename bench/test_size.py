"""Size of the promtool tests `slo compile` writes, per service.

    python bench/test_size.py                         # 2,000 services (10,000 objectives) and slo/
    python bench/test_size.py --services 20 --json sizes.json

Issue 17 asks for at most 20 KB of generated tests per service on average on the synthetic
tree (`gen_specs.py`: 3 SLOs and 2 thresholds a service). Only the promtool-tests target emits
(the model is loaded first), so this takes about a minute for 2,000 services, not a whole
compile. Sizes are the bytes of each file as written to out/prometheus/tests/.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from measure import size_benchmark

from compiler.pipeline import load_tree
from compiler.targets.promtool import testfiles


def kind(path: str) -> str:
    """The file's kind: ``burn``, ``calendar``, ``month``... or ``test`` (thresholds, guards)."""
    parts = Path(path).name.split(".")
    return parts[-3] if len(parts) > 3 else "test"


def measure(root: Path) -> dict:
    """Bytes of the generated tests of the spec tree at ``root``: per service, and per kind."""
    model, diagnostics = load_tree(root)
    if model is None:
        raise SystemExit("\n".join(d.render() for d in diagnostics))
    files = testfiles.emit(model).files
    per_kind: dict[str, list[int]] = defaultdict(list)
    for path, text in files.items():
        per_kind[kind(path)].append(len(text.encode()))
    services = len(model.services)
    total = sum(sum(v) for v in per_kind.values())
    return {
        "services": services,
        "files": len(files),
        "total_bytes": total,
        "avg_bytes_per_service": round(total / services) if services else 0,
        "avg_bytes_per_file_kind": {k: round(sum(v) / len(v)) for k, v in sorted(per_kind.items())},
    }


def main() -> None:
    for name, r in size_benchmark(__doc__.split("\n\n")[0], measure).items():
        kinds = ", ".join(f"{k} {v / 1000:.1f} KB" for k, v in r["avg_bytes_per_file_kind"].items())
        print(
            f"{name}: {r['services']} services, {r['files']} test files, "
            f"{r['avg_bytes_per_service'] / 1000:.1f} KB a service (a file: {kinds})"
        )


if __name__ == "__main__":
    main()
