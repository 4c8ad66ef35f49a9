"""The compile cache: same bytes with or without it, and unchanged files are not rebuilt."""

import dataclasses
import json
import os
import pickle
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml
from support import ROOT, SPEC_TREES, assert_clean, files_of, slo

from compiler import pipeline, targets
from compiler.pipeline import cache as cache_module
from compiler.pipeline import codec, load, prepare
from compiler.pipeline.cache import Cache
from compiler.pipeline.sources import read_tree


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
            entry.write_bytes(b"not an entry")
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


# --- the cache holds data, never code ---------------------------------------------------------
def _entry(cache_dir: Path, tree: Path, spec: str) -> Path:
    """Where the compile looks for the cached preparation of ``tree``/``spec``: its key is
    computable by anyone from the spec's bytes and the compiler (that is what a planter does)."""
    name = pipeline.display_name(tree, tree / spec)
    key = Cache.key("prepared", name, (tree / spec).read_bytes())
    return cache_dir / Cache.version() / key[:2] / key


class _Planted:
    """Unpickling this runs ``os.mkdir(path)``: proof that an entry ran code."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _hostile_entries(ran: Path, good: bytes) -> dict[str, bytes]:
    """Entries a hostile contributor could commit or plant, by what they try."""
    header_end = good.index(b"\n", len(codec.MAGIC)) + 1
    header = json.loads(good[len(codec.MAGIC) : header_end])
    evil_root = dict(header, root="Popen")
    evil_nested = json.loads(json.dumps(header))
    evil_nested["value"]["loaded"] = {"$": "os.system", "command": f"mkdir {ran}"}
    extra_field = json.loads(json.dumps(header))
    extra_field["value"]["loaded"]["__reduce__"] = "os.system"
    missing_field = json.loads(json.dumps(header))
    del missing_field["value"]["extracts"]
    wrong_type = json.loads(json.dumps(header))
    wrong_type["value"]["loaded"]["diagnostics"] = "rm -rf /"
    lone_surrogate = json.loads(json.dumps(header))
    lone_surrogate["value"]["loaded"]["services"][0]["name"] = "pizza\ud800"
    huge_number = json.loads(json.dumps(header))
    huge_number["value"]["loaded"]["services"][0]["service"]["slos"][0]["objective"] = "1E+999999"

    def entry(h: dict) -> bytes:
        return codec.MAGIC + json.dumps(h).encode() + b"\n" + good[header_end:]

    return {
        "pickle": pickle.dumps(_Planted(ran)),
        "pickle behind the magic": codec.MAGIC + pickle.dumps(_Planted(ran)),
        "unregistered root": entry(evil_root),
        "unregistered nested type": entry(evil_nested),
        "extra field": entry(extra_field),
        "missing field": entry(missing_field),
        "wrong type": entry(wrong_type),
        "lone surrogate": entry(lone_surrogate),
        "huge number": entry(huge_number),
        "truncated": good[: len(good) // 2],
        "padded": good + b"x",
        "corrupt": bytes(range(256)) * 4,
        "another format version": good.replace(b"data 2\n", b"data 1\n", 1),
        "empty": b"",
    }


def test_an_entry_round_trips_exactly_for_every_shipped_spec():
    """The cache gives back exactly what it was given, for the examples and every golden case:
    the prepared files, and the model assembled from them."""
    for tree in SPEC_TREES:
        sources, unreadable = read_tree(tree)
        built = [prepare.prepare_file(s.name, s.raw) for s in sources]
        entries = [prepare.CODEC.encode(p) for p in built]
        back = [prepare.CODEC.decode(e) for e in entries]
        assert back == built, tree
        assert [prepare.CODEC.encode(p) for p in back] == entries  # and writes the same bytes
        model, _ = load.assemble(sources, [p.loaded for p in built], tree, unreadable)
        again, _ = load.assemble(sources, [p.loaded for p in back], tree, unreadable)
        assert model is not None and again == model, tree


def test_decoding_builds_registered_types_only():
    """A codec knows every class it may build: one that is met but not registered is a bug found
    when the codec is first used, not a class built from whatever an entry names."""

    class Stranger:
        pass

    empty = prepare.PreparedFile(load.LoadedFile([], [], []), {}, {}, {})
    assert prepare.CODEC.decode(prepare.CODEC.encode(empty)) == empty
    with pytest.raises(TypeError, match=r"LoadedFile.*not registered"):
        codec.Codec(prepare.PreparedFile, [prepare.PreparedFile]).encode(empty)
    with pytest.raises(TypeError, match="only dataclasses and enums"):
        codec.Codec(prepare.PreparedFile, [Stranger])


@pytest.mark.parametrize("check", [False, True], ids=["compile", "check"])
def test_a_planted_entry_never_runs_and_is_a_miss_with_a_warning(tmp_path, examples, check):
    cache_dir, out = tmp_path / "cache", tmp_path / "out"
    assert slo("compile", examples, "--out", out, "--cache-dir", cache_dir).exit_code == 0
    expected = files_of(out)
    entry = _entry(cache_dir, examples, "pizza-ordering.yaml")
    good = entry.read_bytes()
    ran = tmp_path / "the entry ran code"
    for what, planted in _hostile_entries(ran, good).items():
        entry.write_bytes(planted)
        args = ["compile", examples, "--out", out, "--cache-dir", cache_dir]
        result = slo(*args, "--check") if check else slo(*args)
        assert_clean(result)
        assert not ran.exists(), what
        assert result.exit_code == 0, (what, result.output)
        (line,) = [line for line in result.stderr.splitlines() if "[cache/ignored]" in line]
        prefix = f"{cache_dir}: warning [cache/ignored] cache entry ignored and rebuilt: "
        assert line.startswith(prefix + entry.relative_to(cache_dir).as_posix() + ": "), what
        assert files_of(out) == expected, what
        assert entry.read_bytes() == good, what  # rebuilt: the next compile is a hit again
        quiet = slo(*args)
        assert quiet.exit_code == 0 and "cache/ignored" not in quiet.output, what


def test_a_hostile_entry_is_a_decode_error_and_nothing_else(tmp_path, examples):
    cache = Cache(tmp_path / "cache")
    pipeline.compile_tree(examples, cache)
    entry = _entry(cache.directory, examples, "pizza-ordering.yaml")
    ran = tmp_path / "ran"
    body = entry.read_bytes()[: -cache_module.SIGNATURE_BYTES]  # as if signed by its planter
    assert prepare.CODEC.decode(body)
    for what, planted in _hostile_entries(ran, body).items():
        with pytest.raises(codec.DecodeError):
            prepare.CODEC.decode(planted)
        assert not ran.exists(), what


def test_an_entry_that_is_not_a_regular_file_is_not_opened(tmp_path, examples):
    """A symlink (to a secret, or to a valid entry) or a FIFO (which would block a reader) in
    place of an entry: a miss with a warning; a symlinked directory of the cache: not written."""
    cache = Cache(tmp_path / "cache")
    expected = pipeline.compile_tree(examples, cache).artifacts
    entry = _entry(cache.directory, examples, "pizza-ordering.yaml")
    copy = tmp_path / "a valid entry elsewhere"
    copy.write_bytes(entry.read_bytes())
    for make, reason in (
        (lambda: entry.symlink_to(copy), "is a symbolic link"),
        (lambda: os.mkfifo(entry), "is not a regular file"),
        (lambda: entry.mkdir(), "is not a regular file"),
    ):
        entry.unlink()
        make()
        result = pipeline.compile_tree(examples, cache)
        assert result.artifacts == expected
        (warned,) = [d for d in result.diagnostics if d.check_id == "cache/ignored"]
        assert warned.message.endswith(f"{entry.name}: {reason}"), warned.message
        if entry.is_dir():
            entry.rmdir()
        elif not entry.is_file() or entry.is_symlink():
            entry.unlink()
        pipeline.compile_tree(examples, cache)

    shard = entry.parent
    shutil.rmtree(shard)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shard.symlink_to(elsewhere)
    assert pipeline.compile_tree(examples, cache).artifacts == expected
    assert list(elsewhere.iterdir()) == []  # nothing written through the link


def test_many_bad_entries_are_one_warning(tmp_path, examples):
    cache = Cache(tmp_path / "cache")
    expected = pipeline.compile_tree(examples, cache).artifacts
    entries = [p for p in cache.directory.rglob("*") if p.is_file()]
    assert len(entries) > 1
    for entry in entries:
        entry.write_bytes(b"\x80not an entry")
    result = pipeline.compile_tree(examples, cache)
    assert result.artifacts == expected
    (warned,) = [d for d in result.diagnostics if d.check_id == "cache/ignored"]
    assert warned.message.startswith(
        f"{len(entries)} cache entries ignored and rebuilt; the first: "
    )


def test_an_entry_written_with_another_key_is_a_miss_with_a_warning(
    tmp_path, examples, monkeypatch
):
    """A well-formed entry that decodes perfectly, but was written by another user or machine
    (or planted with content of the planter's choosing), is never served."""
    cache = Cache(tmp_path / "cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "theirs"))
    cache_module.signing_key.cache_clear()
    theirs = pipeline.compile_tree(examples, cache)
    assert (tmp_path / "theirs" / "slo" / "cache.key").stat().st_mode & 0o777 == 0o600

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "mine"))
    cache_module.signing_key.cache_clear()
    try:
        prepared = _prepared_files(monkeypatch)
        mine = pipeline.compile_tree(examples, cache)
        assert mine.artifacts == theirs.artifacts
        assert sorted(prepared) == sorted(s.name for s in read_tree(examples)[0])  # all rebuilt
        (warned,) = [d for d in mine.diagnostics if d.check_id == "cache/ignored"]
        assert "not signed with this user's cache key" in warned.message
        prepared.clear()
        pipeline.compile_tree(examples, cache)
        assert prepared == []  # rebuilt under this user's key: a hit again
    finally:
        cache_module.signing_key.cache_clear()
