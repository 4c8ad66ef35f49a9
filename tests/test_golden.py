"""Golden tests: each tests/golden/<case>/slo compiles to exactly tests/golden/<case>/out.

Regenerate after an intended change with UPDATE_GOLDEN=1, then review the diff.
"""

import os
import shutil

import pytest
from conftest import GOLDEN, needs_promtool

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.pipeline.output import read_tree

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "slo").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_golden_output_byte_for_byte(case):
    result = compile_tree(GOLDEN / case / "slo")
    expected_dir = GOLDEN / case / "out"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, text in result.artifacts.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(text, encoding="utf-8")
    expected = read_tree(expected_dir)
    assert sorted(result.artifacts) == sorted(expected)
    for rel, text in result.artifacts.items():
        assert text == expected[rel], f"{case}/{rel} differs; run with UPDATE_GOLDEN=1 and review"


@needs_promtool
@pytest.mark.parametrize("case", CASES)
def test_golden_output_passes_promtool(case):
    results = toolrun.test_output(GOLDEN / case / "out")
    assert results, "no rule or test files"
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(f"{r.title}\n{r.output}" for r in failed)


def test_hostile_text_reaches_annotations_literally():
    """The promtool tests of the hostile case expect the raw text, so promtool proves it is inert."""
    tests = (
        GOLDEN / "hostile-text" / "out" / "prometheus" / "tests" / "hostile.test.yml"
    ).read_text()
    assert 'Runs {{ query "up" }} and `backticks` and }} and {{ .Labels.x }}' in tests
    assert "owner: ops {{ .Labels }} }}" in tests
    assert "Depth is {{ $value }}; see `kubectl get {{ .Pods }}`" in tests
    rules = (
        GOLDEN / "hostile-text" / "out" / "prometheus" / "rules" / "hostile.rules.yml"
    ).read_text()
    assert "{{ query" not in rules.replace('{{ "{{" }} query', "")
