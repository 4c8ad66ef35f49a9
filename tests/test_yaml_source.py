import pytest

from compiler.spec.yaml_source import (
    MAX_FILE_BYTES,
    MAX_NODES,
    DataTooLarge,
    load_data,
    load_documents,
)


def test_positions_of_values_and_keys():
    docs, diags = load_documents("f.yaml", "a: 1\nb:\n  - x: 2\n    y: [3, 4]\n")
    assert not diags
    doc = docs[0]
    assert doc.data == {"a": 1, "b": [{"x": 2, "y": [3, 4]}]}
    assert (doc.at(("b", 0, "y", 1)).line, doc.at(("b", 0, "y", 1)).col) == (4, 12)
    assert (doc.key_at(("b", 0, "y")).line, doc.key_at(("b", 0, "y")).col) == (4, 5)
    assert doc.at(("b", 0, "nope")) == doc.at(("b", 0))  # nearest existing ancestor


def test_duplicate_keys_are_errors_not_last_wins():
    docs, diags = load_documents("f.yaml", "a: 1\nb: 2\na: 3\n")
    assert [d.render() for d in diags] == [
        "f.yaml:3:1: error [yaml/duplicate-key] key 'a' appears twice in the same mapping "
        "(first at line 1)"
    ]
    assert docs[0].data == {"a": 1, "b": 2}


def test_alias_bomb_is_rejected():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    docs, diags = load_documents("bomb.yaml", "\n".join(lines))
    assert docs == [] and diags[0].check_id == "yaml/too-large"


def test_deep_nesting_and_huge_files_and_binary():
    assert (
        load_documents("d.yaml", "a: " + "[" * 200 + "]" * 200)[1][0].check_id == "yaml/too-large"
    )
    assert (
        load_documents("h.yaml", b"a: b\n" * (MAX_FILE_BYTES // 4))[1][0].check_id
        == "yaml/too-large"
    )
    assert load_documents("b.yaml", b"\x00\x01\x02")[1][0].check_id == "yaml/encoding"
    assert load_documents("u.yaml", b"a: \xff\xfe")[1][0].check_id == "yaml/encoding"


def test_syntax_error_has_a_position():
    _, diags = load_documents("s.yaml", "a: [1, 2\nb: 3\n")
    assert diags[0].render().startswith("s.yaml:2:")
    assert diags[0].check_id == "yaml/syntax"


def test_multiple_documents_and_empty_ones():
    docs, diags = load_documents("m.yaml", "---\na: 1\n---\n---\nb: 2\n")
    assert not diags and [d.data for d in docs] == [{"a": 1}, {"b": 2}]


def test_yaml_that_is_not_a_spec_has_the_specs_alias_limit():
    """A server's answer: a 324-byte bomb expands to 387 million nodes as soon as it is walked."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(DataTooLarge, match=f"more than {MAX_NODES} nodes"):
        load_data("\n".join(lines))
    with pytest.raises(DataTooLarge):
        load_data("a: &a [x, *a]\n")  # inside itself: without end
    # aliases that add little are data like any other, and "&" in a URL is no anchor
    assert load_data("a: &x {k: [1, 2]}\nb: *x\n") == {"a": {"k": [1, 2]}, "b": {"k": [1, 2]}}
    assert load_data("url: http://x/?a=1&b=2\n") == {"url": "http://x/?a=1&b=2"}
    copies = "- &g [" + ", ".join(["x"] * 99) + "]\n" + "- *g\n" * (MAX_NODES // 100 - 2)
    assert len(load_data(copies)) == MAX_NODES // 100 - 1  # just below the limit
    with pytest.raises(DataTooLarge):
        load_data(copies + "- *g\n" * 3)
