"""Synthesise label sets that satisfy (or violate) PromQL matchers, for generated test input.

To prove the whole chain from raw counters to alert, a generated promtool test must write
input series that the user's selectors select: `code=~"5.."` needs a series with code="500".
Regexes get a shortest example from Python's own regex parser; every candidate is then checked
with a real regex match, so a wrong guess is rejected, never written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from compiler.core.model import Matcher, Selector
from compiler.text.promtext import quote_label_value

# Python's own regex parser gives us the regex's structure: the standard library has no public
# one. Its modules are re._parser and re._constants since 3.11 (the project requires 3.11); the
# old names sre_parse and sre_constants warn when imported, but they are the names typeshed
# describes them under, so the type checker reads those.
if TYPE_CHECKING:
    import sre_constants
    import sre_parse
else:
    import re._constants as sre_constants
    import re._parser as sre_parse

FALLBACKS = ("200", "ok", "x", "a", "0", "1", "")


def matches(m: Matcher, value: str) -> bool:
    if m.op == "=":
        return value == m.value
    if m.op == "!=":
        return value != m.value
    try:
        hit = re.fullmatch(m.value, value) is not None
    except re.error:
        return False
    return hit if m.op == "=~" else not hit


def regex_examples(pattern: str, limit: int = 8) -> list[str]:
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return []
    out: list[str] = []
    for variant in range(limit):
        try:
            text = _example(parsed, variant)
        except _Unsupported:
            break
        if text is not None and text not in out:
            out.append(text)
    return out


class _Unsupported(Exception):
    pass


def _example(items: sre_parse.SubPattern, variant: int) -> str:
    parts: list[str] = []
    for op, value in items.data:
        arg: Any = value  # its shape depends on op
        if op == sre_constants.LITERAL:
            parts.append(chr(arg))
        elif op == sre_constants.NOT_LITERAL:
            parts.append("a" if chr(arg) != "a" else "b")
        elif op == sre_constants.ANY:
            parts.append("0")
        elif op == sre_constants.IN:
            parts.append(_in_example(arg))
        elif op == sre_constants.BRANCH:
            branches = arg[1]
            parts.append(_example(branches[variant % len(branches)], variant // len(branches)))
        elif op == sre_constants.SUBPATTERN:
            parts.append(_example(arg[-1], variant))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, _high, sub = arg
            parts.append(_example(sub, variant) * max(low, 1 if variant else low))
        elif op == sre_constants.AT:
            continue
        else:
            raise _Unsupported(str(op))
    return "".join(parts)


def _in_example(items: list[tuple[Any, Any]]) -> str:
    if items and items[0][0] == sre_constants.NEGATE:
        excluded = {chr(a) for op, a in items[1:] if op == sre_constants.LITERAL}
        for c in "az09AZ":
            if c not in excluded:
                return c
        raise _Unsupported("negated class")
    op, arg = items[0]
    if op == sre_constants.LITERAL:
        return chr(arg)
    if op == sre_constants.RANGE:
        return chr(arg[0])
    if op == sre_constants.CATEGORY:
        name = str(arg).lower()
        return "0" if "digit" in name and "not" not in name else ("a" if "not" not in name else "-")
    raise _Unsupported(str(op))


def _candidates(constraints: Sequence[Matcher], extra: Sequence[Matcher] = ()) -> list[str]:
    found: list[str] = []
    for m in list(constraints) + list(extra):
        if m.op == "=":
            found.append(m.value)
        elif m.op == "=~":
            found.extend(regex_examples(m.value))
    found.extend(FALLBACKS)
    seen: list[str] = []
    for c in found:
        if c not in seen:
            seen.append(c)
    return seen


def satisfy(
    matchers: tuple[Matcher, ...], avoid: tuple[Matcher, ...] = ()
) -> dict[str, str] | None:
    """Labels that every matcher in ``matchers`` selects and, if ``avoid`` is given, that the
    ``avoid`` selector does not (at least one of its matchers fails). An empty value means the
    label is absent, as in Prometheus."""
    by_name: dict[str, list[Matcher]] = {}
    for m in matchers:
        by_name.setdefault(m.name, []).append(m)
    avoid_names = [m.name for m in avoid]
    labels: dict[str, str] = {}
    for name in sorted(set(by_name) | set(avoid_names)):
        own = by_name.get(name, [])
        value = next((c for c in _candidates(own) if all(matches(m, c) for m in own)), None)
        if value is None:
            return None
        labels[name] = value
    if avoid:
        if not all(matches(m, labels.get(m.name, "")) for m in avoid):
            pass  # already avoided
        else:
            for m in avoid:
                own = by_name.get(m.name, [])
                options = [
                    c
                    for c in _candidates(own, [m])
                    if all(matches(o, c) for o in own) and not matches(m, c)
                ]
                if options:
                    labels[m.name] = options[0]
                    break
            else:
                return None
    return {k: v for k, v in labels.items() if v != ""}


def selects(selector: Selector, metric: str, labels: dict[str, str]) -> bool:
    return metric == selector.metric and all(
        matches(m, labels.get(m.name, "")) for m in selector.matchers
    )


def series_text(metric: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={quote_label_value(v)}" for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"
