"""The offline checks every push runs before it changes anything: promtool and amtool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from compiler import toolrun
from compiler.push.transport import PushError

# A check takes files and raises PushError with the tool's own words.
Check = Callable[[Sequence[Path]], None]


def _run(title: str, argv: list[str]) -> None:
    result = toolrun.run(title, argv)
    if not result.ok:
        raise PushError(f"{title} failed; nothing was pushed:\n{result.output.rstrip()}")


def promtool_check_rules(files: Sequence[Path]) -> None:
    try:
        promtool = toolrun.tool("promtool")
    except toolrun.ToolMissing as exc:
        raise PushError(str(exc)) from None
    _run("promtool check rules", [promtool, "check", "rules", *map(str, files)])


def amtool_check_config(files: Sequence[Path]) -> None:
    try:
        amtool = toolrun.tool("amtool")
    except toolrun.ToolMissing as exc:
        raise PushError(str(exc)) from None
    _run("amtool check-config", [amtool, "check-config", *map(str, files)])
