"""Run the real promtool (and later amtool) on compiled output."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

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
    # Unit-test files are independent and promtool uses about one core each: run them side by side.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results += pool.map(
            lambda test: run(f"promtool test rules {test.as_posix()}", [promtool, "test", "rules", str(test)]), tests
        )
    return results
