"""Grafana dashboards: what real Grafana requires, what each panel shows, and local provisioning.

The structural checks here are written independently of the target, from Grafana's rules
(integrations.md §6-7), and run on the shipped examples and on every golden case.
"""

import json
import re
import subprocess
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import promql_parser
import pytest
import yaml
from support import ROOT, SPEC_TREES, needs_promtool

from compiler import compile_tree
from compiler.core import conventions
from compiler.core.diagnostics import CompileError
from compiler.core.durations import format_duration
from compiler.core.model import LatencyIndicator

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(
    scope="module",
    params=SPEC_TREES,
    ids=lambda p: p.parent.name if p.name == "slo" and p.parent != ROOT else "examples",
)
def compiled(request):
    return compile_tree(request.param)


def dashboards(result) -> dict[str, dict]:
    return {
        path: json.loads(text)
        for path, text in result.artifacts.items()
        if path.startswith("grafana/dashboards/")
    }


def all_panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(dashboard: dict) -> list[str]:
    exprs = [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    return exprs + [t["expr"] for p in all_panels(dashboard) for t in p.get("targets", [])]


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


# --- what Grafana requires ---------------------------------------------------------------------
VARIABLE_USE = re.compile(r"\$\{?(\w+)")


def variables_used(text: str) -> set[str]:
    """Dashboard variables a query or title refers to (``$name``, ``${name}``), Grafana's own
    (``$__all``, ``${__url_time_range}``, ``${__data.fields...}``) left out."""
    return {name for name in VARIABLE_USE.findall(text) if not name.startswith("__")}


def test_every_dashboard_is_one_grafana_accepts(compiled):
    assert_grafana_accepts(compiled)


def assert_grafana_accepts(compiled) -> None:
    boards = dashboards(compiled)
    assert conventions.OVERVIEW_DASHBOARD_FILE in boards
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids), uids
    for path, board in boards.items():
        assert board["schemaVersion"] >= 37, path
        assert UID.match(board["uid"]), board["uid"]
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert (
            variables["datasource"]["type"] == "datasource"
            and variables["datasource"]["query"] == "prometheus"
        )
        assert {"slo", conventions.GRAFANA_MANAGED_TAG} <= set(board["tags"]), path
        panels = all_panels(board)
        ids = [p["id"] for p in panels]
        assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids), (path, ids)
        for panel in panels:
            pos = panel["gridPos"]
            assert (
                pos["w"] >= 1 and pos["h"] >= 1 and pos["x"] >= 0 and pos["x"] + pos["w"] <= 24
            ), (path, panel["title"])
            if "repeat" in panel:  # a repeated panel or row needs a variable to repeat over
                assert panel["repeat"] in variables, (path, panel["title"])
            assert variables_used(panel["title"]) <= set(variables), (path, panel["title"])
            if panel["type"] != "row":
                assert panel["datasource"] == DATASOURCE_REF, (path, panel["title"])
                assert panel["targets"], (path, panel["title"])
                # a query without a datasource asks its panel's (no mixed datasources here)
                assert all(
                    t.get("datasource", DATASOURCE_REF) == DATASOURCE_REF and t["refId"]
                    for t in panel["targets"]
                )
                assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
                defaults = panel["fieldConfig"]["defaults"]
                draws = defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off")
                if panel["type"] == "stat" or draws != "off":
                    # else Grafana's default levels (red above 80) would colour or be drawn
                    assert "thresholds" in defaults, (path, panel["title"])
                levels = defaults.get("thresholds", {"steps": [{"value": None}]})["steps"]
                assert levels[0]["value"] is None, (path, panel["title"])  # the base colour
                values = [step["value"] for step in levels[1:]]
                assert values == sorted(values), (
                    path,
                    panel["title"],
                    values,
                )  # Grafana needs them ascending
        for i, a in enumerate(panels):
            for b in panels[i + 1 :]:
                assert not overlaps(a["gridPos"], b["gridPos"]), (path, a["title"], b["title"])
        for expr in queries(board):
            promql_parser.parse(expr)  # raises on anything promql-parser cannot read
            assert variables_used(expr) <= set(variables), (path, expr)


def test_dashboards_hold_no_empty_or_default_fields(compiled):
    """What Grafana fills in the same way when it is missing is left out (issue 18: a service
    dashboard was ~70 KB, most of it defaults)."""
    for path, board in dashboards(compiled).items():
        for key in ("id", "version", "editable", "timepicker"):
            assert key not in board, (path, key)
        for panel in all_panels(board):
            for key, value in panel.items():
                assert value not in ([], {}, "", None), (path, panel["title"], key)
            assert not {"hideTimeOverride", "transparent", "maxDataPoints"} & set(panel)
            for target in panel.get("targets", []):
                assert set(target) <= {"expr", "refId", "legendFormat", "format", "instant"}
                assert target.get("format", "table") == "table" and target.get("instant", True)


def test_service_dashboards_are_tagged_with_service_and_team(compiled):
    boards = dashboards(compiled)
    for service in compiled.model.services:
        board = boards[conventions.dashboard_file(service.name)]
        assert board["uid"] == conventions.dashboard_uid(service.name)
        assert {service.name, service.team} <= set(board["tags"])
        assert board["description"] == f"generated by slo from {service.source_file}; do not edit"


def test_alert_annotations_link_to_a_dashboard_that_filters_on_the_objective(compiled):
    """Every `dashboard` annotation opens an existing dashboard whose slo variable offers that
    objective."""
    by_uid = {b["uid"]: b for b in dashboards(compiled).values()}
    links = 0
    for path, text in compiled.artifacts.items():
        if not path.startswith("prometheus/rules/"):
            continue
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                url = urlparse(rule["annotations"]["dashboard"])
                parts = url.path.split("/")  # [<grafana_url path>]/d/<uid>/<slug>
                uid = parts[parts.index("d") + 1]
                assert uid in by_uid, url
                variable = next(v for v in by_uid[uid]["templating"]["list"] if v["name"] == "slo")
                (wanted,) = parse_qs(url.query)["var-slo"]
                assert wanted == rule["labels"]["slo"]
                assert wanted in [o["value"] for o in variable["options"]]
                links += 1
    assert links > 0


# --- what the panels show ------------------------------------------------------------------------
def service_board(result, service):
    return dashboards(result)[conventions.dashboard_file(service.name)]


def row_panels(board: dict, title_prefix: str) -> list[dict]:
    """The panels under the row whose title starts with ``title_prefix``."""
    panels, inside = [], False
    for panel in board["panels"]:
        if panel["type"] == "row":
            inside = panel["title"].startswith(title_prefix)
        elif inside:
            panels.append(panel)
    assert panels, title_prefix
    return panels


def test_the_service_table_shows_every_slo_of_the_service_worst_budget_first(compiled):
    """One table replaces the four stat panels each SLO had: objective, SLI, budget remaining and
    burn rate now, one row per SLO (a grouped SLO's worst group)."""
    for service in compiled.model.services:
        if not service.slos:
            continue
        board = service_board(compiled, service)
        (table,) = [p for p in board["panels"] if p["title"] == "SLOs, worst error budget first"]
        assert table["options"]["sortBy"] == [{"desc": False, "displayName": "Budget remaining"}]
        exprs = {t["refId"]: t["expr"] for t in table["targets"]}
        assert all(t["instant"] and t["format"] == "table" for t in table["targets"])
        selector = f'{{service="{service.name}",slo=~"$slo"}}'
        assert exprs == {
            "A": f"max by (slo) (slo:objective:ratio{selector})",
            "B": f"1 - max by (slo) (slo:sli_error:ratio_period{selector})",
            "C": f"min by (slo) (slo:error_budget_remaining:ratio{selector})",
            "D": f"max by (slo) (slo:burn_rate:current{selector})",
        }
        organize = next(t for t in table["transformations"] if t["id"] == "organize")
        assert list(organize["options"]["renameByName"].values()) == [
            "Objective",
            "SLI over the period",
            "Budget remaining",
            "Burn rate now",
        ]
        budget = next(
            o
            for o in table["fieldConfig"]["overrides"]
            if o["matcher"]["options"] == "Budget remaining"
        )
        levels = next(p for p in budget["properties"] if p["id"] == "thresholds")["value"]
        assert [s["value"] for s in levels["steps"]] == [None, 0, 0.25]


def test_each_slo_has_its_trends_and_burn_rates_with_tier_thresholds(compiled):
    for service in compiled.model.services:
        board = service_board(compiled, service)
        for slo in service.slos:
            panels = row_panels(board, f"{slo.name}: ")
            prefix = "".join(f"{{{{{label}}}}} " for label in slo.by)  # legends name the group
            if slo.by:  # a grouped SLO's row opens with its groups' budgets
                assert panels[0]["title"] == "Error budget per group, worst first"
                panels = panels[1:]
            # a calendar period's: "this month", and first the time until it resets
            over = f"this {slo.calendar}" if slo.calendar else f"over {format_duration(slo.period)}"
            if slo.calendar:
                assert panels[0]["title"] == f"Time left this {slo.calendar}"
                panels = panels[1:]
            titles = [p["title"] for p in panels]
            assert titles[:3] == [
                "SLI against the objective",
                f"Error budget remaining {over}",
                "Burn rate per alert window",
            ]
            for panel in panels:
                for target in panel["targets"]:
                    assert f'slo="{slo.name}"' in target["expr"] and 'slo=~"$slo"' in target["expr"]
            sli = panels[0]
            assert [t["legendFormat"] for t in sli["targets"]][1:] == [
                f"{prefix}SLI {over}",
                "objective",
            ]
            burn = next(p for p in panels if p["title"] == "Burn rate per alert window")
            windows = {t["legendFormat"].removeprefix(prefix) for t in burn["targets"]}
            levels = {
                s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]
            }
            for tier in slo.alerting.tiers:
                assert {format_duration(tier.long), format_duration(tier.short)} <= windows
                assert any(abs(Decimal(str(v)) - tier.factor) < Decimal("1e-9") for v in levels), (
                    tier,
                    levels,
                )
                assert f"above {conventions.number(tier.factor)}×" in burn["description"]
            for target in burn["targets"]:  # the error ratio over the budget: the burn rate
                assert target["expr"].endswith(f" / {conventions.number(slo.error_budget)}")
            if slo.alerting.runbook_url:
                assert burn["links"] == [
                    {"targetBlank": True, "title": "Runbook", "url": slo.alerting.runbook_url}
                ]
            budget = panels[1]
            # a calendar month's: the longest month, so the whole of this one shows
            shown = "31d" if slo.calendar == "month" else format_duration(slo.period)
            assert budget["timeFrom"] == shown


def test_latency_slos_show_percentiles_against_the_threshold(compiled):
    latency = [
        (svc, s)
        for svc in compiled.model.services
        for s in svc.slos
        if isinstance(s.indicator, LatencyIndicator)
    ]
    for service, slo in latency:
        panel = next(
            p
            for p in row_panels(service_board(compiled, service), f"{slo.name}: ")
            if p["title"] == "Latency percentiles"
        )
        exprs = [t["expr"] for t in panel["targets"]]
        assert [e.split(",")[0] for e in exprs] == [
            "histogram_quantile(0.5",
            "histogram_quantile(0.95",
            "histogram_quantile(0.99",
        ]
        assert all(f"{slo.indicator.histogram.metric}_bucket" in e for e in exprs)
        (line,) = panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]
        assert Decimal(str(line["value"])) == slo.indicator.threshold and line["color"] == "red"
        if slo.indicator.histogram.metric.endswith(
            "_seconds"
        ):  # also when the threshold is a plain 0.5
            assert panel["fieldConfig"]["defaults"]["unit"] == "s"


def test_thresholds_colour_the_breaching_side_by_severity(compiled):
    colours = {"page": "red", "ticket": "orange", "info": "yellow"}
    for service in compiled.model.services:
        for th in service.thresholds:
            panels = row_panels(service_board(compiled, service), f"{th.name}: ")
            for panel in panels:
                base, level = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                assert Decimal(str(level["value"])) == th.value
                below, above = (base["color"], level["color"])
                assert (above if th.op == ">" else below) == colours[th.severity]
                assert (below if th.op == ">" else above) == "green"
                assert panel["targets"][0]["expr"].startswith(f"{conventions.THRESHOLD_VALUE}{{")


def test_overview_lists_every_slo_worst_budget_first_and_links_to_service_dashboards(compiled):
    board = dashboards(compiled)[conventions.OVERVIEW_DASHBOARD_FILE]
    services = [s.name for s in compiled.model.services if s.slos]
    if not services:
        return
    table = board["panels"][0]
    assert table["type"] == "table"
    assert table["options"]["sortBy"] == [{"desc": False, "displayName": "Budget remaining"}]
    renamed = next(t for t in table["transformations"] if t["id"] == "organize")["options"][
        "renameByName"
    ]
    assert sorted(renamed.values()) == ["Budget remaining", "Burn rate", "Objective", "SLI"]
    for target in table["targets"]:
        assert f'service=~"{"|".join(services)}"' in target["expr"]
    links = {
        o["matcher"]["options"]: o["properties"][0]["value"][0]["url"]
        for o in table["fieldConfig"]["overrides"]
        if o["properties"][0]["id"] == "links"
    }
    example = (
        links["slo"]
        .replace("${__data.fields.service}", "checkout")
        .replace("${__data.fields.slo}", "availability")
    )
    assert example.startswith(conventions.dashboard_link(None, "checkout", "availability"))


# --- grouped SLOs ---------------------------------------------------------------------------------
GROUPED = """\
apiVersion: slo/v1
service: shop
team: web
slos:
  - name: availability
    objective: 99.9
    by: [region]
    indicator:
      ratio:
        errors: http_requests_total{job="shop",code=~"5.."}
        total: http_requests_total{job="shop"}
    alerting:
      runbook_url: https://runbooks.example.com/shop
  - name: latency
    objective: 99
    by: [region, endpoint]
    indicator:
      latency:
        histogram: http_request_duration_seconds{job="shop"}
        threshold: 0.3
  - name: checkout
    objective: 99.5
    indicator:
      ratio:
        errors: checkout_total{job="shop",result="failed"}
        total: checkout_total{job="shop"}
"""
UNGROUPED = """\
apiVersion: slo/v1
service: web
team: web
slos:
  - name: availability
    objective: 99
    indicator:
      ratio:
        errors: http_requests_total{job="web",code=~"5.."}
        total: http_requests_total{job="web"}
"""


@pytest.fixture(scope="module")
def grouped_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped")
    (root / "shop.yaml").write_text(GROUPED)
    (root / "web.yaml").write_text(UNGROUPED)
    return root


@pytest.fixture(scope="module")
def grouped(grouped_tree):
    return compile_tree(grouped_tree)


def test_dashboards_of_grouped_slos_are_ones_grafana_accepts(grouped):
    assert_grafana_accepts(grouped)
    assert any(slo.by for service in grouped.model.services for slo in service.slos)


def test_a_variable_per_by_label_lists_the_groups_all_selected(grouped):
    boards = dashboards(grouped)
    shop = {v["name"]: v for v in boards["grafana/dashboards/shop.json"]["templating"]["list"]}
    assert list(shop) == ["datasource", "slo", "region", "endpoint"]  # as the spec names them
    series = '{service="shop",slo=~"availability|latency"}'
    assert shop["region"]["query"] == f"label_values(slo:sli_error:ratio_period{series}, region)"
    assert shop["endpoint"]["query"] == (
        'label_values(slo:sli_error:ratio_period{service="shop",slo="latency"}, endpoint)'
    )
    for name in ("region", "endpoint"):
        variable = shop[name]
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE_REF
        assert variable["definition"] == variable["query"] and variable["refresh"] == 2
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
        assert variable["current"] == {"text": ["All"], "value": ["$__all"]}
    web = boards["grafana/dashboards/web.json"]["templating"]["list"]
    assert [v["name"] for v in web] == ["datasource", "slo"]  # no groups, no group variables


def test_grouped_slo_panels_show_every_group(grouped):
    board = dashboards(grouped)["grafana/dashboards/shop.json"]
    groups = {"availability": ["region"], "latency": ["region", "endpoint"], "checkout": []}
    for slo, labels in groups.items():
        panels = row_panels(board, f"{slo}: ")
        tables = [p for p in panels if p["title"] == "Error budget per group, worst first"]
        matchers = [f'{label}=~"${label}"' for label in labels]
        legend = " ".join("{{" + label + "}}" for label in labels)
        for panel in panels:
            for target in panel["targets"]:
                if target["expr"].startswith("slo:objective:ratio"):
                    continue  # one objective for every group: no group labels
                assert all(m in target["expr"] for m in matchers), target["expr"]
                if panel["type"] == "timeseries":
                    assert target["legendFormat"].startswith(legend), target
        if not labels:
            assert not tables and "per " not in board_row_title(board, slo)
            exprs = [t["expr"].replace('slo=~"$slo"', "") for p in panels for t in p["targets"]]
            assert not any('=~"$' in e for e in exprs)  # no other variable narrows it
            continue
        assert board_row_title(board, slo).endswith(f", per {', '.join(labels)}")
        (table,) = tables
        by = ", ".join(labels)
        exprs = [t["expr"] for t in table["targets"]]
        assert [e.split(" (slo:")[0] for e in exprs] == [
            f"1 - max by ({by})",
            f"max by ({by})",
            f"max by ({by})",
        ]
        assert [e.split("(", 2)[2].split("{")[0] for e in exprs] == [
            "slo:sli_error:ratio_period",
            "slo:error_budget_remaining:ratio",
            "slo:burn_rate:current",
        ]
        assert table["options"]["sortBy"] == [{"desc": False, "displayName": "Budget remaining"}]
        organize = next(t for t in table["transformations"] if t["id"] == "organize")["options"]
        assert [k for k, _ in sorted(organize["indexByName"].items(), key=lambda kv: kv[1])][
            : len(labels)
        ] == labels
    latency = next(p for p in row_panels(board, "latency: ") if p["title"] == "Latency percentiles")
    for target in latency["targets"]:
        assert (
            "sum by (le, region, endpoint) (rate(http_request_duration_seconds_bucket{"
            in (target["expr"])
        )
        assert 'job="shop",region=~"$region",endpoint=~"$endpoint"}[5m]' in target["expr"]


def board_row_title(board: dict, slo: str) -> str:
    return next(
        p["title"]
        for p in board["panels"]
        if p["type"] == "row" and p["title"].startswith(f"{slo}: ")
    )


def test_the_overview_shows_the_worst_groups_and_each_slo_by_its_worst_group(grouped, compiled):
    board = dashboards(grouped)[conventions.OVERVIEW_DASHBOARD_FILE]
    slos, worst = board["panels"][:2]
    assert worst["title"] == "Worst 10 groups of grouped SLOs"
    (target,) = worst["targets"]
    assert target["expr"] == (
        'bottomk(10, slo:error_budget_remaining:ratio{service="shop",slo=~"availability|latency"})'
    )
    assert target["instant"] and target["format"] == "table"
    assert worst["options"]["sortBy"] == [{"desc": False, "displayName": "Budget remaining"}]
    organize = worst["transformations"][0]["options"]
    assert organize["indexByName"] == {
        "service": 0,
        "slo": 1,
        "region": 2,
        "endpoint": 3,
        "Value": 4,
    }
    # a sum over groups of ratios means nothing: each SLO shows its worst group
    assert [t["expr"].split(" by ")[0] for t in slos["targets"]] == ["max", "1 - max", "min", "max"]
    other = dashboards(compiled)[conventions.OVERVIEW_DASHBOARD_FILE]
    has_groups = any(slo.by for service in compiled.model.services for slo in service.slos)
    assert any(p["title"].startswith("Worst ") for p in other["panels"]) == has_groups


# --- real Prometheus parser ----------------------------------------------------------------------
@needs_promtool
def test_every_dashboard_query_passes_promtool(tmp_path, grouped_tree):
    """promtool parses each query as a recording rule would be: the real Prometheus parser, not
    ours."""
    exprs = sorted(
        {
            e
            for case in [*SPEC_TREES, grouped_tree]
            for board in dashboards(compile_tree(case)).values()
            for e in queries(board)
        }
    )
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [{"record": f"q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run(
        ["promtool", "check", "rules", "--lint=none", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout


# --- local provisioning --------------------------------------------------------------------------
def test_provisioned_datasource_is_the_local_prometheus():
    config = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["uid"] == conventions.LOCAL_DATASOURCE_UID
    assert urlparse(source["url"]).hostname == "127.0.0.1" and urlparse(source["url"]).port == 9090


def test_provisioned_dashboards_are_the_compiled_ones():
    config = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/slo.yml").read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    folder = (
        ROOT / provider["options"]["path"]
    )  # relative to the repository root, where Grafana is started
    expected = (ROOT / "out" / conventions.OVERVIEW_DASHBOARD_FILE).parent
    assert folder.resolve() == expected.resolve()
    files = sorted(p.name for p in folder.glob("*.json"))
    compiled = sorted(
        p.split("/")[-1]
        for p in compile_tree(ROOT / "slo").artifacts
        if p.startswith("grafana/dashboards/")
    )
    assert files == compiled and len(files) >= 2


def test_a_service_named_overview_is_refused(tmp_path):
    spec = tmp_path / "overview.yaml"
    spec.write_text(
        "apiVersion: slo/v1\nservice: overview\nteam: web\nthresholds:\n"
        "  - {name: up, expr: up, below: 1, severity: ticket}\n"
    )
    with pytest.raises(CompileError) as caught:
        compile_tree(spec)
    assert [d.render() for d in caught.value.diagnostics] == [
        "overview.yaml: error [grafana/reserved-name] service: 'overview' would replace the "
        "overview dashboard (grafana/dashboards/overview.json); choose another service name"
    ]


def test_a_by_label_named_like_another_variable_gets_a_variable_of_its_own():
    from compiler.targets.grafana.queries import group_variable

    assert [group_variable(label) for label in ("region", "datasource", "__meta")] == [
        "region",
        "by_datasource",
        "by___meta",
    ]
