"""Run the tests not marked `binaries` on a PATH without promtool, amtool, Prometheus, ...

    python tests/without_binaries.py [pytest arguments]

builds a temporary directory of links to every command on PATH but those of
support.binaries.BINARIES, and runs ``pytest -m "not binaries"`` with PATH set to it alone.
It passes only if no unmarked test needs one of them: the marker tells the truth, and the
suite runs clean on a machine without them. (In a normal run the audit hook of
support.binaries fails an unmarked test that starts one; this also covers a child process
starting one, such as `slo` run as a command.)
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BINARIES = importlib.import_module("support.binaries").BINARIES


def shadow_path(directory: Path) -> str:
    """Links in ``directory`` to every executable on PATH (the first of each name) but
    BINARIES; returns the PATH to use."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or not os.path.isdir(entry):
            continue
        for name in sorted(os.listdir(entry)):
            source = os.path.join(entry, name)
            link = directory / name
            if name in BINARIES or link.exists() or link.is_symlink():
                continue
            if os.path.isfile(source) and os.access(source, os.X_OK):
                link.symlink_to(source)
    return str(directory)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="no-binaries-") as tmp:
        path = shadow_path(Path(tmp))
        env = {**os.environ, "PATH": path}
        missing = [b for b in sorted(BINARIES) if (Path(tmp) / b).exists()]
        assert not missing, missing
        command = [sys.executable, "-m", "pytest", "-m", "not binaries", *argv]
        return subprocess.run(command, cwd=HERE.parent, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
