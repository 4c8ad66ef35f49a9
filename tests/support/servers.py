"""Real Prometheus, Alertmanager, VictoriaMetrics and vmalert (the Debian binaries) on free
127.0.0.1 ports, in tmp dirs.

Each server is a context manager: it waits (bounded) until the server is ready and always stops
it on exit, killing it if it does not stop in time. conftest.py offers the usual ones as the
fixtures ``prometheus_server`` and ``alertmanager_server``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support import binaries

READY_DEADLINE = 20.0  # seconds; a loaded 2-core machine can be slow to start a Go binary
STOP_DEADLINE = 10.0
# What Alertmanager runs before anything was pushed to it.
BOOT_CONFIG = "route:\n  receiver: boot\nreceivers:\n  - name: boot\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    directory: Path
    config: Path
    log: Path

    def tail(self) -> str:
        """The end of the server's log, for a failure message."""
        return self.log.read_text(errors="replace")[-3000:]


def metric(url: str, name: str) -> float:
    """The unlabelled sample ``name`` of the server's own /metrics, where reloads are counted."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, ready: str = "/-/ready") -> None:
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + ready, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(
        f"server at {url} not ready within {READY_DEADLINE}s:\n{log.read_text()[-2000:]}"
    )


@contextlib.contextmanager
def _running(argv: list[str], url: str, directory: Path, config: Path, ready: str = "/-/ready"):
    log = directory / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(proc, url, log, ready)
        yield Server(url, directory, config, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_DEADLINE)


@contextlib.contextmanager
def prometheus(
    directory: Path,
    lifecycle: bool = True,
    rule_glob: str = "rules/*.yml",
    config_text: str | None = None,
):
    """Prometheus loading ``directory/rules/*.yml`` (relative paths resolve against its config),
    or running ``config_text`` as its whole prometheus.yml."""
    binary = binaries.require("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules").mkdir(exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(
        config_text or f"global:\n  evaluation_interval: 1m\nrule_files:\n  - {rule_glob}\n"
    )
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ] + (["--web.enable-lifecycle"] if lifecycle else [])
    with _running(argv, f"http://127.0.0.1:{port}", directory, config) as server:
        yield server


@contextlib.contextmanager
def alertmanager(directory: Path, config_text: str = BOOT_CONFIG):
    binary = binaries.require(
        "prometheus-alertmanager" if shutil.which("prometheus-alertmanager") else "alertmanager"
    )
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    config.write_text(config_text)
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: a single local instance
        "--log.level=warn",
    ]
    with _running(argv, f"http://127.0.0.1:{port}", directory, config) as server:
        yield server


# --- VictoriaMetrics --------------------------------------------------------------------------
REPLAY_DEADLINE = 120.0  # seconds for one `vmalert -replay` run


@contextlib.contextmanager
def victoria_metrics(directory: Path):
    """A single-node VictoriaMetrics keeping everything (history is imported days old)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        "victoria-metrics",
        f"-storageDataPath={directory / 'data'}",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-retentionPeriod=100y",
        "-loggerLevel=WARN",
    ]
    with _running(argv, f"http://127.0.0.1:{port}", directory, directory, "/health") as server:
        yield server


def vm_flush(server: Server) -> None:
    """Make everything VictoriaMetrics received searchable now (it otherwise takes seconds)."""
    with urllib.request.urlopen(server.url + "/internal/force_flush", timeout=30):
        pass


def vmalert_replay(
    rule_file: Path, datasource: Server, start: str, end: str, *flags: str
) -> subprocess.CompletedProcess:
    """`vmalert -replay` of ``rule_file`` over [start, end] (RFC 3339), reading and writing
    ``datasource``; returns when vmalert has exited (it flushes what it wrote first)."""
    argv = [
        "vmalert",
        f"-rule={rule_file}",
        f"-datasource.url={datasource.url}",
        f"-remoteWrite.url={datasource.url}",
        f"-replay.timeFrom={start}",
        f"-replay.timeTo={end}",
        "-replay.disableProgressBar",
        "-loggerLevel=WARN",
        *flags,
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=REPLAY_DEADLINE, cwd=rule_file.parent
    )


@contextlib.contextmanager
def vmalert(directory: Path, datasource: Server, rule_glob: str = "rules/*.yml"):
    """vmalert evaluating ``directory/rules/*.yml`` (or ``rule_glob``, relative to
    ``directory``) against ``datasource`` and writing its records there; alerts go to a port
    nothing listens on. Ready once it answers /-/healthy."""
    binary = binaries.require("vmalert")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules").mkdir(exist_ok=True)
    port = free_port()
    argv = [
        binary,
        f"-rule={directory / rule_glob}",
        f"-datasource.url={datasource.url}",
        f"-remoteWrite.url={datasource.url}",
        "-notifier.url=http://127.0.0.1:9",  # the discard port: alerts are not under test here
        f"-httpListenAddr=127.0.0.1:{port}",
        "-loggerLevel=WARN",
    ]
    url = f"http://127.0.0.1:{port}"
    with _running(argv, url, directory, directory / "rules", "/-/healthy") as server:
        yield server
