from decimal import Decimal

import pytest

from compiler.core import windows
from compiler.core.durations import DurationError, format_duration, parse_duration

DAY = 86400


def factors(period_days: int) -> list[str]:
    return [
        format(
            windows.burn_tier(spec, period_days * DAY, Decimal("0.999")).factor.normalize(), "f"
        )[:6]
        for spec in windows.scaled_tiers(period_days * DAY)
    ]


def test_30d_gives_the_workbook_factors():
    assert factors(30) == ["14.4", "6", "3", "1"]
    tiers = windows.scaled_tiers(30 * DAY)
    assert [(format_duration(t.long), format_duration(t.short)) for t in tiers] == [
        ("1h", "5m"),
        ("6h", "30m"),
        ("1d", "2h"),
        ("3d", "6h"),
    ]


def test_28d_keeps_the_windows_and_scales_the_factors():
    tiers = windows.scaled_tiers(28 * DAY)
    assert [(t.long, t.short) for t in tiers] == [(t.long, t.short) for t in windows.DEFAULT_TIERS]
    assert factors(28) == ["13.44", "5.6", "2.8", "0.9333"]


def test_short_periods_scale_windows_down_but_never_below_the_base_window():
    tiers = windows.scaled_tiers(7 * DAY)
    assert [(format_duration(t.long), format_duration(t.short)) for t in tiers] == [
        ("15m", "5m"),
        ("1h", "5m"),
        ("6h", "30m"),
        ("12h", "1h"),
    ]
    for days in (1, 2, 3, 7, 14, 28, 30, 60, 90, 365):
        for t in windows.scaled_tiers(days * DAY):
            assert windows.BASE_RATE_WINDOW <= t.short <= t.long <= days * DAY


def test_budget_share_holds_for_every_period():
    for days in (1, 7, 28, 30, 90):
        for spec in windows.scaled_tiers(days * DAY):
            tier = windows.burn_tier(spec, days * DAY, Decimal("0.99"))
            # burning at `factor` for `long` consumes exactly `budget_fraction` of the period's
            # budget
            assert tier.factor * tier.long / (days * DAY) == spec.budget_fraction


def test_unreachable_tier():
    spec = windows.DEFAULT_TIERS[0]
    assert windows.unreachable(
        windows.burn_tier(spec, 30 * DAY, Decimal("0.9"))
    )  # 14.4 * 10% > 100%
    assert not windows.unreachable(windows.burn_tier(spec, 30 * DAY, Decimal("0.95")))  # 72%


@pytest.mark.parametrize(
    "text,seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1w", 604800), ("30d", 2592000)]
)
def test_durations_round_trip(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "5", "30 days", "1m1h", "0s", "-5m", "1.5h", "5ms"])
def test_bad_durations(text):
    with pytest.raises(DurationError):
        parse_duration(text)
