"""The compile cache: same bytes with or without it, and unchanged files are not rebuilt."""

import dataclasses
import re
import shutil
import tomllib

import pytest
import yaml
from support import ROOT, slo

from compiler import pipeline, targets
from compiler.pipeline import cache as cache_module
from compiler.pipeline import load, prepare
from compiler.pipeline.cache import Cache


def test_cached_compile_is_identical_and_skips_unchanged_files(tmp_path, examples, monkeypatch):
    cache = Cache(tmp_path / "cache")
    plain = pipeline.compile_tree(tmp_path / "slo").artifacts
    cold = pipeline.compile_tree(tmp_path / "slo", cache).artifacts
    assert cold == plain

    loads, emits = [], []
    real_load, real_tests = load.load_file, targets.by_name("promtool-tests")
    monkeypatch.setattr(
        load, "load_file", lambda name, raw: loads.append(name) or real_load(name, raw)
    )
    counted = dataclasses.replace(
        real_tests,
        emit=lambda model: emits.append(model.services[0].name) or real_tests.emit(model),
    )
    registry = tuple(counted if t is real_tests else t for t in targets.REGISTRY)
    monkeypatch.setattr(targets, "REGISTRY", registry)
    assert pipeline.compile_tree(tmp_path / "slo", cache).artifacts == plain
    assert loads == [] and emits == []

    spec = tmp_path / "slo" / "pizza-ordering.yaml"
    spec.write_text(spec.read_text().replace("objective: 99\n", "objective: 99.5\n", 1))
    warm = pipeline.compile_tree(tmp_path / "slo", cache).artifacts
    assert loads == ["slo/pizza-ordering.yaml"] and emits == ["pizza-api"]
    assert warm == pipeline.compile_tree(tmp_path / "slo").artifacts
    assert warm != plain


def test_corrupt_or_unwritable_cache_is_only_a_miss(tmp_path, examples):
    cache = Cache(tmp_path / "cache")
    expected = pipeline.compile_tree(tmp_path / "slo", cache).artifacts
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file():
            entry.write_bytes(b"not a pickle")
    assert pipeline.compile_tree(tmp_path / "slo", cache).artifacts == expected
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    assert pipeline.compile_tree(tmp_path / "slo", Cache(blocked)).artifacts == expected


def test_keys_depend_on_the_compiler_itself(monkeypatch):
    before = Cache.key("file", "slo/a.yaml", b"x")
    monkeypatch.setattr(cache_module, "compiler_fingerprint", lambda: b"another compiler")
    assert Cache.key("file", "slo/a.yaml", b"x") != before


def test_entries_of_other_compiler_versions_are_removed_and_nothing_else(tmp_path):
    cache_dir = tmp_path / "cache"
    stale = cache_dir / "0123456789abcdef" / "ab"
    stale.mkdir(parents=True)
    (stale / "entry").write_bytes(b"from another version")
    (cache_dir / "README").write_text("not ours")
    result = slo("compile", ROOT / "slo", "--out", tmp_path / "out", "--cache-dir", cache_dir)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(["README", Cache.version()])
    assert any((cache_dir / Cache.version()).rglob("*"))


@pytest.fixture
def fresh_fingerprint():
    """compiler_fingerprint is computed once per process: recompute it around a test that
    changes what it reads, so no other test sees the changed one."""
    cache_module.compiler_fingerprint.cache_clear()
    yield
    cache_module.compiler_fingerprint.cache_clear()


def _prepared_files(monkeypatch) -> list[str]:
    """The spec files the compile prepares (rather than serves from the cache) from now on."""
    prepared: list[str] = []
    real = prepare.prepare_file
    monkeypatch.setattr(
        prepare, "prepare_file", lambda name, raw: prepared.append(name) or real(name, raw)
    )
    return prepared


@pytest.mark.parametrize(
    ("changed", "misses"),
    [
        ("grafanalib", True),
        ("attrs", True),  # grafanalib's and jsonschema's own dependency
        ("pyyaml", True),
        ("promql-parser", True),
        ("click", False),  # the command line only: its upgrade keeps the cache
    ],
)
def test_a_changed_dependency_misses_the_cache(
    changed, misses, root, tmp_path, monkeypatch, fresh_fingerprint
):
    shutil.copytree(root / "slo", tmp_path / "slo")
    cache = Cache(tmp_path / "cache")
    plain = pipeline.compile_tree(tmp_path / "slo").artifacts
    prepared = _prepared_files(monkeypatch)
    assert pipeline.compile_tree(tmp_path / "slo", cache).artifacts == plain
    every_file = sorted(prepared)
    assert every_file

    prepared.clear()
    assert pipeline.compile_tree(tmp_path / "slo", cache).artifacts == plain
    assert prepared == []  # the same environment: every file served from the cache

    real_version = cache_module.installed_version
    monkeypatch.setattr(
        cache_module,
        "installed_version",
        lambda name: "0.0.0-upgraded" if name == changed else real_version(name),
    )
    cache_module.compiler_fingerprint.cache_clear()
    assert pipeline.compile_tree(tmp_path / "slo", cache).artifacts == plain
    # Nothing built under the old version is served; what no output depends on changes nothing.
    assert sorted(prepared) == (every_file if misses else [])


def test_the_environment_names_python_and_libyaml(monkeypatch):
    lines = cache_module.environment()
    assert any(line.startswith("python ") for line in lines)
    assert any(line.startswith("libyaml ") for line in lines)
    monkeypatch.setattr(yaml, "__with_libyaml__", not yaml.__with_libyaml__)
    assert cache_module.environment() != lines


def test_every_runtime_dependency_is_classified(root):
    """A new dependency must be declared as shaping the output (and so keying the cache) or not."""
    with open(root / "pyproject.toml", "rb") as fh:
        declared = tomllib.load(fh)["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", d).group().lower() for d in declared}
    classified = set(cache_module.OUTPUT_DEPENDENCIES) | set(cache_module.OTHER_DEPENDENCIES)
    assert names == classified
    assert not set(cache_module.OUTPUT_DEPENDENCIES) & set(cache_module.OTHER_DEPENDENCIES)
