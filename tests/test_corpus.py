"""The corpus of invalid and hostile specs: each ends in exact diagnostics, never in a crash.

Every directory tests/corpus/<case>/ holds a spec tree ``slo/`` (and sometimes files beside it,
such as an Alertmanager base config) and ``expected.txt``: ``#`` lines saying what the case is,
then exactly the lines ``slo compile`` must print on stderr (every diagnostic with file, line,
column and check id, then the summary). Cases too big to commit are written by GENERATED.

Each case runs through the real CLI twice, with a cold and then a warm cache: exit 1, no
traceback, nothing on stdout, the same diagnostics both times, and the output directory
byte-identical afterwards. The resource cases also run in a subprocess of their own: the same
diagnostics there say which limit stopped the input, and the process measures its peak memory.
(How fast the limits stop it is for bench/, not for assertions here.)

After an intended change of a message: UPDATE_CORPUS=1 pytest tests/test_corpus.py, then review.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import CORPUS, assert_clean, slo, snapshot, updating, write_files

from compiler.spec.yaml_source import MAX_FILE_BYTES

CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.txt").is_file())

SMALL_SERVICE = (
    "apiVersion: slo/v1\nservice: checkout\nteam: payments\n"
    "thresholds:\n  - {name: up, expr: up, below: 1, severity: page}\n"
)


def _huge_file(specs: Path) -> None:
    """A valid spec padded with comments beyond the size cap: rejected before YAML reads it."""
    padding = "# " + "x" * 98 + "\n"
    (specs / "svc.yaml").write_text(SMALL_SERVICE + padding * (MAX_FILE_BYTES // len(padding) + 1))


def _deep_flow(specs: Path) -> None:
    """100,000 nested flow sequences in 200 kB: libyaml's composer would overflow the C stack."""
    depth = 100_000
    (specs / "svc.yaml").write_text(SMALL_SERVICE + "labels: " + "[" * depth + "]" * depth + "\n")


GENERATED = {"huge-file": _huge_file, "deep-nesting-flow": _deep_flow}


def expected_lines(case: str) -> list[str]:
    text = (CORPUS / case / "expected.txt").read_text("utf-8")
    return [line for line in text.splitlines() if not line.startswith("#")]


def lay_out(case: str, tmp: Path) -> Path:
    """The case's files under ``tmp``; returns the spec directory."""
    source = CORPUS / case
    for path in source.iterdir():
        if path.name == "expected.txt":
            continue
        copy = shutil.copytree if path.is_dir() else shutil.copyfile
        copy(path, tmp / path.name)
    specs = tmp / "slo"
    specs.mkdir(exist_ok=True)
    if case in GENERATED:
        GENERATED[case](specs)
    return specs


def update_expected(case: str, stderr: str) -> None:
    path = CORPUS / case / "expected.txt"
    comments = [line for line in path.read_text("utf-8").splitlines() if line.startswith("#")]
    path.write_text("\n".join(comments + stderr.splitlines()) + "\n", "utf-8")


def test_the_corpus_is_large_and_every_case_names_file_line_and_check():
    assert len(CASES) >= 40
    for case in CASES:
        lines = expected_lines(case)
        assert lines, f"{case}: expected.txt has no diagnostics"
        *diagnostics, summary = lines
        assert summary.endswith("warning(s)") and not summary.startswith("0 error(s)"), case
        for line in diagnostics:
            where, _, rest = line.partition(": ")
            assert " [" in rest and "] " in rest, f"{case}: no check id in {line!r}"
            file_level = rest.startswith(("error [yaml/", "error [spec/empty]"))
            assert file_level or where.count(":") == 2, f"{case}: no line and column in {line!r}"


@pytest.mark.parametrize("case", CASES)
def test_corpus_case_fails_cleanly_and_writes_nothing(tmp_path, old_out, case):
    specs = lay_out(case, tmp_path)
    before = snapshot(tmp_path)
    args = ["compile", specs, "--out", old_out, "--cache-dir", tmp_path / "cache"]

    results = [slo(*args) for _ in ("cold cache", "warm cache")]

    for result in results:
        # Ended by the CLI itself: an exception escaping into click would be a bug in slo.
        assert_clean(result)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
    assert results[0].stderr == results[1].stderr, "the cache changed the diagnostics"
    if updating("UPDATE_CORPUS"):
        update_expected(case, results[0].stderr)
    assert results[0].stderr.splitlines() == expected_lines(case)
    assert snapshot(tmp_path) == before, "a failed compile changed the output directory"


# --- memory ------------------------------------------------------------------------------------
RESOURCE_CASES = [
    "alias-bomb",
    "binary-garbage",
    "deep-nesting-block",
    "deep-nesting-flow",
    "huge-file",
]
MAX_EXTRA_MEMORY_MB = 50  # above what compiling a small valid spec takes

MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from compiler.cli import cli
    try:
        cli(["compile", sys.argv[1], "--out", sys.argv[2], "--cache-dir", ""])
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"code": code, "peak_mb": peak / 1024}))
    """
)


def measure(specs: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(specs), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=specs.parent,
    )
    assert proc.returncode in (0, 1), f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
    return {**json.loads(proc.stdout.splitlines()[-1]), "stderr": proc.stderr.splitlines()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("baseline")
    found = measure(write_files(tmp / "slo", {"svc.yaml": SMALL_SERVICE}), tmp / "out")
    assert found["code"] == 0
    return found


@pytest.mark.parametrize("case", RESOURCE_CASES)
def test_hostile_input_is_stopped_by_its_limit_with_bounded_memory(
    tmp_path, old_out, baseline, case
):
    specs = lay_out(case, tmp_path)
    before = snapshot(tmp_path)

    found = measure(specs, old_out)

    assert found["code"] == 1
    # The limit that stopped it, and no other diagnostic.
    assert found["stderr"] == expected_lines(case), found
    assert found["peak_mb"] < baseline["peak_mb"] + MAX_EXTRA_MEMORY_MB, (found, baseline)
    assert snapshot(tmp_path) == before
