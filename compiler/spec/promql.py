"""PromQL in specs: parsing for diagnostics, selectors for the model, and rendering.

promql-parser reports errors without positions, so diagnostics point at the YAML value that
holds the expression and quote the parser's reason.
"""

from __future__ import annotations

from typing import SupportsInt, cast

import promql_parser

from compiler.core.model import Matcher, Selector
from compiler.text.promtext import quote_label_value

# An SLI counter that is not a plain selector may use this placeholder for the rate window.
WINDOW_PLACEHOLDER = "$window"
_PLACEHOLDER_STANDIN = "5m"


def _op_number(op: promql_parser.MatchOp) -> int:
    """MatchOp is not hashable: its operators are keyed by their integer value. (Its type stub
    calls it an Enum; it is a Rust enum, which int() converts.)"""
    return int(cast(SupportsInt, op))


_OPS = {
    _op_number(promql_parser.MatchOp.Equal): "=",
    _op_number(promql_parser.MatchOp.NotEqual): "!=",
    _op_number(promql_parser.MatchOp.Re): "=~",
    _op_number(promql_parser.MatchOp.NotRe): "!~",
}


MAX_REASON = 200  # characters of the parser's reason in a diagnostic; it may quote a whole regex


class PromQLError(ValueError):
    def __init__(self, reason: str):
        reason = " ".join(reason.split())
        super().__init__(reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "...")


def parse(text: str) -> promql_parser.Expr:
    """The AST of ``text`` (placeholders substituted); raises PromQLError with the reason."""
    try:
        return promql_parser.parse(text.replace(WINDOW_PLACEHOLDER, _PLACEHOLDER_STANDIN))
    except ValueError as exc:
        raise PromQLError(str(exc)) from None
    except BaseException as exc:  # the Rust extension can panic on odd input (pyo3 PanicException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise PromQLError(f"could not parse: {exc}") from None


def as_selector(ast: object) -> Selector | None:
    """The selector if ``ast`` is a plain instant-vector selector (no offset, no @)."""
    if (
        not isinstance(ast, promql_parser.VectorSelector)
        or ast.offset is not None
        or ast.at is not None
    ):
        return None
    name = ast.name
    matchers = []
    for m in ast.matchers.matchers:
        op = _OPS[_op_number(m.op)]
        if m.name == "__name__" and op == "=" and name is None:
            name = m.value
            continue
        matchers.append(Matcher(m.name, op, m.value))
    if not name:
        return None
    return Selector(name, tuple(matchers))


def render_selector(
    selector: Selector, metric: str | None = None, extra: tuple[Matcher, ...] = ()
) -> str:
    matchers = selector.matchers + extra
    inner = ",".join(f"{m.name}{m.op}{quote_label_value(m.value)}" for m in matchers)
    return f"{metric or selector.metric}{{{inner}}}" if inner else (metric or selector.metric)


def metric_names(ast: promql_parser.Expr) -> set[str]:
    """Names of every series an expression reads."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selector = as_selector_any(node)
            if selector:
                names.add(selector)

    promql_parser.walk(ast, visit)
    return names


def as_selector_any(node: promql_parser.VectorSelector) -> str | None:
    """The metric name ``node`` selects, however written (``x{...}`` or ``{__name__="x"}``)."""
    if node.name:
        return node.name
    for m in node.matchers.matchers:
        if m.name == "__name__" and _OPS[_op_number(m.op)] == "=":
            return m.value
    return None
