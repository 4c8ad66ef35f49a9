"""Run one function over many items in forked worker processes, results in input order.

The compile's per-file work (parse, build, emit, read back) is pure and independent per spec
file, and CPU-bound Python, so it scales with processes, not threads. Each worker gets a fixed
share of the items up front and sends all its results back once, through a pipe: there is no
task queue a worker could wait on forever. If the parent dies, a worker finishes its share,
fails to write to the closed pipe and exits.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class WorkerError(RuntimeError):
    """A worker raised: a bug, reported with the worker's traceback."""


def map_forked(function: Callable[[Item], Result], items: Sequence[Item], jobs: int, min_share: int = 2) -> list[Result]:
    """``[function(item) for item in items]``, spread over up to ``jobs`` processes (this one
    included). Serial when forking cannot pay off: one job, or fewer than ``min_share`` items
    per process, or no fork on this platform."""
    jobs = max(1, min(jobs, len(items) // max(1, min_share)))
    if jobs == 1 or not hasattr(os, "fork"):
        return [function(item) for item in items]
    shares = [list(items[i::jobs]) for i in range(jobs)]  # interleaved: neighbouring files are alike in size
    pending: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            pending.append(_fork(function, share))
        results = [[function(item) for item in shares[0]]]
        while pending:
            results.append(_collect(*pending.pop(0)))
    finally:
        for pid, fd in pending:  # an exception here (Ctrl-C, a bug): leave no worker behind
            _stop(pid, fd)
    ordered: list[Result] = [None] * len(items)  # type: ignore[list-item]
    for index, share_results in enumerate(results):
        ordered[index::jobs] = share_results
    return ordered


def _fork(function: Callable, share: list) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the caller's code
        status = 1
        try:
            os.close(read_fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, once
            try:
                payload = pickle.dumps((True, [function(item) for item in share]), pickle.HIGHEST_PROTOCOL)
                status = 0
            except BaseException:  # noqa: BLE001 - sent to the parent, which raises it
                payload = pickle.dumps((False, traceback.format_exc()))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(status)  # no atexit handlers, no flushing of the parent's buffers
    os.close(write_fd)
    return pid, read_fd


def _collect(pid: int, fd: int) -> list:
    try:
        with os.fdopen(fd, "rb") as pipe:
            payload = pipe.read()
    except BaseException:
        _stop(pid, None)
        raise
    _, status = os.waitpid(pid, 0)
    if not payload:
        raise WorkerError(f"a compile worker exited without a result (wait status {status})")
    ok, value = pickle.loads(payload)
    if not ok:
        raise WorkerError(f"a compile worker failed:\n{value}")
    return value


def _stop(pid: int, fd: int | None) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    if fd is not None:
        os.close(fd)
