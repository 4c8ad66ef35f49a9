"""A small, deterministic YAML writer for generated files.

PyYAML cannot write comments, and its choice of quoting changes with content in ways that
make diffs noisy. This writer emits block style only, keys in the order given, plain scalars
when they read back as the same string, single quotes for one line holding double quotes,
JSON-style double quotes otherwise (valid YAML), and ``|-`` blocks for multi-line text.
``Comment`` items in lists become ``# ...`` lines; ``Anchor`` and ``Alias`` values write a
repeated string once (``&name text``, then ``*name``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Plain scalars we allow: no leading indicator characters, no ': ' or ' #', no trailing space.
_PLAIN = re.compile(r"^[A-Za-z0-9_./(][^\n]*$")
_RISKY = (": ", " #", "\t")


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Anchor:
    """A one-line string written once as ``&name value``; each ``Alias`` of it as ``*name``."""

    name: str
    value: str


@dataclass(frozen=True)
class Alias:
    name: str
    value: str  # what a reader sees: the anchored string


# Characters that must not appear raw in a scalar: those outside YAML's printable set (a reader
# refuses the file), and those YAML 1.1 readers such as PyYAML take for line breaks inside a
# scalar (CR, NEL, LS, PS), which would fold into spaces. Inside double quotes they are written as
# \uXXXX escapes, which every YAML reader (Go's too) turns back into the same character.
_UNSAFE = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)


def _escape_unsafe(quoted: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


# Words YAML 1.1 reads as something other than a string; anything else made of these characters,
# starting with a letter and not ending in ':' (which would start a mapping), reads back as itself.
_SIMPLE = re.compile(r"^[A-Za-z]([A-Za-z0-9_:./-]*[A-Za-z0-9_./-])?$")
_SPECIAL = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"})
# A one-line plain scalar that gets past the checks above ends only at the line's end, and YAML
# 1.1's resolvers read one starting with a letter or "/" as a string unless it is one of those
# words: numbers, timestamps, ".inf", "~", "<<" and "=" all start otherwise. Such strings (series
# selectors, URLs, dashboard links: most of what reaches here) need no reading back to prove it.
_UNRESOLVED_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/")


@functools.lru_cache(maxsize=65536)
def _plain_ok(text: str) -> bool:
    if _SIMPLE.match(text) and text.lower() not in _SPECIAL:
        return True
    if (
        _UNSAFE.search(text)
        or not _PLAIN.match(text)
        or text != text.strip()
        or any(r in text for r in _RISKY)
        or text.endswith(":")
    ):
        return False
    if text[0] in _UNRESOLVED_START and text.lower() not in _SPECIAL:
        return True
    try:
        return bool(yaml.load(text, Loader=_Loader) == text)
    except yaml.YAMLError:
        return False


def scalar(value: Any) -> str:
    if type(value) is str:  # by far the most common case: skip the isinstance chain
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return _string(str(value))


@functools.lru_cache(maxsize=1 << 17)
def _string(text: str) -> str:
    # Generated files repeat the same keys, labels and values thousands of times: decide once.
    if text and _plain_ok(text):
        return text
    if '"' in text and "'" not in text and "\n" not in text and not _UNSAFE.search(text):
        # Single quotes keep a selector's or template's own double quotes as they are
        # ('{slo="a"}', not "{slo=\"a\"}"): nothing but a quote is special inside them.
        return f"'{text}'"
    return _escape_unsafe(json.dumps(text, ensure_ascii=False))


def _block(text: str, indent: str) -> str | None:
    """``|-`` literal block for multi-line text, when it round-trips exactly."""
    lines = text.split("\n")
    if (
        any(line != line.rstrip() or "\t" in line for line in lines)
        or not lines[0].strip()
        or lines[0][0] == " "
    ):
        return None
    if _UNSAFE.search(text) or text.endswith("\n"):
        return None
    return "|-\n" + "\n".join(f"{indent}{line}" if line else "" for line in lines)


# The writer appends finished lines to one list (joined once at the end) rather than joining
# every nested mapping into a string that its parent copies again: output is ~200 MB at 10,000 SLOs.
def _value(value: Any, indent: str, head: str, out: list[str]) -> None:
    """``head`` is the line so far (``key:`` or ``-``); append it with ``value``."""
    kind = type(value)
    if kind is str:
        if "\n" in value:
            block = _block(value, indent + "  ")
            if block:
                out.append(f"{head} {block}")
                return
        out.append(f"{head} {_string(value)}")
    elif kind is dict or (kind is not list and isinstance(value, dict)):
        if not value:
            out.append(head + " {}")
            return
        out.append(head)
        _mapping(value, indent + "  ", out)
    elif kind is list or isinstance(value, list):
        if not value:
            out.append(head + " []")
            return
        out.append(head)
        _sequence(value, indent, out)  # sequences sit at their key's indent
    elif kind is Anchor:
        out.append(f"{head} &{value.name} {_string(value.value)}")
    elif kind is Alias:
        out.append(f"{head} *{value.name}")
    else:
        out.append(f"{head} {scalar(value)}")


def _mapping(
    mapping: Mapping[Any, Any], indent: str, out: list[str], first: str | None = None
) -> None:
    """One line per key; the first line starts with ``first`` instead of the indent (``- ``
    items)."""
    prefix = indent if first is None else first
    for key, value in mapping.items():
        head = f"{prefix}{_string(key) if type(key) is str else scalar(key)}:"
        if type(value) is str and "\n" not in value:  # most lines: skip the general case's call
            out.append(f"{head} {_string(value)}")
        else:
            _value(value, indent, head, out)
        prefix = indent


def _sequence(items: list[Any], indent: str, out: list[str]) -> None:
    for item in items:
        if type(item) is str and "\n" not in item:
            out.append(f"{indent}- {_string(item)}")
        elif isinstance(item, Comment):
            out.append(f"{indent}# {item.text}")
        elif isinstance(item, dict) and item:
            _mapping(item, indent + "  ", out, first=indent + "- ")
        else:
            _value(item, indent, f"{indent}-", out)


def dump(document: Mapping[str, Any], header: str = "") -> str:
    out: list[str] = []
    _mapping(document, "", out)
    return header + "\n".join(out) + "\n"


def strip_comments(obj: Any) -> Any:
    """The data a YAML reader sees: Comment items removed (for round-trip tests)."""
    if isinstance(obj, dict):
        return {k: strip_comments(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [strip_comments(v) for v in obj if not isinstance(v, Comment)]
    if isinstance(obj, (Anchor, Alias)):
        return obj.value
    return obj
