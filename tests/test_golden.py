"""Golden tests: each tests/golden/<case>/slo compiles to exactly tests/golden/<case>/out.

Regenerate after an intended change with UPDATE_GOLDEN=1, then review the diff.
"""

import pytest
from support import (
    GOLDEN,
    GOLDEN_CASES,
    assert_passed,
    compile_into,
    have,
    needs_promtool,
    rewrite_tree,
    updating,
)

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.pipeline.output import read_tree


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_output_byte_for_byte(case):
    result = compile_tree(GOLDEN / case / "slo")
    expected_dir = GOLDEN / case / "out"
    if updating("UPDATE_GOLDEN"):
        rewrite_tree(expected_dir, result.artifacts)
    expected = read_tree(expected_dir)
    assert sorted(result.artifacts) == sorted(expected)
    for rel, text in result.artifacts.items():
        assert text == expected[rel], f"{case}/{rel} differs; run with UPDATE_GOLDEN=1 and review"


@needs_promtool
@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_output_passes_promtool(case, tmp_path):
    """On a fresh compile: promtool proves what this compiler writes, whether or not the
    committed out/ (compared byte for byte above) was regenerated."""
    if (GOLDEN / case / "out" / "vmalert").is_dir() and not have("vmalert"):
        pytest.skip("vmalert not installed (Debian's victoria-metrics package)")
    compile_into(GOLDEN / case / "slo", tmp_path / "out")
    results = toolrun.test_output(tmp_path / "out")
    assert results, "no rule or test files"
    assert_passed(results)


def test_hostile_text_reaches_annotations_literally():
    """The promtool tests of the hostile case expect the raw text, so promtool proves it is
    inert."""
    tests = "".join(
        path.read_text()
        for path in (GOLDEN / "hostile-text" / "out" / "prometheus" / "tests").glob("*.yml")
    )
    assert 'Runs {{ query "up" }} and `backticks` and }} and {{ .Labels.x }}' in tests
    assert "owner: ops {{ .Labels }} }}" in tests
    assert "Depth is {{ $value }}; see `kubectl get {{ .Pods }}`" in tests
    rules = (
        GOLDEN / "hostile-text" / "out" / "prometheus" / "rules" / "hostile.rules.yml"
    ).read_text()
    assert "{{ query" not in rules.replace('{{ "{{" }} query', "")
