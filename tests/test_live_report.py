"""`slo report` from a fake Prometheus query API, rendered in a real headless Chromium.

The page must load from disk with no console error and fetch nothing, and show one
section per SLO with a chart that has data; a screenshot is left in the test's tmp dir.
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

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def fake_prometheus(httpserver, empty: tuple[str, ...] = ()) -> str:
    """Every range query answers a falling line per SLO (none for an expression holding any of
    ``empty``); ALERTS one page that fired."""

    def query_range(request: Request) -> Response:
        expr = urllib.parse.unquote(request.args["query"])
        queries.append(expr)
        start, end = float(request.args["start"]), float(request.args["end"])
        step = float(request.args["step"])
        count = int((end - start) // step) + 1
        result = []
        if expr.startswith("ALERTS"):
            if 'slo="api-availability"' in expr:
                labels = {"alertname": "ErrorBudgetBurn", "severity": "page"}
                values = [[start + i * step, "1"] for i in range(count // 2, count // 2 + 5)]
                result.append({"metric": labels, "values": values})
        elif not any(text in expr for text in empty):
            for slo in ("api-availability", "api-latency"):
                if f'slo="{slo}"' in expr:
                    values = [[start + i * step, str(0.9 - 0.4 * i / count)] for i in range(count)]
                    result.append({"metric": {"slo": slo}, "values": values})
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return Response(json.dumps(body), content_type="application/json")

    queries: list[str] = []
    httpserver.expect_request("/api/v1/query_range").respond_with_handler(query_range)
    httpserver.queries = queries
    return httpserver.url_for("/").rstrip("/")


def test_report_is_one_offline_page_with_a_section_per_slo(httpserver, pizza_specs, tmp_path):
    url = fake_prometheus(httpserver)
    output = tmp_path / "report.html"
    result = run_cli(
        "report", pizza_specs, "--prometheus-url", url, "--since", "6h", "--output", output
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {output}: 2 SLOs, 6h up to now" in result.stdout
    page = output.read_text()
    assert page.count('<section class="slo"') == 2
    assert page.count("<svg") == 6  # budget, SLI, burn rate per SLO
    assert "ErrorBudgetBurn" in page  # the alert that fired
    # Self-contained: nothing is fetched from anywhere, the SVG namespace is an identifier only.
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"') + 1  # source
    assert names.BUDGET_REMAINING  # the names the report reads come from conventions.py


def test_while_the_period_fills_the_sli_is_charted_over_the_longest_window(
    httpserver, pizza_specs, tmp_path
):
    # No period SLI and no budget yet; of the recorded windows only 1h and shorter have data.
    url = fake_prometheus(
        httpserver, (names.PERIOD_ERROR_RATIO, names.BUDGET_REMAINING, 'window="3d"', 'window="1d"')
    )
    output = tmp_path / "report.html"
    result = run_cli("report", pizza_specs, "--prometheus-url", url, "--output", output)
    assert result.exit_code == 0, result.output
    page = output.read_text()
    assert page.count('<p class="note">period SLI still filling: shown over 6h.</p>') == 2
    assert "over 6h (period SLI still filling)</title></polyline>" in page  # a drawn line
    asked = [q for q in httpserver.queries if names.EVENTS in q]
    assert asked[0] == (
        f'1 - ({names.EVENTS}{{service="pizza-api",slo="api-availability",kind="errors",'
        f'window="3d"}} / ignoring(kind) {names.EVENTS}{{service="pizza-api",'
        f'slo="api-availability",kind="total",window="3d"}})'
    )


def test_report_without_prometheus_is_a_clear_error(pizza_specs, tmp_path):
    from support.servers import free_port

    output = tmp_path / "report.html"
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("report", pizza_specs, "--prometheus-url", url, "--output", output)
    assert result.exit_code == 2
    assert "error [live/unreachable] Prometheus is unreachable" in result.stderr
    assert not output.exists()


@pytest.mark.binaries
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver")
def test_report_renders_in_headless_chromium(httpserver, pizza_specs, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    url = fake_prometheus(httpserver)
    output = tmp_path / "report.html"
    result = run_cli("report", pizza_specs, "--prometheus-url", url, "--output", output)
    assert result.exit_code == 0, result.output

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,2000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(output.as_uri())
        sections = driver.find_elements(By.CSS_SELECTOR, "section.slo")
        assert [s.get_attribute("id") for s in sections] == [
            "pizza-api-api-availability",
            "pizza-api-api-latency",
        ]
        for section in sections:
            charts = section.find_elements(By.CSS_SELECTOR, "figure.chart[data-has-data=true]")
            assert charts, f"{section.get_attribute('id')} has no chart with data"
            line = charts[0].find_element(By.CSS_SELECTOR, "polyline.series")
            assert line.size["width"] > 100  # drawn across the chart, not a dot
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        assert driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_grouped_slo_has_a_section_per_group(httpserver, tmp_path):
    specs = tmp_path / "slo"
    specs.mkdir()
    shutil.copy(ROOT / "slo" / "multi-region.yaml", specs)
    regions = ("eu-west-1", "us-east-1")

    def query_range(request: Request) -> Response:
        expr = urllib.parse.unquote(request.args["query"])
        start, step = float(request.args["start"]), float(request.args["step"])
        values = [[start + i * step, "0.5"] for i in range(10)]
        if expr.startswith(names.EVENTS) and "region=" not in expr:  # which groups there are
            result = [{"metric": {"region": r}, "values": values} for r in regions]
        else:  # a group's own series, only when asked for that group
            result = [{"metric": {}, "values": values} for r in regions if f'region="{r}"' in expr]
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/api/v1/query_range").respond_with_handler(query_range)
    url = httpserver.url_for("/").rstrip("/")
    output = tmp_path / "report.html"
    result = run_cli(
        "report", specs, "--prometheus-url", url, "--slo", "api-availability", "--output", output
    )
    assert result.exit_code == 0, result.output
    page = output.read_text()
    headings = [part.split("</h2>")[0] for part in page.split("<h2>")[1:]]
    assert headings == [f"fitness-api / api-availability [region={r}]" for r in regions]
    assert page.count('data-has-data="true"') == 3 * len(regions)  # each group's own data
