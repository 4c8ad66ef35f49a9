"""The hourly tiles sum long windows exactly at any evaluation interval
(targets.prometheus.tile_rules).

The generated promtool tests run at 1 and 5 minute steps only; real Prometheus servers run every
15s or 30s as often as every minute, and an interval longer than a minute skips minute 0 in some
hours. promtool evaluates the compiled rules here at such intervals, on traffic whose every
window has a known number of events (integers, so the float sums are exact).
"""

import subprocess

import pytest
import yaml
from support import GOLDEN, needs_promtool

from compiler import compile_tree
from compiler.targets import prometheus as rules

HOUR = 3600
GROUPS = ["slo-checkout-sli", "slo-checkout-period", "slo-checkout-alerts"]


def run_promtool(tmp_path, interval: int, tests: list[dict]) -> subprocess.CompletedProcess:
    result = compile_tree(GOLDEN / "basic" / "slo")
    (tmp_path / "rules.yml").write_text(result.artifacts["prometheus/rules/checkout.rules.yml"])
    document = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": f"{interval}s",
        "group_eval_order": GROUPS,
        "tests": tests,
    }
    (tmp_path / "tiles.test.yml").write_text(
        yaml.safe_dump(document, sort_keys=False, width=10_000)
    )
    return subprocess.run(
        ["promtool", "test", "rules", "tiles.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def availability(result_slos):
    return next(slo for slo in result_slos if slo.name == "availability")


@needs_promtool
@pytest.mark.parametrize("interval", [15, 60, 120, 300])
def test_tiled_windows_count_every_event_at_any_interval(tmp_path, interval):
    """1 request/s, one in five a 5xx: the last 6h hold 21,600 requests, the error ratio is 0.2."""
    model = compile_tree(GOLDEN / "basic" / "slo").model
    slo = availability(model.services[0].slos)
    steps = 9 * HOUR // interval
    labels = '{service="checkout",slo="availability"}'
    test = {
        "interval": f"{interval}s",
        "input_series": [
            {
                "series": 'http_requests_total{job="checkout",code="200"}',
                "values": f"0+{interval * 4 // 5}x{steps}",
            },
            {
                "series": 'http_requests_total{job="checkout",code="500"}',
                "values": f"0+{interval // 5}x{steps}",
            },
        ],
        "promql_expr_test": [
            {
                "expr": rules.events_in(slo, 6 * HOUR),
                "eval_time": f"{t}s",
                "exp_samples": [{"labels": labels, "value": 6 * HOUR}],
            }
            for t in (7 * HOUR, 8 * HOUR + 30 * 60, 8 * HOUR + 55 * 60)
        ]
        + [
            {
                "expr": f"slo:sli_error:ratio_rate6h{labels}",
                "eval_time": f"{t}s",
                "exp_samples": [{"labels": f"slo:sli_error:ratio_rate6h{labels}", "value": 0.2}],
            }
            for t in (7 * HOUR, 8 * HOUR + 55 * 60)
        ],
    }
    proc = run_promtool(tmp_path, interval, [test])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_a_window_off_by_one_step_fails(tmp_path):
    """The check above can fail: one evaluation's events (15 requests) more is a different
    answer."""
    model = compile_tree(GOLDEN / "basic" / "slo").model
    slo = availability(model.services[0].slos)
    test = {
        "interval": "15s",
        "input_series": [
            {
                "series": 'http_requests_total{job="checkout",code="200"}',
                "values": f"0+15x{9 * HOUR // 15}",
            }
        ],
        "promql_expr_test": [
            {
                "expr": rules.events_in(slo, 6 * HOUR),
                "eval_time": "8h",
                "exp_samples": [
                    {"labels": '{service="checkout",slo="availability"}', "value": 6 * HOUR + 15}
                ],
            }
        ],
    }
    proc = run_promtool(tmp_path, 15, [test])
    assert proc.returncode != 0 and "2.16E+04" in proc.stdout + proc.stderr


@needs_promtool
def test_a_gap_in_the_data_keeps_what_the_hour_had_counted(tmp_path):
    """Scrapes stop from 10m to 20m (the 5m rate is absent for ~5 minutes): at 30m the count of
    the hour still holds the first 10 minutes' 600 requests, not only the ~580 since the gap."""
    gap = 40  # 15s samples
    before, after = 10 * 60 // 15, 10 * 60 // 15
    test = {
        "interval": "15s",
        "input_series": [
            {
                "series": 'http_requests_total{job="checkout",code="200"}',
                "values": f"0+15x{before} _x{gap - 1} {15 * (before + gap)}+15x{after}",
            },
        ],
        "promql_expr_test": [
            {
                "expr": 'slo:sli_total:events_this_hour{service="checkout",slo="availability"}'
                " > bool 1000",
                "eval_time": "30m",
                "exp_samples": [{"labels": '{service="checkout",slo="availability"}', "value": 1}],
            }
        ],
    }
    proc = run_promtool(tmp_path, 15, [test])
    assert proc.returncode == 0, proc.stdout + proc.stderr
