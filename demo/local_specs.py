"""The spec tree of `make run`: slo/ as it is, but alerts are delivered to the local captures.

Copies every spec file of SPECS into DEST unchanged, except the Routing document, where only
where notifications go is replaced: PagerDuty's and Slack's URLs point at the webhook capture,
the SMTP smarthost at the SMTP capture, and every secret file (routing keys, the Slack webhook
URL, the SMTP password) at a file under SECRETS. A routing-key file holds the name of the file it
stands for (``pagerduty-on-call``), so the capture can tell which receiver an event was for.

    local_specs.py slo .run/slo --secrets .run/alertmanager/secrets --http 127.0.0.1:8500 \\
        --smtp 127.0.0.1:2525
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import yaml


def localise(routing: dict[str, Any], secrets: Path, http: str, smtp: str) -> dict[str, Any]:
    """The Routing document with only its delivery endpoints and secret files replaced."""

    def secret(path: str, content: str | None = None) -> str:
        name = PurePosixPath(path).name
        target = secrets / name
        target.write_text((content if content is not None else name) + "\n")
        return str(target.resolve())

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("routing_key_file", "auth_password_file", "smtp_auth_password_file"):
                    out[key] = secret(value)
                elif key in ("api_url_file", "slack_api_url_file"):
                    out[key] = secret(value, f"http://{http}/slack")
                elif key in ("url", "pagerduty_url") and isinstance(value, str):
                    out[key] = f"http://{http}/pagerduty"
                elif key in ("smarthost", "smtp_smarthost"):
                    out[key] = smtp
                elif key in ("require_tls", "smtp_require_tls"):
                    out[key] = False  # the capture speaks plain SMTP on loopback
                else:
                    out[key] = visit(value)
            return out
        if isinstance(node, list):
            return [visit(item) for item in node]
        return node

    local = visit(routing)
    local.setdefault("global", {})["pagerduty_url"] = f"http://{http}/pagerduty"
    return local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--secrets", type=Path, required=True)
    parser.add_argument("--http", required=True, help="host:port of the webhook capture")
    parser.add_argument("--smtp", required=True, help="host:port of the SMTP capture")
    args = parser.parse_args()
    shutil.rmtree(args.dest, ignore_errors=True)
    args.secrets.mkdir(parents=True, exist_ok=True)
    sources = sorted(args.specs.rglob("*.y*ml"))
    for source in sources:
        target = args.dest / source.relative_to(args.specs)
        target.parent.mkdir(parents=True, exist_ok=True)
        documents = list(yaml.safe_load_all(source.read_text()))
        if any(isinstance(d, dict) and d.get("kind") == "Routing" for d in documents):
            documents = [
                localise(d, args.secrets, args.http, args.smtp)
                if isinstance(d, dict) and d.get("kind") == "Routing"
                else d
                for d in documents
            ]
            header = f"# {source.as_posix()} for the local run: only delivery endpoints replaced\n"
            target.write_text(header + yaml.safe_dump_all(documents, sort_keys=False))
        else:
            shutil.copyfile(source, target)
    print(f"{len(sources)} spec files in {args.dest}, delivering to {args.http} and {args.smtp}")


if __name__ == "__main__":
    main()
