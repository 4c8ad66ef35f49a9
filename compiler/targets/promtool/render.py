"""Render the handful of Go-template actions our generated annotations use, as Prometheus would.

Anything else inside ``{{ }}`` raises: generated tests must never guess what a template does.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from compiler.targets.promtool import humanize

_WITH_LABEL = re.compile(
    r"\{\{ with \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}(.*?)\{\{ end \}\}", re.S
)
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_LITERAL_OPEN = ' "{{" '  # {{ "{{" }} writes the text "{{", which must not read as an action
_LABEL = re.compile(r" \$labels\.([A-Za-z_][A-Za-z0-9_]*) ")  # {{ $labels.x }}: its value, as is
_VALUE_ACTIONS = {
    " $value | humanizePercentage ": humanize.humanize_percentage,
    " $value | humanizeDuration ": humanize.humanize_duration,
    " $value | humanize1024 ": humanize.humanize_1024,
    ' printf "%.4g" $value ': humanize.go_g4,
}


class UnknownAction(ValueError):
    pass


def render(template: str, value: float | None, labels: dict[str, str]) -> str:
    return bind(template, labels)(value)


def bind(template: str, labels: dict[str, str]) -> Callable[[float | None], str]:
    """``template`` with its labels filled in, as a function of ``$value``: an alert's
    annotations are rendered at every minute a test expects it, the labels always the same."""
    if "{{" not in template:  # most label values and many annotations: no action at all
        return lambda value: template

    def with_label(match: re.Match) -> str:
        label = labels.get(match.group(1), "")
        return match.group(2).replace("{{ . }}", label) if label else ""

    # literal, action, literal, ..., literal; a literal "{{" joins its neighbours
    pieces = _ACTION.split(_WITH_LABEL.sub(with_label, template))
    literals, actions = [pieces[0]], []
    for body, literal in zip(pieces[1::2], pieces[2::2]):
        label = _LABEL.fullmatch(body)
        if body == _LITERAL_OPEN:
            literals[-1] += "{{" + literal
        elif label is not None:  # "" when the alert has no such label, as in Go templates
            literals[-1] += labels.get(label.group(1), "") + literal
        elif body in _VALUE_ACTIONS:
            actions.append(_VALUE_ACTIONS[body])
            literals.append(literal)
        else:
            raise UnknownAction(f"cannot render template action {{{{{body}}}}}")
    if not actions:
        text = literals[0]
        return lambda value: text

    def rendered(value: float | None) -> str:
        if value is None:
            raise UnknownAction("template needs $value")
        out = [literals[0]]
        for action, literal in zip(actions, literals[1:]):
            out.append(action(value))
            out.append(literal)
        return "".join(out)

    return rendered
