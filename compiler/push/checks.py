"""The offline checks every push runs before it changes anything: promtool, vmalert -dryRun
and amtool."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from compiler.checks import toolrun
from compiler.pipeline import workers
from compiler.push.transport import PushError

# A check takes files and raises PushError with the tool's own words.
Check = Callable[[Sequence[Path]], None]


def _run(title: str, argv: list[str]) -> None:
    result = toolrun.run(title, argv)
    if not result.ok:
        raise PushError(f"{title} failed; nothing was pushed:\n{result.output.rstrip()}")


# Rule files each tool passed in this process, by path and content. Prometheus and Mimir check the
# same files in one push; at 1,000 rule files each check takes 8 s (bench/README.md).
_rules_passed: set[frozenset] = set()
_vmalert_passed: set[frozenset] = set()


def _contents(files: Sequence[Path]) -> frozenset | None:
    try:
        return frozenset(
            (str(Path(f).resolve()), hashlib.sha256(Path(f).read_bytes()).hexdigest())
            for f in files
        )
    except OSError:
        return None  # the tool says what is wrong with the file


_rules_lock = (
    threading.Lock()
)  # targets plan concurrently: the second waits and finds the files passed


def promtool_check_rules(files: Sequence[Path]) -> None:
    """`promtool check rules` on ``files``; files it already passed with the same content are
    not checked again."""
    with _rules_lock:
        _check_rules(
            "promtool check rules",
            "promtool",
            lambda tool, share: [tool, "check", "rules", *map(str, share)],
            files,
            _rules_passed,
        )


def vmalert_dry_run(files: Sequence[Path]) -> None:
    """`vmalert -dryRun -rule=FILE...` on ``files``: each file parsed and its expressions and
    templates validated, as vmalert does on a reload. Run in the files' directory with their
    plain names, because vmalert reads each ``-rule`` value as a comma-separated list of globs."""
    paths = [Path(f) for f in files]
    folder = paths[0].parent if paths and all(p.parent == paths[0].parent for p in paths) else None

    def argv(tool: str, share: list[Path]) -> list[str]:
        names = [p.name if folder is not None else str(p) for p in share]
        return [tool, "-dryRun", "-loggerLevel=ERROR", *(f"-rule={name}" for name in names)]

    with _rules_lock:
        _check_rules(
            "vmalert -dryRun",
            "vmalert",
            argv,
            paths,
            _vmalert_passed,
            folder,
            missing="vmalert not found on PATH; install Debian's victoria-metrics package",
        )


def _check_rules(
    title: str,
    tool_name: str,
    argv: Callable[[str, list[Path]], list[str]],
    files: Sequence[Path],
    passed: set[frozenset],
    cwd: Path | None = None,
    missing: str | None = None,  # what to say when the tool is not installed
) -> None:
    key = _contents(files)
    if key is not None and key in passed:
        return
    try:
        tool = toolrun.tool(tool_name)
    except toolrun.ToolMissing as exc:
        raise PushError(missing or str(exc)) from None
    # Both tools check files one after another on about one core: split them over the CPUs.
    shares = [list(files)[i :: workers.usable_cpus()] for i in range(workers.usable_cpus())]
    argvs = [argv(tool, share) for share in shares if share]
    with ThreadPoolExecutor(max_workers=len(argvs) or 1) as pool:
        results = list(pool.map(lambda args: toolrun.run(title, args, cwd), argvs))
    failed = [r for r in results if not r.ok]
    if failed:
        output = "\n".join(r.output.rstrip() for r in failed)
        raise PushError(f"{title} failed; nothing was pushed:\n{output}")
    if key is not None:
        passed.add(key)


def amtool_check_config(files: Sequence[Path]) -> None:
    try:
        amtool = toolrun.tool("amtool")
    except toolrun.ToolMissing as exc:
        raise PushError(str(exc)) from None
    _run("amtool check-config", [amtool, "check-config", *map(str, files)])
