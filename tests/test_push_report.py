"""Reports of `slo push` and `slo diff` show names and titles that live systems chose: in a
pull-request comment (Markdown) they stay text, on a terminal they carry no escape sequence, and
JSON holds them exactly."""

from __future__ import annotations

import json
import re

from compiler.push.plan import Change, Plan, Restore, TargetReport
from compiler.push.report import render

# A live dashboard title that closes the ```diff block, then adds an image, a link, raw HTML,
# a longer fence and a bare URL; and one that clears the screen and re-colours the terminal.
HOSTILE = (
    "x\n```\n![pixel](https://evil.example/p.png) [click](https://evil.example) "
    "<img src=https://evil.example/i.png> ```` https://evil.example www.evil.example"
)
TERMINAL = "ok\x1b[2J\x1b[31mFAKE: all good\x1b[0m\r\u202egnp.exe"


def hostile_report() -> TargetReport:
    plan = Plan(
        [
            Change("deleted", f"dashboard abc ({HOSTILE})", (f"title {HOSTILE} -> x",)),
            Change("updated", f"dashboard def ({TERMINAL})"),
        ],
        notes=[f"dashboard ghi ({HOSTILE}) is managed by slo but no longer generated"],
    )
    return TargetReport("grafana", "failed", plan, errors=[f"save {HOSTILE}: HTTP 412"])


def code_blocks(markdown: str) -> tuple[list[str], list[str]]:
    """(lines inside fenced code blocks, lines outside), as CommonMark reads the fences: a block
    closes at a line of the same fence character at least as long as the one that opened it."""
    inside, outside, fence = [], [], None
    for line in markdown.splitlines():
        run = re.match(r" {0,3}(`{3,})", line)
        if fence is None and run:
            fence = run.group(1)
        elif fence is not None and run and line.strip() == run.group(1) >= fence:
            fence = None
        else:
            (outside if fence is None else inside).append(line)
    assert fence is None, "a code block is left open"
    return inside, outside


def test_a_hostile_live_title_stays_inside_the_diff_block_and_injects_nothing():
    markdown = render([hostile_report()], "markdown", "slo diff")
    inside, outside = code_blocks(markdown)
    assert len([line for line in inside if line.startswith(("-", "!"))]) == 3
    assert all("evil" in line or "FAKE" in line for line in inside)  # all of it, in the block
    for line in outside:
        if line in ("<details><summary>grafana: 2 change(s)</summary>", "</details>"):
            continue  # the report's own HTML
        assert "![" not in line and "](" not in line, line  # no image, no link
        assert not re.search(r"(?<!\\)<", line), line  # no HTML: every "<" escaped
        assert "https://evil" not in line and "www.evil" not in line  # no bare URL to link
        assert "\x1b" not in line and "\r" not in line
    assert any("\\!\\[pixel\\]\\(https\\://evil.example/p.png\\)" in line for line in outside)
    details = "<details><summary>grafana: 2 change(s)</summary>"
    assert details in markdown and markdown.rstrip().endswith("</details>")


def test_a_terminal_sees_escape_sequences_as_text():
    text = render([hostile_report()], "text", "slo diff")
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    assert "dashboard def (ok\\x1b[2J\\x1b[31mFAKE: all good\\x1b[0m\\r\\u202egnp.exe)" in text
    # a title of several lines stays one line of the report
    lines = text.splitlines()
    assert lines[1] == "grafana: 0 created, 1 updated, 1 deleted, 0 unchanged"
    assert all(line.startswith(("grafana:", "  ")) for line in lines[1:])


def test_json_holds_the_live_text_exactly():
    data = json.loads(render([hostile_report()], "json", "slo diff"))
    (target,) = data["targets"]
    assert target["changes"][0]["object"] == f"dashboard abc ({HOSTILE})"
    assert target["changes"][1]["object"] == f"dashboard def ({TERMINAL})"
    assert target["errors"] == [f"save {HOSTILE}: HTTP 412"]


def restored_report(problems: tuple[str, ...] = ()) -> TargetReport:
    plan = Plan([Change("updated", "group slo-checkout-sli (checkout.rules.yml)")])
    report = TargetReport("prometheus", "failed", plan, errors=["not in place after the push: x"])
    report.restore = Restore("the previous rules are loaded by Prometheus again", 3, problems)
    return report


def test_every_format_says_that_a_failed_push_was_restored_and_what_was_not():
    whole = restored_report()
    text = render([whole], "text", "slo push")
    assert text.splitlines()[-1] == (
        "  restored: the previous rules are loaded by Prometheus again (3 object(s) put back)"
    )
    markdown = render([whole], "markdown", "slo push")
    assert "- **restore**: restored: the previous rules are loaded by Prometheus again" in markdown
    restore = json.loads(render([whole], "json", "slo push"))["targets"][0]["restore"]
    assert restore["complete"] is True and restore["objects"] == 3 and restore["problems"] == []

    partial = restored_report((f"group x ({TERMINAL}): not as before the push",))
    lines = render([partial], "text", "slo push").splitlines()
    assert lines[-2:] == [
        "  not restored: 1 object(s) are not as before the push (3 put back)",
        "    group x (ok\\x1b[2J\\x1b[31mFAKE: all good\\x1b[0m\\r\\u202egnp.exe): not as before "
        "the push",
    ]
    restore = json.loads(render([partial], "json", "slo push"))["targets"][0]["restore"]
    assert restore["complete"] is False
    assert restore["problems"] == [f"group x ({TERMINAL}): not as before the push"]
    assert render([TargetReport("prometheus", "pushed")], "json", "x").count('"restore": null')
