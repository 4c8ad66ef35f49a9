"""The compile cache: same bytes with or without it, and unchanged files are not rebuilt."""

import dataclasses
import shutil

from conftest import ROOT

from compiler import pipeline, targets
from compiler.pipeline import load
from compiler.pipeline.cache import Cache


def test_cached_compile_is_identical_and_skips_unchanged_files(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "slo", tmp_path / "slo")
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


def test_corrupt_or_unwritable_cache_is_only_a_miss(tmp_path):
    shutil.copytree(ROOT / "slo", tmp_path / "slo")
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
    from compiler.pipeline import cache as cache_module

    before = Cache.key("file", "slo/a.yaml", b"x")
    monkeypatch.setattr(cache_module, "compiler_fingerprint", lambda: b"another compiler")
    assert Cache.key("file", "slo/a.yaml", b"x") != before


def test_entries_of_other_compiler_versions_are_removed_and_nothing_else(tmp_path):
    from click.testing import CliRunner

    from compiler.cli import cli

    cache_dir = tmp_path / "cache"
    stale = cache_dir / "0123456789abcdef" / "ab"
    stale.mkdir(parents=True)
    (stale / "entry").write_bytes(b"from another version")
    (cache_dir / "README").write_text("not ours")
    result = CliRunner().invoke(
        cli,
        [
            "compile",
            str(ROOT / "slo"),
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(cache_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(["README", Cache.version()])
    assert any((cache_dir / Cache.version()).rglob("*"))
