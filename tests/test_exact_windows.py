"""Every window counts exactly the events it names, at any evaluation interval
(targets.prometheus.size_expr, windows.layout).

promtool evaluates the compiled rules at the service's own interval, on traffic whose every
window has a known number of events (five requests a second, one an error: integers, so the
float sums are exact). A gap in the data leaves a hole, never a negative or inflated window.
"""

import subprocess

import pytest
import yaml
from support import needs_promtool, write_files

from compiler import compile_tree
from compiler.core.windows import base_window
from compiler.targets import prometheus as rules

HOUR = 3600
SPEC = """\
apiVersion: slo/v1
service: checkout
team: payments
evaluation_interval: {interval}
slos:
  - name: availability
    objective: 99
    period: {period}
    indicator:
      ratio:
        errors: http_requests_total{{job="checkout",code=~"5.."}}
        total: http_requests_total{{job="checkout"}}
"""
LABELS = '{service="checkout",slo="availability"}'
RATE = 5  # requests per second
RATIO = f"slo:sli_error:ratio_rate6h{LABELS}"


def compiled(tmp_path, interval: str, period: str = "30d", extra: str = ""):
    """The checkout service at ``interval``, its rules in tmp_path/rules.yml; ``extra``: more
    keys of its SLO, as YAML lines."""
    text = SPEC.format(interval=interval, period=period) + extra
    specs = write_files(tmp_path / "slo", {"checkout.yaml": text})
    result = compile_tree(specs)
    (tmp_path / "rules.yml").write_text(result.artifacts["prometheus/rules/checkout.rules.yml"])
    return result.model.services[0]


def run_promtool(tmp_path, step: int, test: dict) -> subprocess.CompletedProcess:
    document = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": f"{step}s",
        "group_eval_order": ["slo-checkout-sli", "slo-checkout-period"],
        "tests": [{"interval": f"{step}s", **test}],
    }
    (tmp_path / "windows.test.yml").write_text(
        yaml.safe_dump(document, sort_keys=False, width=10_000)
    )
    return subprocess.run(
        ["promtool", "test", "rules", "windows.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def traffic(step: int, steps: int, gap: tuple[int, int] | None = None) -> list[dict]:
    """5 requests/s, one in five a 5xx; with ``gap`` (first, last step), no samples in between."""

    def values(per_second: int) -> str:
        if gap is None:
            return f"0+{per_second * step}x{steps}"
        first, last = gap
        resumed = per_second * step * (last + 1)
        return (
            f"0+{per_second * step}x{first - 1} _x{last - first + 1} "
            f"{resumed}+{per_second * step}x{steps - last - 1}"
        )

    return [
        {"series": 'http_requests_total{job="checkout",code="200"}', "values": values(4)},
        {"series": 'http_requests_total{job="checkout",code="500"}', "values": values(1)},
    ]


CASES = [  # (interval, windows checked, hours simulated)
    ("15s", (1 * HOUR, 6 * HOUR), 7),
    ("30s", (1 * HOUR, 6 * HOUR), 7),
    ("1m", (1 * HOUR, 6 * HOUR, 24 * HOUR), 26),
    ("2m", (1 * HOUR, 6 * HOUR, 24 * HOUR), 26),
    ("5m", (1 * HOUR, 6 * HOUR, 24 * HOUR, 72 * HOUR), 74),
]


@needs_promtool
@pytest.mark.parametrize(("interval", "windows", "hours"), CASES)
def test_every_window_counts_the_events_it_names(tmp_path, interval, windows, hours):
    service = compiled(tmp_path, interval)
    slo, step = service.slos[0], service.evaluation_interval
    checks = []
    # a window the period group records ends one base window back (windows.slow_sizes)
    lag = {w: base_window(step) if w in rules.slow_window_sizes(service) else 0 for w in windows}
    for window in windows:
        for at in sorted({window + step + lag[window], hours * HOUR - 7 * step}):
            checks.append(
                {
                    "expr": rules.events_in(service, slo, window),
                    "eval_time": f"{at}s",
                    "exp_samples": [{"labels": LABELS, "value": RATE * window}],
                }
            )
            name = f"slo:sli_error:ratio_rate{rules.format_duration(window)}"
            checks.append(
                {
                    "expr": f"{name}{LABELS}",
                    "eval_time": f"{at}s",
                    "exp_samples": [{"labels": f"{name}{LABELS}", "value": 0.2}],
                }
            )
    test = {"input_series": traffic(step, hours * HOUR // step), "promql_expr_test": checks}
    proc = run_promtool(tmp_path, step, test)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_a_window_one_step_off_fails(tmp_path):
    """The check above can fail: one evaluation's events more is a different answer."""
    service = compiled(tmp_path, "15s")
    test = {
        "input_series": traffic(15, 2 * HOUR // 15),
        "promql_expr_test": [
            {
                "expr": rules.events_in(service, service.slos[0], HOUR),
                "eval_time": "1h30m",
                "exp_samples": [{"labels": LABELS, "value": RATE * (HOUR + 15)}],
            }
        ],
    }
    proc = run_promtool(tmp_path, 15, test)
    assert proc.returncode != 0 and "1.8E+04" in proc.stdout + proc.stderr


@needs_promtool
def test_a_gap_leaves_a_hole_never_a_negative_or_inflated_window(tmp_path):
    """No samples from 3h to 5h (two hours: longer than any piece of the 1h window): every
    window holds the events outside the gap, give or take a scrape at each edge of it, and never
    less than zero; a window wholly inside the gap has no value at all (nothing to count, as
    before the first scrape); the 6h error ratio is scaled by the share of the window that had
    data (4h of 6h), never above 0.2."""
    service = compiled(tmp_path, "1m")
    slo = service.slos[0]
    first, last = 3 * 60, 5 * 60 - 1  # steps of 1m without samples
    checks = []
    for minutes in (4 * 60, 5 * 60 + 2, 5 * 60 + 30, 6 * 60, 8 * 60, 10 * 60):
        at = minutes * 60
        for window in (HOUR, 6 * HOUR):
            in_gap = max(0, min(at, (last + 1) * 60) - max(at - window, first * 60))
            outside = RATE * (min(window, at) - in_gap)
            expr = rules.events_in(service, slo, window)
            if in_gap == min(window, at):
                checks.append({"expr": expr, "eval_time": f"{at}s", "exp_samples": []})
                continue
            if in_gap:
                # Within one scrape interval's events of those outside the gap at each edge:
                # Prometheus extrapolates the increase next to the gap by up to half a scrape,
                # and a piece missing in the gap falls back to one recorded a scrape earlier.
                edge = RATE * 2 * 60
                low, high = max(outside - edge, 0), outside + edge
                expr = f"({expr} >= bool {low}) * ({expr} <= bool {high})"
            checks.append(
                {
                    "expr": expr,
                    "eval_time": f"{at}s",
                    "exp_samples": [{"labels": LABELS, "value": 1 if in_gap else outside}],
                }
            )
    checks.append(  # 4h of the 6h had data: 0.2 * 4/6, within the two lost scrapes
        {
            "expr": f"({RATIO} > bool 0.13) * ({RATIO} <= bool 0.1334)",
            "eval_time": "8h",
            "exp_samples": [{"labels": LABELS, "value": 1}],
        }
    )
    test = {"input_series": traffic(60, 10 * 60 + 5, gap=(first, last)), "promql_expr_test": checks}
    proc = run_promtool(tmp_path, 60, test)
    assert proc.returncode == 0, proc.stdout + proc.stderr
