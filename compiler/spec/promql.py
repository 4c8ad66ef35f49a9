"""PromQL in specs: parsing for diagnostics, selectors for the model, and rendering.

promql-parser reports errors without positions, so diagnostics point at the YAML value that
holds the expression and quote the parser's reason.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from typing import SupportsInt, cast

import promql_parser
import re2

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
    """Why an expression is refused, and the check id its diagnostic carries."""

    def __init__(self, reason: str, check: str = "promql/syntax"):
        reason = " ".join(reason.split())
        super().__init__(reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "...")
        self.check = check


def parse(text: str) -> promql_parser.Expr:
    """The AST of ``text`` (placeholders substituted); raises PromQLError with the reason.

    For expressions slo builds from checked ones. An expression a user wrote goes through
    ``parse_spec``, which also refuses what promql-parser accepts and Prometheus does not."""
    try:
        return promql_parser.parse(text.replace(WINDOW_PLACEHOLDER, _PLACEHOLDER_STANDIN))
    except ValueError as exc:
        raise PromQLError(str(exc)) from None
    except BaseException as exc:  # the Rust extension can panic on odd input (pyo3 PanicException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise PromQLError(f"could not parse: {exc}") from None


def parse_spec(text: str, *, window: bool = False) -> promql_parser.Expr:
    """The AST of an expression from a spec, checked the way Prometheus checks it.

    promql-parser follows Prometheus 3 and is laxer than the Prometheus slo writes for (2.42,
    whose promtool proves the output): it takes durations as numbers, quoted and ``or``-ed
    matchers, newer functions, regexes Go's RE2 refuses and ``@`` timestamps out of range.
    The text is checked before parsing (size and nesting: promql-parser's time grows faster
    than linearly with both), then the tree. ``window``: whether ``$window`` may stand for the
    rate window (SLI counter expressions only). Raises PromQLError with its check id."""
    _check_text(text, window)
    ast = parse(text)
    _check_tree(ast)
    return ast


def walk(ast: promql_parser.Expr) -> Iterator[promql_parser.Expr]:
    """Every node of ``ast``, parents first, in promql_parser.walk's order. That one copies
    each subtree on its way down: 400 nested levels took it a second, 400 terms of a sum 14 s;
    this takes time in proportion to the nodes."""
    pending = [ast]
    while pending:
        node = pending.pop()
        yield node
        children: list[promql_parser.Expr | None]
        if isinstance(node, promql_parser.BinaryExpr):
            children = [node.lhs, node.rhs]
        elif isinstance(node, promql_parser.AggregateExpr):
            children = [node.param, node.expr]
        elif isinstance(node, promql_parser.Call):
            children = list(node.args)
        elif isinstance(node, promql_parser.MatrixSelector):
            children = [node.vector_selector]
        elif isinstance(
            node,
            (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr),
        ):
            children = [node.expr]
        else:
            children = []
        pending.extend(reversed([c for c in children if c is not None]))


# --- limits and syntax, on the text --------------------------------------------------------
# Far beyond any hand-written expression: the largest in the examples and tests nests 7 deep
# and has 4 operators. promql-parser's parse time grows with the square of the operators (a sum
# of 1,300 terms: 1.3 s), and so did the walks over its trees before promql.walk.
MAX_NESTING = 30  # brackets (, [ and { open at once
MAX_OPERATORS = 60  # arithmetic, comparison, set operators and signs: each nests the tree
PROMETHEUS = "Prometheus 2.42"  # the oldest Prometheus whose promtool must accept the output

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<window>\$window(?![A-Za-z0-9_]))
    |(?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+(?![A-Za-z0-9_.]))
    |(?P<number>0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
    |(?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<operator>==|!=|=~|!~|>=|<=|[-+*/%^<>=@:,])
    |(?P<open>[(\[{])
    |(?P<close>[)\]}])
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ARITHMETIC = frozenset("+ - * / % ^ == != >= <= > <".split())  # `=` and `,` are not
_SET_OPERATORS = frozenset(("and", "or", "unless", "atan2"))
# Milliseconds since 1970 in an int64: what Prometheus turns an @ timestamp into. Beyond it
# Prometheus refuses the rule (from 2^63 seconds) or silently wraps around.
_MAX_AT_SECONDS = (2**63 - 1) // 1000


def _check_text(text: str, window: bool) -> None:
    open_brackets: list[str] = []
    operators = 0
    last = before_last = ""  # the two significant tokens before this one, lower case
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "space":
            continue
        token = match.group()
        inside = open_brackets[-1] if open_brackets else ""
        if kind == "open":
            open_brackets.append(token)
            if len(open_brackets) > MAX_NESTING:
                raise PromQLError(
                    f"nests more than {MAX_NESTING} brackets deep; write it as recording rules "
                    "of its parts",
                    "promql/limit",
                )
        elif kind == "close":
            if open_brackets:
                open_brackets.pop()
        elif kind == "operator" or kind == "identifier":
            word = token.lower()
            if inside != "{" and (word in _ARITHMETIC or word in _SET_OPERATORS):
                operators += 1
                if operators > MAX_OPERATORS:
                    raise PromQLError(
                        f"has more than {MAX_OPERATORS} operators; write it as recording rules "
                        "of its parts",
                        "promql/limit",
                    )
            elif inside == "{" and word == "or":
                raise PromQLError(
                    f"'or' between label matchers is not PromQL that {PROMETHEUS} accepts; "
                    "use a regex matcher or 'or' between two selectors",
                    "promql/unsupported",
                )
            if last == "@" or (last in ("-", "+") and before_last == "@"):
                _check_timestamp(token, last == "-")
        elif kind == "number":
            if last == "@" or (last in ("-", "+") and before_last == "@"):
                _check_timestamp(token, last == "-")
        elif kind == "string":
            if inside == "{" and last in ("{", ","):
                raise PromQLError(
                    f"quoted names in a selector ({token}) are not PromQL that {PROMETHEUS} "
                    "accepts",
                    "promql/unsupported",
                )
            if WINDOW_PLACEHOLDER in token:
                raise PromQLError(
                    f"{WINDOW_PLACEHOLDER} inside a string would be replaced there too; it "
                    f"stands for the rate window only, as in [{WINDOW_PLACEHOLDER}]",
                    "promql/window",
                )
        elif kind == "duration" or kind == "window":
            # Where Prometheus 2 reads a duration: a range [5m] or subquery [1h:5m], or after
            # offset (offset 5m, offset -5m).
            in_place = inside == "[" or last == "offset"
            if not in_place and not (last in ("-", "+") and before_last == "offset"):
                if kind == "duration":
                    raise PromQLError(
                        f"a duration ({token}) stands only in a range [{token}], a subquery or "
                        f"after offset in PromQL that {PROMETHEUS} accepts",
                        "promql/unsupported",
                    )
                raise PromQLError(
                    f"{WINDOW_PLACEHOLDER} stands for the rate window: use it as a range, as in "
                    f"rate(x[{WINDOW_PLACEHOLDER}])",
                    "promql/window",
                )
            if kind == "window" and not window:
                raise PromQLError(
                    f"{WINDOW_PLACEHOLDER} is only for the counters of a ratio SLI, where slo "
                    "sets the rate window; write the range here, as in [5m]",
                    "promql/window",
                )
        before_last, last = last, token.lower()


def _check_timestamp(token: str, negative: bool) -> None:
    if token.lower() in ("start", "end"):
        return
    try:
        seconds = float(int(token, 16)) if token[:2].lower() == "0x" else float(token)
    except ValueError:
        return  # not a number: the parser says why
    if not math.isfinite(seconds) or abs(seconds) > _MAX_AT_SECONDS:
        shown = f"-{token}" if negative else token
        raise PromQLError(
            f"@ {shown} is out of range: Prometheus keeps timestamps as milliseconds in 64 "
            f"bits, so an @ timestamp must lie within ±{_MAX_AT_SECONDS} seconds",
            "promql/timestamp",
        )


# --- what Prometheus checks in the tree ---------------------------------------------------
# Prometheus 2.42's functions and aggregations (promql/parser/functions.go, lex.go); promql-
# parser also knows later ones (info, limitk, sort_by_label, ...), which 2.42 refuses.
FUNCTIONS = frozenset(
    """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
    clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
    days_in_month deg delta deriv exp floor histogram_count histogram_fraction
    histogram_quantile histogram_sum holt_winters hour idelta increase irate label_join
    label_replace last_over_time ln log10 log2 max_over_time min_over_time minute month pi
    predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin
    sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
    timestamp vector year""".split()
)
AGGREGATIONS = frozenset(
    "avg bottomk count count_values group max min quantile stddev stdvar sum topk".split()
)


def _check_tree(ast: promql_parser.Expr) -> None:
    for node in walk(ast):
        if isinstance(node, promql_parser.VectorSelector):
            if getattr(node.matchers, "or_matchers", None):  # older promql-parsers lack it
                raise PromQLError(
                    f"'or' between label matchers is not PromQL that {PROMETHEUS} accepts",
                    "promql/unsupported",
                )
            for m in node.matchers.matchers:
                _check_matcher(m.name, _OPS[_op_number(m.op)], m.value)
        elif isinstance(node, promql_parser.Call) and node.func.name not in FUNCTIONS:
            raise PromQLError(
                f"function '{node.func.name}' is not known to {PROMETHEUS}",
                "promql/unsupported",
            )
        elif isinstance(node, promql_parser.AggregateExpr) and str(node.op) not in AGGREGATIONS:
            raise PromQLError(
                f"aggregation '{node.op}' is not known to {PROMETHEUS}", "promql/unsupported"
            )
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            fill = getattr(node.modifier, "fill_values", None)  # older promql-parsers lack it
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                raise PromQLError(
                    f"fill() modifiers are not PromQL that {PROMETHEUS} accepts",
                    "promql/unsupported",
                )


def _check_matcher(name: str, op: str, value: str) -> None:
    if name.startswith("__") and name != "__name__":
        raise PromQLError(
            f"label '{name}' starts with '__': Prometheus keeps such labels to itself and drops "
            "them before storing a series, so no series can match it",
            "promql/label-name",
        )
    if op in ("=~", "!~"):
        problem = regex_problem(value)
        if problem:
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise PromQLError(f"{name}{op}{quote_label_value(shown)}: {problem}", "promql/regex")


def value_type(ast: promql_parser.Expr) -> str:
    """'matrix' (a range vector), 'string', or 'instant' (an instant vector or a scalar)."""
    while isinstance(ast, promql_parser.ParenExpr):
        ast = ast.expr
    if isinstance(ast, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr)):
        return "matrix"
    if isinstance(ast, promql_parser.StringLiteral):
        return "string"
    return "instant"


# --- regexes as Go reads them ---------------------------------------------------------------
# Prometheus compiles a matcher's regex with Go's regexp, RE2's syntax, twice: "^(?:" + re + ")$"
# and the bare re (which must be valid on its own: "a)|(b" is not). promql-parser uses Rust's
# regex crate, which takes (?x), lookarounds-free extensions and repetitions Go refuses. RE2's
# own library (google-re2) parses the same grammar as Go; where the two differ, Go is stricter
# and the differences are checked here: (?<name>...) (Go 1.22+), \C (any byte), the Unicode
# scripts added after Unicode 13 (Go 1.19, which built Prometheus 2.42), and nesting (Go
# refuses ~1,000 levels; slo refuses far fewer). RE2 refuses a regex whose program passes 8 MB
# (\pL{1000}), which Go would take: too costly to run at every evaluation anyway.
MAX_REGEX_NESTING = 100
_NEWER_SCRIPTS = frozenset(
    """Cypro_Minoan Old_Uyghur Tangsa Toto Vithkuqi Kawi Nag_Mundari Garay Gurung_Khema
    Kirat_Rai Ol_Onal Sunuwar Todhri Tulu_Tigalari Beria_Erfe Sidetic Tai_Yo Tolong_Siki""".split()
)
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print each error to the process's stderr


@functools.lru_cache(maxsize=4096)
def regex_problem(regex: str) -> str | None:
    """Why Prometheus would refuse ``regex`` in a matcher, or None when it accepts it."""
    go_problem = _go_only_problem(regex)
    if go_problem:
        return go_problem
    for pattern in (regex, f"^(?:{regex})$"):
        try:
            re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else "invalid"
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            return f"not a regex Prometheus (Go's RE2) accepts: {reason}"
    return None


def _go_only_problem(regex: str) -> str | None:
    """What Go's regexp refuses and RE2's C++ library takes, found by reading ``regex``."""
    if not regex.isprintable() and any(0xD800 <= ord(c) <= 0xDFFF for c in regex):
        return "not valid UTF-8 (a lone surrogate)"
    depth = 0
    i = 0
    in_class = False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            escaped = regex[i + 1 : i + 2]
            if escaped == "Q":  # \Q...\E: literal text
                end = regex.find("\\E", i + 2)
                i = len(regex) if end < 0 else end + 2
                continue
            if escaped == "C":
                return "not a regex Prometheus accepts: Go's RE2 has no \\C"
            if escaped in ("p", "P"):
                name = regex[i + 3 : regex.find("}", i)] if regex[i + 2 : i + 3] == "{" else ""
                if name.lstrip("^") in _NEWER_SCRIPTS:
                    return f"\\{escaped}{{{name}}}: Unicode script unknown to {PROMETHEUS}"
            i += 2
            continue
        if in_class:
            if regex.startswith("[:", i):
                end = regex.find(":]", i + 2)
                i = end + 2 if end >= 0 else i + 1
                continue
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            if regex[i : i + 1] == "^":
                i += 1
            if regex[i : i + 1] == "]":  # a ] first in a class is a literal
                i += 1
            continue
        elif c == "(":
            if regex.startswith("(?<", i) and regex[i + 3 : i + 4] not in ("=", "!"):
                return "named groups are written (?P<name>...) in Go's RE2 (Prometheus)"
            depth += 1
            if depth > MAX_REGEX_NESTING:
                return f"nests more than {MAX_REGEX_NESTING} groups deep"
        elif c == ")":
            depth -= 1
        i += 1
    return None


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


def read_selector(node: promql_parser.VectorSelector) -> Selector | None:
    """What ``node`` selects, offset and @ aside: its metric name and other matchers (None
    without a metric name)."""
    name = as_selector_any(node)
    if not name:
        return None
    matchers = tuple(
        Matcher(m.name, _OPS[_op_number(m.op)], m.value)
        for m in node.matchers.matchers
        if m.name != "__name__"
    )
    return Selector(name, matchers)


def render_selector(
    selector: Selector, metric: str | None = None, extra: tuple[Matcher, ...] = ()
) -> str:
    matchers = selector.matchers + extra
    inner = ",".join(f"{m.name}{m.op}{quote_label_value(m.value)}" for m in matchers)
    return f"{metric or selector.metric}{{{inner}}}" if inner else (metric or selector.metric)


def metric_names(ast: promql_parser.Expr) -> set[str]:
    """Names of every series an expression reads."""
    names: set[str] = set()
    for node in walk(ast):
        if isinstance(node, promql_parser.VectorSelector):
            selector = as_selector_any(node)
            if selector:
                names.add(selector)
    return names


def as_selector_any(node: promql_parser.VectorSelector) -> str | None:
    """The metric name ``node`` selects, however written (``x{...}`` or ``{__name__="x"}``)."""
    if node.name:
        return node.name
    for m in node.matchers.matchers:
        if m.name == "__name__" and _OPS[_op_number(m.op)] == "=":
            return m.value
    return None


def label_losses(
    ast: promql_parser.Expr, keep: frozenset[str], per_slo_only: bool = False
) -> list[str]:
    """How ``ast`` loses a label of ``keep`` (a grouped SLO's ``by`` labels): an aggregation
    that does not group by it (or drops it by ``without``), a vector match ``on`` labels
    without it or ``ignoring`` it. ``per_slo_only``: for a generated rule serving every SLO of
    a service, where only the sums per SLO (``by (slo, ...)``) must keep them all and no match
    may ignore one; a sum without ``slo``, or a match ``on`` labels, is one SLO's own raw
    events there, judged where that SLO's raw rules are."""
    found = []
    for node in walk(ast):
        if isinstance(node, promql_parser.AggregateExpr):
            modifier = node.modifier
            if modifier is not None and modifier.type == promql_parser.AggModifierType.Without:
                lost = keep & set(modifier.labels)
            else:
                labels = set(modifier.labels) if modifier is not None else set()
                if per_slo_only and "slo" not in labels:
                    continue
                lost = keep - labels
            if lost:
                found.append(f"{node.op} drops {', '.join(sorted(lost))}")
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            matching = node.modifier.matching
            if matching is None:
                continue
            if matching.type == promql_parser.LabelModifierType.Include:
                if per_slo_only:
                    continue
                lost = keep - set(matching.labels)
            else:
                lost = keep & set(matching.labels)
            if lost:
                found.append(f"{node.op} matches across {', '.join(sorted(lost))}")
    return found


# --- counting firing alerts -------------------------------------------------------------------
# A generated test shows each alert in full (labels and rendered annotations) once; at its other
# checkpoints it says which alerts fire by counting the ALERTS series Prometheus writes for them.
ALERTS = "ALERTS"


def alert_count(by: tuple[str, ...], matchers: tuple[Matcher, ...]) -> str:
    """How many of the ALERTS series ``matchers`` select there are, per value of ``by``."""
    return f"count by ({', '.join(by)}) ({render_selector(Selector(ALERTS, matchers))})"


def firing_count(alertname: str, by: tuple[str, ...]) -> str:
    """How many alerts named ``alertname`` fire, per value of the ``by`` labels."""
    return alert_count(
        by, (Matcher("alertname", "=", alertname), Matcher("alertstate", "=", "firing"))
    )


def as_alert_count(text: str) -> tuple[tuple[str, ...], tuple[Matcher, ...]] | None:
    """(by labels, matchers) when ``text`` is ``count by (...) (ALERTS{...})`` with equality
    matchers only (the form ``alert_count`` writes, however spaced); else None."""
    try:
        ast = parse(text)
    except PromQLError:
        return None
    if (
        not isinstance(ast, promql_parser.AggregateExpr)
        or str(ast.op) != "count"
        or ast.modifier is None
        or ast.modifier.type != promql_parser.AggModifierType.By
    ):
        return None
    selector = as_selector(ast.expr)
    if selector is None or selector.metric != ALERTS:
        return None
    if any(m.op != "=" for m in selector.matchers):
        return None
    return tuple(ast.modifier.labels), selector.matchers
