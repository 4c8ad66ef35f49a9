"""Prometheus-style durations ("1h30m", "2d"), held as whole seconds."""

from __future__ import annotations

import functools
import re

from compiler.core.diagnostics import shown

UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
ORDER = ("w", "d", "h", "m", "s")
# Largest unit first, each at most once: the grammar Prometheus accepts (minus ms and y).
# Beyond any real window or delay, and far inside the ~292 years of Go's time.Duration, which
# Prometheus and Alertmanager parse durations into: a larger one would make them refuse the file.
MAX_SECONDS = 3650 * UNITS["d"]
# fullmatch and [0-9]: `$` would accept a trailing newline ("1h\n"), and `\d` any Unicode digit
# (an Arabic-Indic one, which int() reads too): Prometheus refuses both.
_PATTERN = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises DurationError with a reason a user can act on."""
    if not isinstance(text, str) or not text:
        raise DurationError("expected a duration such as 30s, 5m, 1h or 30d")
    match = _PATTERN.fullmatch(text)
    if not match or not any(match.groups()):
        raise DurationError(
            f"'{shown(text, 40)}' is not a duration: use a number followed by w, d, h, m or s, "
            "largest unit first (e.g. 1h30m)"
        )
    # A number of more than 15 digits is beyond MAX_SECONDS in any unit, and int() refuses one
    # of more than 4,300 digits with a ValueError: such a duration is only too long.
    parts = [(n, u) for n, u in zip(match.groups(), ORDER) if n]
    seconds = sum(int(n) * UNITS[u] if len(n) <= 15 else MAX_SECONDS + 1 for n, u in parts)
    if seconds <= 0:
        raise DurationError(f"'{shown(text, 40)}' must be longer than zero")
    if seconds > MAX_SECONDS:
        raise DurationError(
            f"'{shown(text, 40)}' is longer than {format_duration(MAX_SECONDS)}, the longest "
            "duration slo accepts"
        )
    return seconds


@functools.lru_cache(maxsize=1024)
def format_duration(seconds: int) -> str:
    """Canonical short form: 5m, 1h, 1d, 3d, 1h30m. Weeks are written as days (30d, not 4w2d)."""
    if seconds <= 0:
        raise ValueError("durations are positive")
    parts = []
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, UNITS[unit])
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)
