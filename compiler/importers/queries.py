"""PromQL from other tools' specs, turned into what an slo/v1 indicator holds.

Sloth and OpenSLO write the rate window as a Go template (``[{{.window}}]``); slo/v1 writes it
``[$window]``. When a query is just ``sum(rate(<selector>[window]))`` the selector alone is kept:
the compiler rates it itself and can then synthesise promtool tests for it.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

import promql_parser

from compiler.core.model import Matcher, Selector
from compiler.spec import promql

WINDOW_TEMPLATE = re.compile(r"\{\{\s*\.window\s*\}\}")
# Stands in for the window while parsing, so that a literal 5m in a query is never mistaken for it.
_SENTINEL = "999999s"


def has_window(text: str) -> bool:
    return bool(WINDOW_TEMPLATE.search(text))


def with_placeholder(text: str) -> str:
    """``rate(x[{{.window}}])`` -> ``rate(x[$window])``, surrounding whitespace trimmed."""
    return WINDOW_TEMPLATE.sub(promql.WINDOW_PLACEHOLDER, text.strip())


def syntax_error(text: str) -> str | None:
    """Why ``text`` (windows as templates or placeholders) is not PromQL, or None if it is."""
    try:
        promql.parse(with_placeholder(text))
    except promql.PromQLError as exc:
        return str(exc)
    return None


def _ast(text: str) -> promql_parser.Expr | None:
    try:
        return promql_parser.parse(
            WINDOW_TEMPLATE.sub(_SENTINEL, text).replace(promql.WINDOW_PLACEHOLDER, _SENTINEL)
        )
    except BaseException as exc:  # the Rust parser can panic on odd input
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return None


def _unparen(node: promql_parser.Expr) -> promql_parser.Expr:
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


def _summed(node: promql_parser.Expr) -> promql_parser.Expr:
    """The argument of a plain ``sum(...)`` (no by/without), or the node itself."""
    node = _unparen(node)
    if (
        isinstance(node, promql_parser.AggregateExpr)
        and str(node.op) == "sum"
        and node.modifier is None
    ):
        return _unparen(node.expr)
    return node


def _windowed_rate(node: promql_parser.Expr) -> Selector | None:
    node = _summed(node)
    if not (
        isinstance(node, promql_parser.Call) and node.func.name == "rate" and len(node.args) == 1
    ):
        return None
    matrix = node.args[0]
    if not isinstance(matrix, promql_parser.MatrixSelector) or matrix.range != datetime.timedelta(
        seconds=999999
    ):
        return None
    return promql.as_selector(matrix.vector_selector)


def rated_selector(text: str) -> Selector | None:
    """The selector of ``sum(rate(<selector>[window]))`` (or ``rate(...)``), else None."""
    ast = _ast(text)
    return _windowed_rate(ast) if ast is not None else None


def counter_selector(text: str) -> tuple[Selector | None, list[str]]:
    """A window-less counter query (OpenSLO style): ``x{...}`` or ``sum [by (...)] (x{...})``.

    Returns the selector and the labels of a `by`/`without` clause that slo cannot keep (it sums
    every selected series), or (None, []) for anything else."""
    ast = _ast(text)
    if ast is None:
        return None, []
    node = _unparen(ast)
    dropped: list[str] = []
    if isinstance(node, promql_parser.AggregateExpr) and str(node.op) == "sum":
        dropped = list(node.modifier.labels) if node.modifier is not None else []
        node = _unparen(node.expr)
    selector = promql.as_selector(node)
    return (selector, dropped) if selector is not None else (None, [])


def errors_as_latency(errors: str, total: str) -> tuple[Selector, Decimal] | None:
    """``sum(rate(h_count[w])) - sum(rate(h_bucket{le="x"}[w]))`` over ``sum(rate(h_count[w]))``:
    a histogram latency SLI, as (histogram selector, le bound)."""
    ast = _ast(errors)
    if ast is None:
        return None
    node = _summed(ast)
    if not (
        isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "-" and node.modifier is None
    ):
        return None
    count, bucket, denominator = (
        _windowed_rate(node.lhs),
        _windowed_rate(node.rhs),
        rated_selector(total),
    )
    if count is None or bucket is None or denominator != count:
        return None
    return histogram_latency(bucket, count)


def histogram_latency(bucket: Selector, count: Selector) -> tuple[Selector, Decimal] | None:
    """(``h_bucket{le="x",m}``, ``h_count{m}``) -> (``h{m}``, x) when they describe one
    histogram."""
    if not (bucket.metric.endswith("_bucket") and count.metric.endswith("_count")):
        return None
    base = bucket.metric[: -len("_bucket")]
    if count.metric[: -len("_count")] != base:
        return None
    les = [m for m in bucket.matchers if m.name == "le"]
    others = sorted((m for m in bucket.matchers if m.name != "le"), key=_matcher_key)
    if len(les) != 1 or les[0].op != "=" or others != sorted(count.matchers, key=_matcher_key):
        return None
    try:
        bound = Decimal(les[0].value)
    except InvalidOperation:
        return None
    if not bound.is_finite() or bound <= 0:
        return None
    return Selector(base, count.matchers), bound


def _matcher_key(m: Matcher) -> tuple[str, str, str]:
    return (m.name, m.op, m.value)


def selector_text(selector: Selector) -> str:
    return promql.render_selector(selector)
