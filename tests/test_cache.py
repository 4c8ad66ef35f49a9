"""The compile cache: same bytes with or without it, and unchanged files are not rebuilt."""

from support import ROOT, slo

from compiler import pipeline
from compiler.pipeline.cache import Cache
from compiler.targets.promtool import testfiles as promtool_tests


def test_cached_compile_is_identical_and_skips_unchanged_files(tmp_path, examples, monkeypatch):
    cache = Cache(tmp_path / "cache")
    plain = pipeline.compile_tree(tmp_path / "slo").artifacts
    cold = pipeline.compile_tree(tmp_path / "slo", cache).artifacts
    assert cold == plain

    loads, emits = [], []
    real_load, real_emit = pipeline.load_file, promtool_tests.emit
    monkeypatch.setattr(
        pipeline, "load_file", lambda name, raw: loads.append(name) or real_load(name, raw)
    )
    monkeypatch.setitem(
        pipeline.targets.TARGETS,
        "promtool-tests",
        lambda model: emits.append(model.services[0].name) or real_emit(model),
    )
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
    from compiler.pipeline import cache as cache_module

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
