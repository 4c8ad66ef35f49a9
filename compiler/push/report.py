"""Plans and results as text for a terminal, Markdown for a pull request, or JSON for machines.

Names, titles and errors come from live systems, so every report treats them as untrusted: all
of it is redacted (transport.redact); text shows control characters (a terminal escape, a line
break in a title) as escapes like ``\\x1b``; Markdown escapes what would become a link, an
image, HTML or the end of a code block; JSON holds the text itself, as JSON strings.
"""

from __future__ import annotations

import html
import json
import re

from compiler.push.plan import SYMBOLS, TargetReport
from compiler.push.transport import redact

FORMATS = ("text", "markdown", "json")
# GitHub colours ```diff lines by their first character: + green, - red, ! orange.
_MARKDOWN_SYMBOLS = {**SYMBOLS, "updated": "!"}


def render(reports: list[TargetReport], fmt: str, title: str) -> str:
    return {"text": text, "markdown": markdown, "json": as_json}[fmt](reports, title)


# C0 and C1 controls (terminal escapes among them), DEL, and the invisible characters that
# reorder or hide text (bidirectional overrides, zero-width spaces)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_CONTROL_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in "\n\r\t":
        return repr(char)[1:-1]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def line(text: str) -> str:
    """Untrusted text for one line of a report: redacted, every control character (a line
    break too) shown as an escape."""
    return _CONTROL.sub(_escape, redact(text))


def _lines(text: str) -> list[str]:
    """Untrusted text of several lines: redacted, other control characters shown as escapes."""
    return _CONTROL_BUT_NEWLINE.sub(_escape, redact(text)).splitlines() or [""]


# What Markdown (GitHub's included) reads as syntax inside a line: emphasis, code, links and
# images, HTML and entities, table cells, strikethrough. A backslash makes each plain text.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]()!<>|&~#])")
_AUTOLINK = re.compile(r"(?i)(://|www\.)")  # GitHub links bare URLs; an escape stops it


def _inline(text: str) -> str:
    """Untrusted text inside a Markdown line (a table cell, a list item): one line, no syntax."""
    escaped = _MARKDOWN_SYNTAX.sub(r"\\\1", line(text))
    return _AUTOLINK.sub(lambda m: m.group().replace(":", "\\:").replace(".", "\\."), escaped)


def _fence(lines: list[str]) -> str:
    """A code fence no line can close: longer than any run of backticks in them."""
    longest = max((len(run) for text in lines for run in re.findall("`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _status_line(report: TargetReport) -> str:
    if report.status == "skipped":
        return "skipped: " + line("; ".join(report.plan.notes))
    if report.status in ("failed", "not-run") and not report.plan.changes:
        return report.status
    return report.summary()


def text(reports: list[TargetReport], title: str) -> str:
    lines = [title] if title else []
    for report in reports:
        lines.append(f"{report.target}: {_status_line(report)}")
        if report.status == "skipped":
            continue
        for change in report.plan.pending:
            lines.append(f"  {SYMBOLS[change.kind]} {line(change.object)}")
            lines.extend(f"      {line(detail)}" for detail in change.details)
        lines.extend(f"  note: {line(note)}" for note in report.plan.notes)
        for error in report.errors:
            first, *rest = _lines(error)
            lines.append(f"  error: {first}")
            lines.extend(f"    {more}" for more in rest)
        if report.restore is not None:
            lines.append(f"  {line(report.restore.summary())}")
            lines.extend(f"    {line(problem)}" for problem in report.restore.problems)
    return "\n".join(lines) + "\n"


def markdown(reports: list[TargetReport], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| target | created | updated | deleted | unchanged | |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for report in reports:
        if report.status == "skipped":
            lines.append(
                f"| {report.target} | | | | | skipped: {_cell('; '.join(report.plan.notes))} |"
            )
            continue
        c = report.plan.counts()
        state = "**error**" if report.errors else ("changes" if report.changed else "no changes")
        counts = " | ".join(str(c[kind]) for kind in ("created", "updated", "deleted", "unchanged"))
        lines.append(f"| {report.target} | {counts} | {state} |")
    for report in reports:
        if report.status == "skipped" or not (report.changed or report.errors or report.plan.notes):
            continue
        pending = report.plan.pending
        target = html.escape(report.target)
        lines += ["", f"<details><summary>{target}: {len(pending)} change(s)</summary>", ""]
        if pending:
            block = []
            for change in pending:
                symbol = _MARKDOWN_SYMBOLS[change.kind]
                block.append(f"{symbol} {line(change.object)}")
                block.extend(f"{symbol}     {line(detail)}" for detail in change.details)
            fence = _fence(block)
            lines += [fence + "diff", *block, fence, ""]
        lines.extend(f"- note: {_cell(note)}" for note in report.plan.notes)
        lines.extend(f"- **error**: {_cell(error)}" for error in report.errors)
        if report.restore is not None:
            lines.append(f"- **restore**: {_cell(report.restore.summary())}")
            lines.extend(f"  - {_cell(problem)}" for problem in report.restore.problems)
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a table cell or list item: one line (whitespace runs as one space), no
    Markdown syntax, no HTML."""
    return _inline(" ".join(text.split()))


def as_json(reports: list[TargetReport], title: str) -> str:
    data = {
        "title": title,
        "changed": any(r.changed for r in reports),
        "targets": [
            {
                "target": r.target,
                "status": r.status,
                "counts": r.plan.counts(),
                "changes": [
                    {
                        "kind": c.kind,
                        "object": redact(c.object),
                        "details": [redact(d) for d in c.details],
                    }
                    for c in r.plan.pending
                ],
                "notes": [redact(note) for note in r.plan.notes],
                "errors": [redact(error) for error in r.errors],
                "restore": None
                if r.restore is None
                else {
                    "complete": not (r.restore.problems or r.restore.declined),
                    "objects": r.restore.objects,
                    "summary": redact(r.restore.summary()),
                    "problems": [redact(problem) for problem in r.restore.problems],
                },
            }
            for r in reports
        ],
    }
    return json.dumps(data, indent=2) + "\n"
