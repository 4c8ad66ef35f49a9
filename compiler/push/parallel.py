"""Bounded concurrency for APIs that take one object per request (Grafana, Mimir)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from compiler.push.plan import Progress
from compiler.push.transport import PushError

MAX_WORKERS = 4  # enough to hide latency; few enough not to trip a server's rate limits


T = TypeVar("T")


def each(
    items: Iterable[T],
    action: Callable[[T], None],
    progress: Progress,
    workers: int = MAX_WORKERS,
) -> list[str]:
    """Run ``action`` on every item, at most ``workers`` at a time; the errors, in item order.

    Every item is attempted even when some fail, so one bad dashboard does not hide the rest.
    Progress is reported from this (the calling) thread only.
    """
    todo = list(items)
    errors: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as pool:
        futures = {pool.submit(action, item): i for i, item in enumerate(todo)}
        for future in as_completed(futures):
            try:
                future.result()
            except PushError as exc:
                errors[futures[future]] = str(exc)
            progress(1)
    return [errors[i] for i in sorted(errors)]
