"""A threaded HTTP server on 127.0.0.1 that a fake plugs its routes into, with fault injection.

Faults are queued per request: answer with a status (e.g. 503), drop the connection without
answering, or answer late (after the client gave up). A slow request is still carried out, as
a real overloaded server would, which is exactly what makes retries need idempotent requests.

``chaos(rate, seed)`` fails a share of *all* requests instead, each in one of four ways: a 5xx,
a connection reset before the request is carried out, a reset after it was carried out, or an
answer that comes too late. Which requests fail is decided by a hash of the seed, the request
and how often the same request was seen, so a run is reproducible however threads interleave.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data) -> Response:
        return cls(status, json.dumps(data).encode())

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), content_type)


@dataclass
class Fault:
    method: str
    path_prefix: str
    kind: str  # status | drop | delay
    times: int = 1
    status: int = 503
    delay: float = 0.0
    body_contains: bytes = b""  # only requests whose body holds this (one dashboard among many)


@dataclass
class FakeServer:
    """Subclasses implement ``route(request) -> Response``."""

    faults: list[Fault] = field(default_factory=list)
    log: list[Request] = field(default_factory=list)
    tls: ssl.SSLContext | None = None  # serve HTTPS with this (tests/support/tls.py)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._chaos: tuple[float, int, float] | None = None  # (rate, seed, seconds late)
        self._seen: dict[tuple, int] = {}
        self.chaos_log: list[tuple[str, Request]] = []  # (kind, request) of every injected failure
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    # -- fault injection -----------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_prefix: str,
        status: int = 503,
        times: int = 1,
        body_contains: bytes = b"",
    ) -> None:
        self.faults.append(
            Fault(method, path_prefix, "status", times, status=status, body_contains=body_contains)
        )

    def drop(
        self, method: str, path_prefix: str, times: int = 1, body_contains: bytes = b""
    ) -> None:
        self.faults.append(Fault(method, path_prefix, "drop", times, body_contains=body_contains))

    def slow(
        self,
        method: str,
        path_prefix: str,
        delay: float,
        times: int = 1,
        body_contains: bytes = b"",
    ) -> None:
        self.faults.append(
            Fault(method, path_prefix, "delay", times, delay=delay, body_contains=body_contains)
        )

    def chaos(self, rate: float, seed: int, late: float = 0.5) -> None:
        """Fail about ``rate`` of every request from now on (``late``: seconds a late answer
        takes)."""
        self._chaos = (rate, seed, late)

    def _chaos_kind(self, request: Request) -> str | None:
        if self._chaos is None:
            return None
        rate, seed, _ = self._chaos
        key = (
            request.method,
            request.path,
            tuple(sorted((k, tuple(v)) for k, v in request.query.items())),
            request.body,
        )
        with self._lock:
            self._seen[key] = seen = self._seen.get(key, 0) + 1
        digest = hashlib.sha256(repr((seed, key, seen)).encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= rate:
            return None
        kind = ("5xx", "reset-before", "reset-after", "late")[digest[8] % 4]
        with self._lock:
            self.chaos_log.append((kind, request))
        return kind

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every request has been carried out, late ones included (bounded by
        ``timeout``)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError(f"{self._in_flight} request(s) still in flight after {timeout}s")

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.times > 0
                    and fault.method == request.method
                    and request.path.startswith(fault.path_prefix)
                    and fault.body_contains in request.body
                ):
                    fault.times -= 1
                    return fault
        return None

    def writes(self) -> list[Request]:
        return [r for r in self.log if r.method not in ("GET", "HEAD")]

    # -- serving ---------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def _handle(self, request: Request) -> Response | None:
        """The response to send, or None to drop the connection."""
        with self._lock:
            self.log.append(request)
            self._in_flight += 1
        try:
            return self._answer(request)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _answer(self, request: Request) -> Response | None:
        chaos = self._chaos_kind(request)
        if chaos == "5xx":
            return Response.text(500 + len(request.body) % 5, "injected chaos")
        if chaos == "reset-before":
            return None
        if chaos in ("reset-after", "late"):
            if chaos == "late":
                self._stopping.wait(self._chaos[2])
            with self._lock:
                answer = self.route(request)  # carried out, though the client hears nothing in time
            return None if chaos == "reset-after" else answer
        fault = self._take_fault(request)
        if fault and fault.kind == "drop":
            return None
        if fault and fault.kind == "status":
            return Response.text(fault.status, f"injected fault {fault.status}")
        if fault and fault.kind == "delay":
            self._stopping.wait(fault.delay)
        with (
            self._lock
        ):  # one request at a time changes state, like a database would serialise them
            return self.route(request)

    def __enter__(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in two writes; without this, Nagle's algorithm and the
                # client's delayed ACK add 40 ms to every answer.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    dict(self.headers.items()),
                    body,
                )
                response = fake._handle(request)
                if response is None:
                    self.close_connection = True
                    return
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"
