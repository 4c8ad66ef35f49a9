"""The fast dashboard encoder writes exactly what json.dumps(sort_keys, indent=2) writes."""

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.text import jsontext

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40,
)


def standard(data) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_json_document_encodes_byte_for_byte_as_the_standard_library(data):
    assert jsontext.dumps(data) == standard(data)


def test_special_floats_and_unicode_are_written_as_the_standard_library_writes_them():
    data = {
        "b": [math.inf, -math.inf, math.nan, 1e300, -0.0],
        "a": 'ünïcode \u2028 "quoted" \\ \x01',
        "c": {},
        "d": [],
    }
    assert jsontext.dumps(data) == standard(data)


def test_what_the_fast_path_does_not_handle_is_left_to_the_standard_library():
    class Label(str):
        pass

    data = {"nested": {1: "integer key", 2: None}, "tuple": (1, 2), "subclass": Label("x")}
    assert jsontext.dumps(data) == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
