"""Calendar ranges of Alertmanager time intervals, as Alertmanager 0.25 reads them
(timeinterval.go): shared by the Routing spec's ``time_intervals`` and a service's
``maintenance`` windows, and read by the rules that gate events on a window.

Weekdays run from sunday (0) to saturday (6), months by name or 1-12, days of the month 1-31 or
-31..-1 from the end, years; a range's start may not come after its end ("saturday:sunday",
"december:january" and "2026:2025" are refused when Alertmanager loads the config).
"""

from __future__ import annotations

import calendar as pycalendar
import datetime
import zoneinfo

from compiler.core.model import Maintenance, TimeRange

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december"),
)
CALENDAR_KEYS = ("weekdays", "days_of_month", "months", "years")


def _number(key: str, part: str) -> int:
    if key == "weekdays":
        return WEEKDAYS.index(part)
    if key == "months" and part in MONTHS:
        return MONTHS.index(part) + 1
    return int(part) if part.lstrip("-").isdigit() else 0


def calendar_bounds(key: str, text: str) -> tuple[int, int]:
    """(first, last) of a valid entry of ``key``: weekdays 0-6 from sunday, months 1-12, days
    of the month as written (negative: from the end), years."""
    parts = text.lower().split(":")
    return _number(key, parts[0]), _number(key, parts[-1])


def calendar_range_problem(key: str, text: str) -> str | None:
    """Why Alertmanager refuses ``text`` as an entry of ``key`` (weekdays, days_of_month,
    months, years) of a time range, or None. The schema has checked its shape."""
    parts = text.lower().split(":")
    if key == "weekdays":
        begin, end = (WEEKDAYS.index(p) for p in (parts[0], parts[-1]))
        if begin > end:
            return f"{text}: the start day comes after the end day (weeks run sunday to saturday)"
        return None
    if key == "months":
        numbers = []
        for part in parts:
            number = (
                int(part) if part.isdigit() else MONTHS.index(part) + 1 if part in MONTHS else 0
            )
            if not 1 <= number <= 12:
                return f"{text}: '{part}' is not a month (january to december, or 1 to 12)"
            numbers.append(number)
        if numbers[0] > numbers[-1]:
            return f"{text}: the start month comes after the end month"
        return None
    if key == "years":
        if int(parts[0]) > int(parts[-1]):
            return f"{text}: the start year comes after the end year"
        return None
    begin, end = int(parts[0]), int(parts[-1])  # days_of_month
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            return f"{text}: {day} is not a day of the month (1 to 31, or -31 to -1 from the end)"
    if begin < 0 < end:
        return f"{text}: a range that starts from the end of the month must end there too"
    if (begin + 28 if begin < 0 else begin) > (end + 28 if end < 0 else end):
        return f"{text}: the end day comes before the start day"
    return None


def clock_minutes(text: str) -> int:
    """Minutes since midnight of an HH:MM clock time ("24:00" is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def location_problem(location: str) -> str | None:
    """Why Alertmanager cannot load ``location`` as a time range's time zone, or None."""
    if location in ("UTC", "Local"):
        return None
    try:
        zoneinfo.ZoneInfo(location)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"'{location}' is not an IANA time zone such as Europe/London"
    return None


def _in_range(key: str, text: str, value: int, days_in_month: int = 31) -> bool:
    first, last = calendar_bounds(key, text)
    if key == "days_of_month":
        first = first if first > 0 else days_in_month + first + 1
        last = last if last > 0 else days_in_month + last + 1
    return first <= value <= last


def range_contains(r: TimeRange, seconds: int) -> bool:
    """Whether the UTC instant ``seconds`` is inside the time range ``r`` (its location
    ignored: UTC), to the minute, as Alertmanager matches it: every field given matches."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    minute = moment.hour * 60 + moment.minute
    if r.times and not any(clock_minutes(a) <= minute < clock_minutes(b) for a, b in r.times):
        return False
    checks = (
        ("weekdays", r.weekdays, (moment.weekday() + 1) % 7),  # Python's monday 0 -> sunday 0
        ("months", r.months, moment.month),
        ("years", r.years, moment.year),
    )
    for key, entries, value in checks:
        if entries and not any(_in_range(key, e, value) for e in entries):
            return False
    if r.days_of_month:
        days = pycalendar.monthrange(moment.year, moment.month)[1]
        if not any(_in_range("days_of_month", e, moment.day, days) for e in r.days_of_month):
            return False
    return True


def window_contains(window: Maintenance, seconds: int) -> bool:
    """Whether the UTC instant ``seconds`` is inside a maintenance window."""
    if window.recurring is not None:
        return range_contains(window.recurring, seconds)
    assert window.start is not None and window.end is not None  # one-off: the builder
    return window.start <= seconds < window.end
