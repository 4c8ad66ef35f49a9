"""SIGKILL at many moments: out/ and a live rules directory are always one whole set of files.

`slo compile` of 200 generated SLOs is killed while it compiles, at many points while it
writes and just after it swapped the trees: out/ must then be exactly the tree before or the
tree after, never a mix, and the next compile cleans up what the killed one left. `slo push` writing rule files into a real
Prometheus' rules directory is killed while it writes: every rule file must be whole (the old
or the new text), the ownership record must cover them, and Prometheus must reload the set; a
new push then converges. (tests/test_output.py kills output.write_tree alone, in-process.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import ROOT
from outtrees import FAST
from servers import needs_prometheus, prometheus

from compiler import compile_tree, load_tree
from compiler.core import conventions
from compiler.pipeline import output
from compiler.pipeline.cache import Cache
from compiler.push import endpoints as ep
from compiler.push import runner
from compiler.targets import prometheus as prometheus_rules

sys.path.insert(0, str(ROOT / "bench"))
from gen_specs import generate

DEADLINE = 60.0  # seconds for any one run of slo; each takes about one
SLO = [sys.executable, "-m", "compiler"]


def make_specs(root: Path, slos: int, objective: str) -> Path:
    """Generated specs, every file then changed by its objectives, so that old and new differ everywhere."""
    generate(slos, root)
    for path in root.rglob("*.yaml"):
        path.write_text(path.read_text().replace("objective: 95\n", f"objective: {objective}\n"))
    return root


def staging_dirs(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.*.new"))


def wait_for(condition, proc: subprocess.Popen, deadline: float) -> bool:
    """Poll ``condition`` (about every 0.5 ms) until true; False if ``proc`` ended first."""
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0005)
    raise AssertionError("slo neither finished nor reached the awaited point in time")


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# --- slo compile --------------------------------------------------------------------------------
EARLY_KILLS = (0.5,)  # seconds after start: while it reads the specs and the cache
WRITE_KILLS = (0.0, 0.003, 0.01, 0.02, 0.04, 0.08, 0.2)  # after the staging tree appears


def earlier_tree(new: dict[str, str]) -> dict[str, str]:
    """What an earlier compile left: every file different, and one the new compile no longer writes."""
    return {
        **{path: text + "# from an earlier compile\n" for path, text in new.items()},
        "prometheus/rules/retired.rules.yml": "groups: []\n",
    }


def test_sigkill_during_compile_leaves_the_whole_old_or_the_whole_new_out(tmp_path):
    specs = make_specs(tmp_path / "slo", 200, "96")
    cache = Cache(
        tmp_path / "cache"
    )  # warm: the killed runs spend their time reading the cache and writing
    new = compile_tree(specs, cache).artifacts
    old = earlier_tree(new)
    assert len(new) > 150
    out = tmp_path / "out"
    command = SLO + ["compile", str(specs), "--out", str(out), "--cache-dir", str(cache.directory)]

    outcomes = []
    moments = (
        [("early", t) for t in EARLY_KILLS]
        + [("writing", t) for t in WRITE_KILLS]
        + [("swapped", 0.0)]
    )
    for moment in moments:
        output.write_tree(old, out)
        before = out.stat().st_ino
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + DEADLINE
            if moment[0] == "early":
                time.sleep(moment[1])
                reached = True
            elif moment[0] == "writing":
                reached = wait_for(lambda: bool(staging_dirs(out)), proc, deadline)
                time.sleep(moment[1])
            else:  # just after the swap, while the old tree is being removed
                reached = wait_for(lambda: out.stat().st_ino != before, proc, deadline)
        finally:
            kill(proc)
        tree = output.read_tree(out)
        assert tree == old or tree == new, f"out/ is a mix of old and new after a kill {moment}"
        assert (out / output.MARKER).is_file()
        outcomes.append((moment, reached, "new" if tree == new else "old", bool(staging_dirs(out))))

    interrupted = [o for o in outcomes if o[0][0] == "writing" and o[1] and o[3]]
    assert len(interrupted) >= 3, f"too few kills landed while writing: {outcomes}"
    assert outcomes[-1][2] == "new", outcomes  # once swapped, a kill cannot bring the old tree back

    # The next compile puts things right: the new tree, and no staging tree left behind.
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=DEADLINE, cwd=tmp_path
    )
    assert finished.returncode == 0, finished.stderr
    assert output.read_tree(out) == new
    assert staging_dirs(out) == []


# --- slo push into a live rules directory ---------------------------------------------------------
PUSH_KILLS = (0.0, 0.005, 0.02, 0.06)  # seconds after the first change in the rules directory


def write_out(specs: Path, out: Path) -> dict[str, bytes]:
    """The rule files the compiler makes from ``specs`` under ``out``; returns name -> bytes."""
    model, diagnostics = load_tree(specs)
    assert model is not None, diagnostics
    files = {}
    for rel, text in prometheus_rules.emit(model).files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
        files[Path(rel).name] = text.encode("utf-8")
    return files


def push_in_process(specs: Path, out: Path, server) -> None:
    model, _ = load_tree(specs)
    endpoints = ep.Endpoints(prometheus=ep.Prometheus(server.url, server.directory / "rules"))
    pushers, skipped = runner.build(
        endpoints,
        model,
        runner.Settings(out_dir=out, policy=FAST, checks=False),
        only=["prometheus"],
    )
    (report,) = runner.push(pushers) + skipped
    assert report.status == "pushed", report.errors


def reload_ok(url: str) -> bool:
    request = urllib.request.Request(url + "/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return any(line == "prometheus_config_last_reload_successful 1" for line in lines)


def loaded_files(url: str) -> set[str]:
    with urllib.request.urlopen(url + "/api/v1/rules", timeout=10) as response:
        return {Path(g["file"]).name for g in json.load(response)["data"]["groups"]}


def dir_state(rules: Path) -> tuple:
    """Names and mtimes in ``rules``; a file that push renames or removes between the listing
    and its stat (its temporary files) is left out: the next poll sees the change anyway."""
    state = []
    for p in rules.iterdir():
        try:
            state.append((p.name, p.stat().st_mtime_ns))
        except FileNotFoundError:
            continue
    return tuple(sorted(state))


@needs_prometheus
def test_sigkill_during_push_leaves_whole_rule_files_that_prometheus_reloads(tmp_path):
    # 40 rule files: the push syncs the directory once, not per file, so the writes are quick,
    # and fewer files left too few kills landing inside them on a loaded machine.
    old_specs = make_specs(tmp_path / "old" / "slo", 200, "95")
    new_specs = make_specs(tmp_path / "new" / "slo", 200, "96")
    old = write_out(old_specs, tmp_path / "old" / "out")
    new = write_out(new_specs, tmp_path / "new" / "out")
    assert len(new) == 40 and all(old[n] != new[n] for n in new)
    with prometheus(tmp_path / "prometheus") as server:
        rules = server.directory / "rules"
        env = {
            **os.environ,
            "SLO_PROMETHEUS_URL": server.url,
            "SLO_PROMETHEUS_RULES_DIR": str(rules),
        }
        command = SLO + [
            "push",
            str(new_specs),
            "--out",
            str(tmp_path / "new" / "out"),
            "--only",
            "prometheus",
        ]
        interrupted = 0
        for delay in PUSH_KILLS:
            push_in_process(old_specs, tmp_path / "old" / "out", server)
            before = dir_state(rules)
            proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path
            )
            try:
                reached = wait_for(
                    lambda: dir_state(rules) != before, proc, time.monotonic() + DEADLINE
                )
                time.sleep(delay)
            finally:
                kill(proc)
            present = {p.name: p.read_bytes() for p in rules.glob("*.yml")}
            assert set(present) == set(new), (
                "a rule file is missing or a temporary file matches *.yml"
            )
            mixed = {name for name, data in present.items() if data not in (old[name], new[name])}
            assert not mixed, (
                f"half-written rule files after a kill {delay}s into the writes: {mixed}"
            )
            owned = json.loads((rules / conventions.PUSH_OWNERSHIP_FILE).read_text())["files"]
            assert set(present) <= set(owned)
            assert reload_ok(server.url), (
                f"Prometheus refused the rules left by a kill {delay}s into the writes"
            )
            assert loaded_files(server.url) == set(new)
            interrupted += reached and any(data == old[name] for name, data in present.items())
        assert interrupted >= 2, "too few kills landed while the rule files were being written"

        finished = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=DEADLINE, cwd=tmp_path
        )
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert {p.name: p.read_bytes() for p in rules.glob("*.yml")} == new
        diff = subprocess.run(
            [*command[:3], "diff", *command[4:]],
            capture_output=True,
            text=True,
            env=env,
            timeout=DEADLINE,
        )
        assert diff.returncode == 0, diff.stdout  # nothing left to change
