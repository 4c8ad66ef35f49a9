"""`slo import`: our own fixtures imported byte for byte (tests/import/<format>/), the CLI, and the
imported specs compiled and checked by promtool.

Regenerate the expected specs and warnings with UPDATE_GOLDEN=1, then review the diff.
"""

import os
import subprocess
import sys

import pytest
import yaml
from support import (
    IMPORT_FORMATS,
    IMPORTS,
    ROOT,
    assert_passed,
    copy_specs,
    import_inputs,
    needs_promtool,
    rendered,
    rewrite_tree,
    rule_checks,
    slo,
    updating,
)

from compiler import compile_tree
from compiler.importers import Options, import_specs
from compiler.importers.common import valid_name
from compiler.pipeline import load_sources
from compiler.pipeline.output import read_tree


@pytest.mark.parametrize("source_format", IMPORT_FORMATS)
def test_import_matches_the_expected_specs_and_warnings(source_format):
    case = IMPORTS / source_format
    result = import_specs(source_format, import_inputs(source_format))
    if updating("UPDATE_GOLDEN"):
        rewrite_tree(case / "expected", result.files)
        (case / "warnings.txt").write_text(rendered(result.diagnostics), encoding="utf-8")
    assert result.ok, rendered(result.diagnostics)
    assert result.files == read_tree(case / "expected")
    assert rendered(result.diagnostics) == (case / "warnings.txt").read_text(encoding="utf-8")


def test_every_written_spec_names_its_source_and_every_slo_its_line():
    files = import_specs("sloth", import_inputs("sloth")).files
    text = files["checkout-api.yaml"]
    assert text.startswith("# Imported by `slo import --from sloth` from in/checkout.yml.\n")
    assert "# availability: from in/checkout.yml:9\n- name: availability\n" in text
    assert "# latency: from in/checkout.yml:35\n" in text


def test_what_cannot_be_expressed_is_a_warning_naming_file_line_and_field():
    diagnostics = import_specs("sloth", import_inputs("sloth")).diagnostics
    lines = rendered(diagnostics).splitlines()
    expected = [
        # a Go SLI plugin: the SLO is skipped, never written half-way
        "in/checkout.yml:76:9: warning [import/unsupported] slos[4].sli.plugin: SLI plugin "
        "'sloth-common/fraud/score'",
        # severity is set by slo; the routing key next to it is kept (see the golden spec)
        "in/checkout.yml:28:11: warning [import/dropped] "
        "slos[0].alerting.page_alert.labels.severity:",
        "in/checkout.yml:79:16: warning [import/unsupported] slos[5].objective: objective 100% "
        "cannot be expressed",
        "in/windows-30d.yaml:7:49: warning [import/changed] spec.page.quick.shortWindow: 2m is "
        "shorter",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), f"missing: {start}\n" + "\n".join(
            lines
        )
    files = import_specs("sloth", import_inputs("sloth")).files
    assert (
        "fraud-score" not in files["checkout-api.yaml"]
        and "perfect" not in files["checkout-api.yaml"]
    )


IMPORT_ALL = """
import json, sys
sys.path.insert(0, "tests")
from support import IMPORT_FORMATS, import_inputs, rendered
from compiler.importers import import_specs
results = {f: import_specs(f, import_inputs(f)) for f in IMPORT_FORMATS}
print(json.dumps({f: [r.files, rendered(r.diagnostics)] for f, r in results.items()}))
"""


def test_import_is_deterministic_across_processes():
    """Different string-hash seeds change set and dict-of-set orders; the output must not move."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", IMPORT_ALL],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=60,
        )
        for seed in ("1", "2")
    ]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr + runs[1].stderr
    assert runs[0].stdout == runs[1].stdout and len(runs[0].stdout) > 1000


def test_team_and_service_options_override_the_source():
    result = import_specs("pyrra", import_inputs("pyrra"), Options(team="shop-sre", service="shop"))
    assert list(result.files) == ["shop.yaml"]
    text = result.files["shop.yaml"]
    assert "service: shop\nteam: shop-sre\n" in text
    for name in ("orders-errors", "orders-latency", "storefront-probes", "grpc-latency"):
        assert f"- name: {name}\n" in text
    # The Kubernetes settings of orders-errors are kept for the merged service.
    assert "namespace: shop" in text


def test_two_sources_with_the_same_slo_of_one_service_is_an_error_and_writes_nothing():
    spec = (IMPORTS / "sloth" / "in" / "search-crd.yaml").read_bytes()
    result = import_specs("sloth", [("a.yaml", spec), ("b.yaml", spec)])
    assert not result.ok and result.files == {}
    assert (
        "b.yaml:14:7: error [import/duplicate-name] service 'search' already has an objective "
        "named 'availability' (from a.yaml:14)" in rendered(result.diagnostics)
    )


def test_long_names_are_shortened_but_stay_distinct():
    first = valid_name("requests-availability-contrib-plugin-info-labels-v1")
    second = valid_name("requests-availability-contrib-plugin-rule-intervals-v1")
    assert first != second and len(first) <= 30 and len(second) <= 30
    assert first.startswith("requests-availability-")
    assert valid_name("Checkout_API") == "checkout-api" and valid_name("5xx rate") == "slo-5xx-rate"


def test_input_that_is_not_the_format_is_an_error():
    result = import_specs("pyrra", [("x.yaml", b"apiVersion: v1\nkind: ConfigMap\n")])
    assert not result.ok and result.files == {}
    assert rendered(result.diagnostics).startswith(
        "x.yaml:1:1: error [import/format] (document): not a Pyrra SLO"
    )
    broken = import_specs("sloth", [("y.yaml", b"version: [unclosed\n")])
    assert not broken.ok and "y.yaml:2:1: error [yaml/syntax]" in rendered(broken.diagnostics)


# --- the CLI -------------------------------------------------------------------------------------
def test_cli_writes_the_specs_refuses_to_overwrite_and_forces(tmp_path):
    args = ["import", "--from", "sloth", IMPORTS / "sloth" / "in", "--out", tmp_path / "specs"]
    first = slo(*args)
    assert first.exit_code == 0, first.output
    written = read_tree(tmp_path / "specs")
    assert sorted(written) == ["checkout-api.yaml", "search.yaml"]
    assert written == read_tree(IMPORTS / "sloth" / "expected")
    assert "warning [import/unsupported]" in first.output  # CliRunner mixes stderr in

    (tmp_path / "specs" / "search.yaml").write_text("# edited by hand\n")
    again = slo(*args)
    assert again.exit_code == 1 and "already exist" in again.output and "--force" in again.output
    assert (tmp_path / "specs" / "search.yaml").read_text() == "# edited by hand\n"
    forced = slo(*args, "--force")
    assert forced.exit_code == 0 and read_tree(tmp_path / "specs") == read_tree(
        IMPORTS / "sloth" / "expected"
    )


def test_cli_error_exits_1_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "prometheus/v2"\nservice: x\nslos: []\n')
    result = slo("import", "--from", "sloth", bad, "--out", tmp_path / "specs")
    assert result.exit_code == 1
    assert (
        "bad.yml:1:10: error [import/format] version: 'prometheus/v2' is not a Sloth spec version"
        in result.output
    )
    assert "Traceback" not in result.output and not (tmp_path / "specs").exists()


def test_cli_rejects_an_invalid_team_as_a_usage_error(tmp_path):
    result = slo("import", "--from", "pyrra", IMPORTS / "pyrra" / "in", "--team", "Shop SRE")
    assert result.exit_code == 2 and "not a valid name" in result.output


def test_sloth_period_option_picks_the_alert_windows_catalog_for_that_period(tmp_path):
    catalog = tmp_path / "windows-7d.yaml"
    catalog.write_text(
        "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec:\n  sloPeriod: 7d\n"
        "  page:\n    quick: {errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h}\n"
        "    slow: {errorBudgetPercent: 12.5, shortWindow: 30m, longWindow: 6h}\n"
        "  ticket:\n    quick: {errorBudgetPercent: 20, shortWindow: 2h, longWindow: 1d}\n"
        "    slow: {errorBudgetPercent: 42, shortWindow: 6h, longWindow: 3d}\n"
    )
    spec = IMPORTS / "sloth" / "in" / "search-crd.yaml"
    out = tmp_path / "specs"
    result = slo("import", "--from", "sloth", "--period", "7d", catalog, spec, "--out", out)
    assert result.exit_code == 0, result.output
    text = (out / "search.yaml").read_text()
    assert "  period: 7d\n" in text
    assert "    - severity: ticket\n      long: 3d\n      short: 6h\n      budget: 42\n" in text
    model = compile_tree(out).model
    factors = sorted(str(t.factor.normalize()) for t in model.services[0].slos[0].alerting.tiers)
    assert factors == sorted(["13.44", "3.5", "1.4", "0.98"])  # Sloth's own 7d factors
    # The same catalog does not apply to the default 30d period: a warning says so.
    other = slo("import", "--from", "sloth", catalog, spec, "--out", tmp_path / "o2")
    assert (
        other.exit_code == 0
        and "AlertWindows for sloPeriod 7d not used: the import period is 30d" in other.output
    )


# --- what was imported compiles and passes promtool ----------------------------------------------
# The generated unit tests of imported specs are the compiler's own (tests/test_golden.py proves
# them); running them all here would take minutes: `promtool check rules` checks what was
# imported. The Sloth round trip in test_import_anchors.py runs one file of the unit tests.
@needs_promtool
def test_imported_fixtures_compile_and_pass_promtool(tmp_path):
    outs = []
    for source_format in IMPORT_FORMATS:
        specs = copy_specs(IMPORTS / source_format / "expected", tmp_path / source_format)
        result = slo("compile", specs, "--out", tmp_path / source_format / "out")
        assert result.exit_code == 0, result.output
        outs.append(tmp_path / source_format / "out")
    assert list((tmp_path / "sloth" / "out" / "kubernetes").glob("*.yml")), (
        "the Sloth CRD asks for a PrometheusRule"
    )
    assert_passed(rule_checks(outs))


def test_pyrra_absent_alerts_wait_as_long_as_pyrra():
    from decimal import Decimal

    from compiler.importers.pyrra import absent_wait

    four_weeks = 28 * 86400
    # Pyrra's own tests: 10m for 99%, 6m for 99.5% over 4w.
    assert absent_wait(Decimal("0.99"), four_weeks) == 600
    assert absent_wait(Decimal("0.995"), four_weeks) == 360
    assert absent_wait(Decimal("0.999"), four_weeks) == 180


# --- malformed input (found by test_fuzz.py): diagnostics, never an exception ---------------------
SLOTH_SPEC = """\
version: prometheus/v1
service: checkout
labels: {team: payments}
slos:
  - name: latency
    objective: 99
    sli:
      events:
        error_query: sum(rate(errors_total[{{.window}}]))
        total_query: sum(rate(requests_total[{{.window}}]))
    alerting:
      ticket_alert: {disable: true}
"""
TICKET_ONLY_CATALOG = """\
apiVersion: sloth.slok.dev/v1
kind: AlertWindows
spec:
  sloPeriod: 30d
  ticket:
    quick: {errorBudgetPercent: 10, shortWindow: 1h, longWindow: 12h}
    slow: {errorBudgetPercent: 10, shortWindow: 6h, longWindow: 3d}
"""


@pytest.mark.parametrize(
    "document, message",
    [
        (
            "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\n",
            "in/odd.yaml:1:1: warning [import/dropped] (document): AlertWindows for sloPeriod ? "
            "not used",
        ),
        (
            "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec: 5\n",
            "in/odd.yaml:1:1: error [import/format] (document): a PrometheusServiceLevel needs a "
            "spec",
        ),
    ],
)
def test_sloth_documents_without_a_spec_are_diagnostics(document, message):
    result = import_specs("sloth", [("in/spec.yml", SLOTH_SPEC), ("in/odd.yaml", document)])
    assert any(d.render().startswith(message) for d in result.diagnostics), rendered(
        result.diagnostics
    )


def test_a_catalog_without_tiers_of_the_enabled_severity_imports_an_slo_without_alerts():
    result = import_specs(
        "sloth", [("in/spec.yml", SLOTH_SPEC), ("in/windows.yaml", TICKET_ONLY_CATALOG)]
    )
    assert result.ok, rendered(result.diagnostics)
    assert (
        "in/spec.yml:12:7: warning [import/dropped] slos[0].alerting: the AlertWindows catalog has "
        "no page tiers" in rendered(result.diagnostics)
    )
    text = result.files["checkout.yaml"]
    assert "page: false" in text and "ticket: false" in text and "windows" not in text


# --- Pyrra grouping -> by ------------------------------------------------------------------------
GROUPED_PYRRA = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: api-errors
  labels:
    pyrra.dev/team: api
    pyrra.dev/region: eu
spec:
  target: "99.5"
  window: 28d
  indicator:
    ratio:
      errors: {metric: 'http_requests_total{job="api",code=~"5.."}'}
      total: {metric: 'http_requests_total{job="api"}'}
      grouping: [region, handler, slo, handler, 1bad]
"""


def test_pyrra_grouping_becomes_by_and_what_slo_cannot_group_by_is_a_warning():
    result = import_specs("pyrra", [("api.yaml", GROUPED_PYRRA.encode())])
    assert result.ok, rendered(result.diagnostics)
    spec = yaml.safe_load(result.files["api-errors.yaml"])
    (slo_spec,) = spec["slos"]
    assert slo_spec["by"] == ["region", "handler"]  # once each, in Pyrra's order
    # The fixed pyrra.dev/region label would clash with the group label: each group has its own.
    assert "labels" not in slo_spec
    assert rendered(result.diagnostics).splitlines() == [
        "api.yaml:7:5: warning [import/dropped] metadata.labels.pyrra.dev/region: the SLO is "
        "grouped by 'region': each group keeps its own value, so this fixed one is not set",
        "api.yaml:15:35: warning [import/dropped] spec.indicator.ratio.grouping[2]: slo sets "
        "'slo' on every series of an SLO, so it cannot group by it: each group sums the series "
        "of every 'slo'",
        "api.yaml:15:49: warning [import/dropped] spec.indicator.ratio.grouping[4]: '1bad' is "
        "not a label name; not grouped by",
    ]
    model, diagnostics = load_sources(
        [(f"slo/{name}", text) for name, text in result.files.items()]
    )
    assert model is not None, rendered(diagnostics)
    assert model.services[0].slos[0].by == ("region", "handler")


def test_pyrra_without_grouping_imports_no_by():
    ungrouped = GROUPED_PYRRA.replace("      grouping: [region, handler, slo, handler, 1bad]\n", "")
    result = import_specs("pyrra", [("api.yaml", ungrouped.encode())])
    assert result.ok and "by:" not in result.files["api-errors.yaml"]
    assert "region: eu" in result.files["api-errors.yaml"]


def test_a_failed_import_warns_about_no_spec_it_did_not_write():
    grouped = GROUPED_PYRRA.replace(
        "grouping: [region, handler, slo, handler, 1bad]", "grouping: [pod]"
    )
    result = import_specs(
        "pyrra", [("api.yaml", grouped.encode()), ("x.yaml", b"apiVersion: v1\nkind: ConfigMap\n")]
    )
    assert not result.ok and result.files == {}
    assert [d.position.file for d in result.diagnostics] == ["x.yaml"]
    # The same source alone imports, with the loader's warning about the spec it writes.
    alone = import_specs("pyrra", [("api.yaml", grouped.encode())])
    assert alone.ok and "slo/api-errors.yaml" in rendered(alone.diagnostics)
