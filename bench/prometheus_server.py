"""A real Prometheus (the Debian 2.42 binary) on 127.0.0.1, on a free port, stopped on exit.

    with PrometheusServer(data_dir, rule_files=[...]) as prom:
        prom.query("up", at=1700000000, stats=True)

The TSDB holds backfilled data; the writers are the rule groups and, when given a
``scrape_target`` (a ``Feed``), one scrape job that brings the data's next minutes as a real
service's would arrive. Retention is long so that Prometheus never deletes the 30 days of
backfilled blocks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

START_TIMEOUT = 120  # opening hundreds of blocks and replaying a WAL takes a while on 2 busy cores


class PrometheusError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> str:
    path = shutil.which("prometheus")
    if not path:
        raise PrometheusError(
            "prometheus not found on PATH (Debian package `prometheus`; `make setup` installs it)"
        )
    return path


class PrometheusServer:
    def __init__(
        self,
        data_dir: Path,
        rule_files: list[Path] = (),
        evaluation_interval: str = "1m",
        log_level: str = "warn",
        scrape_target: str | None = None,
        scrape_interval: str = "15s",
    ):
        self.data_dir = Path(data_dir)
        self.log_level = log_level  # "info" logs every configuration (re)load
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.evaluation_interval = evaluation_interval
        # host:port; the exposition's own job and instance labels are kept (honor_labels), and
        # so are its timestamps, so the samples land on the data's minute grid.
        self.scrape_target = scrape_target
        self.scrape_interval = scrape_interval
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        config = self.data_dir.parent / f"{self.data_dir.name}.prometheus.yml"
        rules = "".join(f"  - {json.dumps(str(p))}\n" for p in self.rule_files)
        config.write_text(
            f"global:\n  evaluation_interval: {self.evaluation_interval}\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + (
                "scrape_configs:\n- job_name: feed\n  honor_labels: true\n"
                f"  scrape_interval: {self.scrape_interval}\n"
                f"  static_configs:\n  - targets: [{json.dumps(self.scrape_target)}]\n"
                if self.scrape_target
                else ""
            )
        )
        self.port = free_port()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                f"--log.level={self.log_level}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self.proc.returncode}; see "
                    f"{self.log_path.name}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise PrometheusError(f"prometheus not ready after {START_TIMEOUT}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(self, path: str, params: dict | None = None, timeout: float = 120) -> dict:
        data = urllib.parse.urlencode(params or {}, doseq=True).encode()
        request = urllib.request.Request(self.url + path, data=data if params else None)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            raise PrometheusError(
                f"{path}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}"
            ) from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str, at: float, stats: bool = False) -> dict:
        params = {"query": expr, "time": f"{at:.3f}"}
        if stats:
            params["stats"] = "all"
        return self.api("/api/v1/query", params)

    def rule_groups(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "/api/v1/rules", timeout=30) as resp:
            return json.load(resp)["data"]["groups"]

    def metric(self, name: str) -> float:
        """A metric of this Prometheus itself, read from /metrics (sum over its label sets)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=30) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def cpu_seconds(self) -> float:
        """CPU time of the Prometheus process so far, from /proc (user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


class Feed:
    """An HTTP target on 127.0.0.1 that serves, at each scrape, ``latest(now)``: Prometheus'
    text exposition of the newest samples due by now (empty before the first)."""

    def __init__(self, latest: Callable[[float], str]):
        self.latest = latest
        self.scrapes = 0

        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = feed.latest(time.time()).encode()
                feed.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet: one line a scrape otherwise
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Feed:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
