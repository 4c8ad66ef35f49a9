"""The `slo` command: a thin click layer over compiler.pipeline, output and the tool runners.

Only this module prints, colours or chooses exit codes: 0 success, 1 errors in the input or a
stale/failed check, 2 usage errors (click).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from compiler import output, pipeline, toolrun
from compiler.diagnostics import CompileError, Diagnostic, Severity

DEFAULT_SPECS = "slo"
DEFAULT_OUT = "out"


def _print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        colour = "red" if d.severity >= Severity.ERROR else "yellow"
        click.secho(d.render(), fg=colour, err=True)
    errors = sum(d.severity >= Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)


def _compile(specs: str) -> pipeline.CompileResult:
    try:
        result = pipeline.compile_tree(Path(specs))
    except CompileError as exc:
        _print_diagnostics(exc.diagnostics)
        sys.exit(1)
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
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(), help="Output directory.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and print a diff if the output directory is stale.")
def compile_cmd(specs: str, out_dir: str, check: bool) -> None:
    """Compile the specs under SPECS (default: slo/) into OUT (default: out/).

    The output is deterministic and replaced atomically: a crash leaves the old tree whole.

    \b
    Examples:
      slo compile                    # slo/ -> out/
      slo compile specs/ --out build/
      slo compile --check            # in CI: fail when out/ was not regenerated
    """
    result = _compile(specs)
    target = Path(out_dir)
    if check:
        stale = output.changes(result.artifacts, target)
        for change in stale:
            click.echo(change.diff, nl=False)
        if stale:
            click.secho(f"{out_dir} is stale: {len(stale)} file(s) differ; run `slo compile`", fg="red", err=True)
            sys.exit(1)
        click.echo(f"{out_dir} is up to date ({len(result.artifacts)} files)")
        return
    try:
        written = output.write_tree(result.artifacts, target)
    except (output.OutputError, OSError) as exc:
        click.secho(f"{out_dir}: error [output/write] {exc}", fg="red", err=True)
        sys.exit(1)
    counts = {kind: sum(c.kind == kind for c in written) for kind in ("added", "changed", "removed")}
    click.echo(
        f"{out_dir}: {len(result.artifacts)} files; {counts['added']} added, {counts['changed']} changed, {counts['removed']} removed"
    )


@cli.command()
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(), help="Compiled output to test.")
def test(out_dir: str) -> None:
    """Run promtool and amtool on the compiled output.

    `promtool check rules` on every rule file and `promtool test rules` on every test file; with a
    Routing spec also `amtool check-config` and every case of the routing table through
    `amtool config routes test --verify.receivers`.

    \b
    Example:
      slo compile && slo test
    """
    try:
        results = toolrun.test_output(Path(out_dir))
    except toolrun.ToolMissing as exc:
        click.secho(f"error [tools/missing] {exc}", fg="red", err=True)
        sys.exit(1)
    failed = 0
    for r in results:
        status = "ok" if r.ok else "FAILED"
        click.echo(f"{status:6} {r.title}")
        if not r.ok:
            failed += 1
            click.echo(r.output.rstrip(), err=True)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed or not results:
        sys.exit(1)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug in slo: say so plainly instead of a traceback
        click.secho(f"slo: internal error: {type(exc).__name__}: {exc} (please report this)", fg="red", err=True)
        sys.exit(70)
