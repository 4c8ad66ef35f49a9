"""Fuzzing: mutated valid input always ends in output or clean diagnostics, never an exception.

Mutations drop, duplicate, retype and perturb keys and values of valid documents, and also
mangle the raw YAML text. The properties:
- a Service spec: compile_tree returns a result, or raises CompileError carrying at least one
  error diagnostic with a position in the mutated file;
- a Routing spec or its Alertmanager base config, beside the services it routes for: the model
  loads and the Alertmanager target emits, or the errors point into the mutated file;
- the input of `slo import` (Sloth, OpenSLO, Pyrra): the importer returns specs that load, or
  diagnostics for its input files; never an exception, and never a spec it wrote that fails.
"""

from __future__ import annotations

import copy
import os
import posixpath
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import GOLDEN, IMPORTS, ROOT, copy_specs, write_files

from compiler import compile_tree, importers, load_tree, targets
from compiler.core.diagnostics import CompileError, Severity
from compiler.pipeline import load_sources

SEEDS = sorted((ROOT / "slo").glob("*.yaml")) + sorted(GOLDEN.glob("*/slo/*.yaml"))
DOCS = [yaml.safe_load(p.read_text()) for p in SEEDS]
TEXTS = [p.read_text() for p in SEEDS]

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["", '{{ query "up" }}', "5m", "0s", "1d", "../../etc/passwd", "x" * 300, "é ü 漢", "a\nb"]
    ),
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


def mutate(draw, doc):
    """``doc`` after 1 to 4 random edits (it is changed in place and returned)."""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        all_paths = [p for p in paths(doc) if p]
        if not all_paths:
            break
        if draw(st.booleans()):  # half the edits near the top, where a wrong shape does most harm
            all_paths = [p for p in all_paths if len(p) <= 2]
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
                parent[key] = (
                    value[:i]
                    + draw(st.sampled_from(["{", "}", '"', "[", "(", "\\", "", "x"]))
                    + value[i + 1 :]
                )
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parent[key] = draw(
                    st.sampled_from([0, -1, 100, 1e308, 0.5, value * 10, value / 10])
                )
    return doc


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@st.composite
def mutated_document(draw):
    return dump(mutate(draw, copy.deepcopy(draw(st.sampled_from(DOCS)))))


def mangle(draw, text: str) -> str:
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=len(text)))
        j = min(len(text), i + draw(st.integers(min_value=0, max_value=20)))
        text = (
            text[:i]
            + draw(
                st.sampled_from(["", ":", "- ", "\t", "  ", "'", "&a", "*a", "!!binary x", "\n"])
            )
            + text[j:]
        )
    return text


@st.composite
def mangled_text(draw):
    return mangle(draw, draw(st.sampled_from(TEXTS)))


def assert_clean(tmp_path, text: str) -> None:
    spec_dir = write_files(tmp_path / "slo", {"svc.yaml": text})
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


# FUZZ_EXAMPLES=5000 for a longer hunt than the suite's
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(text=mutated_document())
def test_mutated_documents_compile_or_fail_cleanly(tmp_path, text):
    assert_clean(tmp_path, text)


@FUZZ
@given(text=mangled_text())
def test_mangled_yaml_compiles_or_fails_cleanly(tmp_path, text):
    assert_clean(tmp_path, text)


# --- Routing specs and base configs, beside the services they route for -------------------------
# (spec tree, file to mutate relative to it): the examples' routing and both golden routing cases.
ROUTING_TARGETS = [
    (ROOT / "slo", "routing.yaml"),
    (GOLDEN / "routing" / "slo", "routing.yaml"),
    (GOLDEN / "routing-merge" / "slo", "routing.yaml"),
    (GOLDEN / "routing-merge" / "slo", "../base.yml"),
]


@st.composite
def mutated_routing(draw):
    specs, name = draw(st.sampled_from(ROUTING_TARGETS))
    text = (specs / name).read_text()
    if draw(st.booleans()):
        text = dump(mutate(draw, yaml.safe_load(text)))
    else:
        text = mangle(draw, text)
    return specs, name, text


@FUZZ
@given(case=mutated_routing())
def test_mutated_routing_and_base_configs_emit_or_fail_cleanly(case):
    specs, name, text = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_specs(specs, root)
        for sibling in specs.parent.glob("*.yml"):  # a base config lives beside the spec directory
            shutil.copy(sibling, root / sibling.name)
        (root / "slo" / name).write_text(text, encoding="utf-8")
        model, diagnostics = load_tree(root / "slo")
        if model is None:
            mutated = posixpath.normpath(posixpath.join("slo", name))
            errors = [d for d in diagnostics if d.severity >= Severity.ERROR]
            assert errors
            assert {d.position.file for d in errors} <= {mutated, "slo/routing.yaml"}, errors
            return
        files = targets.by_name("alertmanager").emit(model).files
        for path, content in files.items():
            assert yaml.safe_load(content) is not None, path


# --- `slo import` inputs ------------------------------------------------------------------------
IMPORT_SEEDS = {
    source: [(f"in/{p.name}", p.read_text()) for p in sorted((IMPORTS / source / "in").iterdir())]
    for source in sorted(importers.FORMATS)
}


@st.composite
def mutated_import(draw):
    source = draw(st.sampled_from(sorted(IMPORT_SEEDS)))
    files = list(IMPORT_SEEDS[source])
    i = draw(st.integers(min_value=0, max_value=len(files) - 1))
    name, text = files[i]
    if draw(st.booleans()):
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
        j = draw(st.integers(min_value=0, max_value=len(documents) - 1))
        documents[j] = mutate(draw, documents[j])
        text = yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False)
    else:
        text = mangle(draw, text)
    files[i] = (name, text)
    return source, files


@FUZZ
@given(case=mutated_import(), service=st.sampled_from([None, "one-service"]))
def test_importers_never_raise_and_write_only_specs_that_load(case, service):
    source, files = case
    result = importers.import_specs(source, files, importers.Options(service=service))
    inputs = {name for name, _ in files}
    written = {f"slo/{name}" for name in result.files}
    for d in result.diagnostics:
        # An error must point into the input; a warning may also be about a spec it writes (e.g. a
        # tier that can never fire at the imported objective): the user reads it next to that file.
        assert d.position.file in inputs or (
            d.severity == Severity.WARNING and d.position.file in written
        ), f"the importer wrote a spec that does not load: {d.render()}"
    if result.ok:
        assert result.files
        model, diagnostics = load_sources(
            [(f"slo/{name}", text) for name, text in result.files.items()]
        )
        assert model is not None, diagnostics
    else:
        assert not result.files
