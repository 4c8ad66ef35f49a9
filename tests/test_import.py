"""`slo import`: our own fixtures imported byte for byte (tests/import/<format>/), the CLI, and the
imported specs compiled and checked by promtool.

Regenerate the expected specs and warnings with UPDATE_GOLDEN=1, then review the diff.
"""

import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT, needs_promtool

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.cli import cli
from compiler.importers import Options, import_specs
from compiler.importers.common import valid_name
from compiler.pipeline.output import read_tree

IMPORTS = ROOT / "tests" / "import"
FORMATS = ("openslo", "pyrra", "sloth")


def fixture_sources(source_format: str) -> list[tuple[str, bytes]]:
    files = sorted((IMPORTS / source_format / "in").iterdir())
    return [(f"in/{path.name}", path.read_bytes()) for path in files]


def rendered(diagnostics) -> str:
    return "".join(d.render() + "\n" for d in diagnostics)


@pytest.mark.parametrize("source_format", FORMATS)
def test_import_matches_the_expected_specs_and_warnings(source_format):
    case = IMPORTS / source_format
    result = import_specs(source_format, fixture_sources(source_format))
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(case / "expected", ignore_errors=True)
        (case / "expected").mkdir()
        for name, text in result.files.items():
            (case / "expected" / name).write_text(text, encoding="utf-8")
        (case / "warnings.txt").write_text(rendered(result.diagnostics), encoding="utf-8")
    assert result.ok, rendered(result.diagnostics)
    assert result.files == read_tree(case / "expected")
    assert rendered(result.diagnostics) == (case / "warnings.txt").read_text(encoding="utf-8")


def test_every_written_spec_names_its_source_and_every_slo_its_line():
    files = import_specs("sloth", fixture_sources("sloth")).files
    text = files["checkout-api.yaml"]
    assert text.startswith("# Imported by `slo import --from sloth` from in/checkout.yml.\n")
    assert "# availability: from in/checkout.yml:9\n- name: availability\n" in text
    assert "# latency: from in/checkout.yml:35\n" in text


def test_what_cannot_be_expressed_is_a_warning_naming_file_line_and_field():
    diagnostics = import_specs("sloth", fixture_sources("sloth")).diagnostics
    lines = rendered(diagnostics).splitlines()
    expected = [
        # a Go SLI plugin: the SLO is skipped, never written half-way
        "in/checkout.yml:76:9: warning [import/unsupported] slos[4].sli.plugin: SLI plugin 'sloth-common/fraud/score'",
        # severity is set by slo; the routing key next to it is kept (see the golden spec)
        "in/checkout.yml:28:11: warning [import/dropped] slos[0].alerting.page_alert.labels.severity:",
        "in/checkout.yml:79:16: warning [import/unsupported] slos[5].objective: objective 100% cannot be expressed",
        "in/windows-30d.yaml:7:49: warning [import/changed] spec.page.quick.shortWindow: 2m is shorter",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), f"missing: {start}\n" + "\n".join(
            lines
        )
    files = import_specs("sloth", fixture_sources("sloth")).files
    assert (
        "fraud-score" not in files["checkout-api.yaml"]
        and "perfect" not in files["checkout-api.yaml"]
    )


IMPORT_ALL = """
import json, sys
sys.path.insert(0, "tests")
from test_import import FORMATS, fixture_sources, import_specs, rendered
results = {f: import_specs(f, fixture_sources(f)) for f in FORMATS}
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
    result = import_specs(
        "pyrra", fixture_sources("pyrra"), Options(team="shop-sre", service="shop")
    )
    assert list(result.files) == ["shop.yaml"]
    text = result.files["shop.yaml"]
    assert "service: shop\nteam: shop-sre\n" in text
    for slo in ("orders-errors", "orders-latency", "storefront-probes", "grpc-latency"):
        assert f"- name: {slo}\n" in text
    # The Kubernetes settings of orders-errors are kept for the merged service.
    assert "namespace: shop" in text


def test_two_sources_with_the_same_slo_of_one_service_is_an_error_and_writes_nothing():
    spec = (IMPORTS / "sloth" / "in" / "search-crd.yaml").read_bytes()
    result = import_specs("sloth", [("a.yaml", spec), ("b.yaml", spec)])
    assert not result.ok and result.files == {}
    assert (
        "b.yaml:14:7: error [import/duplicate-name] service 'search' already has an objective named 'availability' (from a.yaml:14)"
        in rendered(result.diagnostics)
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


# --- the CLI ------------------------------------------------------------------------------------------
def test_cli_writes_the_specs_refuses_to_overwrite_and_forces(tmp_path):
    runner = CliRunner()
    args = [
        "import",
        "--from",
        "sloth",
        str(IMPORTS / "sloth" / "in"),
        "--out",
        str(tmp_path / "specs"),
    ]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    written = read_tree(tmp_path / "specs")
    assert sorted(written) == ["checkout-api.yaml", "search.yaml"]
    assert written == read_tree(IMPORTS / "sloth" / "expected")
    assert "warning [import/unsupported]" in first.output  # CliRunner mixes stderr in

    (tmp_path / "specs" / "search.yaml").write_text("# edited by hand\n")
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "already exist" in again.output and "--force" in again.output
    assert (tmp_path / "specs" / "search.yaml").read_text() == "# edited by hand\n"
    forced = runner.invoke(cli, args + ["--force"])
    assert forced.exit_code == 0 and read_tree(tmp_path / "specs") == read_tree(
        IMPORTS / "sloth" / "expected"
    )


def test_cli_error_exits_1_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "prometheus/v2"\nservice: x\nslos: []\n')
    result = CliRunner().invoke(
        cli, ["import", "--from", "sloth", str(bad), "--out", str(tmp_path / "specs")]
    )
    assert result.exit_code == 1
    assert (
        "bad.yml:1:10: error [import/format] version: 'prometheus/v2' is not a Sloth spec version"
        in result.output
    )
    assert "Traceback" not in result.output and not (tmp_path / "specs").exists()


def test_cli_rejects_an_invalid_team_as_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["import", "--from", "pyrra", str(IMPORTS / "pyrra" / "in"), "--team", "Shop SRE"]
    )
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
    runner = CliRunner()
    out = tmp_path / "specs"
    result = runner.invoke(
        cli,
        ["import", "--from", "sloth", "--period", "7d", str(catalog), str(spec), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    text = (out / "search.yaml").read_text()
    assert "  period: 7d\n" in text
    assert "    - severity: ticket\n      long: 3d\n      short: 6h\n      budget: 42\n" in text
    model = compile_tree(out).model
    factors = sorted(str(t.factor.normalize()) for t in model.services[0].slos[0].alerting.tiers)
    assert factors == sorted(["13.44", "3.5", "1.4", "0.98"])  # Sloth's own 7d factors
    # The same catalog does not apply to the default 30d period: a warning says so.
    other = runner.invoke(
        cli, ["import", "--from", "sloth", str(catalog), str(spec), "--out", str(tmp_path / "o2")]
    )
    assert (
        other.exit_code == 0
        and "AlertWindows for sloPeriod 7d not used: the import period is 30d" in other.output
    )


# --- what was imported compiles and passes promtool ---------------------------------------------------
def check_rules(out_dirs) -> list:
    """`promtool check rules` on every plain and embedded rule file of the compiled trees.

    The generated unit tests of imported specs are the compiler's own (tests/test_golden.py proves
    them); running them all here would take minutes. The Sloth round trip runs one file of them."""
    rule_targets = {"prometheus", "kubernetes", "mimir"}
    proofs = [p for out in out_dirs for p in toolrun.proofs_for(out, only=rule_targets)]
    return [r for r in toolrun.run_proofs(proofs) if not r.ok]


@needs_promtool
def test_imported_fixtures_compile_and_pass_promtool(tmp_path):
    outs = []
    for source_format in FORMATS:
        specs = tmp_path / source_format / "slo"
        shutil.copytree(IMPORTS / source_format / "expected", specs)
        result = CliRunner().invoke(
            cli, ["compile", str(specs), "--out", str(tmp_path / source_format / "out")]
        )
        assert result.exit_code == 0, result.output
        outs.append(tmp_path / source_format / "out")
    assert list((tmp_path / "sloth" / "out" / "kubernetes").glob("*.yml")), (
        "the Sloth CRD asks for a PrometheusRule"
    )
    failed = check_rules(outs)
    assert not failed, "\n".join(f"{r.title}\n{r.output}" for r in failed)


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
            "in/odd.yaml:1:1: warning [import/dropped] (document): AlertWindows for sloPeriod ? not used",
        ),
        (
            "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec: 5\n",
            "in/odd.yaml:1:1: error [import/format] (document): a PrometheusServiceLevel needs a spec",
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
        "in/spec.yml:12:7: warning [import/dropped] slos[0].alerting: the AlertWindows catalog has no page tiers"
        in rendered(result.diagnostics)
    )
    text = result.files["checkout.yaml"]
    assert "page: false" in text and "ticket: false" in text and "windows" not in text
