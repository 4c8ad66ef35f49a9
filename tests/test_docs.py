"""Docs that cannot drift: ARCHITECTURE.md names every module, and the README's `slo` examples run.

ARCHITECTURE.md's module map must list exactly the modules of the `compiler` package (a package
line ending in `/` stands for its `__init__.py`), and every path it mentions must exist.

Every `slo` command line in the README's code blocks is run as written, block by block, in a
temporary copy of the repository's slo/, out/ and the sample inputs the README names. Commands
that need live servers (`slo push`, `slo diff`) cannot run here; their command lines go through
click's own parser instead, so an option that no longer exists, a bad choice or a missing
argument still fails.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from compiler.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# How the README's commands are checked, by subcommand. A subcommand in none of these fails the
# test: decide how its examples can be checked and add it.
OFFLINE = {"validate", "compile", "import", "init"}  # run for real in the temporary copy
NEEDS_TOOLS = {"test": ("promtool", "amtool", "vmalert")}  # run for real when installed
LIVE = {  # parsed only: they need servers
    "push": "writes to live Prometheus, Alertmanager, Grafana or Mimir servers",
    "diff": "reads live Prometheus, Alertmanager, Grafana or Mimir servers",
    "backfill": "reads a live query API (and imports into VictoriaMetrics)",
    "status": "reads a live Prometheus and Alertmanager",
    "report": "reads a live Prometheus",
    "maintenance": "creates, lists and ends silences on a live Alertmanager",
}
# Subcommands whose README output is the real output on the repository's samples, checked line by
# line ("..." skips lines). Elsewhere the README shows illustrative output (a spec with an error,
# a changed file count) that the repository's own specs do not produce.
VERIFIED_OUTPUT = {"import"}
# What the README's examples read besides slo/ and out/.
SAMPLES = ("tests/import",)


# --- ARCHITECTURE.md --------------------------------------------------------------------------
def package_modules() -> set[str]:
    """Every module of the compiler package, as the module map writes it."""
    found = set()
    for path in (ROOT / "compiler").rglob("*.py"):
        rel = path.relative_to(ROOT)
        found.add(f"{rel.parent.as_posix()}/" if path.name == "__init__.py" else rel.as_posix())
    return found


def module_map() -> list[str]:
    """The paths the module map lists, in order."""
    text = ARCHITECTURE.read_text()
    assert "\n## Module map\n" in text, "ARCHITECTURE.md has no '## Module map' section"
    section = text.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `(compiler/[^`]*)`", section, re.MULTILINE)


def test_architecture_names_every_module_and_no_other():
    listed = module_map()
    modules = package_modules()
    missing = sorted(modules - set(listed))
    gone = sorted(set(listed) - modules)
    twice = sorted({m for m in listed if listed.count(m) > 1})
    assert not missing, f"ARCHITECTURE.md's module map does not name: {missing} (add a line each)"
    assert not gone, f"ARCHITECTURE.md's module map names modules that do not exist: {gone}"
    assert not twice, f"ARCHITECTURE.md's module map names these twice: {twice}"


def test_paths_in_architecture_exist():
    """Paths named in the prose too, e.g. `push/transport.py` (relative to compiler/) or
    `tests/fakes/`. Bare names (`routing.py`, `in/`) are read in context and placeholders
    (`targets/<name>.py`) stand for no file, so neither is checked."""
    named = re.findall(r"`([\w.-]+/[\w./-]*(?:\.py|\.json|\.md|/))`", ARCHITECTURE.read_text())
    assert named
    missing = [p for p in named if not ((ROOT / p).exists() or (ROOT / "compiler" / p).exists())]
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {sorted(set(missing))}"


def test_readme_layout_names_existing_paths():
    block = _code_block_after(README.read_text(), "## Layout")
    parents: list[tuple[int, str]] = []
    missing = []
    for line in block.splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match:
            continue
        indent, name = len(match.group(1)), match.group(2)
        parents = [(i, p) for i, p in parents if i < indent]
        path = "".join(p for _, p in parents) + name
        if not (ROOT / path).exists():
            missing.append(path)
        if name.endswith("/"):
            parents.append((indent, name))
    assert not missing, f"README.md's Layout names paths that do not exist: {missing}"


def _code_block_after(text: str, heading: str) -> str:
    after = text.split(f"\n{heading}\n", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


# --- the README's slo commands ----------------------------------------------------------------
@dataclass
class Command:
    line: int  # in README.md
    argv: list[str]  # without the leading `slo`
    shown: list[str]  # output lines the README shows after it, if it is a `$ ` prompt line

    @property
    def name(self) -> str:
        return self.argv[0] if self.argv else ""


def code_blocks(text: str) -> Iterator[list[tuple[int, str]]]:
    """The lines of every fenced code block, with their line numbers."""
    block: list[tuple[int, str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("```"):
            if block is not None:
                yield block
            block = [] if block is None else None
        elif block is not None:
            block.append((number, line))


# A YAML CI step (`- run: ...`, a `script:` item) or a shell prompt in front of a command.
_PREFIX = re.compile(r"^\s*(?:\$ |- run: |run: |- )?")
# `slo <subcommand>` at the start of a shell command (after ;, &&, || or |, and after any
# NAME=value assignments).
_INVOCATION = re.compile(r"(?:^|[;&|]\s*)(?:[A-Za-z_]\w*=\S*\s+)*(?:\S*/)?slo\s+\S")


def slo_commands(line: str) -> list[list[str]]:
    """The `slo` invocations on a shell line, each without the leading `slo`."""
    if not _INVOCATION.search(line):
        return []
    return [
        argv[1:] for argv in _simple_commands(line) if argv[0] == "slo" or argv[0].endswith("/slo")
    ]


def commands(block: list[tuple[int, str]]) -> list[Command]:
    found: list[Command] = []
    prompt: Command | None = None  # the command of the last `$ ` line, whose output follows
    for number, raw in block:
        invocations = slo_commands(_PREFIX.sub("", raw, count=1))
        found += [Command(number, argv, []) for argv in invocations]
        if raw.startswith("$ "):
            prompt = found[-1] if invocations else None
        elif invocations:
            prompt = None
        elif prompt is not None:
            prompt.shown.append(raw)
    return found


def _simple_commands(line: str) -> list[list[str]]:
    """A shell line split into simple commands; redirections and `NAME=value` prefixes dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    out: list[list[str]] = [[]]
    skip = False
    for token in lexer:
        if skip:
            skip = False
        elif token in ("&&", "||", ";", "|", "&"):
            out.append([])
        elif token in (">", ">>", "<"):
            skip = True
        elif not out[-1] and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
            continue
        else:
            out[-1].append(token)
    return [argv for argv in out if argv]


def readme_blocks() -> list[tuple[int, list[Command]]]:
    blocks = []
    for block in code_blocks(README.read_text()):
        found = commands(block)
        if found:
            blocks.append((found[0].line, found))
    return blocks


README_BLOCKS = readme_blocks()


def test_the_readme_has_slo_examples_of_every_kind():
    names = {c.name for _, block in README_BLOCKS for c in block}
    assert {"validate", "compile", "test", "import", "push", "diff"} <= names, names


def needs_tools(block) -> bool:
    return any(command.name in NEEDS_TOOLS for command in block)


@pytest.fixture
def copy_of_repository(tmp_path, monkeypatch, proven) -> Path:
    for name in ("slo", "out", *SAMPLES):
        shutil.copytree(ROOT / name, tmp_path / name)
    # `slo test`'s results are shared with test_examples, which proves the same files.
    (tmp_path / ".slo-cache").symlink_to(proven, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "block",
    [
        # A block that runs promtool or amtool (`slo test`) starts real binaries.
        pytest.param(block, marks=[pytest.mark.binaries] if needs_tools(block) else [])
        for _, block in README_BLOCKS
    ],
    ids=[f"README.md:{n}" for n, _ in README_BLOCKS],
)
def test_readme_example_runs_as_written(copy_of_repository, block):
    """The commands of one code block in order, in one copy: `compile` before `--check`."""
    for command in block:
        where = f"README.md:{command.line}: slo {shlex.join(command.argv)}"
        if command.name in LIVE:
            parse(command.argv, where)
            continue
        if command.name in NEEDS_TOOLS:
            absent = [t for t in NEEDS_TOOLS[command.name] if not shutil.which(t)]
            if absent:
                pytest.skip(f"{where} needs {', '.join(absent)} (make test installs them)")
            result = run_once(command.argv, copy_of_repository / "out")
        elif command.name in OFFLINE:
            result = CliRunner().invoke(cli, command.argv)
        else:
            pytest.fail(
                f"{where}: no rule says how to check `slo {command.name}` examples; "
                "add it to OFFLINE, NEEDS_TOOLS or LIVE in tests/test_docs.py"
            )
        assert result.exit_code == 0, f"{where} exited {result.exit_code}:\n{result.output}"
        if command.name in VERIFIED_OUTPUT:
            printed = result.output.splitlines()
            for line in command.shown:
                assert line == "..." or line in printed, f"{where} no longer prints:\n{line}"


def subcommand(root: click.Context, argv: list[str]) -> tuple[click.Command | None, list[str]]:
    """The command an argv names, down a group's subcommands (`maintenance start`), and the
    rest of the argv."""
    command = cli.get_command(root, argv[0]) if argv else None
    args = argv[1:]
    while isinstance(command, click.Group) and args and command.get_command(root, args[0]):
        command, args = command.get_command(root, args[0]), args[1:]
    return command, args


def parse(argv: list[str], where: str) -> None:
    """Parse a command line as `slo` would, without running the command."""
    root = click.Context(cli, info_name="slo")
    command, args = subcommand(root, argv)
    assert command is not None, f"{where}: no such command"
    try:
        command.make_context(argv[0], args, parent=root)
    except click.ClickException as exc:
        pytest.fail(f"{where}: {exc.format_message()}")


_tool_runs: dict[tuple[tuple[str, ...], str], Result] = {}


def run_once(argv: list[str], out: Path) -> Result:
    """`slo test` reads out/ alone and spends minutes in promtool; the README runs it on the same
    out/ in several blocks, so an identical run is made once per session."""
    digest = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        digest.update(path.relative_to(out).as_posix().encode() + b"\0" + path.read_bytes())
    key = (tuple(argv), digest.hexdigest())
    if key not in _tool_runs:
        _tool_runs[key] = CliRunner().invoke(cli, argv)
    return _tool_runs[key]


def test_readme_command_synopses_name_real_options():
    """The headings of "Commands", e.g. `slo compile [SPECS] [--out DIR] [--check] ...`."""
    headings = re.findall(r"^#+ `slo (\w+)([^`]*)`", README.read_text(), re.MULTILINE)
    assert len(headings) >= 6
    root = click.Context(cli, info_name="slo")
    for name, synopsis in headings:
        command = cli.get_command(root, name)
        assert command is not None, f"README.md documents `slo {name}`, which does not exist"
        options = {opt for param in command.params for opt in param.opts}
        named = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", synopsis)
        unknown = [opt for opt in named if opt not in options]
        assert not unknown, f"README.md's `slo {name}` synopsis names unknown options {unknown}"


def test_every_command_has_help_and_its_examples_name_real_options():
    """The examples in `--help` name files that need not exist here, so only their command and
    options are checked."""
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    root = click.Context(cli, info_name="slo")
    checked = 0
    for name in cli.list_commands(root):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output
        examples = result.output.split("Example", 1)[-1].split("\nOptions:", 1)[0]
        for line in examples.splitlines():
            for argv in slo_commands(line.strip()):
                where = f"`slo {name} --help` example `{line.strip()}`"
                command, args = subcommand(root, argv)
                assert command is not None, f"{where}: no such command"
                options = {opt for param in command.get_params(root) for opt in param.opts}
                named = [a.split("=", 1)[0] for a in args if re.match(r"^--?[A-Za-z]", a)]
                unknown = [opt for opt in named if opt not in options]
                assert not unknown, f"{where}: unknown options {unknown}"
                checked += 1
    assert checked >= 6
