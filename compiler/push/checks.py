"""The offline checks every push runs before it changes anything: promtool and amtool."""

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


# Rule files promtool passed in this process, by path and content. Prometheus and Mimir check the
# same files in one push; at 1,000 rule files each check takes 8 s (bench/README.md).
_rules_passed: set[frozenset] = set()


def _contents(files: Sequence[Path]) -> frozenset | None:
    try:
        return frozenset(
            (str(Path(f).resolve()), hashlib.sha256(Path(f).read_bytes()).hexdigest())
            for f in files
        )
    except OSError:
        return None  # promtool says what is wrong with the file


_rules_lock = (
    threading.Lock()
)  # targets plan concurrently: the second waits and finds the files passed


def promtool_check_rules(files: Sequence[Path]) -> None:
    """`promtool check rules` on ``files``; files it already passed with the same content are
    not checked again."""
    with _rules_lock:
        _promtool_check_rules(files)


def _promtool_check_rules(files: Sequence[Path]) -> None:
    key = _contents(files)
    if key is not None and key in _rules_passed:
        return
    try:
        promtool = toolrun.tool("promtool")
    except toolrun.ToolMissing as exc:
        raise PushError(str(exc)) from None
    # promtool checks files one after another on about one core: split them over the CPUs.
    shares = [list(files)[i :: workers.usable_cpus()] for i in range(workers.usable_cpus())]
    argvs = [[promtool, "check", "rules", *map(str, share)] for share in shares if share]
    with ThreadPoolExecutor(max_workers=len(argvs) or 1) as pool:
        results = list(pool.map(lambda argv: toolrun.run("promtool check rules", argv), argvs))
    failed = [r for r in results if not r.ok]
    if failed:
        output = "\n".join(r.output.rstrip() for r in failed)
        raise PushError(f"promtool check rules failed; nothing was pushed:\n{output}")
    if key is not None:
        _rules_passed.add(key)


def amtool_check_config(files: Sequence[Path]) -> None:
    try:
        amtool = toolrun.tool("amtool")
    except toolrun.ToolMissing as exc:
        raise PushError(str(exc)) from None
    _run("amtool check-config", [amtool, "check-config", *map(str, files)])
