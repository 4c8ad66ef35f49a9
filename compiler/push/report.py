"""Plans and results as text for a terminal, Markdown for a pull request, or JSON for machines."""

from __future__ import annotations

import json

from compiler.push.plan import SYMBOLS, TargetReport

FORMATS = ("text", "markdown", "json")
# GitHub colours ```diff lines by their first character: + green, - red, ! orange.
_MARKDOWN_SYMBOLS = {**SYMBOLS, "updated": "!"}


def render(reports: list[TargetReport], fmt: str, title: str) -> str:
    return {"text": text, "markdown": markdown, "json": as_json}[fmt](reports, title)


def _status_line(report: TargetReport) -> str:
    if report.status == "skipped":
        return "skipped: " + "; ".join(report.plan.notes)
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
            lines.append(f"  {SYMBOLS[change.kind]} {change.object}")
            lines.extend(f"      {detail}" for detail in change.details)
        lines.extend(f"  note: {note}" for note in report.plan.notes)
        for error in report.errors:
            first, *rest = error.splitlines()
            lines.append(f"  error: {first}")
            lines.extend(f"    {line}" for line in rest)
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
        lines += ["", f"<details><summary>{report.target}: {len(pending)} change(s)</summary>", ""]
        if pending:
            lines.append("```diff")
            for change in pending:
                symbol = _MARKDOWN_SYMBOLS[change.kind]
                lines.append(f"{symbol} {change.object}")
                lines.extend(f"{symbol}     {detail}" for detail in change.details)
            lines += ["```", ""]
        lines.extend(f"- note: {_cell(note)}" for note in report.plan.notes)
        lines.extend(f"- **error**: {_cell(error)}" for error in report.errors)
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a table cell or list item: one line, no pipes, no HTML."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


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
                    {"kind": c.kind, "object": c.object, "details": list(c.details)}
                    for c in r.plan.pending
                ],
                "notes": r.plan.notes,
                "errors": r.errors,
            }
            for r in reports
        ],
    }
    return json.dumps(data, indent=2) + "\n"
