"""Which targets to push, and the order of a push: check all, plan all, then write one by one.

Nothing is written anywhere until every configured target passed its checks and produced a
plan, so a wrong token for Grafana cannot leave Prometheus half updated. Writes then go target
by target; the first failure stops the rest (each target restores what it can on its own).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from compiler.core import conventions
from compiler.core.model import Model
from compiler.push import endpoints as ep
from compiler.push.alertmanager import AlertmanagerPusher
from compiler.push.grafana import DASHBOARDS_IN_OUT, Folder, GrafanaPusher
from compiler.push.mimir import MimirPusher
from compiler.push.plan import Plan, Progress, Pusher, TargetReport
from compiler.push.prometheus import RULES_DIR_IN_OUT, PrometheusPusher
from compiler.push.transport import PushError, RetryPolicy, Transport

# (target name, objects to write) -> a context giving the progress callback
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager]


@contextlib.contextmanager
def no_progress(name: str, total: int) -> Iterator[Progress]:
    yield lambda n: None


@dataclass(frozen=True)
class Settings:
    out_dir: Path
    prune: bool = False
    policy: RetryPolicy = RetryPolicy()
    checks: bool = True  # promtool/amtool before writing; tests switch them off to reach the server's own refusal


def missing_output(name: str, out_dir: Path) -> str | None:
    """Why out/ has nothing for this target, or None when it has."""
    if name in ("prometheus", "mimir") and not any((out_dir / RULES_DIR_IN_OUT).glob("*.yml")):
        return f"{(out_dir / RULES_DIR_IN_OUT).as_posix()} has no rule files; run `slo compile`"
    if name == "alertmanager" and not (out_dir / conventions.ALERTMANAGER_CONFIG).is_file():
        return f"{(out_dir / conventions.ALERTMANAGER_CONFIG).as_posix()} not found (the Alertmanager target is not compiled)"
    if name == "grafana" and not any((out_dir / DASHBOARDS_IN_OUT).glob("*.json")):
        return f"{(out_dir / DASHBOARDS_IN_OUT).as_posix()} has no dashboards (the Grafana target is not compiled)"
    return None


def grafana_folders(model: Model) -> dict[str, Folder]:
    """Dashboard file under out/ -> its team's folder; the rest go to the shared folder."""
    return {
        conventions.dashboard_file(s.name): Folder(conventions.grafana_folder_uid(s.team), s.team)
        for s in model.services
    }


def mimir_namespaces(model: Model, out_dir: Path) -> dict[str, str]:
    """Namespace -> rule file under out/, for every service whose rule file exists."""
    return {
        conventions.mimir_namespace(s.name): conventions.rules_file(s.name)
        for s in model.services
        if (out_dir / conventions.rules_file(s.name)).is_file()
    }


def stale_files(model: Model, out_dir: Path) -> list[str]:
    """Rule files in out/ of services the specs do not have: out/ was compiled from other specs."""
    expected = {conventions.rules_file(s.name) for s in model.services}
    found = (p.relative_to(out_dir).as_posix() for p in (out_dir / RULES_DIR_IN_OUT).glob("*.yml"))
    return sorted(rel for rel in found if rel not in expected)


def transport_for(name: str, endpoints: ep.Endpoints, policy: RetryPolicy) -> Transport:
    endpoint = getattr(endpoints, name)
    headers = {"X-Scope-OrgID": endpoint.tenant} if name == "mimir" else {}
    return Transport(
        endpoint.url,
        headers=headers,
        token=getattr(endpoint, "token", None),
        timeout=endpoints.timeout,
        verify=endpoints.tls_verify,
        policy=policy,
    )


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
            f"{out_dir} does not match the specs ({', '.join(stale[:3])}...); run `slo compile` first"
        )
    for name in only or ep.TARGET_NAMES:
        endpoint = getattr(endpoints, name)
        if endpoint is None:
            hint = f"set {ep.ENVIRONMENT[name + '.url']}, {ep.flag_name(name + '.url')} or --env"
            if only:
                reports.append(TargetReport(name, "failed", errors=[f"not configured: {hint}"]))
            else:
                reports.append(
                    TargetReport(name, "skipped", Plan(notes=[f"not configured ({hint})"]))
                )
            continue
        reason = missing_output(name, out_dir)
        if reason:
            reports.append(TargetReport(name, "skipped", Plan(notes=[reason])))
            continue
        http = transport_for(name, endpoints, settings.policy)
        try:
            pushers.append(_pusher(name, endpoint, model, settings, http))
        except (PushError, OSError) as exc:
            reports.append(TargetReport(name, "failed", errors=[str(exc)]))
    return pushers, reports


def _pusher(name: str, endpoint, model: Model, settings: Settings, http: Transport) -> Pusher:
    out_dir = Path(settings.out_dir)
    if name == "prometheus":
        return PrometheusPusher(
            endpoint, out_dir, http, **({} if settings.checks else {"check": None})
        )
    if name == "alertmanager":
        return AlertmanagerPusher(
            endpoint, out_dir, http, **({} if settings.checks else {"check": None})
        )
    if name == "grafana":
        return GrafanaPusher(endpoint, out_dir, grafana_folders(model), http, prune=settings.prune)
    return MimirPusher(
        endpoint,
        out_dir,
        mimir_namespaces(model, out_dir),
        http,
        **({} if settings.checks else {"check": None}),
    )


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


def push(
    pushers: list[Pusher], dry_run: bool = False, progress: ProgressFactory = no_progress
) -> list[TargetReport]:
    """Check and plan every target (concurrently: all read only), then (unless ``dry_run``) apply
    and verify them one by one, stopping at the first that fails."""

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
            for later in reports[reports.index(report) + 1 :]:
                if later.status == "planned":
                    later.status = "not-run"
                    later.errors.append(f"not pushed: {pusher.name} failed first")
            break
        report.status = "pushed"
    return reports
