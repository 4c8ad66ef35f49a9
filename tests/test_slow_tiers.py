"""The slow tiers (windows.slow_tier): tickets with windows of hours run in the period group.

They read the SLI group's windows as it recorded them one base window ago, so a ticket fires
exactly one base window after its windows cross its threshold (at promtool's steps; on a server
also up to one period-group interval later), and the SLI group, which runs every interval, no
longer carries them. Pages never move.
"""

from decimal import Decimal

import pytest
import yaml
from support import needs_promtool
from test_exact_windows import compiled, run_promtool

from compiler.core import conventions as names
from compiler.core.model import BurnTier
from compiler.core.windows import DAY, HOUR, MINUTE, slow_tier


def tier(severity: str, long: int, short: int) -> BurnTier:
    return BurnTier(severity, long, short, Decimal("0.1"), Decimal(3), Decimal("0.03"))


@pytest.mark.parametrize(
    ("severity", "long", "short", "slow"),
    [
        ("ticket", 1 * DAY, 2 * HOUR, True),
        ("ticket", 3 * DAY, 6 * HOUR, True),
        ("ticket", 6 * HOUR, 1 * HOUR, True),  # an hour is the shortest slow short window
        ("ticket", 6 * HOUR, 30 * MINUTE, False),
        ("ticket", 1 * HOUR, 5 * MINUTE, False),
        ("page", 3 * DAY, 6 * HOUR, False),  # a page never waits for the period group
    ],
)
def test_which_tiers_are_slow(severity, long, short, slow):
    assert slow_tier(tier(severity, long, short)) is slow


def groups_of(tmp_path) -> dict[str, list[dict]]:
    document = yaml.safe_load((tmp_path / "rules.yml").read_text())
    return {g["name"]: g["rules"] for g in document["groups"]}


def test_the_default_tickets_and_what_only_they_read_move_to_the_period_group(tmp_path):
    compiled(tmp_path, "1m")
    groups = groups_of(tmp_path)
    sli, period = groups[names.group_sli("checkout")], groups[names.group_period("checkout")]

    def alerts(rules):
        return sorted(
            (r["labels"]["severity"], r["labels"]["long_window"])
            for r in rules
            if r.get("alert") == "ErrorBudgetBurn"
        )

    def recorded(rules):
        return {
            r["record"] + (f"[{r['labels']['window']}]" if "window" in r["labels"] else "")
            for r in rules
            if "record" in r
        }

    assert alerts(sli) == [("page", "1h"), ("page", "6h")]
    assert alerts(period) == [("ticket", "1d"), ("ticket", "3d")]
    moved = {
        f"{names.EVENTS}[1d]",
        f"{names.EVENTS}[3d]",
        "slo:sli_error:ratio_rate2h",
        "slo:sli_error:ratio_rate1d",
        "slo:sli_error:ratio_rate3d",
    }
    assert moved <= recorded(period)
    assert not moved & recorded(sli)
    # 2h builds the 6h window of a page; the period group reads its own 1d window
    assert {f"{names.EVENTS}[2h]", f"{names.EVENTS}[6h]"} <= recorded(sli)


def test_the_day_stays_in_the_sli_group_when_a_rule_there_reads_it(tmp_path):
    """A forecast at the pace of the last day reads the 1d window from the SLI group's grid."""
    compiled(tmp_path, "1m", extra="    alerting:\n      exhaustion: {within: 3d}\n")
    groups = groups_of(tmp_path)
    windows = {
        r["labels"]["window"]
        for r in groups[names.group_sli("checkout")]
        if r.get("record") == names.EVENTS and "window" in r["labels"]
    }
    assert "1d" in windows


@needs_promtool
def test_a_ticket_fires_one_base_window_after_its_windows_cross(tmp_path):
    """A total outage from t=0 at 1,000 requests a minute: the 1d window's ratio (missing time
    counts as good) passes 3% when 9 base windows hold errors (2700 s of 86400 s = 3.1%), at
    41m; the period group's 1d record, which ends a base window back, shows it 5 minutes
    later, and both tickets fire then, at 46m (the 3d/6h tier crosses 1% at the same 9 base
    windows)."""
    compiled(tmp_path, "1m")
    sel = 'service="checkout",slo="availability"'

    def events_of(kind: str, window: str) -> str:
        selector = f'{names.EVENTS}{{{sel},kind="{kind}",window="{window}"}}'
        return f"sum without (kind, window) ({selector})"

    # every request fails and all data lies in the last 6h: the 1d window's error ratio is the
    # seconds with data over a day, which the SLI group's 6h record holds without lag
    truth = f"{events_of('seconds', '6h')} / {DAY} > bool 0.03"
    errors, total, seconds = (events_of(kind, "1d") for kind in ("errors", "total", "seconds"))
    late = f"{errors} / {total} * {seconds} / {DAY} > bool 0.03"

    def check(expr: str, at: str, value: int) -> dict:
        return {
            "expr": expr,
            "eval_time": at,
            "exp_samples": [{"labels": f"{{{sel}}}", "value": value}],
        }

    tickets = 'count by (long_window) (ALERTS{alertstate="firing",severity="ticket"})'
    test = {
        "input_series": [
            {"series": 'http_requests_total{job="checkout",code="500"}', "values": "0+1000x60"}
        ],
        "promql_expr_test": [
            check(truth, "40m", 0),
            check(truth, "41m", 1),
            check(late, "45m", 0),
            check(late, "46m", 1),
            {"expr": tickets, "eval_time": "45m", "exp_samples": []},
            {
                "expr": tickets,
                "eval_time": "46m",
                "exp_samples": [
                    {"labels": f'{{long_window="{w}"}}', "value": 1} for w in ("1d", "3d")
                ],
            },
        ],
    }
    proc = run_promtool(tmp_path, 60, test)
    assert proc.returncode == 0, proc.stdout + proc.stderr
