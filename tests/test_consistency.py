"""The cross-target check: every series a generated rule or dashboard reads is recorded or named
in a spec."""

import json

import pytest
from support import GOLDEN, SPEC_TREES, slo

from compiler import compile_tree
from compiler.checks import consistency
from compiler.targets.grafana import queries as grafana_queries

BASIC = GOLDEN / "basic"


@pytest.mark.parametrize("root", SPEC_TREES)
def test_everything_the_compiler_emits_is_consistent(root):
    result = compile_tree(root)
    assert consistency.check(result.model, result.artifacts, result.checked) == []
    assert any(p.startswith("grafana/dashboards/") for p in result.artifacts)


def line_of(path, needle: str) -> list[int]:
    return [i + 1 for i, line in enumerate(path.read_text().splitlines()) if needle in line]


def test_a_dashboard_reading_a_wrong_series_fails_compile_and_writes_nothing(tmp_path, monkeypatch):
    wrong = "slo:error_budget_remaning:ratio"
    original = grafana_queries.budget_remaining
    monkeypatch.setattr(
        grafana_queries,
        "budget_remaining",
        lambda slo: original(slo).replace("slo:error_budget_remaining:ratio", wrong),
    )
    out = tmp_path / "out"
    result = slo("compile", BASIC / "slo", "--out", out)
    assert result.exit_code == 1
    assert not out.exists()
    # The golden dashboard has the right name on the very lines the diagnostics must point at.
    golden = BASIC / "out" / "grafana" / "dashboards" / "checkout.json"
    (line,) = line_of(
        golden,
        '"expr": "slo:error_budget_remaining:ratio{service=\\"checkout\\",slo=\\"availability\\"',
    )
    tail = (
        f"reads {wrong}, which no generated recording rule records and no spec names "
        "(did you mean slo:error_budget_remaining:ratio?)"
    )
    (latency,) = line_of(
        golden, '"expr": "slo:error_budget_remaining:ratio{service=\\"checkout\\",slo=\\"latency\\"'
    )
    assert result.output.splitlines() == [
        f"grafana/dashboards/checkout.json:{line}:11: error [consistency/unknown-series] panel "
        f'5 "Error budget remaining over 30d" (row "availability: 99% over 30d") {tail}',
        f"grafana/dashboards/checkout.json:{latency}:11: error [consistency/unknown-series] "
        f'panel 9 "Error budget remaining over 30d" (row "latency: 95% over 30d") {tail}',
        "2 error(s), 0 warning(s)",
    ]


def test_a_rule_reading_a_wrong_series_names_its_group_and_rule():
    result = compile_tree(BASIC / "slo")
    artifacts = dict(result.artifacts)
    path = "prometheus/rules/checkout.rules.yml"
    artifacts[path] = artifacts[path].replace(
        "expr: slo:sli_error:ratio_rate1h{", "expr: slo:sli_error:ratio_rate7h{", 1
    )
    (line,) = [
        i + 1
        for i, text in enumerate(artifacts[path].splitlines())
        if "slo:sli_error:ratio_rate7h" in text
    ]
    assert [d.render() for d in consistency.check(result.model, artifacts, result.checked)] == [
        f"{path}:{line}:11: error [consistency/unknown-series] group slo-checkout-sli, rule 14 "
        "(record slo:burn_rate:current) reads slo:sli_error:ratio_rate7h, which no generated "
        "recording rule records and no spec names (did you mean slo:sli_error:ratio_rate6h?)"
    ]


def test_a_query_that_does_not_parse_is_reported_with_its_panel():
    result = compile_tree(BASIC / "slo")
    artifacts = dict(result.artifacts)
    path = "grafana/dashboards/overview.json"
    board = json.loads(artifacts[path])
    board["panels"][0]["targets"][1]["expr"] = "1 - sum(slo:sli_error:ratio_period"
    artifacts[path] = json.dumps(board, sort_keys=True, indent=2) + "\n"
    (diagnostic,) = consistency.check(result.model, artifacts, result.checked)
    assert diagnostic.check_id == "consistency/promql"
    assert diagnostic.position.file == path and diagnostic.position.line > 0
    assert diagnostic.message.startswith(
        'panel 1 "Every SLO, worst error budget first": invalid PromQL: '
    )


SPEC = """\
apiVersion: slo/v1
service: shop
team: web
slos:
  - name: availability
    objective: 99
    indicator:
      ratio:
        errors: http_requests_total{{code=~"5.."}}
        total: http_requests_total
thresholds:
  - name: fast-burn
    expr: {expr}
    above: 2
    for: 1h
    severity: ticket
"""


def test_a_spec_reading_an_unrecorded_slo_series_is_reported_at_the_spec(tmp_path):
    (tmp_path / "shop.yaml").write_text(SPEC.format(expr='slo:burn_rate:curent{service="shop"}'))
    result = slo("validate", tmp_path / "shop.yaml")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "shop.yaml:12:5: error [consistency/unknown-series] threshold 'fast-burn' expr reads "
        "slo:burn_rate:curent, which is in the compiler's slo: namespace but no generated "
        "recording rule records it (did you mean slo:burn_rate:current?)",
        "1 error(s), 0 warning(s)",
    ]


def test_a_spec_may_read_a_series_the_compiler_records(tmp_path):
    (tmp_path / "shop.yaml").write_text(SPEC.format(expr='slo:burn_rate:current{service="shop"}'))
    result = slo("validate", tmp_path / "shop.yaml")
    assert result.exit_code == 0, result.output


def test_alerts_series_is_read_only_where_some_rule_alerts(tmp_path):
    """ALERTS exists only for alerting rules: a service without any gets no firing-alerts panel."""
    quiet = SPEC.split("thresholds:")[0].format() + "    alerting: {page: false, ticket: false}\n"
    (tmp_path / "shop.yaml").write_text(quiet)
    result = compile_tree(tmp_path / "shop.yaml")
    board = json.loads(result.artifacts["grafana/dashboards/shop.json"])
    assert "ALERTS" not in json.dumps(board)
    board["annotations"]["list"].append({"name": "injected", "expr": 'ALERTS{service="shop"}'})
    artifacts = dict(
        result.artifacts,
        **{"grafana/dashboards/shop.json": json.dumps(board, sort_keys=True, indent=2)},
    )
    (diagnostic,) = consistency.check(result.model, artifacts, result.checked)
    assert diagnostic.message.startswith(
        'annotation "injected" reads ALERTS, which no generated recording rule records'
    )


def test_a_generated_rule_file_that_does_not_read_back_is_reported_as_such():
    """Not as "no rule records ..." for every series it holds, which would blame the dashboards."""
    result = compile_tree(BASIC / "slo")
    path = "prometheus/rules/checkout.rules.yml"
    broken = {**result.artifacts, path: result.artifacts[path] + "  owner: ops:\n"}
    found = consistency.check(result.model, broken, result.checked)
    assert [d.check_id for d in found] == ["consistency/generated-file"]
    assert found[0].position.file == path and "this is a bug in slo" in found[0].message
