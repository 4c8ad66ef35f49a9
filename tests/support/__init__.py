"""What the tests share, so that no test module carries a copy of another's helpers.

This module: where things are, which tools are installed, running the CLI, writing and reading
spec and output trees, golden files, and tool runs. conftest.py turns what needs a test's
tmp_path or a running server into fixtures; a test asks for those by name and imports the rest
from here. Beside it:

  support.outtrees  the out/ trees push tests deliver (rule files from the real compiler)
  support.servers   real Prometheus, Alertmanager, VictoriaMetrics and vmalert on free
                    127.0.0.1 ports
  support.smtp      an SMTP server that keeps what Alertmanager sends
  support.tls       a throwaway CA with server and client certificates, for HTTPS fakes

The in-process fakes of Grafana and Mimir are in tests/fakes, because bench/ pushes to them too.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from compiler.checks import toolrun
from compiler.cli import cli

# --- where things are ----------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"  # <case>/slo compiles to exactly <case>/out
CORPUS = ROOT / "tests" / "corpus"  # invalid and hostile spec trees with their diagnostics
IMPORTS = ROOT / "tests" / "import"  # <format>/in imports to exactly <format>/expected
BENCH = ROOT / "bench"

GOLDEN_CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "slo").is_dir())
# Every spec tree the project ships: the examples, then each golden case.
SPEC_TREES = [ROOT / "slo"] + [GOLDEN / case / "slo" for case in GOLDEN_CASES]
IMPORT_FORMATS = ("openslo", "pyrra", "sloth")


def bench_script(name: str) -> ModuleType:
    """A script of bench/ as a module (bench/ is a directory of scripts, not a package)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def import_inputs(source_format: str) -> list[tuple[str, bytes]]:
    """The input files of tests/import/<format>/in, as `slo import` reads them: (name, bytes)."""
    files = sorted((IMPORTS / source_format / "in").iterdir())
    return [(f"in/{path.name}", path.read_bytes()) for path in files]


# --- installed tools -----------------------------------------------------------------------------
def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


ALERTMANAGER_BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

needs_promtool = pytest.mark.skipif(
    not have("promtool"), reason="promtool not installed (make test installs it)"
)
needs_amtool = pytest.mark.skipif(
    not have("amtool"), reason="amtool not installed (make test installs it)"
)
needs_prometheus = pytest.mark.skipif(
    not have("prometheus", "promtool"), reason="prometheus not installed (make test installs it)"
)
needs_victoria_metrics = pytest.mark.skipif(
    not have("victoria-metrics", "vmalert"),
    reason="victoria-metrics / vmalert not installed (Debian's victoria-metrics package)",
)
needs_alertmanager = pytest.mark.skipif(
    not (ALERTMANAGER_BINARY and have("amtool")),
    reason="alertmanager not installed (make test installs it)",
)


def assert_passed(results: Iterable[toolrun.ToolResult]) -> None:
    """Every promtool or amtool run passed; else fail with the output of each that did not."""
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(f"{r.title}\n{r.output}" for r in failed)


def rule_checks(out_dirs: Iterable[Path]) -> list[toolrun.ToolResult]:
    """`promtool check rules` on every plain and embedded rule file of the compiled trees, and
    `vmalert -dryRun` on vmalert's where vmalert is installed: the proofs of every target that
    writes rules, without the (slow) generated unit tests."""
    rule_targets = {"prometheus", "kubernetes", "mimir"} | (
        {"vmalert"} if have("vmalert") else set()
    )
    proofs = [p for out in out_dirs for p in toolrun.proofs_for(out, only=rule_targets)]
    return toolrun.run_proofs(proofs)


# --- the CLI --------------------------------------------------------------------------------------
SLO_COMMAND = [sys.executable, "-m", "compiler"]  # `slo` in a process of its own


def slo(*args: str | Path, env: Mapping[str, str] | None = None) -> Result:
    """`slo ARGS...` run in this process by click's CliRunner. The result has the exit code,
    stdout and stderr apart, and ``output``: both, in the order they were written."""
    return CliRunner().invoke(cli, [str(arg) for arg in args], env=env)


def assert_clean(result: Result) -> None:
    """Ended by the CLI itself (sys.exit or return), never by an exception escaping into click."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr


def rendered(diagnostics: Iterable) -> str:
    """Diagnostics as the CLI prints them, one a line."""
    return "".join(d.render() + "\n" for d in diagnostics)


# --- spec and output trees -----------------------------------------------------------------------
def write_files(directory: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` (path relative to ``directory`` -> text or bytes) under ``directory``,
    which may exist already; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return directory


def availability_spec(service: str, interval: str, labels: str = "") -> str:
    """The spec of ``service`` (team payments, its rules evaluated every ``interval``) with one
    SLO, availability: 99% of ``http_requests_total{job="<service>"}`` not 5xx over 30d, the SLO
    the backfill tests feed raw counters of that job to. ``labels``: the service's labels, as a
    YAML flow mapping; further SLOs may be appended to the text."""
    labels_line = f"labels: {labels}\n" if labels else ""
    return f"""\
apiVersion: slo/v1
service: {service}
team: payments
{labels_line}evaluation_interval: {interval}
slos:
  - name: availability
    objective: 99
    period: 30d
    indicator:
      ratio:
        errors: http_requests_total{{job="{service}",code=~"5.."}}
        total: http_requests_total{{job="{service}"}}
"""


def copy_specs(source: Path, tmp: Path) -> Path:
    """A private copy of the spec tree ``source`` at ``tmp``/slo, which the test may edit."""
    return Path(shutil.copytree(source, tmp / "slo"))


def compile_into(spec_dir: Path, out: Path):
    """``spec_dir`` compiled now, its files written under ``out``: the CompileResult. Tools and
    pushes prove this fresh output, so they test the compiler of this checkout, not the
    committed out/ (whose bytes the golden tests compare)."""
    from compiler import compile_tree

    result = compile_tree(spec_dir)
    write_files(out, result.artifacts)
    return result


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory``: its path relative to it, with slashes -> its bytes."""
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def snapshot(tmp: Path) -> dict[str, bytes | None]:
    """Every path under ``tmp`` but the specs (slo/) and the compile cache (cache/): files with
    their bytes, directories as None. A compile that fails must leave it as it was."""
    return {
        p.relative_to(tmp).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(tmp.rglob("*"))
        if p.relative_to(tmp).parts[0] not in ("slo", "cache")
    }


# --- golden files --------------------------------------------------------------------------------
def updating(variable: str = "UPDATE_GOLDEN") -> bool:
    """Whether this run rewrites the expected files (UPDATE_GOLDEN=1 pytest ...): a test then
    writes what the code produces now and compares as always; review the diff before committing."""
    return bool(os.environ.get(variable))


def rewrite_tree(directory: Path, files: Mapping[str, str]) -> None:
    """Replace ``directory`` with exactly ``files`` (relative path -> text)."""
    shutil.rmtree(directory, ignore_errors=True)
    write_files(directory, files)


def ratio_slo(days: int, objective: str):
    """A bare ratio SLO over ``days`` with the default tiers scaled to its period: all that a
    test scenario's plan depends on."""
    from decimal import Decimal

    from compiler.core.model import SLO, Alerting, Counter, RatioIndicator
    from compiler.core.windows import burn_tier, scaled_tiers

    period = days * 86400
    tiers = tuple(burn_tier(t, period, Decimal(objective)) for t in scaled_tiers(period))
    return SLO(
        service="",
        name="",
        objective=Decimal(objective),
        period=period,
        indicator=RatioIndicator(total=Counter("", None), errors=Counter("", None)),
        alerting=Alerting(name="", tiers=tiers),
    )
