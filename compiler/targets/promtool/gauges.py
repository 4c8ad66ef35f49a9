"""Gauge values that make a threshold's expression land on either side of its threshold.

A time-slice SLO (README, "Time-slice SLOs") reads the threshold's own expression, often more
than a selector (``1 - avail / size``, ``lag and on(instance) is_replica == 1``). Its tests
need raw series that give a bad value and a good one, each close to the threshold (5% of the
crossing apart), so that a rule with the wrong comparison or value fails them. Here: one series
per selector, all with the same labels (so every vector matching matches), and a small
evaluator of the PromQL such expressions use; anything else is not synthesised (None).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import promql_parser

from compiler.core.model import Selector, TimesliceIndicator
from compiler.spec import promql
from compiler.targets.promtool.synth import matches, satisfy, selects

Labels = frozenset[tuple[str, str]]
Vector = dict[Labels, Fraction]
Value = Vector | Fraction  # a Fraction is a scalar


class Unsupported(Exception):
    """The expression uses PromQL this evaluator does not model."""


@dataclass(frozen=True)
class Input:
    metric: str
    labels: tuple[tuple[str, str], ...]  # sorted
    good: Decimal
    bad: Decimal


_ARITHMETIC: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}
_COMPARE: dict[str, Callable[[Fraction, Fraction], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
_AGGREGATE: dict[str, Callable[[list[Fraction]], Fraction]] = {
    "sum": lambda values: sum(values, Fraction(0)),
    "min": min,
    "max": max,
    "avg": lambda values: sum(values, Fraction(0)) / len(values),
    "count": lambda values: Fraction(len(values)),
}


def _key(labels: Labels, matching: object) -> Labels:
    if matching is None:
        return labels
    names = set(getattr(matching, "labels", ()))
    if str(getattr(matching, "type", "")).endswith("Include"):  # on(...)
        return frozenset((k, v) for k, v in labels if k in names)
    return frozenset((k, v) for k, v in labels if k not in names)


class Evaluator:
    """The expression's value when ``series`` hold these values (one instant)."""

    def __init__(self, series: dict[tuple[str, Labels], Fraction]):
        self.series = series

    def eval(self, node: object) -> Value:
        if isinstance(node, promql_parser.ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, promql_parser.NumberLiteral):
            return Fraction(str(node.val))
        if isinstance(node, promql_parser.VectorSelector):
            selector = promql.as_selector(node)
            if selector is None:
                raise Unsupported("offset or @")
            return {
                labels: value
                for (metric, labels), value in self.series.items()
                if selects(selector, metric, dict(labels))
            }
        if isinstance(node, promql_parser.UnaryExpr):
            inner = self.eval(node.expr)
            if isinstance(inner, Fraction):
                return -inner
            return {k: -v for k, v in inner.items()}
        if isinstance(node, promql_parser.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, promql_parser.BinaryExpr):
            return self.binary(node)
        raise Unsupported(type(node).__name__)

    def aggregate(self, node: promql_parser.AggregateExpr) -> Vector:
        op = str(node.op)
        if op not in _AGGREGATE or node.param is not None:
            raise Unsupported(op)
        inner = self.eval(node.expr)
        if isinstance(inner, Fraction):
            raise Unsupported("aggregation of a scalar")
        groups: dict[Labels, list[Fraction]] = {}
        modifier = node.modifier
        for labels, value in inner.items():
            if modifier is None:
                key: Labels = frozenset()
            else:
                names = set(modifier.labels)
                by = str(modifier.type).endswith("By")
                key = frozenset((k, v) for k, v in labels if (k in names) == by)
            groups.setdefault(key, []).append(value)
        return {key: _AGGREGATE[op](values) for key, values in groups.items()}

    def binary(self, node: promql_parser.BinaryExpr) -> Value:
        op = str(node.op)
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        modifier = node.modifier
        matching = None if modifier is None else modifier.matching
        as_bool = modifier is not None and modifier.return_bool
        if op in ("and", "or", "unless"):
            if isinstance(lhs, Fraction) or isinstance(rhs, Fraction):
                raise Unsupported("set operation on a scalar")
            keys = {_key(labels, matching) for labels in rhs}
            if op == "and":
                return {k: v for k, v in lhs.items() if _key(k, matching) in keys}
            if op == "unless":
                return {k: v for k, v in lhs.items() if _key(k, matching) not in keys}
            seen = {_key(k, matching) for k in lhs}
            return {**lhs, **{k: v for k, v in rhs.items() if _key(k, matching) not in seen}}
        if op in _ARITHMETIC:
            return combine(lhs, rhs, matching, _ARITHMETIC[op])
        if op in _COMPARE:
            test = _COMPARE[op]
            if as_bool or (isinstance(lhs, Fraction) and isinstance(rhs, Fraction)):
                return combine(lhs, rhs, matching, lambda a, b: Fraction(int(test(a, b))))
            # a filter keeps the vector's own value: the left one's, or the right one's
            keep_right = isinstance(lhs, Fraction)
            return combine(
                lhs, rhs, matching, lambda a, b: (b if keep_right else a) if test(a, b) else None
            )
        raise Unsupported(op)


def combine(
    lhs: Value, rhs: Value, matching: object, fn: Callable[[Fraction, Fraction], Fraction | None]
) -> Value:
    """``fn`` of each matching pair; a pair it gives None for is dropped (a filter)."""
    if isinstance(lhs, Fraction) and isinstance(rhs, Fraction):
        scalar = fn(lhs, rhs)
        if scalar is None:
            raise Unsupported("a filter between scalars")
        return scalar
    if isinstance(lhs, Fraction):
        assert not isinstance(rhs, Fraction)
        pairs = [(k, lhs, v) for k, v in rhs.items()]
    elif isinstance(rhs, Fraction):
        pairs = [(k, v, rhs) for k, v in lhs.items()]
    else:
        right = {_key(k, matching): v for k, v in rhs.items()}
        pairs = [
            (k, v, right[_key(k, matching)]) for k, v in lhs.items() if _key(k, matching) in right
        ]
    out: Vector = {}
    for k, a, b in pairs:
        value = fn(a, b)
        if value is not None:
            out[k] = value
    return out


def evaluate(expr: str, series: dict[tuple[str, Labels], Fraction]) -> Vector | None:
    """The series ``expr`` returns from ``series`` (None if it uses PromQL not modelled here or
    divides by zero)."""
    try:
        value = Evaluator(series).eval(promql.parse(expr))
    except (Unsupported, ZeroDivisionError):
        return None
    if isinstance(value, Fraction):
        return None
    return value


def bad(indicator: TimesliceIndicator, series: dict[tuple[str, Labels], Fraction]) -> bool | None:
    """Whether the slice with these values is bad (None: no series, the slice has no data)."""
    found = evaluate(indicator.expr, series)
    if not found:
        return None
    test = _COMPARE[indicator.op]
    return any(test(value, Fraction(indicator.value)) for value in found.values())


def _selectors(expr: str) -> list[Selector] | None:
    found: list[Selector] = []
    for node in promql.walk(promql.parse(expr)):
        if isinstance(node, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr)):
            return None  # over time: one value per instant would not say what it sees
        if isinstance(node, promql_parser.VectorSelector):
            selector = promql.as_selector(node)
            if selector is None:
                return None
            if selector not in found:
                found.append(selector)
    return found


def _nice(value: Fraction) -> Decimal:
    """Four significant digits."""
    d = Decimal(value.numerator) / Decimal(value.denominator)
    if d == 0:
        return Decimal(0)
    return +d.quantize(Decimal(1).scaleb(d.adjusted() - 3)).normalize()


def inputs(indicator: TimesliceIndicator) -> list[Input] | None:
    """One series per selector of the expression, the first one driving: a bad and a good value
    for it, about 5% either side of where the condition flips (the others at 1)."""
    selectors = _selectors(indicator.expr)
    if not selectors:
        return None
    labels = satisfy(tuple(m for s in selectors for m in s.matchers))
    if labels is None or not all(selects(s, s.metric, labels) for s in selectors):
        return None
    if any(s.metric == o.metric for i, s in enumerate(selectors) for o in selectors[:i]):
        return None  # one series would be read by two selectors
    shared: Labels = frozenset(labels.items())
    driver = selectors[0].metric

    def holds(v: Fraction) -> bool | None:
        values = {(s.metric, shared): Fraction(1) for s in selectors}
        values[(driver, shared)] = v
        return bad(indicator, values)

    crossing = _crossing(holds, Fraction(indicator.value))
    if crossing is None:
        return None
    bad_value = good_value = None
    for spread in (Fraction(1, 20), Fraction(1, 5), Fraction(1, 2)):
        step = max(abs(crossing) * spread, Fraction(1, 1000))
        for v in (_nice(crossing - step), _nice(crossing + step)):
            verdict = holds(Fraction(v))
            if verdict is True and bad_value is None:
                bad_value = v
            elif verdict is False and good_value is None:
                good_value = v
        if bad_value is not None and good_value is not None:
            break
    if bad_value is None or good_value is None:
        return None
    rest = tuple(sorted(labels.items()))
    return [Input(driver, rest, good_value, bad_value)] + [
        Input(s.metric, rest, Decimal(1), Decimal(1)) for s in selectors[1:]
    ]


def _crossing(holds: Callable[[Fraction], bool | None], value: Fraction) -> Fraction | None:
    """A value of the driving series where the condition flips, to within a millionth."""
    magnitudes = [Fraction(10) ** k for k in range(-3, 10)]
    grid = sorted(
        {Fraction(0), value, -value, 1 - value, 1 + value}
        | {sign * m for m in magnitudes for sign in (1, -1)}
        | {value * m for m in magnitudes}
    )
    verdicts = [(v, holds(v)) for v in grid]
    known = [(v, h) for v, h in verdicts if h is not None]
    # gauges are mostly positive: a crossing at 0 or above first
    pairs = itertools.chain(
        itertools.pairwise([(v, h) for v, h in known if v >= 0]),
        reversed(list(itertools.pairwise([(v, h) for v, h in known if v <= 0]))),
    )
    for (lo, lo_bad), (hi, hi_bad) in pairs:
        if lo_bad != hi_bad:
            for _ in range(60):
                mid = (lo + hi) / 2
                verdict = holds(mid)
                if verdict is None:
                    return None
                if verdict == lo_bad:
                    lo = mid
                else:
                    hi = mid
            return (lo + hi) / 2
    return None


def reads(indicator: TimesliceIndicator, metric: str, labels: dict[str, str]) -> bool:
    """Whether a series of ``metric`` with ``labels`` is selected by the expression."""
    return any(
        node.name == metric
        and all(
            matches(m, labels.get(m.name, ""))
            for m in (promql.as_selector(node) or Selector("")).matchers
        )
        for node in promql.walk(promql.parse(indicator.expr))
        if isinstance(node, promql_parser.VectorSelector)
    )
