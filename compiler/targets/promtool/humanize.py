"""Python twins of the Prometheus template functions our annotations use.

Generated promtool tests state the exact annotation text an alert must carry, so the compiler
must render ``{{ $value | humanizePercentage }}`` and friends exactly as Prometheus 2.x does
(template/template.go). The promtool tests themselves prove these twins right.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def go_g4(value: float) -> str:
    """Go's fmt "%.4g" (same rules as Python's for finite values)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(float(value), ".4g")  # as "%.4g" % value: any number, as a float


def humanize_percentage(value: float) -> str:
    return go_g4(value * 100) + "%"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return go_g4(value)
    if value == 0:
        return go_g4(value) + "s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        v = abs(value)
        duration = int(v)
        seconds = duration % 60
        minutes = (duration // 60) % 60
        hours = (duration // 3600) % 24
        days = duration // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return f"{go_g4(value)}{prefix}s"


def humanize_1024(value: float) -> str:
    if abs(value) <= 1:
        return go_g4(value)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix = p
        value /= 1024
    return f"{go_g4(value)}{prefix}"


# unit -> how a threshold annotation shows $value (mirrors targets/prometheus.py VALUE_TEMPLATES)
RENDER: dict[str, Callable[[float], str]] = {
    "ratio": humanize_percentage,
    "percent": lambda v: go_g4(v) + "%",
    "seconds": humanize_duration,
    "days": lambda v: go_g4(v) + " days",
    "bytes": lambda v: humanize_1024(v) + "B",
    "none": go_g4,
}


def stable(render: Callable[[float], str], value: float) -> bool:
    """True when float noise of one part in 10^12 cannot change the rendered text."""
    return render(value * (1 + 1e-12)) == render(value) == render(value * (1 - 1e-12))
