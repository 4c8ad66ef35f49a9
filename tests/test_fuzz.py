"""Fuzzing: mutated valid specs always end in output or clean diagnostics, never an exception.

Mutations drop, duplicate, retype and perturb keys and values of the example specs, and also
mangle the raw YAML text. The property: compile_tree either returns a result or raises
CompileError carrying at least one error diagnostic with a position in the mutated file.
"""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import compile_tree
from compiler.diagnostics import CompileError, Severity
from conftest import ROOT

SEEDS = sorted((ROOT / "slo").glob("*.yaml")) + sorted((ROOT / "tests" / "golden").glob("*/slo/*.yaml"))
DOCS = [yaml.safe_load(p.read_text()) for p in SEEDS]
TEXTS = [p.read_text() for p in SEEDS]

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "{{ query \"up\" }}", "5m", "0s", "1d", "../../etc/passwd", "x" * 300, "é ü 漢", "a\nb"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def get(node, path):
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated_document(draw):
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        all_paths = [p for p in paths(doc) if p]
        if not all_paths:
            break
        path = draw(st.sampled_from(all_paths))
        parent = get(doc, path[:-1])
        key = path[-1]
        action = draw(st.sampled_from(["drop", "retype", "duplicate", "rename", "perturb"]))
        if action == "drop":
            del parent[key]
        elif action == "retype":
            parent[key] = draw(ODD_VALUES)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(key)
        elif action == "perturb":
            value = parent[key]
            if isinstance(value, str) and value:
                i = draw(st.integers(min_value=0, max_value=len(value) - 1))
                parent[key] = value[:i] + draw(st.sampled_from(["{", "}", "\"", "[", "(", "\\", "", "x"])) + value[i + 1 :]
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parent[key] = draw(st.sampled_from([0, -1, 100, 1e308, 0.5, value * 10, value / 10]))
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@st.composite
def mangled_text(draw):
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=len(text)))
        j = min(len(text), i + draw(st.integers(min_value=0, max_value=20)))
        text = text[:i] + draw(st.sampled_from(["", ":", "- ", "\t", "  ", "'", "&a", "*a", "!!binary x", "\n"])) + text[j:]
    return text


def assert_clean(tmp_path, text: str) -> None:
    spec_dir = tmp_path / "slo"
    spec_dir.mkdir(exist_ok=True)
    (spec_dir / "svc.yaml").write_text(text, encoding="utf-8")
    try:
        result = compile_tree(spec_dir)
    except CompileError as exc:
        errors = [d for d in exc.diagnostics if d.severity >= Severity.ERROR]
        assert errors, "CompileError without an error diagnostic"
        for d in errors:
            assert d.position.file == "slo/svc.yaml"
            assert d.check_id and d.message
        return
    for path in result.artifacts:
        assert ".." not in path.split("/") and not path.startswith("/")


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=mutated_document())
def test_mutated_documents_compile_or_fail_cleanly(tmp_path, text):
    assert_clean(tmp_path, text)


@FUZZ
@given(text=mangled_text())
def test_mangled_yaml_compiles_or_fails_cleanly(tmp_path, text):
    assert_clean(tmp_path, text)
