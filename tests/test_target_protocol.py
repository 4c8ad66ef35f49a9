"""The target protocol: every target is declared once, gives one shape, and a target registered
with nothing else changed is compiled, cached, checked for consistency and secrets, and proven
by `slo test` like the built-in ones."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from conftest import ROOT

from compiler import compile_tree, load_tree, targets
from compiler.checks import toolrun
from compiler.core import conventions
from compiler.core.diagnostics import CompileError, Diagnostic
from compiler.core.model import Model
from compiler.pipeline.cache import Cache
from compiler.pipeline.output import write_tree
from compiler.targets.protocol import Document, EachFile, Emitted, Holds, Target, ToolRun


@pytest.fixture(scope="module")
def seed_model() -> Model:
    model, diagnostics = load_tree(ROOT / "slo")
    assert model is not None, diagnostics
    return model


def test_target_names_are_unique():
    names = [t.name for t in targets.REGISTRY]
    assert len(names) == len(set(names))
    assert all(isinstance(t, Target) for t in targets.REGISTRY)


def test_every_target_gives_the_one_shape(seed_model):
    for target in targets.REGISTRY:
        emitted = target.emit(seed_model)
        assert isinstance(emitted, Emitted), target.name
        assert all(isinstance(p, str) and isinstance(t, str) for p, t in emitted.files.items())
        assert isinstance(emitted.diagnostics, tuple)
        assert all(isinstance(d, Diagnostic) for d in emitted.diagnostics)
        # A document the check reads is one of the target's own files.
        assert emitted.documents.keys() <= emitted.files.keys(), target.name
        assert all(isinstance(d, Document) for d in emitted.documents.values())
    every = targets.emit(seed_model)
    assert set(every.files) == {p for t in targets.REGISTRY for p in t.emit(seed_model).files}


def test_a_per_service_target_gives_for_a_model_what_it_gives_for_each_service(seed_model):
    """What makes emitting per service in the workers, and caching per file, correct."""
    for target in (t for t in targets.REGISTRY if t.per_service):
        whole = target.emit(seed_model)
        alone = [target.emit(Model((s,), None)) for s in seed_model.services]
        assert whole.files == {p: t for part in alone for p, t in part.files.items()}, target.name
        assert list(whole.diagnostics) == [d for part in alone for d in part.diagnostics]


def test_the_check_reads_every_rule_file_and_dashboard_and_nothing_else():
    result = compile_tree(ROOT / "slo")
    rules = conventions.rules_file("x").rpartition("/")[0] + "/"
    vmalert = conventions.vmalert_rules_file("x").rpartition("/")[0] + "/"  # slo/ runs on both
    dashboards = conventions.dashboard_file("x").rpartition("/")[0] + "/"
    tagged = {p for p in result.artifacts if p.startswith((rules, vmalert, dashboards))}
    assert any(p.startswith(vmalert) for p in tagged)
    assert set(result.checked) == tagged
    assert {e.kind for e in result.checked.values()} == {Holds.RULE_GROUPS, Holds.DASHBOARD}


# --- a new target, registered and nothing else ------------------------------------------------
def board(expr: str) -> str:
    panel = {"gridPos": {}, "id": 1, "title": "t", "type": "stat", "targets": [{"expr": expr}]}
    return json.dumps({"panels": [panel]}, indent=2, sort_keys=True) + "\n"


def register(monkeypatch, expr: str, per_service: bool = True) -> Target:
    """A target writing one dashboard per service reading ``expr``, proven by `true`."""

    def emit(model: Model) -> Emitted:
        files = {f"fake/{s.name}.json": board(expr) for s in model.services}
        return Emitted(files, (), {path: Document(Holds.DASHBOARD) for path in files})

    def proofs(out_dir, files):
        mine = [p for p in files if p.startswith("fake/")]
        return [ToolRun(f"fake proof ({len(mine)} files)", "true", ())] if mine else []

    target = Target("fake", emit, per_service, proofs)
    monkeypatch.setattr(targets, "REGISTRY", (*targets.REGISTRY, target))
    return target


@pytest.mark.parametrize("per_service", [True, False])
def test_a_registered_target_is_compiled_cached_and_proven(tmp_path, monkeypatch, per_service):
    register(monkeypatch, f'{conventions.CURRENT_BURN_RATE}{{service="x"}}', per_service)
    shutil.copytree(ROOT / "slo", tmp_path / "slo")
    cache = Cache(tmp_path / "cache")
    plain = compile_tree(tmp_path / "slo").artifacts
    services = load_tree(tmp_path / "slo")[0].services
    assert {p for p in plain if p.startswith("fake/")} == {f"fake/{s.name}.json" for s in services}
    assert compile_tree(tmp_path / "slo", cache, jobs=2).artifacts == plain  # in workers, cold
    assert compile_tree(tmp_path / "slo", cache, jobs=2).artifacts == plain  # from the cache
    write_tree(plain, tmp_path / "out")
    if shutil.which("true"):
        (result,) = toolrun.test_output(tmp_path / "out", only={"fake"})
        assert result.ok and result.title == f"fake proof ({len(services)} files)"


@pytest.mark.parametrize("per_service", [True, False])
def test_a_registered_target_is_checked_for_consistency(monkeypatch, per_service):
    register(monkeypatch, 'slo:no_such_series{service="x"}', per_service)
    with pytest.raises(CompileError) as failed:
        compile_tree(ROOT / "slo")
    found = [d for d in failed.value.diagnostics if d.position.file.startswith("fake/")]
    assert found and {d.check_id for d in found} == {"consistency/unknown-series"}
    assert all(d.position.line > 0 and "slo:no_such_series" in d.message for d in found)


def test_a_registered_target_writing_another_targets_file_is_a_bug(seed_model, monkeypatch):
    rules = targets.by_name("prometheus")
    thief = dataclasses.replace(rules, name="thief", per_service=False)
    monkeypatch.setattr(targets, "REGISTRY", (*targets.REGISTRY, thief))
    with pytest.raises(RuntimeError, match="target thief writes"):
        targets.emit(seed_model)


# --- slo test: the proofs ---------------------------------------------------------------------
def test_the_committed_out_offers_every_kind_of_proof_in_registry_order():
    proofs = toolrun.proofs_for(ROOT / "out")
    titles = [p.title for p in proofs if isinstance(p, ToolRun)]
    tests = sorted((ROOT / "out" / "prometheus" / "tests").glob("*.yml"))
    rules = sorted((ROOT / "out" / "prometheus" / "rules").glob("*.yml"))
    first = proofs[0]
    assert isinstance(first, EachFile) and first.args == ("check", "rules", "--lint-fatal")
    assert sorted(first.files) == rules  # each rule file checked (and remembered) on its own
    assert titles[:-1] == [f"promtool test rules {(t).as_posix()}" for t in tests]
    assert titles[-1].startswith("amtool check-config ")
    assert type(proofs[-1]).__name__ == "RouteTable"


def test_a_missing_tool_is_reported_before_anything_runs(monkeypatch):
    ran = []
    monkeypatch.setattr(toolrun, "run", lambda title, argv, cwd=None: ran.append(title))
    proofs = [ToolRun("fine", "true", ()), ToolRun("missing", "slo-no-such-tool", ())]
    with pytest.raises(toolrun.ToolMissing, match="slo-no-such-tool"):
        toolrun.run_proofs(proofs)
    assert ran == []
