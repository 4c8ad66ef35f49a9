"""Bounded work: the worst inputs of bench/hostile_inputs.py, at small sizes, end in the
diagnostics of the limit that stops them (or, for the valid ones at the limits, in output).

The bench runs the same builders at their full sizes and times them (bench/README.md); here
only what is said is asserted, never how fast. Beside them: the de-duplication of diagnostics
(linear, where 10,000 errors once took a minute) and the bounds of the schemas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import BENCH, ROOT, assert_clean, bench_script, slo, snapshot

from compiler.core import diagnostics as diagnostics_module
from compiler.core.diagnostics import Diagnostic, Diagnostics, Position, error
from compiler.pipeline import load_sources

hostile = bench_script("hostile_inputs")

ENUM = 'error [schema/enum] thresholds[0].severity: "urgent" is not allowed; expected "page", '
ENUM += '"ticket", "info"'
# case -> the exact stderr of `slo compile` at the case's small size (none for a valid compile)
EXPECTED = {
    # the column moves with the digits of the row's number (t9, then t10)
    "many-errors": [
        f"slo/svc.yaml:{5 + i}:{56 + len(str(i)) * 2}: {ENUM.replace('[0]', f'[{i}]')}"
        for i in range(40)
    ]
    + ["40 error(s), 0 warning(s)"],
    "deep-promql": [
        "slo/svc.yaml:5:21: error [promql/limit] thresholds[0].expr: nests more than 30 "
        "brackets deep; write it as recording rules of its parts",
        "1 error(s), 0 warning(s)",
    ],
    "operator-chain": [
        "slo/svc.yaml:5:21: error [promql/limit] thresholds[0].expr: has more than 60 "
        "operators; write it as recording rules of its parts",
        "1 error(s), 0 warning(s)",
    ],
    "wide-promql": [],
    "huge-list": [
        "slo/svc.yaml:4:9: error [schema/length] labels: has 201 keys; at most 50 are allowed",
        "slo/svc.yaml:6:3: error [schema/length] thresholds: has 201 entries; at most 200 are "
        "allowed",
        "2 error(s), 0 warning(s)",
    ],
    "long-strings": [
        "slo/svc.yaml:4:14: error [schema/length] description: longer than 2000 characters",
        "slo/svc.yaml:5:16: error [schema/length] labels.tier: longer than 500 characters",
        "slo/svc.yaml:7:21: error [schema/length] thresholds[0].expr: longer than 4000 characters",
        "3 error(s), 0 warning(s)",
    ],
    "many-files": [f"slo/team0/svc{i}.yaml:5:58: {ENUM}" for i in range(3)]
    + ["3 error(s), 0 warning(s)"],
    "many-documents": [
        "slo/svc.yaml:601:1: error [yaml/too-large] more than 100 documents in one file; put "
        "each service in a file of its own",
        "1 error(s), 0 warning(s)",
    ],
    "at-the-limits": [],
    "slo-documents": [
        "slo/svc.yaml:3030:5: error [spec/too-many-objectives] more than 500 SLOs and "
        "thresholds in one file; put each service in a file of its own",
        "1 error(s), 0 warning(s)",
    ],
    "slo-documents-valid": [],
    "alias-bomb": [
        "slo/svc.yaml: error [yaml/too-large] more than 200000 YAML nodes (an alias bomb?)",
        "1 error(s), 0 warning(s)",
    ],
    "deep-yaml": [
        "slo/svc.yaml:4:72: error [yaml/too-large] nested deeper than 64 levels",
        "1 error(s), 0 warning(s)",
    ],
}


def test_every_bench_case_is_covered():
    assert set(EXPECTED) == set(hostile.CASES)


@pytest.mark.parametrize("case", sorted(hostile.CASES))
def test_hostile_case_ends_in_the_diagnostics_of_its_limit(tmp_path, old_out, case):
    hostile.write_case(case, hostile.CASES[case].small, tmp_path / "slo")
    before = snapshot(tmp_path)

    result = slo("compile", tmp_path / "slo", "--out", old_out, "--cache-dir", "")

    assert_clean(result)
    assert result.stderr.splitlines() == EXPECTED[case]
    assert result.exit_code == (1 if EXPECTED[case] else 0), result.output
    if EXPECTED[case]:
        assert snapshot(tmp_path) == before, "a failed compile changed the output directory"


def test_the_bench_script_runs_and_reports_each_case(tmp_path):
    out = tmp_path / "hostile.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "hostile_inputs.py"), "--small", "--json", str(out)]
        + ["--case", "deep-promql", "--case", "at-the-limits"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 0, proc.stderr
    cases = {c["case"]: c for c in json.loads(out.read_text())["cases"]}
    assert (cases["deep-promql"]["exit"], cases["at-the-limits"]["exit"]) == (1, 0)
    assert cases["deep-promql"]["summary"] == "1 error(s), 0 warning(s)"
    assert cases["at-the-limits"]["summary"].startswith("compiled: ")
    assert "| deep-promql | 31 | 1 |" in proc.stdout


def test_de_duplicating_diagnostics_compares_each_once(monkeypatch):
    """10,000 errors in a file took a minute: each was compared with every earlier one."""
    compared = 0
    original = Diagnostic.__eq__

    def counting(self, other):
        nonlocal compared
        compared += 1
        return original(self, other)

    monkeypatch.setattr(diagnostics_module.Diagnostic, "__eq__", counting)
    found = Diagnostics()
    many = [error(Position("f.yaml", n, 1), "schema/enum", "bad") for n in range(1, 2001)]

    found.extend(many + many[:10])

    assert found.items == many
    assert compared <= 2 * len(many)


def test_diagnostics_built_with_items_stay_de_duplicated():
    one = error(Position("f.yaml", 1, 1), "x/y", "z")
    found = Diagnostics([one, one])
    found.add(one)
    assert found.items == [one]


def test_the_schemas_bound_every_list_and_open_map(root: Path):
    unbounded = []

    def visit(node: object, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "array" and "maxItems" not in node:
                unbounded.append(where)
            open_map = node.get("type") == "object" and "properties" not in node
            if open_map and "maxProperties" not in node:
                unbounded.append(where)
            for key, value in node.items():
                visit(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                visit(value, f"{where}/{i}")

    for name in ("slo.v1.json", "routing.v1.json"):
        visit(json.loads((root / "compiler/spec/schema" / name).read_text()), name)
    assert unbounded == []


def test_a_file_holds_at_most_100_documents_and_500_objectives():
    """What a file costs grows with its services and objectives: 50 services of 100 SLOs in one
    1 MiB file took 15 s. At the limits a file is valid; one more and it is refused whole."""
    documents = hostile.many_documents(100)["svc.yaml"]
    assert load_sources([("slo/svc.yaml", documents)])[0] is not None
    more = documents + "---\n" + hostile._service("extra")
    _, found = load_sources([("slo/svc.yaml", more)])
    assert [d.check_id for d in found] == ["yaml/too-large"]

    rows = "".join(hostile.THRESHOLD.format(i=i, severity="page") for i in range(200))
    services = [hostile._service(f"s{n}") + "thresholds:\n" + rows for n in range(2)]
    half = hostile._service("last") + "thresholds:\n" + rows[: rows.index("  - {name: t100,")]
    at_limit = "---\n".join([*services, half])  # 200 + 200 + 100 objectives
    model, _ = load_sources([("slo/svc.yaml", at_limit)])
    assert model is not None and sum(len(s.thresholds) for s in model.services) == 500
    _, found = load_sources(
        [("slo/svc.yaml", at_limit + "  - {name: x, expr: up, below: 1, severity: page}\n")]
    )
    assert at_limit.count("\n") + 1 == 515  # the objective that passes the limit: the last line
    assert [d.render() for d in found] == [
        "slo/svc.yaml:515:5: error [spec/too-many-objectives] more than 500 SLOs and thresholds "
        "in one file; put each service in a file of its own"
    ]
