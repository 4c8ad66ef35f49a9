"""Text that goes into Prometheus and Alertmanager: templates, label values and numbers."""

from __future__ import annotations

from decimal import Decimal

from compiler.core import conventions as names

TEMPLATE_OPEN = "{{"
# Go text/template prints a string literal as itself, so this renders "{{" and nothing else.
ESCAPED_OPEN = '{{ "{{" }}'


def escape_template(text: str) -> str:
    """Make user text inert in a Go template: every ``{{`` is printed, never executed.

    A lone ``}}`` outside an action is already literal, so only openings need escaping.
    """
    return text.replace(TEMPLATE_OPEN, ESCAPED_OPEN)


def quote_label_value(value: str) -> str:
    """A PromQL double-quoted string literal for ``value``."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def go_float(value: Decimal) -> str:
    """``value`` as a Go client library prints a float label value (a histogram's ``le``)."""
    text = repr(float(value))  # shortest round-trip, like Go's strconv 'g' -1 for ordinary sizes
    return text[:-2] if text.endswith(".0") else text


def python_float(value: Decimal) -> str:
    """``value`` as the Python client library prints a float label value."""
    return repr(float(value))


def format_threshold(value: Decimal, unit: str) -> str:
    """A threshold as a person reads it, in alerts and on dashboards: 0.85 ratio -> 85%,
    7 days -> 7 days."""
    if unit == "ratio":
        return f"{names.number(value * 100)}%"
    if unit == "percent":
        return f"{names.number(value)}%"
    if unit == "seconds":
        return f"{names.number(value)}s"
    if unit == "days":
        return f"{names.number(value)} days"
    if unit == "bytes":
        return f"{names.number(value)} bytes"
    return names.number(value)
