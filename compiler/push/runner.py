"""Which targets to push, and the order of a push: check all, plan all, then write one by one.

Nothing is written anywhere until every configured target passed its checks and produced a
plan, so a wrong token for Grafana cannot leave Prometheus half updated. Writes then go target
by target; the first failure stops the rest. A target whose objects are not in place after its
writes (read back) is restored: its previous objects are put back and read back (restore.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import endpoints as ep
from compiler.push import registry
from compiler.push.client import Context, Settings
from compiler.push.plan import Plan, Progress, Pusher, Restore, TargetReport
from compiler.push.prometheus import RULES_DIR_IN_OUT
from compiler.push.transport import PushError
from compiler.push.vmalert import RULES_DIR_IN_OUT as VMALERT_RULES_DIR_IN_OUT

# (target name, objects to write) -> a context giving the progress callback
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager]


@contextlib.contextmanager
def no_progress(name: str, total: int) -> Iterator[Progress]:
    yield lambda n: None


def stale_files(model: Model, out_dir: Path) -> list[str]:
    """Rule files in out/ of services the specs do not have: out/ was compiled from other specs."""
    expected = {conventions.rules_file(s.name) for s in model.services}
    expected |= {conventions.vmalert_rules_file(s.name) for s in model.services}
    found = (
        p.relative_to(out_dir).as_posix()
        for folder in (RULES_DIR_IN_OUT, VMALERT_RULES_DIR_IN_OUT)
        for p in (out_dir / folder).glob("*.yml")
    )
    return sorted(rel for rel in found if rel not in expected)


def build(
    endpoints: ep.Endpoints, model: Model, settings: Settings, only: list[str] | None = None
) -> tuple[list[Pusher], list[TargetReport]]:
    """The pushers for configured targets with something in out/; a report for every other one."""
    out_dir = Path(settings.out_dir)
    pushers: list[Pusher] = []
    reports: list[TargetReport] = []
    stale = stale_files(model, out_dir)
    if stale:
        raise PushError(
            f"{out_dir} does not match the specs ({', '.join(stale[:3])}...); "
            "run `slo compile` first"
        )
    context = Context(model, settings, endpoints.timeout, endpoints.tls_verify, endpoints.tls)
    for client in [registry.get(name) for name in only] if only else registry.clients():
        endpoint = endpoints.targets.get(client.name)
        if endpoint is None:
            url = client.setting(client.url_key)
            hint = f"set {client.url_key.variable}, {ep.flag_name(url)} or --env"
            if only:
                reports.append(
                    TargetReport(client.name, "failed", errors=[f"not configured: {hint}"])
                )
            else:
                reports.append(
                    TargetReport(client.name, "skipped", Plan(notes=[f"not configured ({hint})"]))
                )
            continue
        reason = client.missing_output(out_dir)
        if reason:
            reports.append(TargetReport(client.name, "skipped", Plan(notes=[reason])))
            continue
        try:
            pushers.append(client.build(endpoint, context.of(client.name)))
        except (PushError, OSError) as exc:
            reports.append(TargetReport(client.name, "failed", errors=[str(exc)]))
    return pushers, reports


def order(reports: list[TargetReport]) -> list[TargetReport]:
    """Reports in registry order, whichever order they were made in."""
    names = registry.names()
    return sorted(reports, key=lambda report: names.index(report.target))


def _concurrently(
    function: Callable[[Pusher], TargetReport], pushers: list[Pusher]
) -> list[TargetReport]:
    """``function`` on every pusher at once, reports in the pushers' order. Planning only reads,
    and most of it is waiting for servers (a ruler listing every group, Prometheus' rules API)
    and for promtool: targets need not wait for one another."""
    with ThreadPoolExecutor(max_workers=max(1, len(pushers))) as pool:
        return list(pool.map(function, pushers))


def diff(pushers: list[Pusher]) -> list[TargetReport]:
    """Plan every target; read only."""

    def plan(pusher: Pusher) -> TargetReport:
        try:
            return TargetReport(pusher.name, "planned", pusher.plan())
        except PushError as exc:
            return TargetReport(pusher.name, "failed", errors=[str(exc)])

    return _concurrently(plan, pushers)


NOT_IN_PLACE = "not in place after the push: "
NOTHING_WRITTEN = "nothing was written: the checks or the plan failed"


def after_failed_apply(pusher: Pusher, report: TargetReport, failure: PushError) -> list[str]:
    """What is still not as out/ says, read back from the server after writes failed.

    A request that timed out or lost its connection may still have been carried out, and one that
    failed may have been undone by the target's own restore, so the errors of the writes alone do
    not say what landed. The server does: everything it still lacks is listed, one object a line;
    when it lacks nothing, the push converged after all.
    """
    try:
        pending = pusher.verify()
    except PushError as again:
        return [
            str(failure),
            f"could not read back what landed, so any write above may be missing: {again}",
        ]
    if not pending:
        first = str(failure).splitlines()[0]
        report.plan.notes.append(
            f"some writes reported failures ({first}), but reading back shows every object in place"
        )
        return []
    return [str(failure)] + [NOT_IN_PLACE + problem for problem in pending]


def restore(pusher: Pusher, plan: Plan) -> Restore:
    """The pusher's restore, which reports what it could not put back; a failure to even start
    (reading the live state back) says so."""
    try:
        return pusher.restore(plan)
    except PushError as exc:
        return Restore("", 0, (f"could not restore or read back: {exc}",))


def push(
    pushers: list[Pusher], dry_run: bool = False, progress: ProgressFactory = no_progress
) -> list[TargetReport]:
    """Check and plan every target (concurrently: all read only), then (unless ``dry_run``) apply
    and verify them one by one, stopping at the first that fails, which is restored."""

    def check_and_plan(pusher: Pusher) -> TargetReport:
        try:
            pusher.preflight()
            return TargetReport(pusher.name, "planned", pusher.plan())
        except PushError as exc:
            return TargetReport(
                pusher.name, "failed", Plan(notes=[NOTHING_WRITTEN]), errors=[str(exc)]
            )

    reports = _concurrently(check_and_plan, pushers)
    if dry_run:
        return reports
    if any(r.status == "failed" for r in reports):
        for report in reports:
            if report.status == "planned":
                report.status = "not-run"
                report.errors.append("not pushed: another target failed its checks")
        return reports
    for pusher, report in zip(pushers, reports):
        if report.status != "planned":
            continue
        if not report.changed:
            report.status = "pushed"
            continue
        try:
            with progress(pusher.name, report.plan.steps or len(report.plan.pending)) as step:
                pusher.apply(report.plan, step)
            problems = pusher.verify()
        except PushError as exc:
            problems = after_failed_apply(pusher, report, exc)
        if problems:
            report.status = "failed"
            report.errors.extend(problems)
            report.restore = restore(pusher, report.plan)
            for later in reports[reports.index(report) + 1 :]:
                if later.status == "planned":
                    later.status = "not-run"
                    later.errors.append(f"not pushed: {pusher.name} failed first")
            break
        report.status = "pushed"
    return reports
