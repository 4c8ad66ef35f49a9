"""Render the handful of Go-template actions our generated annotations use, as Prometheus would.

Anything else inside ``{{ }}`` raises: generated tests must never guess what a template does.
"""

from __future__ import annotations

import re

from compiler.targets import humanize

_WITH_LABEL = re.compile(r"\{\{ with \$labels\.([A-Za-z_][A-Za-z0-9_]*) \}\}(.*?)\{\{ end \}\}", re.S)
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_VALUE_ACTIONS = {
    ' "{{" ': lambda v: "{{",
    " $value | humanizePercentage ": humanize.humanize_percentage,
    " $value | humanizeDuration ": humanize.humanize_duration,
    " $value | humanize1024 ": humanize.humanize_1024,
    ' printf "%.4g" $value ': humanize.go_g4,
}


class UnknownAction(ValueError):
    pass


def render(template: str, value: float | None, labels: dict[str, str]) -> str:
    def with_label(match: re.Match) -> str:
        label = labels.get(match.group(1), "")
        return match.group(2).replace("{{ . }}", label) if label else ""

    text = _WITH_LABEL.sub(with_label, template)

    def action(match: re.Match) -> str:
        body = match.group(1)
        if body not in _VALUE_ACTIONS:
            raise UnknownAction(f"cannot render template action {{{{{body}}}}}")
        if body != ' "{{" ' and value is None:
            raise UnknownAction("template needs $value")
        return _VALUE_ACTIONS[body](value)

    return _ACTION.sub(action, text)
