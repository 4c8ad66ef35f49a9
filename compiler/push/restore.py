"""Putting back what a push changed when it did not land: one shape for every client.

A push writes, reloads and reads back (verify). When what it reads back is not what out/ says (a
write the server answered as done that did not land, or landed different; writes that failed
part way), stopping there would leave the live system half new. So apply() keeps, before it
writes, every object it will overwrite, create or delete as it was: a ``Snapshot`` (key -> the
previous object, None where there was none); plan() has read the live state already. When the
push fails after writing, runner.push calls the pusher's ``restore``, which

  1. ``put_back``: writes every previous object again and deletes those the push created, each
     one tried whatever failed before it;
  2. reloads, where a reload is how the server takes a change (the file targets);
  3. reads the live state back and ``compare``s it with what was live before the push, object
     by object, into a ``Restore``: the previous objects are live again, or which are not, how,
     and why putting them back failed.

A client supplies only what is its own: how to write, delete and read one of its objects, and
how two of them differ.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from compiler.push.plan import Restore
from compiler.push.transport import PushError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class Snapshot(Generic[K, V]):
    """The objects a push is about to change, as they were: key -> previous object, or None
    where the push creates it."""

    before: dict[K, V | None] = field(default_factory=dict)
    done: bool = False  # put back already (apply's own restore after a refused reload)

    def keep(self, key: K, previous: V | None) -> None:
        """What ``key`` was before the push; the first kept wins (it is the oldest)."""
        self.before.setdefault(key, previous)

    def __len__(self) -> int:
        return len(self.before)


def put_back(
    snapshot: Snapshot[K, V], write: Callable[[K, V], None], remove: Callable[[K], None]
) -> dict[K, str]:
    """Every previous object written again, every created one removed; why it failed, by key
    (the others are still tried)."""
    failed: dict[K, str] = {}
    for key, previous in snapshot.before.items():
        try:
            if previous is None:
                remove(key)
            else:
                write(key, previous)
        except (PushError, OSError) as exc:
            failed[key] = str(exc)
    snapshot.done = True
    return failed


def compare(
    before: Mapping[K, V | None],
    now: Mapping[K, V],
    name: Callable[[K], str],
    differences: Callable[[V, V], list[str]],
    failed: Mapping[K, str] | None = None,
) -> list[str]:
    """What of ``before`` (key -> what was live before the push, None: nothing) is not so in
    ``now`` (what is live now), one object a line, with why putting it back failed."""
    found = []
    for key, was in before.items():
        have = now.get(key)
        if was is None and have is None:
            continue
        if was is None:
            problem = "created by the push, still there"
        elif have is None:
            problem = "there before the push, missing now"
        else:
            what = differences(was, have)
            if not what:
                continue
            problem = f"not as before the push ({'; '.join(what)})"
        why = (failed or {}).get(key)
        found.append(
            f"{name(key)}: {problem}" + (f"; putting it back failed: {why}" if why else "")
        )
    return found


def outcome(
    restored: str, objects: int, problems: Sequence[str], failed: Sequence[str] = ()
) -> Restore:
    """The Restore to report: ``failed``, what went wrong outside any one object (a reload),
    first."""
    return Restore(restored, objects, (*failed, *problems))


Record = TypeVar("Record")
Record_co = TypeVar("Record_co", covariant=True)


class RecordedWork(Protocol[Record_co]):
    """What a client that keeps its ownership record in the live system (Grafana, Mimir) plans
    for it: the objects it deletes, the record written before any write (the old one widened by
    what the push adds) and the record written after the deletes, when it is smaller."""

    @property
    def delete(self) -> Sized: ...

    @property
    def record(self) -> Record_co | None: ...

    @property
    def record_after(self) -> object: ...


def rewiden_record(
    work: RecordedWork[Record], save: Callable[[Record], None], what: str
) -> list[str]:
    """Save the ownership record as it was before a completed push's deletes, since restore
    puts those objects back: each stays recorded. Nothing to do when the push deleted nothing
    or wrote no record; a failure is returned, prefixed with ``what``."""
    record = work.record
    if not (work.delete and record and work.record_after is not None):
        return []
    try:
        save(record)
    except PushError as exc:
        return [f"{what}: {exc}"]
    return []
