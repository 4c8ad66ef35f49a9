"""Third-party examples (Sloth, OpenSLO, Pyrra) imported, compiled and checked by promtool, and the
Sloth round trip: our alerts burn at the rates and windows of Sloth's own generated rules.

The examples live outside the project, in ../shared/anchors next to the repository; without them
these tests are skipped (pytest -ra prints why).
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from support import ROOT, assert_passed, needs_promtool, rendered, rule_checks, write_files

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.importers import Options, import_specs
from compiler.importers.common import valid_name
from compiler.pipeline.output import write_tree

ANCHORS = ROOT.parent / "shared" / "anchors"
needs_anchors = pytest.mark.skipif(
    not ANCHORS.is_dir(), reason=f"no third-party examples at {ANCHORS.name}/ beside the repository"
)

SLOTH = ANCHORS / "sloth"
# Sloth's own test inputs that must not import: a wrong spec version, and an SLI plugin only.
SLOTH_REJECTED = {"in-invalid-version.yaml": "import/format", "in-sli-plugin.yaml": "import/empty"}


def source_format(path: Path) -> str:
    return "openslo" if re.search(r"(?m)^apiVersion: *openslo/", path.read_text()) else "sloth"


def cases() -> list[tuple[str, str, list[Path], Options]]:
    """(id, format, files, options) for every example; AlertWindows catalogs go with a spec."""
    if not ANCHORS.is_dir():
        return []
    found = []
    catalogs = {"windows-7d.yaml": "7d", "windows-custom-30d.yaml": "30d"}
    for path in sorted((SLOTH / "examples").glob("*.y*ml")) + sorted(
        (SLOTH / "testdata").glob("in-*.yaml")
    ):
        if path.name in catalogs:
            period = 7 * 86400 if catalogs[path.name] == "7d" else 30 * 86400
            found.append(
                (
                    f"sloth/{path.name}",
                    "sloth",
                    [path, SLOTH / "examples" / "getting-started.yml"],
                    Options(period=period),
                )
            )
        elif path.name not in SLOTH_REJECTED:
            found.append((f"sloth/{path.name}", source_format(path), [path], Options()))
    found.append(("openslo/*", "openslo", sorted((ANCHORS / "openslo").glob("*.yaml")), Options()))
    pyrra = sorted((ANCHORS / "pyrra").glob("*.slo.yaml")) + sorted(
        (ANCHORS / "pyrra" / "upstream-examples").glob("*.yaml")
    )
    found += [(f"pyrra/{path.name}", "pyrra", [path], Options()) for path in pyrra]
    return found


def imported(source: str, files: list[Path], options: Options | None = None):
    sources = [(path.name, path.read_bytes()) for path in files]
    return import_specs(source, sources, Options() if options is None else options)


@needs_anchors
@needs_promtool
def test_every_example_imports_compiles_and_passes_promtool(tmp_path):
    outs = []
    for i, (case, source, files, options) in enumerate(cases()):
        result = imported(source, files, options)
        assert result.ok and result.files, f"{case}:\n{rendered(result.diagnostics)}"
        specs = write_files(tmp_path / str(i) / "slo", result.files)
        compiled = compile_tree(specs)  # raises with every diagnostic on an error
        write_tree(compiled.artifacts, tmp_path / str(i) / "out")
        outs.append(tmp_path / str(i) / "out")
    assert len(outs) >= 25
    assert_passed(rule_checks(outs))


@needs_anchors
@pytest.mark.parametrize("name", sorted(SLOTH_REJECTED))
def test_sloths_invalid_inputs_are_errors_naming_the_file(name):
    result = imported("sloth", [SLOTH / "testdata" / name])
    assert not result.ok and result.files == {}
    assert any(
        d.check_id == SLOTH_REJECTED[name] and d.position.file == name for d in result.diagnostics
    )


@needs_anchors
def test_alert_windows_catalog_below_the_base_window_is_widened_with_a_warning():
    result = imported(
        "sloth",
        [
            SLOTH / "examples" / "windows-custom-30d.yaml",
            SLOTH / "examples" / "getting-started.yml",
        ],
    )
    text = result.files["myservice.yaml"]
    assert "- severity: page\n      long: 30m\n      short: 5m\n      budget: 1\n" in text
    assert "- severity: ticket\n      long: 1d12h\n      short: 3h\n      budget: 5\n" in text
    assert (
        "windows-custom-30d.yaml:8:20: warning [import/changed] "
        "spec.page.quick.shortWindow: 2m is shorter" in rendered(result.diagnostics)
    )


# --- the Sloth round trip ------------------------------------------------------------------------
SLOTH_PAIR = re.compile(
    r"max\(slo:sli_error:ratio_rate(\w+)\{([^}]*)\} > \(([0-9.]+) \* ([0-9.e-]+)\)\)"
)
OURS_THRESHOLD = re.compile(r"> ([0-9.]+)")


def round_trip_examples() -> list[str]:
    return (
        sorted(p.name for p in (SLOTH / "examples_gen").glob("*.yml")) if ANCHORS.is_dir() else []
    )


def sloth_groups(path: Path) -> list[dict]:
    """Rule groups of a Sloth output: plain rule files, or PrometheusRule objects for its CRD."""
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return [g for d in documents for g in d.get("groups") or d.get("spec", {}).get("groups", [])]


def sloth_alerts(path: Path) -> set[tuple]:
    """(service, slo, alert name, severity, long, short, burn rate) of every window pair Sloth
    alerts on."""
    found = set()
    for rule in (r for group in sloth_groups(path) for r in group["rules"] if "alert" in r):
        pairs = SLOTH_PAIR.findall(rule["expr"])
        assert pairs and len(pairs) % 2 == 0, rule["expr"]
        for (short, matchers, factor, _), (long, _, long_factor, _) in zip(pairs[::2], pairs[1::2]):
            assert factor == long_factor
            ids = dict(re.findall(r'(\w+)="([^"]*)"', matchers))
            service, slo = valid_name(ids["sloth_service"]), valid_name(ids["sloth_slo"])
            found.add(
                (
                    service,
                    slo,
                    rule["alert"],
                    rule["labels"]["sloth_severity"],
                    long,
                    short,
                    Decimal(factor),
                )
            )
    return found


def our_alerts(artifacts: dict[str, str]) -> tuple[set[tuple], dict[tuple, dict]]:
    """The same tuples from our rule files (burn rate = threshold / error budget), and the labels of
    each (service, slo, severity)."""
    found, labels = set(), {}
    for name, text in artifacts.items():
        if not name.startswith("prometheus/rules/"):
            continue
        groups = yaml.safe_load(text)["groups"]
        budgets = {
            rule["labels"]["slo"]: Decimal(rule["expr"][len("vector(") : -1])
            for group in groups
            for rule in group["rules"]
            if rule.get("record") == "slo:error_budget:ratio"
        }
        for group in groups:
            for rule in group["rules"]:
                if "alert" not in rule or rule["labels"].get("objective_kind") != "slo":
                    continue
                lab = rule["labels"]
                burn = Decimal(OURS_THRESHOLD.search(rule["expr"]).group(1)) / budgets[lab["slo"]]
                found.add(
                    (
                        lab["service"],
                        lab["slo"],
                        rule["alert"],
                        lab["severity"],
                        lab["long_window"],
                        lab["short_window"],
                        burn,
                    )
                )
                labels[(lab["service"], lab["slo"], lab["severity"])] = lab
    return found, labels


def same_burn_rates(ours: set[tuple], theirs: set[tuple]) -> bool:
    """Equal tuples, burn rates equal to 9 significant digits (Sloth prints float noise:
    5.6000000000000005)."""

    def key(items):
        return sorted((*t[:-1], float(t[-1])) for t in items)

    a, b = key(ours), key(theirs)
    return len(a) == len(b) and all(
        x[:-1] == y[:-1] and abs(x[-1] - y[-1]) <= 1e-9 * abs(y[-1]) for x, y in zip(a, b)
    )


@needs_anchors
@pytest.mark.parametrize("example", round_trip_examples())
def test_sloth_round_trip_alerts_on_sloths_burn_rates_and_windows(tmp_path, example):
    source = SLOTH / "examples" / example
    result = imported(source_format(source), [source])
    assert result.ok, rendered(result.diagnostics)
    artifacts = compile_tree(write_files(tmp_path, result.files)).artifacts
    ours, our_labels = our_alerts(artifacts)
    theirs = sloth_alerts(SLOTH / "examples_gen" / example)
    assert same_burn_rates(ours, theirs), f"ours:\n{sorted(ours)}\nSloth's:\n{sorted(theirs)}"
    # Every label Sloth puts on an alert (but its severity, which slo sets) is on ours too.
    for group in sloth_groups(SLOTH / "examples_gen" / example):
        for rule in (r for r in group["rules"] if "alert" in r):
            ids = dict(re.findall(r'(\w+)="([^"]*)"', rule["expr"]))
            key = (
                valid_name(ids["sloth_service"]),
                valid_name(ids["sloth_slo"]),
                rule["labels"]["sloth_severity"],
            )
            expected = {
                k: v for k, v in rule["labels"].items() if k not in ("severity", "sloth_severity")
            }
            assert expected.items() <= our_labels[key].items(), (key, expected, our_labels[key])
    # Sloth's CRD yields a PrometheusRule in the object's namespace: so does the import.
    for document in (
        d
        for d in yaml.safe_load_all((SLOTH / "examples_gen" / example).read_text())
        if d and "spec" in d
    ):
        ours_k8s = [yaml.safe_load(t) for n, t in artifacts.items() if n.startswith("kubernetes/")]
        assert [o["metadata"].get("namespace") for o in ours_k8s] == [
            document["metadata"]["namespace"]
        ]


@needs_anchors
@needs_promtool
def test_sloth_getting_started_imported_passes_its_generated_unit_tests(tmp_path):
    """One imported spec through the whole chain: the alert tests promtool runs fire at the
    minute predicted."""
    result = imported("sloth", [SLOTH / "examples" / "getting-started.yml"])
    specs = write_files(tmp_path / "slo", {"myservice.yaml": result.files["myservice.yaml"]})
    write_tree(compile_tree(specs).artifacts, tmp_path / "out")
    test_files = sorted((tmp_path / "out" / "prometheus" / "tests").glob("myservice.*.yml"))
    assert test_files
    for test_file in test_files:
        run = toolrun.run(
            "promtool test rules", [toolrun.tool("promtool"), "test", "rules", str(test_file)]
        )
        assert run.ok, run.output


# --- grouping ------------------------------------------------------------------------------------
def pyrra_anchors() -> list[Path]:
    if not ANCHORS.is_dir():
        return []
    return sorted((ANCHORS / "pyrra").glob("*.slo.yaml")) + sorted(
        (ANCHORS / "pyrra" / "upstream-examples").glob("*.yaml")
    )


def pyrra_grouping(path: Path) -> list[str]:
    """The `grouping` of a Pyrra example's indicator, whichever kind it is."""
    indicator = yaml.safe_load(path.read_text())["spec"]["indicator"]
    (kind,) = indicator.values()
    return kind.get("grouping", [])


@needs_anchors
@pytest.mark.parametrize("path", pyrra_anchors(), ids=lambda p: p.name)
def test_pyrra_grouping_round_trips_into_by_and_the_compiled_slos(tmp_path, path):
    """Pyrra's `grouping` (an SLO per value of its labels) is `by` in the imported spec and the
    model built from it; a label slo sets itself (`service`) is dropped with a warning at its
    place in the example, and nothing else is said about grouping."""
    result = imported("pyrra", [path])
    assert result.ok, rendered(result.diagnostics)
    grouping = pyrra_grouping(path)
    kept = [label for label in grouping if label != "service"]
    (text,) = result.files.values()
    (slo_spec,) = yaml.safe_load(text)["slos"]
    assert slo_spec.get("by", []) == kept
    model = compile_tree(write_files(tmp_path / "slo", result.files)).model
    assert [slo.by for service in model.services for slo in service.slos] == [tuple(kept)]
    messages = [d.render() for d in result.diagnostics if "grouping" in d.render()]
    if "service" in grouping:
        i = grouping.index("service")
        lines = path.read_text().splitlines()
        line = next(n for n, t in enumerate(lines, 1) if t.strip() == "- service")
        assert messages == [
            f"{path.name}:{line}:{lines[line - 1].index('service') + 1}: warning [import/dropped] "
            f"spec.indicator.latencyNative.grouping[{i}]: slo sets 'service' on every series of "
            "an SLO, so it cannot group by it: each group sums the series of every 'service'"
        ]
    else:
        assert messages == []


@needs_anchors
def test_the_anchors_have_grouped_pyrra_slos_and_sloth_and_openslo_ones_stay_ungrouped():
    """Three upstream Pyrra examples group (per handler, per probe target, per service and
    method). Sloth and OpenSLO have no grouping: what they select by a label stays a selector."""
    grouped = [p.name for p in pyrra_anchors() if pyrra_grouping(p)]
    assert len(grouped) == 3, grouped
    for case, source, files, options in cases():
        if source == "pyrra":
            continue
        result = imported(source, files, options)
        for name, text in result.files.items():
            for slo_spec in yaml.safe_load(text).get("slos") or []:
                assert "by" not in slo_spec, (case, name)
