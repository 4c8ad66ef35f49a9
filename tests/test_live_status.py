"""`slo status` against an in-process fake of Prometheus' query API and Alertmanager's alerts.

The fake answers each query by the series name it asks for, so the test states what the live
Prometheus holds; the command must turn that into budgets, burn rates, alerts with their
receivers, and the exit code (1 while a page fires, 2 when the servers cannot be read).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse

import pytest
import requests
from support import ROOT, assert_clean
from support import slo as run_cli
from werkzeug import Request, Response

from compiler.core import conventions as names

PIZZA = {"service": "pizza-api", "slo": "api-availability"}


def fake_prometheus(httpserver, series: dict[str, list[tuple[dict, float]]], alerts=()):
    def query(request: Request) -> Response:
        expr = urllib.parse.unquote(request.args["query"])
        name = expr.split("{", 1)[0]
        result = [
            {"metric": {"__name__": name, **labels}, "value": [1700000000, str(value)]}
            for labels, value in series.get(name, [])
        ]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query").respond_with_handler(query)
    httpserver.expect_request("/api/v1/alerts").respond_with_json(
        {"status": "success", "data": {"alerts": None if alerts is None else list(alerts)}}
    )
    httpserver.expect_request("/api/v2/alerts").respond_with_json(
        [
            {
                "labels": a["labels"],
                "receivers": [{"name": f"slo-{a['labels']['severity']}"}],
                "status": {
                    "state": "suppressed" if a["labels"]["severity"] == "ticket" else "active"
                },
            }
            for a in alerts or ()
            if a["state"] == "firing"
        ]
    )
    return httpserver.url_for("/").rstrip("/")


def burning_pizza() -> dict[str, list[tuple[dict, float]]]:
    return {
        names.OBJECTIVE: [(PIZZA, 0.99)],
        names.PERIOD_ERROR_RATIO: [(PIZZA, 0.004)],
        names.BUDGET_REMAINING: [(PIZZA, 0.6)],
        names.error_ratio(300): [(PIZZA, 0.5)],
        names.error_ratio(3600): [(PIZZA, 0.2)],
        names.THRESHOLD_VALUE: [({"service": "pizza-api", "slo": "ecs-cpu-usage"}, 42.0)],
    }


TICKET = {
    "labels": {**PIZZA, "alertname": "ErrorBudgetBurn", "severity": "ticket"},
    "state": "firing",
}
PAGE = {
    "labels": {
        **PIZZA,
        "alertname": "ErrorBudgetBurn",
        "severity": "page",
        "team": "pizza-platform",
    },
    "state": "firing",
}


def status(specs, url, *args):
    return run_cli("status", str(specs), "--prometheus-url", url, "--alertmanager-url", url, *args)


def test_a_firing_page_exits_1_and_names_its_receiver(httpserver, pizza_specs):
    url = fake_prometheus(httpserver, burning_pizza(), [PAGE, TICKET])
    result = status(pizza_specs, url, "--format", "json")
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)
    assert found["paging"] is True
    row = next(o for o in found["objectives"] if o["objective"] == "api-availability")
    assert row["state"] == "firing"
    assert row["value"] == pytest.approx(0.996)
    assert row["budget_remaining"] == pytest.approx(0.6)
    fast = row["tiers"][0]
    assert fast["severity"] == "page" and fast["factor"] == pytest.approx(14.4)
    assert fast["windows"] == {"1h": pytest.approx(20.0), "5m": pytest.approx(50.0)}
    assert fast["burning"] is True
    assert row["alerts"] == [
        {
            "alertname": "ErrorBudgetBurn",
            "severity": "page",
            "state": "firing",
            "receivers": ["slo-page"],
        },
        {  # inhibited by the page: Alertmanager delivers it nowhere
            "alertname": "ErrorBudgetBurn",
            "severity": "ticket",
            "state": "firing",
            "receivers": ["slo-ticket", "(suppressed)"],
        },
    ]
    cpu = next(o for o in found["objectives"] if o["objective"] == "ecs-cpu-usage")
    assert (cpu["kind"], cpu["value"], cpu["target"], cpu["state"]) == (
        "threshold",
        42.0,
        "> 80",
        "ok",
    )


def test_the_table_and_the_filters(httpserver, pizza_specs):
    url = fake_prometheus(httpserver, burning_pizza())
    result = status(pizza_specs, url, "--slo", "api-availability")
    assert result.exit_code == 0, result.output  # burning, but no page fires
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines  # the header and the one SLO asked for
    assert lines[1].split()[:5] == [
        "pizza-api/api-availability",
        "99%",
        "99.600%",
        "60.0%",
        "burning",
    ]
    assert "page: 20.00x/50.00x > 14.4" in lines[1]


def test_no_alerts_may_be_null_as_vmalert_says_it(httpserver, pizza_specs):
    """VictoriaMetrics hands /api/v1/alerts to vmalert, which answers null when none is active."""
    url = fake_prometheus(httpserver, burning_pizza(), alerts=None)
    result = status(pizza_specs, url, "--slo", "api-availability")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[4] == "burning"


def test_missing_series_are_named_with_what_to_check(httpserver, pizza_specs):
    url = fake_prometheus(httpserver, {})
    result = status(pizza_specs, url, "--service", "pizza-api", "--slo", "api-latency")
    assert result.exit_code == 0, result.output
    assert "no data" in result.stdout
    assert (
        "warning [live/no-data] no data for pizza-api/api-latency: are its rules pushed "
        "(slo push)? is http_request_duration_seconds_bucket scraped?"
    ) in result.stderr


def test_an_unreachable_prometheus_is_a_clear_error(pizza_specs):
    from support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = status(pizza_specs, url, "--timeout", "1")
    assert result.exit_code == 2, result.output
    assert "error [live/unreachable] Prometheus is unreachable" in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_objective_and_no_prometheus(httpserver, pizza_specs):
    url = fake_prometheus(httpserver, {})
    result = status(pizza_specs, url, "--service", "nope")
    assert result.exit_code == 2
    assert "no objective nope" in result.stderr
    result = run_cli("status", str(pizza_specs), env={"SLO_PROMETHEUS_URL": ""})
    assert result.exit_code == 2
    assert "no Prometheus is configured" in result.stderr


# --- while the period SLI is still filling ------------------------------------------------------
def events(window: str, errors: float, total: float, seconds: float, **labels: str):
    """The three event series of one window of pizza-api/api-availability."""
    labels = {**PIZZA, "window": window, **labels}
    return [
        ({**labels, "kind": "errors"}, errors),
        ({**labels, "kind": "total"}, total),
        ({**labels, "kind": "seconds"}, seconds),
    ]


def filling_pizza() -> dict[str, list[tuple[dict, float]]]:
    """Two minutes after the rules were pushed: windows, but no period SLI nor budget yet."""
    series = burning_pizza()
    del series[names.PERIOD_ERROR_RATIO], series[names.BUDGET_REMAINING]
    series[names.EVENTS] = events("3d", 3, 200, 300) + events("1h", 3, 100, 300)
    return series


def test_while_the_period_fills_the_sli_is_shown_over_the_longest_window(httpserver, pizza_specs):
    url = fake_prometheus(httpserver, filling_pizza())
    result = status(pizza_specs, url, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {o["objective"]: o for o in json.loads(result.stdout)["objectives"]}
    row = rows["api-availability"]
    assert row["value"] == pytest.approx(1 - 3 / 200)  # the 3d window's, not the 1h one's
    assert (row["sli_window"], row["period_complete"], row["sli_data_seconds"]) == (
        "3d",
        False,
        300,
    )
    assert row["note"] == "period SLI still filling: shown over 3d (5m of data)"
    assert row["budget_remaining"] is None and row["problem"] is None
    assert row["state"] == "burning"  # its burn rates are there as before
    # an SLO with no data at all still says what to check
    assert rows["api-latency"]["problem"].startswith("no data for pizza-api/api-latency")
    assert rows["api-latency"]["sli_window"] is None
    assert rows["api-latency"]["period_complete"] is False
    assert rows["ecs-cpu-usage"]["period_complete"] is None  # thresholds have no period


@pytest.mark.parametrize(("errors", "state"), [(3, "burning"), (1, "ok")])
def test_while_the_period_fills_an_sli_below_the_objective_is_burning(
    httpserver, pizza_specs, errors, state
):
    # No budget to judge by yet and no tier above its threshold: the SLI over the window with
    # data decides (99% objective: 3 errors in 200 is below it, 1 in 200 above).
    series = filling_pizza()
    series[names.error_ratio(300)] = [(PIZZA, 0.0)]
    series[names.error_ratio(3600)] = [(PIZZA, 0.0)]
    series[names.EVENTS] = events("3d", errors, 200, 300)
    url = fake_prometheus(httpserver, series)
    result = status(pizza_specs, url, "--format", "json", "--slo", "api-availability")
    (row,) = json.loads(result.stdout)["objectives"]
    assert not any(t["burning"] for t in row["tiers"])
    assert row["state"] == state


def test_the_table_marks_an_sli_over_a_shorter_window(httpserver, pizza_specs):
    series = filling_pizza()
    series[names.EVENTS] = events("1h", 1, 100, 120)  # the longer windows hold nothing yet
    url = fake_prometheus(httpserver, series)
    result = status(pizza_specs, url, "--slo", "api-availability")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[:5] == ["pizza-api/api-availability", "99%", "99.000%*", "-", "burning"]
    assert lines[-1] == (
        "* period SLI still filling: shown over 1h (2m of data): pizza-api/api-availability"
    )
    assert "no-data" not in result.stderr


def test_a_complete_period_is_not_marked(httpserver, pizza_specs):
    series = burning_pizza()
    series[names.EVENTS] = events("3d", 50, 100, 300)  # must not be read: the period is there
    url = fake_prometheus(httpserver, series)
    result = status(pizza_specs, url, "--format", "json", "--slo", "api-availability")
    (row,) = json.loads(result.stdout)["objectives"]
    assert row["value"] == pytest.approx(0.996)
    # a calendar month's SLI is over this month (since 00:00 UTC on the 1st)
    assert (row["sli_window"], row["period_complete"], row["note"]) == ("this month", True, None)
    table = status(pizza_specs, url, "--slo", "api-availability").stdout
    assert "*" not in table


FILLING_RULES = """\
groups:
- name: filling
  interval: 1s
  rules:
{rules}
"""


def test_a_real_prometheus_without_the_period_series(tmp_path, prometheus_server, pizza_specs):
    """Recorded series as a fresh stack holds them: windows up to 3d, no period SLI yet; the
    weekly record (a longer window than the SLO's) must not be taken for one."""
    recorded = (
        events("3d", 6, 400, 600)
        + events("1h", 6, 100, 600)
        + events("week", 400, 400, 600)
        + [({**PIZZA}, 0.01 * 10)]  # slo:sli_error:ratio_rate1h: 10x the budget rate
    )
    rules = []
    for labels, value in recorded:
        name = names.error_ratio(3600) if "kind" not in labels else names.EVENTS
        body = "\n".join(f"      {k}: {v}" for k, v in labels.items())
        rules.append(f"  - record: {name}\n    expr: vector({value})\n    labels:\n{body}")
    rules_dir = prometheus_server.directory / "rules"
    (rules_dir / "filling.yml").write_text(FILLING_RULES.format(rules="\n".join(rules)))
    url = prometheus_server.url
    assert requests.post(url + "/-/reload", timeout=10).status_code == 200
    query = f'{names.EVENTS}{{window="3d",kind="total"}}'
    for _ in range(100):  # the group runs every second: bounded wait for its first evaluation
        found = requests.get(url + "/api/v1/query", params={"query": query}, timeout=10).json()
        if found["data"]["result"]:
            break
        time.sleep(0.1)
    result = run_cli("status", str(pizza_specs), "--prometheus-url", url, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {o["objective"]: o for o in json.loads(result.stdout)["objectives"]}
    row = rows["api-availability"]
    assert row["value"] == pytest.approx(1 - 6 / 400)
    assert (row["sli_window"], row["period_complete"], row["sli_data_seconds"]) == (
        "3d",
        False,
        600,
    )
    assert row["tiers"][0]["windows"]["1h"] == pytest.approx(10.0)
    assert rows["api-latency"]["problem"] is not None


# --- grouped SLOs: a row per group ---------------------------------------------------------------
FITNESS = {"service": "fitness-api", "slo": "api-availability"}


def test_a_grouped_slo_has_a_row_per_group_with_its_own_alerts(httpserver, tmp_path):
    specs = tmp_path / "slo"
    specs.mkdir()
    shutil.copy(ROOT / "slo" / "multi-region.yaml", specs)
    eu, us = {**FITNESS, "region": "eu-west-1"}, {**FITNESS, "region": "us-east-1"}
    series = {
        names.OBJECTIVE: [(FITNESS, 0.99)],  # the objective is the SLO's, not a group's
        names.PERIOD_ERROR_RATIO: [(eu, 0.02), (us, 0.001)],
        names.BUDGET_REMAINING: [(eu, -1.0), (us, 0.9)],
        names.error_ratio(300): [(eu, 1.0), (us, 0.0)],
        names.error_ratio(3600): [(eu, 0.5), (us, 0.0)],
    }
    page = {
        "labels": {**eu, "alertname": "ErrorBudgetBurn", "severity": "page"},
        "state": "firing",
    }
    url = fake_prometheus(httpserver, series, alerts=[page])
    result = status(specs, url, "--slo", "api-availability", "--format", "json")
    assert result.exit_code == 1, result.output  # eu-west-1's page
    rows = json.loads(result.stdout)["objectives"]
    assert [(r["group"], r["state"]) for r in rows] == [
        ({"region": "eu-west-1"}, "firing"),
        ({"region": "us-east-1"}, "ok"),
    ]
    assert [r["value"] for r in rows] == [pytest.approx(0.98), pytest.approx(0.999)]
    assert [len(r["alerts"]) for r in rows] == [1, 0]  # the alert is its group's alone
    table = status(specs, url, "--slo", "api-availability").stdout.splitlines()
    assert table[1].startswith("fitness-api/api-availability [region=eu-west-1]")
    assert table[3].startswith("fitness-api/api-availability [region=us-east-1]")
    # an ungrouped SLO of the same service keeps its one row, with no group
    latency = status(specs, url, "--slo", "api-latency", "--format", "json")
    [row] = json.loads(latency.stdout)["objectives"]
    assert row["group"] == {} and row["problem"].startswith("no data")
