"""`slo test`: run the real promtool and amtool on compiled output.

What to run comes from the targets: each declares the proofs it offers on its files in out/
(targets/protocol.py); this module finds the tools and runs them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from compiler import targets
from compiler.targets.protocol import EmbeddedRuleGroups, Proof, ToolRun

TIMEOUT = 300  # seconds for one promtool invocation


class ToolMissing(Exception):
    pass


@dataclass(frozen=True)
class ToolResult:
    title: str
    ok: bool
    output: str


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolMissing(
            f"{name} not found on PATH; install Debian's prometheus package (`make run` does)"
        )
    return path


def run(title: str, argv: list[str], cwd: Path | None = None) -> ToolResult:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ToolResult(title, False, f"timed out after {TIMEOUT}s")
    return ToolResult(title, proc.returncode == 0, proc.stdout + proc.stderr)


def out_files(out_dir: Path) -> list[str]:
    """Every file under ``out_dir``, relative, with "/", sorted."""
    if not out_dir.is_dir():
        return []
    return sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())


def proofs_for(out_dir: Path, only: Collection[str] | None = None) -> list[Proof]:
    """What every target (or those named in ``only``) offers to prove of its files in out/."""
    files = out_files(out_dir)
    return [
        proof
        for target in targets.REGISTRY
        if only is None or target.name in only
        for proof in target.proofs(out_dir, files)
    ]


def test_output(out_dir: Path, only: Collection[str] | None = None) -> list[ToolResult]:
    """`slo test`: every proof the targets (or those named in ``only``) offer on out/."""
    return run_proofs(proofs_for(out_dir, only))


def _tool_of(proof: Proof) -> str:
    if isinstance(proof, ToolRun):
        return proof.tool
    return "promtool" if isinstance(proof, EmbeddedRuleGroups) else "amtool"


def run_proofs(proofs: Sequence[Proof]) -> list[ToolResult]:
    """One result per proof, in order, except that all embedded rule groups are checked in one
    promtool run (reported where the first of them is). Every tool is looked up before any runs.
    The runs are independent and each uses about one core: they run side by side."""
    tools = {name: tool(name) for name in sorted({_tool_of(p) for p in proofs})}
    embedded = [p for p in proofs if isinstance(p, EmbeddedRuleGroups)]
    jobs: list[Callable[[], ToolResult]] = []
    for proof in proofs:
        if isinstance(proof, ToolRun):
            argv = [tools[proof.tool], *proof.args]
            jobs.append(functools.partial(run, proof.title, argv))
        elif isinstance(proof, EmbeddedRuleGroups):
            if proof is embedded[0]:
                jobs.append(functools.partial(check_embedded_rules, tools["promtool"], embedded))
        else:
            jobs.append(functools.partial(route_tests, tools["amtool"], proof.table))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda job: job(), jobs))


def route_tests(amtool: str, table_file: Path) -> ToolResult:
    """One amtool run per case; --verify.receivers makes amtool exit 1 when the receivers differ."""
    table = yaml.safe_load(table_file.read_text("utf-8"))
    config = table_file.parent / table["config"]
    cases = table["cases"]

    def check(case: dict) -> ToolResult:
        expected = ",".join(case["receivers"])
        argv = [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={expected}",
        ]
        argv += [f"{name}={value}" for name, value in case["labels"].items()]
        result = run(case["name"], argv)
        got = result.output.splitlines()[0] if result.output else ""
        return ToolResult(
            case["name"], result.ok, f"{case['name']}: expected {expected}, got {got}"
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        checked = list(pool.map(check, cases))
    failed = [r for r in checked if not r.ok]
    return ToolResult(
        f"amtool config routes test {table_file.as_posix()} ({len(cases)} cases)",
        not failed,
        "\n".join(r.output for r in failed),
    )


def check_embedded_rules(promtool: str, proofs: Sequence[EmbeddedRuleGroups]) -> ToolResult:
    """`promtool check rules` on the groups inside PrometheusRule objects, Mimir namespace files
    and the like: promtool reads only plain rule files, so each document's groups are copied
    into one first."""
    wrapped = [(path, proof.groups_of) for proof in proofs for path in proof.files]
    title = f"promtool check rules on embedded groups ({len(wrapped)} files)"
    with tempfile.TemporaryDirectory(prefix="slo-embedded-") as scratch:
        plain = []
        for path, groups_of in wrapped:
            try:
                documents = list(yaml.safe_load_all(path.read_text("utf-8")))
                for i, document in enumerate(documents):
                    target = Path(scratch) / path.parent.name / f"{path.stem}.{i}.yml"
                    target.parent.mkdir(exist_ok=True)
                    target.write_text(
                        yaml.safe_dump({"groups": groups_of(document)}, sort_keys=False), "utf-8"
                    )
                    plain.append(target)
            except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
                return ToolResult(title, False, f"{path}: no rule groups where expected: {exc}")
        return run(title, [promtool, "check", "rules", *map(str, plain)])
