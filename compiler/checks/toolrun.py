"""`slo test`: run the real promtool and amtool on compiled output.

What to run comes from the targets: each declares the proofs it offers on its files in out/
(targets/protocol.py); this module finds the tools and runs them, side by side, and remembers
what passed (``ResultCache``) so that a run after a one-service change re-proves that service
only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from compiler import targets
from compiler.targets.protocol import EachFile, EmbeddedRuleGroups, Proof, RouteTable, ToolRun

TIMEOUT = 300  # seconds for one promtool invocation
# Part of every result key: a change to how proofs are run or keyed invalidates old results.
RESULTS_FORMAT = b"slo-test-results-1"
RESULTS_DIR = "test-results"  # below the cache directory (.slo-cache by default)


class ToolMissing(Exception):
    pass


@dataclass(frozen=True)
class ToolResult:
    title: str
    ok: bool
    output: str
    cached: bool = False  # passed before with the same inputs and tool: not run again


# The Debian package that installs each tool slo runs.
PACKAGES = {
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "vmalert": "victoria-metrics",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        package = PACKAGES.get(name, "prometheus")
        raise ToolMissing(
            f"{name} not found on PATH; install Debian's {package} package (`make setup` does)"
        )
    return path


# The Go tools (promtool above all: it parses every rule again at each evaluation step of a
# test) spend a large share of their CPU collecting garbage. A less eager collector cut a 365d
# SLO's `promtool test rules` by ~15% for ~130 MB more memory. One OS thread each: a test or a
# check runs on one goroutine, so more threads only run the collector beside it, which cost
# fitness-api's burn tests 12% more CPU for no gain in time; slo runs several tools at once
# (-j) for that. A GOGC or GOMAXPROCS the user set wins.
GO_ENV = {"GOGC": "400", "GOMAXPROCS": "1"}


def run(title: str, argv: list[str], cwd: Path | None = None) -> ToolResult:
    env = {**GO_ENV, **os.environ}
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env
        )
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


# --- the result cache --------------------------------------------------------------------------
class ResultCache:
    """Which proofs passed, by a key over everything the outcome depends on: the tool's
    version, the arguments, and the bytes of every file the run reads. Only passes are kept
    (a failure is always run again), as empty marker files: data, never code."""

    def __init__(self, directory: Path):
        self.directory = directory / RESULTS_DIR

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def passed(self, key: str) -> bool:
        return self._path(key).is_file()

    def record(self, key: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:
            pass  # a read-only or full disk costs a re-run next time, never a failed test


class NoResults(ResultCache):
    def __init__(self) -> None:
        super().__init__(Path(os.devnull))

    def passed(self, key: str) -> bool:
        return False

    def record(self, key: str) -> None:
        return None


def _key(*parts: str | bytes) -> str:
    digest = hashlib.sha256(RESULTS_FORMAT)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _content(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b"<missing>"  # the tool reports the missing file; the key just never matches


def _tool_of(proof: Proof) -> str:
    if isinstance(proof, (ToolRun, EachFile)):
        return proof.tool
    return "promtool" if isinstance(proof, EmbeddedRuleGroups) else "amtool"


@functools.cache
def tool_version(path: str) -> str:
    """What ``path --version`` prints: part of every result key of that tool."""
    result = run(f"{path} --version", [path, "--version"])
    return result.output if result.ok else f"{path}: unknown version"


# --- running -----------------------------------------------------------------------------------
Progress = Callable[[int], None]


def run_proofs(
    proofs: Sequence[Proof],
    jobs: int | None = None,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
) -> list[ToolResult]:
    """One result per proof, in order, except that all embedded rule groups are checked in one
    promtool run (reported where the first of them is). Every tool is looked up before any runs.
    The runs are independent and each uses about one core: ``jobs`` of them run side by side
    (default: one per CPU). With ``cache``, a proof that passed before with the same tool and
    inputs is reported as cached and not run; ``progress(1)`` is called as each proof ends."""
    tools = {name: tool(name) for name in sorted({_tool_of(p) for p in proofs})}
    versions = {name: tool_version(path) for name, path in tools.items()}
    cache = cache or NoResults()
    embedded = [p for p in proofs if isinstance(p, EmbeddedRuleGroups)]
    jobs_to_run: list[Callable[[], ToolResult]] = []
    for proof in proofs:
        name = _tool_of(proof)
        if isinstance(proof, EmbeddedRuleGroups):
            if proof is embedded[0]:
                jobs_to_run.append(
                    functools.partial(_embedded, tools[name], versions[name], embedded, cache)
                )
        elif isinstance(proof, EachFile):
            jobs_to_run.append(
                functools.partial(_each_file, tools[name], versions[name], proof, cache)
            )
        else:
            jobs_to_run.append(
                functools.partial(_cached_run, tools[name], versions[name], proof, cache)
            )

    def job(work: Callable[[], ToolResult]) -> ToolResult:
        result = work()
        if progress is not None:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        return list(pool.map(job, jobs_to_run))


def _cached_run(
    path: str, version: str, proof: ToolRun | RouteTable, cache: ResultCache
) -> ToolResult:
    """A tool run or a routing table, unless it passed before with the same inputs."""
    if isinstance(proof, ToolRun):
        inputs, title = proof.inputs, proof.title
        where = {str(p): f"<input {i}>" for i, p in enumerate(inputs)}
        shape = [where.get(arg, arg) for arg in proof.args]
    else:
        inputs, title, shape = (proof.table, proof.config), route_title(proof.table), ["routes"]
    key = _key(version, proof.__class__.__name__, *shape, *map(_content, inputs))
    if inputs and cache.passed(key):
        return ToolResult(title, True, "", cached=True)
    if isinstance(proof, ToolRun):
        result = _tool_run(path, proof)
    else:
        result = route_tests(path, proof.table)
    if result.ok and inputs:
        cache.record(key)
    return result


def _tool_run(path: str, proof: ToolRun) -> ToolResult:
    """``proof`` run, on what its ``prepare`` writes when it has one."""
    if proof.prepare is None:
        return run(proof.title, [path, *proof.args])
    with tempfile.TemporaryDirectory(prefix="slo-proof-") as scratch:
        try:
            args = proof.prepare(Path(scratch))
        except (OSError, ValueError, yaml.YAMLError):
            return run(proof.title, [path, *proof.args])
        result = run(proof.title, [path, *args])
    # promtool names the files it ran: name the ones the proof is about
    output = result.output
    for prepared, plain in zip(args, proof.args):
        output = output.replace(prepared, plain)
    return ToolResult(result.title, result.ok, output)


def _each_file(path: str, version: str, proof: EachFile, cache: ResultCache) -> ToolResult:
    keys = {f: _key(version, "each", *proof.args, proof.prefix, _content(f)) for f in proof.files}
    todo = [f for f in proof.files if not cache.passed(keys[f])]
    title = f"{proof.title} ({len(proof.files)} files)"
    if not todo:
        return ToolResult(title, True, "", cached=True)
    result = run(title, [path, *proof.args, *(f"{proof.prefix}{f}" for f in todo)])
    if result.ok:
        for f in todo:
            cache.record(keys[f])
    return result


def _embedded(
    path: str, version: str, proofs: Sequence[EmbeddedRuleGroups], cache: ResultCache
) -> ToolResult:
    wrapped = [(f, proof.groups_of) for proof in proofs for f in proof.files]
    keys = {f: _key(version, "embedded", _content(f)) for f, _ in wrapped}
    todo = [(f, groups_of) for f, groups_of in wrapped if not cache.passed(keys[f])]
    if not todo:
        return ToolResult(embedded_title(len(wrapped)), True, "", cached=True)
    result = check_embedded(path, todo, embedded_title(len(wrapped)))
    if result.ok:
        for f, _ in todo:
            cache.record(keys[f])
    return result


def route_title(table_file: Path) -> str:
    return f"amtool config routes test {table_file.as_posix()}"


def embedded_title(count: int) -> str:
    return f"promtool check rules on embedded groups ({count} files)"


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
        f"{route_title(table_file)} ({len(cases)} cases)",
        not failed,
        "\n".join(r.output for r in failed),
    )


def check_embedded(
    promtool: str, wrapped: Sequence[tuple[Path, Callable[[Any], Any]]], title: str
) -> ToolResult:
    """`promtool check rules` on the groups inside PrometheusRule objects, Mimir namespace files
    and the like: promtool reads only plain rule files, so each document's groups are copied
    into one first."""
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
        return run(title, [promtool, "check", "rules", "--lint-fatal", *map(str, plain)])
