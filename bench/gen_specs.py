"""Write a synthetic spec tree: N SLOs, 5 objectives per service (mixed ratio, latency, threshold).

    python bench/gen_specs.py 1000 specs-1000            # 200 files under specs-1000/team-NN/
    python bench/gen_specs.py 15 specs --no-thresholds   # SLOs only (3 per service)

The selectors use job="job-NNNNN", which is what gen_metrics.py writes data for.
"""

from __future__ import annotations

import sys
from pathlib import Path

OBJECTIVES = (99, 99.5, 99.9, 95, 98)
PERIODS = ("30d", "30d", "28d", "30d", "7d")


def service_spec(
    i: int, thresholds: bool = True, slos: bool = True, by: tuple[str, ...] = ()
) -> str:
    svc = f"svc-{i:05d}"
    job = f"job-{i:05d}"
    lines = [
        "apiVersion: slo/v1",
        f"service: {svc}",
        f"team: team-{i % 40:02d}",
        f'labels: {{tier: "{i % 3 + 1}"}}',
    ]
    if slos:
        slo_lines = _slo_lines(i, svc, job)
        if by:  # every SLO grouped: one per value of these labels (gen_metrics' instances)
            group = [f"    by: [{', '.join(by)}]", "    max_groups: 1000"]
            slo_lines = [
                x
                for line in slo_lines
                for x in ([line, *group] if line.startswith("  - ") else [line])
            ]
        lines += slo_lines
    if thresholds:
        lines += _threshold_lines(job)
    return "\n".join(lines) + "\n"


def _slo_lines(i: int, svc: str, job: str) -> list[str]:
    return [
        "slos:",
        "  - name: availability",
        f"    objective: {OBJECTIVES[i % 5]}",
        f"    period: {PERIODS[i % 5]}",
        "    indicator:",
        "      ratio:",
        f'        errors: http_requests_total{{job="{job}",code=~"5.."}}',
        f'        total: http_requests_total{{job="{job}"}}',
        "    alerting:",
        f"      runbook_url: https://runbooks.example.com/{svc}/availability",
        "  - name: latency",
        "    objective: 95",
        "    indicator:",
        "      latency:",
        f'        histogram: http_request_duration_seconds{{job="{job}"}}',
        "        threshold: 1s",
        "  - name: checkout-success",
        "    objective: 99.9",
        "    indicator:",
        "      ratio:",
        f'        good: checkout_total{{job="{job}",result="ok"}}',
        f'        total: checkout_total{{job="{job}"}}',
        "    alerting:",
        "      min_events: 100",
    ]


def _threshold_lines(job: str) -> list[str]:
    return [
        "thresholds:",
        "  - name: disk-usage",
        f'    expr: 1 - node_filesystem_avail_bytes{{job="{job}",mountpoint="/"}}'
        f' / node_filesystem_size_bytes{{job="{job}",mountpoint="/"}}',
        "    above: 0.85",
        "    for: 10m",
        "    severity: ticket",
        "    unit: ratio",
        "  - name: replication-lag",
        f'    expr: pg_replication_lag_seconds{{job="{job}"}}',
        "    above: 1",
        "    for: 2m",
        "    severity: page",
        "    unit: seconds",
    ]


def spec_path(root: Path, i: int) -> Path:
    return root / f"team-{i % 40:02d}" / f"svc-{i:05d}.yaml"


def generate(slos: int, root: Path, thresholds: bool = True, by: tuple[str, ...] = ()) -> int:
    """5 objectives per service (3 SLOs + 2 thresholds, or 3 SLOs alone); returns the number of
    files. ``by``: group every SLO by these labels."""
    services = max(1, slos // 5) if thresholds else max(1, slos // 3)
    for i in range(services):
        path = spec_path(root, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(service_spec(i, thresholds, by=by))
    return services


def generate_split(services: int, root: Path) -> dict:
    """Services alternating between 3 SLOs alone (3 rule groups: SLIs, period, alerts) and 2
    thresholds alone (1 group): two rule groups and one dashboard per service on average, the
    proportion of the push benchmark (1,000 dashboards, 2,000 groups)."""
    for i in range(services):
        path = spec_path(root, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(service_spec(i, thresholds=i % 2 == 1, slos=i % 2 == 0))
    with_slos = (services + 1) // 2
    return {"spec_files": services, "slos": 3 * with_slos, "thresholds": 2 * (services - with_slos)}


def change_one(root: Path, i: int = 0) -> Path:
    """Edit one spec the way a person would (tighten an objective), for the incremental
    re-compile."""
    path = spec_path(root, i)
    text = path.read_text()
    old = f"    objective: {OBJECTIVES[i % 5]}\n"
    assert old in text, f"{path.name} does not hold {old.strip()}"
    path.write_text(text.replace(old, "    objective: 99.95\n", 1))
    return path


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n, out = int(args[0]), Path(args[1])
    print(
        f"{generate(n, out, thresholds='--no-thresholds' not in sys.argv)} spec files under {out}"
    )
