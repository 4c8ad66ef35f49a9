"""Run the real promtool and amtool on compiled output."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from compiler.core import conventions

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


def test_output(out_dir: Path) -> list[ToolResult]:
    promtool = tool("promtool")
    results = []
    rules = sorted((out_dir / "prometheus" / "rules").glob("*.yml"))
    tests = sorted((out_dir / "prometheus" / "tests").glob("*.yml"))
    if rules:
        results.append(
            run(
                f"promtool check rules ({len(rules)} files)",
                [promtool, "check", "rules", *map(str, rules)],
            )
        )
    results += check_embedded_rules(promtool, out_dir)
    # Unit-test files are independent and promtool uses about one core each: run them side by side.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results += pool.map(
            lambda test: run(
                f"promtool test rules {test.as_posix()}", [promtool, "test", "rules", str(test)]
            ),
            tests,
        )
    return results + test_alertmanager(out_dir)


def test_alertmanager(out_dir: Path) -> list[ToolResult]:
    """`amtool check-config` on the generated config, then every case of the routing table."""
    config = out_dir / conventions.ALERTMANAGER_CONFIG
    if not config.is_file():
        return []
    amtool = tool("amtool")
    results = [
        run(f"amtool check-config {config.as_posix()}", [amtool, "check-config", str(config)])
    ]
    table = out_dir / conventions.ALERTMANAGER_ROUTE_TESTS
    if table.is_file():
        results.append(route_tests(amtool, table))
    return results


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


# Outputs that wrap rule groups in another document: file pattern -> where the groups are.
EMBEDDED_RULES = {
    conventions.kubernetes_rule_file("*"): lambda document: document["spec"]["groups"],
    conventions.mimir_rule_file("*"): lambda document: document["groups"],
}


def check_embedded_rules(promtool: str, out_dir: Path) -> list[ToolResult]:
    """`promtool check rules` on the groups inside PrometheusRule objects and Mimir namespace files.

    promtool reads only plain rule files, so each document's groups are copied into one first."""
    wrapped = [
        (path, groups_of)
        for pattern, groups_of in EMBEDDED_RULES.items()
        for path in sorted(out_dir.glob(pattern))
    ]
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
                    target.write_text(
                        yaml.safe_dump({"groups": groups_of(document)}, sort_keys=False), "utf-8"
                    )
                    plain.append(target)
            except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
                return [ToolResult(title, False, f"{path}: no rule groups where expected: {exc}")]
        return [run(title, [promtool, "check", "rules", *map(str, plain)])]
