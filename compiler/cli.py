"""The `slo` command: a thin click layer over compiler.pipeline, output and the tool runners.

Only this module prints, colours or chooses exit codes: 0 success, 1 errors in the input or a
stale/failed check, 2 usage errors (click).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from compiler import backfill, importers, pipeline
from compiler.backfill.source import parse_rfc3339_ms
from compiler.checks import toolrun, vmtest
from compiler.core import conventions, windows
from compiler.core.diagnostics import CompileError, Diagnostic, Severity
from compiler.core.durations import DurationError, format_duration, parse_duration
from compiler.core.files import write_atomic
from compiler.core.model import Model
from compiler.importers.common import valid_name
from compiler.live import query, status
from compiler.live import report as live_report
from compiler.pipeline import output, workers
from compiler.pipeline.cache import DEFAULT_DIR as DEFAULT_CACHE_DIR
from compiler.pipeline.cache import Cache
from compiler.push import client as push_client
from compiler.push import endpoints, registry, report, runner, silences
from compiler.push.plan import Progress
from compiler.push.transport import PushError, Transport, redact
from compiler.spec import starter

DEFAULT_SPECS = "slo"

# Options that mean the same to every command reaching live systems (push, diff, backfill,
# status, report): one definition each.
TARGETS_FILE_OPTION = click.option(
    "--targets-file",
    default=conventions.TARGETS_FILE,
    show_default=True,
    type=click.Path(),
    help="Named environments.",
)
INSECURE_OPTION = click.option(
    "--insecure-skip-tls-verify",
    "insecure",
    is_flag=True,
    help="Do not verify TLS certificates (test setups only).",
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(0.1, 600),
    help="Seconds to wait for each answer (default 10).",
)
ENV_OPTION = click.option(
    "--env", "env_name", envvar="SLO_ENV", help="Environment from the targets file."
)
DEFAULT_OUT = "out"
DEFAULT_CACHE = DEFAULT_CACHE_DIR
F = TypeVar("F", bound=Callable[..., Any])


def _with_options(command: F, options: Sequence[Callable[[F], F]]) -> F:
    """``command`` with ``options``, shown in --help in the order given."""
    for option in reversed(options):
        command = option(command)
    return command


# Options several commands share, each with the help that says what it means to that command.
def _out_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(), help=help
    )


def _jobs_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--jobs", "-j", type=click.IntRange(min=1, max=256), default=None, help=help
    )


def _cache_dir_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--cache-dir", default=DEFAULT_CACHE, show_default=True, type=click.Path(), help=help
    )


def _print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        colour = "red" if d.severity >= Severity.ERROR else "yellow"
        click.secho(d.render(), fg=colour, err=True)
    errors = sum(d.severity >= Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)


# Set by commands that build a whole compile in memory: at exit, main() leaves freeing it to the
# OS (Python frees half a GB of objects one by one: 0.6 s at 10,000 SLOs).
_EXIT_FAST = False


def _compile(
    specs: str, cache_dir: str | None = None, jobs: int | None = None
) -> pipeline.CompileResult:
    global _EXIT_FAST
    _EXIT_FAST = True
    cache = Cache(cache_dir) if cache_dir else None
    gc.disable()  # millions of objects, next to no cycles: full collections only cost time (~4%)
    try:
        result = pipeline.compile_tree(Path(specs), cache, jobs or workers.usable_cpus())
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics)
        sys.exit(1)
    finally:
        # The compile's objects live until the command ends, and were all allocated with the
        # collector off: the first collection after enabling it would walk every one of them
        # (0.3 s in the parent at 10,000 SLOs). Frozen, collections leave them out until then;
        # a process that goes on after the command (tests) collects them again.
        gc.freeze()
        gc.enable()
        click.get_current_context().call_on_close(gc.unfreeze)
        if cache is not None:
            cache.prune()
    _print_diagnostics(result.diagnostics)
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="slo-compiler", prog_name="slo")
def cli() -> None:
    """Compile SLO specs into Prometheus rules, promtool tests and Alertmanager routing.

    \b
    Daily use:
      slo validate            check every spec under slo/
      slo compile             write out/ from slo/
      slo test                promtool and amtool checks and tests on out/
      slo push / slo diff     deliver out/ to live systems, or show what would change
      slo import --from sloth specs/*.yml   adopt specs written for Sloth, OpenSLO or Pyrra
    """


@cli.command()
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
def validate(specs: str) -> None:
    """Check the specs under SPECS (default: slo/) and report every problem; write nothing.

    \b
    Example:
      slo validate slo/
      slo/checkout.yaml:12:16: error [schema/range] slos[0].objective: 100 is out of range; ...
    """
    result = _compile(specs)
    services = result.model.services
    slos = sum(len(s.slos) for s in services)
    thresholds = sum(len(s.thresholds) for s in services)
    click.echo(f"ok: {len(services)} service(s), {slos} SLO(s), {thresholds} threshold(s)")


@cli.command(name="compile")
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
@_out_option("Output directory.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 and print a diff if the output directory is stale.",
)
@_cache_dir_option("Reuse work for unchanged spec files from here; --cache-dir '' turns it off.")
@_jobs_option("Processes preparing spec files in parallel.  [default: the CPUs slo may use]")
def compile_cmd(specs: str, out_dir: str, check: bool, cache_dir: str, jobs: int | None) -> None:
    """Compile the specs under SPECS (default: slo/) into OUT (default: out/).

    The output is deterministic and replaced atomically: a crash leaves the old tree whole.

    \b
    Examples:
      slo compile                    # slo/ -> out/
      slo compile specs/ --out build/
      slo compile --check            # in CI: fail when out/ was not regenerated
    """
    result = _compile(specs, cache_dir, jobs)
    target = Path(out_dir)
    if check:
        try:
            stale = output.changes(result.artifacts, target)
        except (output.OutputError, OSError) as exc:
            click.secho(f"{out_dir}: error [output/check] {exc}", fg="red", err=True)
            sys.exit(1)
        for change in stale:
            click.echo(change.diff, nl=False)
        if stale:
            click.secho(
                f"{out_dir} is stale: {len(stale)} file(s) differ; run `slo compile`",
                fg="red",
                err=True,
            )
            sys.exit(1)
        click.echo(f"{out_dir} is up to date ({len(result.artifacts)} files)")
        return
    try:
        written = output.write_tree(result.artifacts, target)
    except (output.OutputError, OSError) as exc:
        click.secho(f"{out_dir}: error [output/write] {exc}", fg="red", err=True)
        sys.exit(1)
    counts = {
        kind: sum(c.kind == kind for c in written) for kind in ("added", "changed", "removed")
    }
    click.echo(
        f"{out_dir}: {len(result.artifacts)} files; {counts['added']} added, "
        f"{counts['changed']} changed, {counts['removed']} removed"
    )


@cli.command()
@_out_option("Compiled output to test.")
@_jobs_option("promtool and amtool processes side by side.  [default: the CPUs slo may use]")
@_cache_dir_option(
    "Remember what passed here: a proof whose files and tool are unchanged is not run again."
)
@click.option("--no-cache", is_flag=True, help="Run every proof, whatever passed before.")
@click.option(
    "--engine",
    type=click.Choice(["prometheus", "vmalert", "all"]),
    default="prometheus",
    show_default=True,
    help="prometheus: every target's proofs (promtool, amtool, vmalert -dryRun). vmalert: "
    "vmalert -dryRun, and the promtool tests of every vmalert service replayed on a real "
    "VictoriaMetrics and vmalert. all: both.",
)
def test(out_dir: str, jobs: int | None, cache_dir: str, no_cache: bool, engine: str) -> None:
    """Run promtool and amtool on the compiled output; with --engine vmalert, the same tests
    on VictoriaMetrics and vmalert.

    `promtool check rules` on every rule file and `promtool test rules` on every test file; with a
    Routing spec also `amtool check-config` and every case of the routing table through
    `amtool config routes test --verify.receivers`. With `--engine vmalert` (or `all`), every
    test file of a service compiled for vmalert is also run on a fresh VictoriaMetrics on
    127.0.0.1: its input series imported, the vmalert rules evaluated by `vmalert -replay`, the
    firing alerts compared at each eval_time. A proof that passed before with the same files
    and the same tools is not run again (see --no-cache); failures always are.

    \b
    Examples:
      slo compile && slo test
      slo test -j 8 --no-cache        # every proof, eight at a time
      slo test --engine vmalert       # the tests on VictoriaMetrics and vmalert
    """
    out = Path(out_dir)
    only = {"vmalert", "vmalert-replay"} if engine == "vmalert" else None
    proofs = toolrun.proofs_for(out, only)
    replayed = vmtest.test_files(out) if engine != "prometheus" else []
    if engine != "prometheus" and not replayed:
        click.secho(
            f"error [tools/no-vmalert] no test file in {out_dir} proves a service compiled for "
            "vmalert (engines: [prometheus, vmalert])",
            fg="red",
            err=True,
        )
        sys.exit(1)
    cache = None if no_cache or not cache_dir else toolrun.ResultCache(Path(cache_dir))
    try:
        with _progress("slo test", len(proofs) + len(replayed), "proving") as step:
            results = toolrun.run_proofs(
                proofs, jobs or workers.usable_cpus(), cache, progress=step
            )
            if replayed:
                results += vmtest.run(out, cache, progress=step)
    except toolrun.ToolMissing as exc:
        click.secho(f"error [tools/missing] {exc}", fg="red", err=True)
        sys.exit(1)
    failed = [r for r in results if not r.ok]
    for r in results:
        if not r.cached:
            click.echo(f"{'ok' if r.ok else 'FAILED':6} {r.title}")
        if not r.ok:
            click.echo(r.output.rstrip(), err=True)
    cached = sum(r.cached for r in results)
    verdict = "ok" if results and not failed else "FAILED"
    summary = f"{verdict}: {cached} cached, {len(results) - cached} run, {len(failed)} failed"
    click.secho(summary, fg=None if verdict == "ok" else "red")
    if failed or not results:
        sys.exit(1)


# --- push and diff -------------------------------------------------------------------------
PROGRESS_MIN = 10  # objects; fewer finish before a bar would be worth drawing


def _push_options(command: F) -> F:
    """Options shared by `slo push` and `slo diff`: where the live systems are."""
    options = [
        _out_option("Compiled output to deliver."),
        click.option(
            "--env",
            "env_name",
            envvar="SLO_ENV",
            help=f"Environment from the targets file ({conventions.TARGETS_FILE}).",
        ),
        TARGETS_FILE_OPTION,
        click.option("--only", help=f"Comma-separated targets: {','.join(registry.names())}."),
        click.option(
            "--prune",
            is_flag=True,
            help=(
                "Also delete what slo recorded as its own (rule files, dashboards, Mimir rule "
                "groups) that out/ no longer has."
            ),
        ),
        click.option(
            "--format", "fmt", type=click.Choice(report.FORMATS), default="text", show_default=True
        ),
        INSECURE_OPTION,
        TIMEOUT_OPTION,
        # not inline tokens: flags end up in shell history
        *(_setting_option(key) for key in endpoints.flag_settings()),
    ]
    return _with_options(command, options)


def _setting_option(key: str) -> Callable[[F], F]:
    """The flag of a push client's setting (``alertmanager.url``: ``--alertmanager-url``)."""
    variable = endpoints.environment()[key]
    return click.option(endpoints.flag_name(key), _param(key), help=f"Overrides {variable}.")


def _param(key: str) -> str:
    """Where click puts the value of a setting's flag: ``alertmanager_url``."""
    return key.replace(".", "_")


def _endpoints(params: dict, settings: list[str], fail: int) -> endpoints.Endpoints:
    """Where the live systems are, from the options of ``_server_options(settings)`` (or
    ``_push_options``), which it takes out of ``params``; or print why not and exit ``fail``."""
    flags: dict[str, object] = {key: params.pop(_param(key)) for key in settings}
    flags["tls_verify"] = False if params.pop("insecure") else None
    flags["timeout"] = params.pop("timeout")
    try:
        return endpoints.resolve(
            flags,
            targets_file=Path(params.pop("targets_file")),
            env_name=params.pop("env_name"),
        )
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics)
        sys.exit(fail)


def _load_model(specs: str, fail: int) -> Model:
    """The model of the specs under ``specs``, or print why not and exit ``fail``."""
    model, diagnostics = pipeline.load_tree(Path(specs))
    if model is None:
        _print_diagnostics(diagnostics)
        sys.exit(fail)
    return model


def _only(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry.names()]
    if unknown:
        raise click.BadParameter(
            f"unknown target {unknown[0]!r}; choose from {', '.join(registry.names())}",
            param_hint="--only",
        )
    return names


def _prepare(specs: str, params: dict, fail: int) -> tuple[list, list]:
    """Endpoints, model and pushers, or print why not and exit with ``fail``."""
    only = _only(params.pop("only"))
    found = _endpoints(params, endpoints.flag_settings(), fail)
    if not found.configured():
        names = ", ".join(client.url_key.variable for client in registry.clients())
        click.secho(
            f"error [push/no-target] no target is configured: set one of {names}, or use --env",
            fg="red",
            err=True,
        )
        sys.exit(fail)
    model = _load_model(specs, fail)
    settings = runner.Settings(out_dir=Path(params["out_dir"]), prune=params["prune"])
    try:
        return runner.build(found, model, settings, only)
    except PushError as exc:
        click.secho(f"error [push/out] {exc}", fg="red", err=True)
        sys.exit(fail)


@contextlib.contextmanager
def _progress(name: str, total: int, verb: str = "writing") -> Iterator[Progress]:
    """A progress bar on a terminal for ``total`` steps; nothing when piped or short."""
    if total < PROGRESS_MIN or not sys.stderr.isatty():
        yield lambda n: None
        return
    with click.progressbar(length=total, label=f"{name}: {verb}", file=sys.stderr) as bar:
        yield bar.update


@cli.command()
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
@click.option("--dry-run", is_flag=True, help="Check and print the plan; write nothing.")
@_push_options
def push(specs: str, dry_run: bool, **params: Any) -> None:
    """Deliver out/ to every configured live system, safely and idempotently.

    Checks everything first (promtool, amtool, health, credentials), plans every target, then
    writes target by target, reloads and reads back. A failed reload puts the previous files
    back. Objects slo does not own are never changed or deleted. Exit 1 on any failure.

    \b
    Examples:
      slo compile && slo push                       # targets from SLO_* variables
      slo push --env prod --only prometheus,grafana # targets from targets.yaml
      slo push --dry-run                            # the plan, nothing written
      SLO_PROMETHEUS_URL=http://127.0.0.1:9090 \\
        SLO_PROMETHEUS_RULES_DIR=/etc/prometheus/rules/slo slo push
    """
    fmt = params.pop("fmt")
    pushers, skipped = _prepare(specs, params, fail=1)
    reports = runner.order(skipped + runner.push(pushers, dry_run=dry_run, progress=_progress))
    title = "slo push --dry-run (nothing was written)" if dry_run else "slo push"
    click.echo(report.render(reports, fmt, title), nl=False)
    if any(r.status in ("failed", "not-run") for r in reports):
        sys.exit(1)


@cli.command()
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
@_push_options
def diff(specs: str, **params: Any) -> None:
    """Compare the live systems with out/: rule groups as parsed rules, the Alertmanager config
    parsed, dashboards without id/version. Writes nothing.

    Exit codes: 0 no changes, 1 changes, 2 error.

    \b
    Examples:
      slo diff
      slo diff --env prod --format markdown > plan.md   # a pull-request comment
      slo diff --format json | jq '.targets[].counts'
    """
    fmt = params.pop("fmt")
    pushers, skipped = _prepare(specs, params, fail=2)
    reports = runner.order(skipped + runner.diff(pushers))
    click.echo(report.render(reports, fmt, "slo diff: live systems vs out/"), nl=False)
    if any(r.status == "failed" for r in reports):
        sys.exit(2)
    sys.exit(1 if any(r.changed for r in reports) else 0)


def _name_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and valid_name(value) != value:
        raise click.BadParameter(
            f"'{value}' is not a valid name: lowercase letters, digits and single hyphens, "
            "at most 30 characters"
        )
    return value


def _period_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        period = parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc)) from None
    if not windows.MIN_PERIOD <= period <= windows.MAX_PERIOD:
        raise click.BadParameter(
            f"'{value}': SLO periods are 1d to {format_duration(windows.MAX_PERIOD)}"
        )
    return period


@cli.command(name="import")
@click.option(
    "--from",
    "source_format",
    required=True,
    type=click.Choice(sorted(importers.FORMATS)),
    help="Format of FILES.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--out",
    "out_dir",
    default=DEFAULT_SPECS,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the slo/v1 specs go.",
)
@click.option(
    "--team",
    callback=_name_option,
    help="Owning team of every imported service (default: from the source).",
)
@click.option(
    "--service", callback=_name_option, help="Put every imported SLO into this one service."
)
@click.option(
    "--period",
    default="30d",
    show_default=True,
    callback=_period_option,
    help="SLO period for Sloth specs, which state none.",
)
@click.option("--force", is_flag=True, help="Overwrite spec files that already exist.")
def import_cmd(
    source_format: str,
    files: tuple[str, ...],
    out_dir: str,
    team: str | None,
    service: str | None,
    period: int,
    force: bool,
) -> None:
    """Write slo/v1 specs equivalent to Sloth, OpenSLO or Pyrra specs in FILES, one file per
    service.

    Everything that cannot be carried over is a warning naming the source file, line and field.
    All FILES are read together, so OpenSLO references may point into another file. Nothing is
    written if any file has an error, or if a spec file exists already (unless --force).

    \b
    Examples:
      slo import --from sloth sloth/*.yml
      slo import --from sloth --period 28d windows-28d.yaml service.yml   (an AlertWindows catalog)
      slo import --from openslo openslo/ --team payments   # directories: every .yaml/.yml inside
      slo import --from pyrra slos/*.yaml --service checkout --out specs/
    """
    paths = [(Path(f), path) for f in files for path in pipeline.spec_files(Path(f))]
    sources: list[tuple[str, bytes | str]] = [
        (pipeline.display_name(root, path), path.read_bytes()) for root, path in paths
    ]
    options = importers.Options(team=team, service=service, period=period)
    result = importers.import_specs(source_format, sources, options, out_name=out_dir)
    _print_diagnostics(result.diagnostics)
    if not result.ok:
        sys.exit(1)
    try:
        written = output.write_new_files(result.files, Path(out_dir), overwrite=force)
    except (output.OutputError, OSError) as exc:
        click.secho(f"{out_dir}: error [output/write] {exc}", fg="red", err=True)
        sys.exit(1)
    for path in written:
        click.echo(f"wrote {path.as_posix()}")
    click.echo(f"next: review the warnings above, then `slo compile {out_dir}`")


# --- backfill ------------------------------------------------------------------------------
def _instant_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """A time as ms since the epoch: "now", a duration ago (30d), RFC 3339 or Unix seconds."""
    now = int(time.time() * 1000)
    text = value.strip()
    if text == "now":
        return now
    try:
        return now - parse_duration(text) * 1000
    except DurationError:
        pass
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        return parse_rfc3339_ms(text)
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a time: use now, a duration ago (30d, 12h), RFC 3339 "
            "(2024-05-01T00:00:00Z) or Unix seconds"
        ) from None


@cli.command(name="backfill")
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
@click.option(
    "--since",
    default="30d",
    show_default=True,
    callback=_instant_option,
    help="Start: a duration ago (30d), RFC 3339 or Unix seconds.",
)
@click.option(
    "--until", default="now", show_default=True, callback=_instant_option, help="End, as --since."
)
@click.option("--service", "only", multiple=True, help="Only this service (repeatable).")
@click.option("--prometheus", "url", help="Query API to read the raw data from.")
@click.option("--env", "env_name", envvar="SLO_ENV", help="Take the URL from this environment.")
@TARGETS_FILE_OPTION
@click.option(
    "--to",
    "engine",
    type=click.Choice(backfill.ENGINES),
    default=backfill.PROMETHEUS,
    show_default=True,
    help="Write Prometheus TSDB blocks, or import into VictoriaMetrics (the --prometheus URL).",
)
@click.option(
    "--output-dir",
    default="backfill-blocks",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the TSDB blocks go (--to prometheus).",
)
@click.option(
    "--out",
    "text_dir",
    type=click.Path(file_okay=False),
    help="Also keep the OpenMetrics text here (one file per day).",
)
@click.option(
    "--rules-dir",
    help="The directory Prometheus will load the rule files from, as it names it, when they "
    "are not live yet: the group phase is hashed from the file path.",
)
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=60, help="Seconds per query.")
def backfill_cmd(
    specs: str,
    since: int,
    until: int,
    only: tuple[str, ...],
    url: str | None,
    env_name: str | None,
    targets_file: str,
    engine: str,
    output_dir: str,
    text_dir: str | None,
    rules_dir: str | None,
    timeout: float,
) -> None:
    """Compute the history of every series the rules record (events per window, ratios, burn
    rate, the period SLI and budget) from the raw data, as the live rules would have recorded
    it, and write it as TSDB blocks or into VictoriaMetrics.

    Run it after `slo push`: on Prometheus the samples land on the live groups' evaluation grid
    and stop before the first one the server records. Nothing is written unless every query
    answered.

    \b
    Examples:
      slo backfill --since 30d --prometheus http://127.0.0.1:9090
      mv backfill-blocks/* /var/lib/prometheus/metrics2/     # loaded within a minute
      slo backfill --since 7d --env prod --to victoriametrics --service checkout
    """
    try:
        found = endpoints.resolve(
            {"prometheus.url": url}, targets_file=Path(targets_file), env_name=env_name
        )
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics)
        sys.exit(1)
    target = found.targets.get("prometheus")
    if target is None:
        click.secho(
            "error [backfill/no-source] no query API: use --prometheus URL or --env NAME",
            fg="red",
            err=True,
        )
        sys.exit(1)
    model = _load_model(specs, 1)
    services = [s for s in model.services if s.slos and (not only or s.name in only)]
    missing = sorted(set(only) - {s.name for s in model.services})
    if missing or not services:
        what = f"no service {missing[0]!r} with SLOs" if missing else "no service has SLOs"
        click.secho(f"error [backfill/service] {specs}: {what}", fg="red", err=True)
        sys.exit(1)
    tls = found.tls.get("prometheus", push_client.Tls())
    transport = Transport(
        target.url, timeout=timeout, verify=tls.verify(found.tls_verify), cert=tls.cert()
    )
    params = {"nocache": "1"} if engine == backfill.VICTORIAMETRICS else {}
    api = backfill.QueryApi(transport, params)
    try:
        plans = backfill.plan(services, api, since, until, engine, rules_dir)
        result = backfill.compute(plans, api, since, engine)
        summary = backfill.write(
            result,
            engine,
            output_dir=Path(output_dir) if engine == backfill.PROMETHEUS else None,
            openmetrics_dir=Path(text_dir) if text_dir else None,
            importer=transport,
        )
    except (backfill.BackfillError, OSError) as exc:
        click.secho(f"error [backfill] {redact(str(exc))}", fg="red", err=True)
        sys.exit(1)
    for p in plans:
        click.echo(
            f"{p.service.name}: {p.sli.name} at {p.sli.phase} ms into each "
            f"{format_duration(p.sli.interval)} ({p.sli.how}); {p.period.name} at "
            f"{p.period.phase} ms into each {format_duration(p.period.interval)}"
        )
    for note in result.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    click.echo(f"wrote {summary}")
    if engine == backfill.PROMETHEUS:
        click.echo(
            f"next: move the block directories of {output_dir} into Prometheus' data directory "
            "(--storage.tsdb.path); it loads them within a minute"
        )


# --- maintenance: ad-hoc silences on the push targets' Alertmanager ------------------------------
MAINTENANCE_SERVERS = ["alertmanager.url"]


def _server_options(settings: list[str]) -> list[Callable[[F], F]]:
    """Where the live servers of ``settings`` are: the push targets' configuration, an
    environment of the targets file or a flag per setting; ``_endpoints`` reads them."""
    return [
        ENV_OPTION,
        TARGETS_FILE_OPTION,
        *(_setting_option(key) for key in settings),
        INSECURE_OPTION,
        TIMEOUT_OPTION,
    ]


def _maintenance_options(command: F) -> F:
    """Where the Alertmanager is: the push targets' configuration."""
    return _with_options(command, _server_options(MAINTENANCE_SERVERS))


def _alertmanager(params: dict) -> Transport:
    """The configured Alertmanager's transport, or print why not and exit 2."""
    found = _endpoints(params, MAINTENANCE_SERVERS, 2)
    if "alertmanager" not in found.targets:
        click.secho(
            "error [maintenance/no-alertmanager] no Alertmanager is configured: set "
            "SLO_ALERTMANAGER_URL, --alertmanager-url, or alertmanager.url of an environment "
            "in targets.yaml with --env",
            fg="red",
            err=True,
        )
        sys.exit(2)
    tls = found.tls.get("alertmanager")
    return Transport(
        found.targets["alertmanager"].url,
        timeout=found.timeout,
        verify=tls.verify(found.tls_verify) if tls else found.tls_verify,
        cert=tls.cert() if tls else None,
    )


def _silence_line(silence: silences.Silence) -> str:
    return (
        f"{silence.id}  {silence.scope:36} {silence.state:8} "
        f"{silences.iso(silence.starts_at)} to {silences.iso(silence.ends_at)}  {silence.comment}"
    )


def _duration_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than 0s")
    return seconds


@cli.group()
def maintenance() -> None:
    """Unplanned maintenance: Alertmanager silences of a service's (or one SLO's) alerts,
    created and ended by slo, on the Alertmanager `slo push` writes to. Planned windows belong
    in the specs (`maintenance:`).

    \b
    Examples:
      slo maintenance start pizza-api --for 2h --reason "database failover"
      slo maintenance list
      slo maintenance end pizza-api
    """


@maintenance.command(name="start")
@click.argument("service", callback=_name_option)
@click.option("--slo", "slo_name", callback=_name_option, help="Only this SLO or threshold.")
@click.option(
    "--for", "duration", required=True, callback=_duration_option, help="How long, e.g. 2h."
)
@click.option("--reason", required=True, help="Why: the silence's comment.")
@click.option(
    "--specs",
    default=DEFAULT_SPECS,
    show_default=True,
    type=click.Path(),
    help="Check SERVICE and --slo against these specs (skipped when the path does not exist).",
)
@_maintenance_options
def maintenance_start(
    service: str, slo_name: str | None, duration: int, reason: str, specs: str, **params: Any
) -> None:
    """Silence SERVICE's alerts (or one SLO's) for --for from now.

    \b
    Examples:
      slo maintenance start pizza-api --for 2h --reason "database failover"
      slo maintenance start pizza-api --slo api-latency --for 30m --reason "cache warm-up"
    """
    if Path(specs).exists():
        model = _load_model(specs, 2)
        known = {s.name: s for s in model.services}
        if service not in known:
            click.secho(
                f"error [maintenance/unknown] no service {service} in {specs}",
                fg="red",
                err=True,
            )
            sys.exit(2)
        objectives = {o.name for o in known[service].slos}
        objectives |= {t.name for t in known[service].thresholds}
        if slo_name is not None and slo_name not in objectives:
            click.secho(
                f"error [maintenance/unknown] service {service} has no SLO or threshold {slo_name}",
                fg="red",
                err=True,
            )
            sys.exit(2)
    http = _alertmanager(params)
    matchers = [(conventions.SERVICE, service)]
    if slo_name is not None:
        matchers.append((conventions.SLO, slo_name))
    now = int(time.time())
    scope = "/".join(filter(None, (service, slo_name)))
    silence = silences.Silence(
        matchers=tuple(matchers),
        starts_at=now,
        ends_at=now + duration,
        comment=f"{conventions.MAINTENANCE_COMMENT_PREFIX}{scope}: {reason}",
    )
    try:
        silence_id = silences.create(http, silence)
    except PushError as exc:
        click.secho(f"error [maintenance/alertmanager] {redact(str(exc))}", fg="red", err=True)
        sys.exit(2)
    click.echo(f"silenced {scope} until {silences.iso(silence.ends_at)}: {silence_id}")


@maintenance.command(name="list")
@_maintenance_options
def maintenance_list(**params: Any) -> None:
    """The active and pending silences slo owns: ad hoc, and the specs' one-off windows.

    \b
    Examples:
      slo maintenance list
      slo maintenance list --env prod
    """
    http = _alertmanager(params)
    try:
        found = [s for s in silences.live(http) if s.adhoc or s.window]
    except PushError as exc:
        click.secho(f"error [maintenance/alertmanager] {redact(str(exc))}", fg="red", err=True)
        sys.exit(2)
    if not found:
        click.echo("no maintenance silences")
    for silence in sorted(found, key=lambda s: (s.starts_at, s.scope)):
        click.echo(_silence_line(silence))


@maintenance.command(name="end")
@click.argument("target", metavar="ID|SERVICE")
@click.option("--slo", "slo_name", callback=_name_option, help="Only this SLO's silences.")
@_maintenance_options
def maintenance_end(target: str, slo_name: str | None, **params: Any) -> None:
    """End a silence slo owns by its ID, or every ad-hoc silence of a SERVICE (a window of the
    specs comes back with the next `slo push` while it lasts: remove it from the specs).

    \b
    Examples:
      slo maintenance end pizza-api
      slo maintenance end 6e0bf7ab-1b16-4c0e-9b29-a3a2a8e6f4a1
    """
    http = _alertmanager(params)
    try:
        live = [s for s in silences.live(http) if s.adhoc or s.window]
        ending = [s for s in live if s.id == target]
        if not ending:
            ending = [
                s
                for s in live
                if s.adhoc
                and dict(s.matchers).get(conventions.SERVICE) == target
                and (slo_name is None or dict(s.matchers).get(conventions.SLO) == slo_name)
            ]
        if not ending:
            click.secho(
                f"error [maintenance/unknown] no active or pending maintenance silence of slo "
                f"is {target}" + (f" --slo {slo_name}" if slo_name else ""),
                fg="red",
                err=True,
            )
            sys.exit(1)
        for silence in ending:
            silences.expire(http, silence.id)
            click.echo(f"ended {silence.scope}: {silence.id}")
    except PushError as exc:
        click.secho(f"error [maintenance/alertmanager] {redact(str(exc))}", fg="red", err=True)
        sys.exit(2)


# --- status and report: the live systems read back ----------------------------------------------
LIVE_SERVERS = ["prometheus.url", "alertmanager.url"]


def _live_options(command: F) -> F:
    """Where the live Prometheus and Alertmanager are: the push targets' configuration."""
    return _with_options(
        command,
        [
            *_server_options(LIVE_SERVERS),
            click.option("--service", callback=_name_option, help="Only this service."),
            click.option(
                "--slo", "slo_name", callback=_name_option, help="Only this SLO or threshold."
            ),
        ],
    )


def _live(specs: str, params: dict) -> tuple[Any, Any, Any]:
    """The model and the live servers, or print why not and exit 2."""
    found = _endpoints(params, LIVE_SERVERS, 2)
    try:
        prometheus, alertmanager = query.connect(found)
    except query.LiveError as exc:
        click.secho(f"error [live/unreachable] {exc}", fg="red", err=True)
        sys.exit(2)
    model = _load_model(specs, 2)
    wanted = status.selected(model, params["service"], params["slo_name"])
    if not wanted:
        which = "/".join(filter(None, (params["service"], params["slo_name"])))
        click.secho(f"error [live/unknown] no objective {which} in {specs}", fg="red", err=True)
        sys.exit(2)
    return model, prometheus, alertmanager


_STATE_COLOURS = {
    status.OK: "green",
    status.NO_DATA: "yellow",
    status.BURNING: "yellow",
    status.EXHAUSTED: "red",
    status.FIRING: "red",
}


def _ratio(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _status_lines(found: status.Status) -> list[tuple[str, str | None]]:
    """The table: (line, colour)."""
    lines: list[tuple[str, str | None]] = [
        (
            f"{'OBJECTIVE':44} {'TARGET':>8} {'NOW':>10} {'BUDGET':>9}  {'STATE':9} "
            "BURN RATE (tier: long/short > factor)",
            None,
        )
    ]
    notes: dict[str, list[str]] = {}  # a row's note -> the rows it marks
    for row in found.rows:
        name = row.name
        if row.kind == "slo":
            now, budget = _ratio(row.value), _ratio(row.budget_remaining, 1)
            if row.note:  # the SLI is over a shorter window than the period: marked
                now += "*"
                notes.setdefault(row.note, []).append(name)
            burns = "  ".join(
                f"{t.severity}: {_burn(t.long.burn)}/{_burn(t.short.burn)} > {t.factor:g}"
                for t in row.tiers
            )
        else:
            now, budget = ("-" if row.value is None else f"{row.value:.4g}"), ""
            burns = ""
        lines.append(
            (
                f"{name:44} {row.target:>8} {now:>10} {budget:>9}  {row.state:9} {burns}".rstrip(),
                _STATE_COLOURS[row.state],
            )
        )
        for alert in row.alerts:
            to = f" -> {', '.join(alert.receivers)}" if alert.receivers else ""
            lines.append((f"    {alert.state} {alert.name} ({alert.severity}){to}", None))
    lines += [(f"* {note}: {', '.join(rows)}", None) for note, rows in notes.items()]
    return lines


@cli.command(name="status")
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@_live_options
def status_cmd(specs: str, fmt: str, **params: Any) -> None:
    """Every SLO and threshold as the live Prometheus and Alertmanager see it now: the SLI over
    its period against the objective, the error budget left, each alert tier's burn rates, and
    the alerts pending or firing, with the receivers they were routed to.

    Exit codes: 0, 1 when a page alert is firing, 2 when the servers cannot be read.

    \b
    Examples:
      slo status
      slo status --service pizza-api --format json
      SLO_PROMETHEUS_URL=http://127.0.0.1:9090 slo status --slo api-availability
    """
    model, prometheus, alertmanager = _live(specs, params)
    try:
        found = status.collect(
            model, prometheus, alertmanager, params["service"], params["slo_name"]
        )
    except query.LiveError as exc:
        click.secho(f"error [live/unreachable] {exc}", fg="red", err=True)
        sys.exit(2)
    for warning in found.warnings:
        click.secho(f"warning [live/alertmanager] {warning}", fg="yellow", err=True)
    if fmt == "json":
        click.echo(json.dumps(found.to_json(), indent=2))
    else:
        for line, colour in _status_lines(found):
            click.secho(line, fg=colour)
        for row in found.rows:
            if row.problem:
                click.secho(f"warning [live/no-data] {row.problem}", fg="yellow", err=True)
    sys.exit(1 if found.paging else 0)


def _since_option(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command(name="report")
@click.argument("specs", default=DEFAULT_SPECS, type=click.Path())
@click.option(
    "--since",
    default="7d",
    show_default=True,
    callback=_since_option,
    help="How far back the charts reach (a Prometheus duration).",
)
@click.option(
    "--output",
    "-o",
    default="slo-report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
@_live_options
def report_cmd(specs: str, since: int, output: str, **params: Any) -> None:
    """One self-contained HTML page from the live Prometheus: per SLO its error budget left, its
    SLI against the objective, each tier's burn rate against its threshold, and the alerts that
    fired, as inline SVG charts. It opens from disk, with no network.

    \b
    Examples:
      slo report --since 7d --output report.html
      slo report --env local --since 1h --service pizza-api
    """
    model, prometheus, _ = _live(specs, params)
    end = time.time()
    try:
        sections = live_report.collect(
            model, prometheus, since, params["service"], params["slo_name"], now=end
        )
    except query.LiveError as exc:
        click.secho(f"error [live/unreachable] {exc}", fg="red", err=True)
        sys.exit(2)
    if not sections:
        click.secho(
            "error [live/unknown] no SLO to report on (thresholds have no charts)", err=True
        )
        sys.exit(2)
    text = live_report.render(sections, end - since, end, prometheus.transport.base_url)
    try:
        write_atomic(Path(output), text.encode())
    except OSError as exc:
        click.secho(f"{output}: error [output/write] {exc}", fg="red", err=True)
        sys.exit(1)
    empty = [
        f"{s.slo.service}/{s.slo.name}" for s in sections if not any(c.has_data for c in s.charts)
    ]
    for name in empty:
        click.secho(
            f"warning [live/no-data] no data for {name} in this range", fg="yellow", err=True
        )
    click.echo(f"wrote {output}: {len(sections)} SLOs, {format_duration(since)} up to now")


@cli.command(name="init")
@click.argument("name", callback=_name_option)
@click.option("--team", required=True, callback=_name_option, help="The team that owns it.")
@click.option(
    "--selector",
    help='The request counter (default: http_requests_total{job="NAME"}); 5xx of it are errors.',
)
@click.option(
    "--dir",
    "directory",
    default=DEFAULT_SPECS,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the spec goes.",
)
@click.option("--force", is_flag=True, help="Overwrite the spec file if it exists.")
def init_cmd(name: str, team: str, selector: str | None, directory: str, force: bool) -> None:
    """Write a commented starter spec for the service NAME: an availability SLO with page and
    ticket alerts, and commented examples of a latency SLO and a threshold. It validates and
    compiles as written.

    \b
    Examples:
      slo init checkout --team payments
      slo init checkout --team payments --selector 'http_requests_total{job="checkout"}'
    """
    text = starter.starter(name, team, selector)
    target = Path(directory) / f"{name}.yaml"
    with tempfile.TemporaryDirectory() as scratch:  # the spec must load on its own first
        (Path(scratch) / target.name).write_text(text)
        model, diagnostics = pipeline.load_tree(Path(scratch))
    if model is None or any(d.severity >= Severity.ERROR for d in diagnostics):
        for d in diagnostics:
            shown = d.render().replace(f"{Path(scratch).name}/", f"{directory}/")
            click.secho(shown, fg="red", err=True)
        click.secho(
            "error [init/invalid] the starter spec does not validate; nothing written", err=True
        )
        sys.exit(1)
    if target.exists() and not force:
        click.secho(
            f"{target}: error [init/exists] already exists (--force overwrites it)", err=True
        )
        sys.exit(1)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text.encode())
    except OSError as exc:
        click.secho(f"{target}: error [output/write] {exc}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"wrote {target.as_posix()}")
    click.echo(f"next: edit it, then `slo validate {directory}` and `slo compile {directory}`")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except SystemExit as exc:
        if not _EXIT_FAST:
            raise
        if isinstance(exc.code, str):
            click.echo(exc.code, err=True)
        with contextlib.suppress(OSError):  # e.g. stdout was a pipe closed early (| head)
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug in slo: say so plainly instead of a traceback
        # Redacted: an exception of a library may quote what slo sent (a header with a token).
        click.secho(
            f"slo: internal error: {type(exc).__name__}: {redact(str(exc))} (please report this)",
            fg="red",
            err=True,
        )
        sys.exit(70)
