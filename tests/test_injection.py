"""Text from specs reaches generated files literally: never as YAML structure, PromQL or a template.

The end-to-end proof is the golden case tests/golden/hostile-text: its promtool unit tests expect
the raw text in rendered annotations and feed input series whose label values hold quotes,
backslashes, newlines and other control characters, so promtool itself shows that templates
stay inert and selectors match those values literally (test_golden.py runs them). The
properties below check the two escaping layers underneath on any text hypothesis can think of.
"""

from __future__ import annotations

import promql_parser
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.promtext import escape_template, quote_label_value
from compiler.targets import render
from compiler.targets.yamltext import dump

# Any character a YAML file can carry, including C0/C1 controls, DEL, NEL, LS, PS and a BOM
# (lone surrogates cannot: no YAML reader accepts them, so no spec can contain one).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
TRICKY = st.lists(
    st.sampled_from(["\n", "\r", "\t", "\x00", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", '"', "'", "\\", "{{", "}}", "`", ": ", " #", "- ", "é", "漢"]),
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
