"""Run the real promtool (and later amtool) on compiled output."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from compiler import conventions as names

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
        raise ToolMissing(f"{name} not found on PATH; install Debian's prometheus package (`make run` does)")
    return path


def run(title: str, argv: list[str], cwd: Path | None = None) -> ToolResult:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ToolResult(title, False, f"timed out after {TIMEOUT}s")
    return ToolResult(title, proc.returncode == 0, proc.stdout + proc.stderr)


def test_output(out_dir: Path) -> list[ToolResult]:
    promtool = tool("promtool")
    results = []
    rules = sorted((out_dir / "prometheus" / "rules").glob("*.yml"))
    tests = sorted((out_dir / "prometheus" / "tests").glob("*.yml"))
    if rules:
        results.append(run(f"promtool check rules ({len(rules)} files)", [promtool, "check", "rules", *map(str, rules)]))
    results += check_embedded_rules(promtool, out_dir)
    # Unit-test files are independent and promtool uses about one core each: run them side by side.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results += pool.map(
            lambda test: run(f"promtool test rules {test.as_posix()}", [promtool, "test", "rules", str(test)]), tests
        )
    return results


# Outputs that wrap rule groups in another document: file pattern -> where the groups are.
EMBEDDED_RULES = {
    names.kubernetes_rule_file("*"): lambda document: document["spec"]["groups"],
    names.mimir_rule_file("*"): lambda document: document["groups"],
}


def check_embedded_rules(promtool: str, out_dir: Path) -> list[ToolResult]:
    """`promtool check rules` on the groups inside PrometheusRule objects and Mimir namespace files.

    promtool reads only plain rule files, so each document's groups are copied into one first."""
    wrapped = [(path, groups_of) for pattern, groups_of in EMBEDDED_RULES.items() for path in sorted(out_dir.glob(pattern))]
    if not wrapped:
        return []
    title = f"promtool check rules on embedded groups ({len(wrapped)} files)"
    with tempfile.TemporaryDirectory(prefix="slo-embedded-") as scratch:
        plain = []
        for path, groups_of in wrapped:
            try:
                documents = list(yaml.safe_load_all(path.read_text("utf-8")))
                for i, document in enumerate(documents):
                    target = Path(scratch) / path.parent.name / f"{path.stem}.{i}.yml"
                    target.parent.mkdir(exist_ok=True)
                    target.write_text(yaml.safe_dump({"groups": groups_of(document)}, sort_keys=False), "utf-8")
                    plain.append(target)
            except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
                return [ToolResult(title, False, f"{path}: no rule groups where expected: {exc}")]
        return [run(title, [promtool, "check", "rules", *map(str, plain)])]
