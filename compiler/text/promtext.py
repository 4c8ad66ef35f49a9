"""Text that goes into Prometheus and Alertmanager: templates and label values."""

from __future__ import annotations

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
