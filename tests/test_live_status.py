"""`slo status` against an in-process fake of Prometheus' query API and Alertmanager's alerts.

The fake answers each query by the series name it asks for, so the test states what the live
Prometheus holds; the command must turn that into budgets, burn rates, alerts with their
receivers, and the exit code (1 while a page fires, 2 when the servers cannot be read).
"""

from __future__ import annotations

import json
import shutil
import urllib.parse

import pytest
from support import ROOT
from support import slo as run_cli
from werkzeug import Request, Response

from compiler.core import conventions as names

PIZZA = {"service": "pizza-api", "slo": "api-availability"}


@pytest.fixture
def pizza_specs(tmp_path):
    specs = tmp_path / "slo"
    specs.mkdir()
    shutil.copy(ROOT / "slo" / "pizza-ordering.yaml", specs)
    return specs


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
        {"status": "success", "data": {"alerts": list(alerts)}}
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
            for a in alerts
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
