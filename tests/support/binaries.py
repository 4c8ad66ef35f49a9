"""The `binaries` marker, kept true: a test that starts a real server or tool carries it.

Three pieces, wired up in conftest.py:

- ``mark_items`` (collection) marks every test that asks for a server fixture
  (``prometheus_server``, ``alertmanager_server``) or carries a guard of support
  (``needs_promtool`` and the like), so those need no hand-written marker.
- ``require(tool)`` is what a helper calls before it starts a binary (servers.py does): the test
  skips, saying which binary is missing, or fails when it is not marked ``binaries``.
- ``begin`` (at each test's setup) and ``watch`` (an autouse fixture) see every process the
  test starts through ``subprocess`` (a Python audit hook): starting one of BINARIES from a test
  without the marker fails that test, whatever path started it (the compiler's own tool runs
  included).

What no hook in this process sees, a child process starting a binary (`slo` run as a command),
`python tests/without_binaries.py` finds: it runs ``pytest -m "not binaries"`` with a PATH that
has every usual command but these binaries.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator

import pytest

import support

# Every real binary a test may start: the server, tool and their Debian names.
BINARIES = frozenset(
    {
        "promtool",
        "amtool",
        "prometheus",
        "prometheus-alertmanager",
        "alertmanager",
        "victoria-metrics",
        "vmalert",
    }
)
SERVER_FIXTURES = frozenset({"prometheus_server", "alertmanager_server"})


def _guard_marks() -> list:
    return [
        guard.mark
        for guard in (
            support.needs_promtool,
            support.needs_amtool,
            support.needs_prometheus,
            support.needs_alertmanager,
        )
    ]


def mark_items(items: list) -> None:
    """Mark ``binaries`` every test whose fixtures or guards say it starts one."""
    guards = _guard_marks()
    for item in items:
        if item.get_closest_marker("binaries"):
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SERVER_FIXTURES or any(m in guards for m in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.binaries)


class _Watch:
    """The test running now, and the binaries it started without being marked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.marked: bool | None = None  # None: no test is running (collection, session fixtures)
        self.started: list[str] = []

    def saw(self, executable: object, args: object) -> None:
        if self.marked is not False:
            return
        argv0 = args[0] if isinstance(args, list | tuple) and args else args
        names = {
            os.path.basename(os.fsdecode(x))
            for x in (executable, argv0)
            if isinstance(x, str | bytes | os.PathLike)
        }
        found = sorted(names & BINARIES)
        if found:
            with self.lock:
                self.started.extend(found)


WATCH = _Watch()
_hooked = False


def _audit(event: str, args: tuple) -> None:
    if event == "subprocess.Popen":
        WATCH.saw(args[0], args[1])


def begin(item: pytest.Item) -> None:
    """Before a test's setup (its module and session fixtures included): watch what it starts."""
    global _hooked
    if not _hooked:  # an audit hook cannot be removed: one for the whole process
        sys.addaudithook(_audit)
        _hooked = True
    WATCH.marked = item.get_closest_marker("binaries") is not None
    WATCH.started = []


def watch(item: pytest.Item) -> Iterator[None]:
    """Around one test, from ``begin``: fail it if it started one of BINARIES without the
    ``binaries`` marker."""
    try:
        yield
    finally:
        started, WATCH.marked, WATCH.started = WATCH.started, None, []
    if started:
        pytest.fail(
            f"{item.nodeid} started {', '.join(sorted(set(started)))} but is not marked "
            "@pytest.mark.binaries (add the marker and a skip for when it is missing)",
            pytrace=False,
        )


def require(tool: str) -> str:
    """The path of ``tool`` for a test that is about to start it: skips the test when the tool
    is missing, fails it when the test is not marked ``binaries``."""
    if WATCH.marked is False:
        pytest.fail(f"this test starts {tool} but is not marked @pytest.mark.binaries")
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed (make test installs it)")
    return path
