"""A minimal SMTP server on 127.0.0.1 that keeps every message and login it receives.

Just enough of RFC 5321 for Alertmanager's Go client: EHLO advertising AUTH PLAIN (no
STARTTLS, so the client needs require_tls: false), AUTH, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
The standard library lost its SMTP server (smtpd) in Python 3.12, and tests may not add deps.
"""

from __future__ import annotations

import base64
import email
import email.policy
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage


@dataclass
class Capture:
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(
        default_factory=list
    )  # (username, password) from AUTH PLAIN
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.StreamRequestHandler):
    capture: Capture
    timeout = 10  # a client that stops talking must not hold a server thread forever

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")

    def login(self, encoded: str) -> None:
        _identity, user, password = base64.b64decode(encoded).decode("utf-8").split("\0")
        with self.capture.lock:
            self.capture.logins.append((user, password))
        self.reply("235 2.7.0 authenticated")

    def handle(self) -> None:
        sender, recipients = "", []
        self.reply("220 127.0.0.1 capture ESMTP")
        while True:
            line = self.rfile.readline(65536).decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 127.0.0.1")
            elif verb == "AUTH":
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() != "PLAIN":
                    self.reply("504 5.5.4 only PLAIN")
                elif initial:
                    self.login(initial)
                else:
                    self.reply("334 ")
                    self.login(self.rfile.readline(65536).decode("ascii").strip())
            elif verb == "MAIL":
                sender, recipients = arg.partition(":")[2].strip().strip("<>"), []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                recipients.append(arg.partition(":")[2].strip().strip("<>"))
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while True:
                    raw = self.rfile.readline(1 << 20)
                    if raw in (b".\r\n", b".\n", b""):
                        break
                    lines.append(raw[1:] if raw.startswith(b"..") else raw)  # undo dot-stuffing
                message = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                with self.capture.lock:
                    self.capture.messages.append(Received(sender, recipients, message))
                self.reply("250 2.0.0 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SMTPCapture:
    """``with SMTPCapture() as smtp:`` serves on ``smtp.port`` until the block ends."""

    def __init__(self, port: int = 0) -> None:  # 0: a free port (demo/capture.py picks one)
        self.capture = Capture()
        handler = type("Handler", (_Handler,), {"capture": self.capture})
        self._server = _Server(("127.0.0.1", port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> SMTPCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def messages(self) -> list[Received]:
        with self.capture.lock:
            return list(self.capture.messages)

    def logins(self) -> list[tuple[str, str]]:
        with self.capture.lock:
            return list(self.capture.logins)
