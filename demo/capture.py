"""Where the local Alertmanager of `make run` delivers: a webhook capture and an SMTP capture.

Both listen on 127.0.0.1 only and append what they receive, one JSON object a line, to
``<dir>/notifications.jsonl`` (and a readable line to standard output, the capture's log):
PagerDuty events and Slack messages arrive over HTTP (the local routing spec points
``pagerduty_url`` and the Slack webhook at this server), e-mails over SMTP. The routing-key files
of the local run hold the receiver's name, so each PagerDuty event says which receiver got it.

    capture.py --http-port 8500 --smtp-port 2525 --dir .run/captured
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

# The SMTP server the tests use to catch Alertmanager's e-mails (standard library only).
_SMTP = Path(__file__).resolve().parent.parent / "tests" / "support" / "smtp.py"


def _smtp_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smtp_capture", _SMTP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Journal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "notifications.jsonl"
        self.lock = threading.Lock()

    def write(self, record: dict) -> None:
        record = {"received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
        with self.lock, open(self.path, "a") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")
        what = record.get("summary") or record.get("subject") or ""
        print(f"{record['received']} {record['via']} {record['receiver']}: {what}", flush=True)


def summarise(path: str, body: dict) -> dict:
    """One notification's gist: who got it, firing or resolved, and its text."""
    if "routing_key" in body:  # PagerDuty Events API v2
        payload = body.get("payload") or {}
        return {
            "via": "pagerduty",
            "receiver": body.get("routing_key", ""),
            "status": "resolved" if body.get("event_action") == "resolve" else "firing",
            "summary": payload.get("summary", ""),
            "details": payload.get("custom_details", {}),
        }
    attachments = body.get("attachments") or [{}]
    return {  # Slack
        "via": "slack",
        "receiver": body.get("channel", path),
        "status": "resolved" if "RESOLVED" in str(attachments[0].get("title", "")) else "firing",
        "summary": attachments[0].get("title", ""),
        "details": attachments[0].get("text", ""),
    }


def http_handler(journal: Journal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # a readiness check
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
                record = summarise(self.path, body if isinstance(body, dict) else {})
            except ValueError:
                record = {"via": "http", "receiver": self.path, "summary": raw[:200].decode()}
            journal.write({**record, "path": self.path})
            answer = b'{"status":"success","message":"Event processed"}'
            self.send_response(202 if record["via"] == "pagerduty" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    journal = Journal(args.dir)
    http = ThreadingHTTPServer(("127.0.0.1", args.http_port), http_handler(journal))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    smtp = _smtp_module().SMTPCapture(port=args.smtp_port)
    print(
        f"capture: http://127.0.0.1:{args.http_port}, smtp 127.0.0.1:{args.smtp_port}", flush=True
    )
    seen = 0
    with smtp:
        while True:  # until the process is stopped (make stop)
            messages = smtp.messages()
            for received in messages[seen:]:
                message = received.message
                journal.write(
                    {
                        "via": "email",
                        "receiver": ", ".join(received.recipients),
                        "status": "resolved" if "RESOLVED" in message["Subject"] else "firing",
                        "subject": message["Subject"],
                    }
                )
            seen = len(messages)
            time.sleep(1)


if __name__ == "__main__":
    main()
