"""How windows are built from pieces (windows.layout) and what a spec may ask of it."""

from __future__ import annotations

import textwrap

import pytest
from support import assert_clean, slo, write_files

from compiler.core import windows
from compiler.core.durations import format_duration

MINUTE, HOUR, DAY = 60, 3600, 86400
DEFAULT_WINDOWS = (5 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 6 * HOUR, DAY, 3 * DAY)


def covered(lay: windows.Layout, size: int) -> list[tuple[int, int]]:
    """The spans (start, end] before t that ``size``'s head and pieces count, in seconds ago,
    pieces expanded recursively down to raw base windows."""
    if size <= lay.base:
        return [(size, 0)]
    spans = [] if lay.current else [(lay.base, 0)]  # the current form has no separate head
    for piece in lay.pieces(size):
        spans += [
            (start + piece.offset, end + piece.offset) for start, end in covered(lay, piece.size)
        ]
    return spans


@pytest.mark.parametrize("current", [False, True], ids=["vmalert", "prometheus"])
@pytest.mark.parametrize("interval", [10, 15, 30, 60, 120, 300, 600])
def test_every_size_tiles_its_window_without_overlap_or_hole(interval, current):
    lay = windows.layout(interval, DEFAULT_WINDOWS + (12 * HOUR, 7 * DAY), current)
    assert lay.base == windows.base_window(interval)
    for size in lay.sizes:
        spans = sorted(covered(lay, size), key=lambda span: span[1])
        edge = 0
        for start, end in spans:
            assert end == edge, f"{format_duration(size)}: a hole or an overlap at {end}s ago"
            edge = start
        assert edge == size
        # every piece is read at a multiple of the interval, where a sample was recorded
        assert all(p.offset % interval == 0 for p in lay.pieces(size))


def test_sizes_come_in_dependency_order_and_stay_short():
    lay = windows.layout(60, DEFAULT_WINDOWS)
    seen = {lay.base}
    for size in lay.sizes:
        assert {p.size for p in lay.pieces(size)} <= seen
        seen.add(size)
        assert len(lay.pieces(size)) <= 4, format_duration(size)
    # what the rules record for the default tiers, and the levels a backfill goes through
    assert [format_duration(s) for s in lay.sizes] == [
        "25m", "30m", "55m", "1h", "1h55m", "2h", "5h55m", "6h", "23h55m", "1d", "2d23h55m", "3d",
    ]  # fmt: skip
    for size in lay.sizes:  # a backfill computes level by level
        assert all(lay.level(size) > lay.level(p.size) for p in lay.pieces(size))


def test_prometheus_windows_are_copies_of_one_shorter_window_recorded_before_them():
    """3d = 1d + 1d@1d + 1d@2d: 6 rules and 20 lookups for the default tiers, where the form
    that reads nothing of the same evaluation needs 12 rules and 36 lookups."""
    lay = windows.layout(60, DEFAULT_WINDOWS, current=True)
    assert [format_duration(s) for s in lay.sizes] == ["30m", "1h", "2h", "6h", "1d", "3d"]
    seen = {lay.base}
    for size in lay.sizes:
        first, *copies = lay.pieces(size)
        assert first.offset == 0 and first.size in seen
        assert all(p.size == first.size for p in copies)
        assert [p.offset for p in copies] == [k * first.size for k in range(1, len(copies) + 1)]
        assert lay.level(size) > lay.level(first.size)
        seen.add(size)
    lookups = sum(len(lay.pieces(s)) for s in lay.sizes)
    old = windows.layout(60, DEFAULT_WINDOWS)
    assert (len(lay.sizes), lookups) == (6, 20)
    assert (len(old.sizes), sum(1 + len(old.pieces(s)) for s in old.sizes)) == (12, 36)


def test_a_window_in_between_is_recorded_when_it_saves_lookups():
    # 12h from 6h: 2 copies; 1d then has a choice of 6h x4 or 12h x2 and takes 12h
    lay = windows.layout(60, (5 * MINUTE, 6 * HOUR, 12 * HOUR, DAY), current=True)
    assert [(p.size, p.offset) for p in lay.pieces(DAY)] == [(12 * HOUR, 0), (12 * HOUR, 12 * HOUR)]
    # 1h (always recorded) would be 12 copies of 5m: 15m in between makes it 3 + 4; the 1d
    # (always recorded too) from 2h would be 12: 6h in between makes it 3 + 4
    lay = windows.layout(60, (5 * MINUTE, 2 * HOUR), current=True)
    assert [format_duration(s) for s in lay.sizes] == ["15m", "1h", "2h", "6h", "1d"]
    assert [len(lay.pieces(s)) for s in lay.sizes] == [3, 4, 2, 3, 4]


def test_windows_shorter_than_the_base_are_read_raw():
    lay = windows.layout(120, (5 * MINUTE, HOUR))
    assert lay.base == 10 * MINUTE
    assert lay.raw == (5 * MINUTE, 10 * MINUTE)


def test_the_period_is_whole_weeks_then_days_ending_before_the_last_period_evaluation():
    base, group = 5 * MINUTE, 5 * MINUTE
    pieces = windows.period_pieces(30 * DAY, base, group)
    assert [p for p, _ in pieces] == ["week"] * 4 + ["day"] * 2
    assert pieces[0][1] == group and pieces[-1][1] == base + group + 29 * DAY


SPEC = """\
apiVersion: slo/v1
service: svc
team: web
evaluation_interval: {interval}
slos:
  - name: avail
    objective: 99.9
    period: {period}
    indicator:
      ratio:
        errors: http_requests_total{{code=~"5.."}}
        total: http_requests_total
    alerting:
      windows:
        - {{severity: page, long: {long}, short: 5m, budget: 2}}
"""


@pytest.mark.parametrize(
    ("values", "line"),
    [
        (
            {"interval": "7m"},
            "slo/svc.yaml:4:22: error [spec/interval] evaluation_interval: 7m is not a supported "
            "evaluation interval: use 10s to 10m, such that the smallest common multiple of it "
            "and 5m divides an hour (e.g. 15s, 30s, 1m, 2m or 5m)",
        ),
        (
            {"interval": "5s"},
            "slo/svc.yaml:4:22: error [spec/interval] evaluation_interval: 5s is not a supported "
            "evaluation interval: use 10s to 10m, such that the smallest common multiple of it "
            "and 5m divides an hour (e.g. 15s, 30s, 1m, 2m or 5m)",
        ),
        (
            {"period": "36h"},
            "slo/svc.yaml:8:13: error [spec/period] slos[0].period: 36h is not a whole number of "
            "days (the period is built from one-day pieces)",
        ),
        (
            {"interval": "2m", "long": "15m"},
            "slo/svc.yaml:14:7: error [spec/window] slos[0].alerting: the page window 15m is not "
            "a multiple of 10m, the base window at an evaluation interval of 2m",
        ),
    ],
)
def test_intervals_periods_and_windows_the_pieces_cannot_build_are_refused(tmp_path, values, line):
    fields = {"interval": "1m", "period": "30d", "long": "1h", **values}
    specs = write_files(tmp_path / "slo", {"svc.yaml": SPEC.format(**fields)})
    result = slo("compile", specs, "--out", tmp_path / "out")
    assert_clean(result)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == line, result.stderr
    assert not (tmp_path / "out").exists()


def test_a_service_at_a_2m_interval_compiles_with_a_10m_base(tmp_path):
    spec = SPEC.format(interval="2m", period="28d", long="1h")
    specs = write_files(tmp_path / "slo", {"svc.yaml": textwrap.dedent(spec)})
    result = slo("compile", specs, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    rules = (tmp_path / "out/prometheus/rules/svc.rules.yml").read_text()
    assert "interval: 2m" in rules and "[10m]))" in rules and "[1m59s999ms]" in rules
