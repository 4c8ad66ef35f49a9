"""Text from specs reaches generated files literally: never as YAML structure, PromQL or a template.

The end-to-end proofs are the golden cases tests/golden/hostile-text and hostile-labels: their
promtool unit tests expect the raw text in rendered annotations and feed input series whose label
values hold quotes, backslashes, newlines and other control characters, so promtool itself shows
that templates stay inert and selectors match those values literally (test_golden.py runs them). The
properties below check the two escaping layers underneath on any text hypothesis can think of.
"""

from __future__ import annotations

import json
import re

import promql_parser
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from support import GOLDEN

from compiler.targets.promtool import render
from compiler.text.promtext import escape_template, quote_label_value
from compiler.text.yamltext import Alias, Anchor, dump

# Any character a YAML file can carry, including C0/C1 controls, DEL, NEL, LS, PS and a BOM
# (lone surrogates cannot: no YAML reader accepts them, so no spec can contain one).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
TRICKY = st.lists(
    st.sampled_from(
        [
            "\n",
            "\r",
            "\t",
            "\x00",
            "\x7f",
            "\x85",
            "\u2028",
            "\u2029",
            "\ufeff",
            '"',
            "'",
            "\\",
            "{{",
            "}}",
            "`",
            ": ",
            " #",
            "- ",
            "é",
            "漢",
        ]
    ),
    max_size=8,
).map("".join)
TEXTS = st.one_of(ANY_TEXT, TRICKY, st.tuples(TRICKY, ANY_TEXT, TRICKY).map("".join))
PROPERTY = settings(max_examples=300, deadline=None)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@PROPERTY
@given(value=TEXTS, key=TEXTS)
def test_generated_yaml_reads_back_every_string_exactly(value, key):
    document = {"annotations": {key or "k": value}, "list": [value]}
    assert yaml.load(dump(document, "# header\n"), Loader=_Loader) == document


# Strings starting with a letter or "/" are written plain without reading them back (yamltext):
# the characters and words that could make a plain scalar read as something else.
LETTER_LED = st.tuples(
    st.sampled_from(["a", "Z", "y", "n", "N", "o", "t", "F", "/", "https://h"]),
    st.lists(
        st.sampled_from(
            list(":#-{}[],&*!|>'\"%@`?=~._ \t\\0123456789eE+") + ["ull", "es", "ff", "rue", "alse"]
        ),
        max_size=10,
    ).map("".join),
).map("".join)


@PROPERTY
@given(value=LETTER_LED)
def test_letter_or_slash_led_strings_read_back_exactly(value):
    document = {"k": value, "list": [value]}
    assert yaml.load(dump(document), Loader=_Loader) == document


@PROPERTY
@given(value=TEXTS)
def test_label_values_are_quoted_so_promql_reads_them_back_exactly(value):
    ast = promql_parser.parse(f"metric{{label={quote_label_value(value)}}}")
    (matcher,) = [m for m in ast.matchers.matchers if m.name == "label"]
    assert matcher.value == value


@PROPERTY
@given(text=TEXTS)
def test_escaped_user_text_renders_as_itself(text):
    assert render.render(escape_template(text), None, {}) == text


# --- the golden case, read back as Prometheus and promtool read it ------------------------------
HOSTILE = GOLDEN / "hostile-labels"
SELECTOR_VALUES = {"path": "a\nb", "quote": '"', "backslash": "\\", "tab": "\t", "sep": "\u2028"}


def _matchers(expr: str, metric: str) -> dict[str, str]:
    found = {}

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name == metric:
            found.update({m.name: m.value for m in node.matchers.matchers})

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def test_hostile_label_values_reach_every_selector_and_alert_literally():
    """What the spec says, character for character, in the rules' selectors and in the labels
    promtool must see on the alert (test_golden.py runs promtool on these very files)."""
    rules = yaml.load(
        (HOSTILE / "out/prometheus/rules/escapes.rules.yml").read_text("utf-8"), Loader=_Loader
    )
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    errors = next(e for e in exprs if "weird_total" in e and "5.." in e)
    assert _matchers(errors, "weird_total") == {**SELECTOR_VALUES, "code": "5.."}
    bucket = next(e for e in exprs if "weird_seconds_bucket" in e)
    assert _matchers(bucket, "weird_seconds_bucket")["path"] == "x\ny\rz"
    threshold = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "Lines")
    assert threshold["labels"]["owner"] == "ops:"
    assert threshold["labels"]["note"] == "line1\nline2\ttab\r\u2028end\x85 \x7f"

    tests = yaml.load(
        (HOSTILE / "out/prometheus/tests/escapes.test.yml").read_text("utf-8"), Loader=_Loader
    )
    fired = [
        alert
        for case in tests["tests"]
        for check in case["alert_rule_test"]
        if check["alertname"] == "Lines"
        for alert in check["exp_alerts"]
    ]
    assert fired and all(
        a["exp_labels"]["path"] == "a\nb" and a["exp_labels"]["ctl"] == "\x01" for a in fired
    )
    assert all(a["exp_annotations"]["description"] == "ends with a colon:" for a in fired)


def test_hostile_labels_reach_the_dashboards_as_valid_promql():
    dashboard = json.loads((HOSTILE / "out/grafana/dashboards/escapes.json").read_text("utf-8"))
    exprs = [
        t["expr"]
        for p in dashboard["panels"]
        for t in p.get("targets", [])
        if "weird_" in t.get("expr", "")
    ]
    assert exprs
    for expr in exprs:
        metric = next(
            m
            for m in ("weird_total", "weird_seconds_bucket", "weird_seconds_count", "weird_gauge")
            if m in expr
        )
        matchers = _matchers(re.sub(r"\$\{?__\w+\}?", "5m", expr), metric)
        assert matchers["path"] in ("a\nb", "x\ny\rz"), expr


def test_the_yaml_writer_anchors_a_repeated_string_and_single_quotes_double_quotes():
    expr = 'count by (long_window) (ALERTS{alertname="A"})'
    text = dump({"checks": [{"expr": Anchor("firing", expr)}, {"expr": Alias("firing", expr)}]})
    assert text == (
        'checks:\n- expr: &firing count by (long_window) (ALERTS{alertname="A"})\n- expr: *firing\n'
    )
    assert yaml.safe_load(text) == {"checks": [{"expr": expr}, {"expr": expr}]}
    for value in ['{a="1"}', ' "lead', 'a "b" \\d', 'it\'s "x"']:
        assert yaml.safe_load(dump({"v": value})) == {"v": value}
