"""Bounded work: no input makes the work of `slo compile` grow faster than the input.

The de-duplication of diagnostics is linear (10,000 errors in a file once took a minute), and
the schemas bound every list and map (what a spec costs grows with them).
"""

from __future__ import annotations

import json
from pathlib import Path

from compiler.core import diagnostics as diagnostics_module
from compiler.core.diagnostics import Diagnostic, Diagnostics, Position, error


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
