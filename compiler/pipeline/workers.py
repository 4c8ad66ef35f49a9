"""Run one function over many items in forked worker processes, results in input order.

The compile's per-file work (parse, build, emit, read back) is pure and independent per spec
file, and CPU-bound Python, so it scales with processes, not threads. Each worker gets a fixed
share of the items up front and writes its results to an unlinked spool file, read back when
it has exited: there is no task queue a worker could wait on forever, and no pipe it could block
on. If the parent dies, a worker finishes its share and exits; the spool vanishes with both.
"""

from __future__ import annotations

import os
import pickle
import signal
import tempfile
import traceback
from collections.abc import Callable, Sequence
from typing import IO, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class WorkerError(RuntimeError):
    """A worker raised: a bug, reported with the worker's traceback."""


def map_forked(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    jobs: int,
    min_share: int = 2,
    pickled: Callable[[Item], bytes] | None = None,
) -> list[Result]:
    """``[function(item) for item in items]``, spread over up to ``jobs`` processes (this one
    included). Serial when forking cannot pay off: one job, or fewer than ``min_share`` items
    per process, or no fork on this platform.

    ``pickled(item)``: ``pickle.dumps(function(item))``, for a caller that pickles the result
    anyway (to cache it): workers send those bytes instead of pickling the result again."""
    jobs = max(1, min(jobs, len(items) // max(1, min_share)))
    if jobs == 1 or not hasattr(os, "fork"):
        return [function(item) for item in items]
    shares = [
        list(items[i::jobs]) for i in range(jobs)
    ]  # interleaved: neighbouring files are alike in size
    pending: list[tuple[int, IO[bytes]]] = []
    try:
        for share in shares[1:]:
            pending.append(_fork(function, share, pickled))
        results = [[function(item) for item in shares[0]]]
        while pending:
            pid, spool = pending.pop(0)
            results.append(_collect(pid, spool, len(shares[len(results)])))
    finally:
        for pid, spool in pending:  # an exception here (Ctrl-C, a bug): leave no worker behind
            _stop(pid)
            spool.close()
    ordered: list[Result] = [None] * len(items)  # type: ignore[list-item]
    for index, share_results in enumerate(results):
        ordered[index::jobs] = share_results
    return ordered


def _fork(function: Callable, share: list, pickled: Callable | None) -> tuple[int, IO[bytes]]:
    """A worker writing one pickle per result to an unlinked spool file as it goes, so neither
    it nor the parent ever holds its whole share as one buffer, and nothing is left on disk."""
    spool = tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the caller's code
        status = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, once
            try:
                for item in share:  # (worked, already pickled by the caller, the result)
                    if pickled is not None:
                        pickle.dump((True, True, pickled(item)), spool, pickle.HIGHEST_PROTOCOL)
                    else:
                        pickle.dump((True, False, function(item)), spool, pickle.HIGHEST_PROTOCOL)
                status = 0
            except BaseException:
                pickle.dump((False, False, traceback.format_exc()), spool)
            spool.flush()
        finally:
            os._exit(status)  # no atexit handlers, no flushing of the parent's buffers
    return pid, spool


def _collect(pid: int, spool: IO[bytes], count: int) -> list:
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        _stop(pid)
        spool.close()
        raise
    with spool:
        spool.seek(0)
        results: list = []
        while len(results) < count:
            try:
                ok, already_pickled, value = pickle.load(spool)
            except EOFError:
                raise WorkerError(
                    f"a compile worker exited without all its results (wait status {status})"
                ) from None
            if not ok:
                raise WorkerError(f"a compile worker failed:\n{value}")
            results.append(pickle.loads(value) if already_pickled else value)
    return results


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
