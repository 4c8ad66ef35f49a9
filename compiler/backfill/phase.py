"""Where inside its interval a rule group is evaluated, so that backfilled samples land on the
grid the live rules will read.

Prometheus evaluates a group at ``hash(name, file) % interval + n * interval`` (nanoseconds),
the hash being the xxHash64 of the label set {file, name} (``rules.Group.EvalTimestamp``), and
stores rule samples at those instants truncated to the millisecond. vmalert truncates its query
time to the interval: every group is at phase 0 there.
"""

from __future__ import annotations

MASK = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
SEPARATOR = b"\xff"  # between label names and values in Prometheus' label hash


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * P2) & MASK
    return (_rotl(acc, 31) * P1) & MASK


def _merge(acc: int, lane: int) -> int:
    acc ^= _round(0, lane)
    return (acc * P1 + P4) & MASK


def xxh64(data: bytes, seed: int = 0) -> int:
    """xxHash64, as github.com/cespare/xxhash computes it (seed 0)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
        while i + 32 <= n:
            for lane in range(4):
                v[lane] = _round(v[lane], int.from_bytes(data[i : i + 8], "little"))
                i += 8
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & MASK
        for lane in v:
            h = _merge(h, lane)
    else:
        h = (seed + P5) & MASK
    h = (h + n) & MASK
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * P1) & MASK
        h = (_rotl(h, 23) * P2 + P3) & MASK
        i += 4
    while i < n:
        h ^= (data[i] * P5) & MASK
        h = (_rotl(h, 11) * P1) & MASK
        i += 1
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    return h ^ (h >> 32)


def prometheus_phase(group: str, file: str, interval: int) -> int:
    """The millisecond inside ``interval`` (seconds) at which Prometheus evaluates the group
    ``group`` loaded from ``file`` (the path as Prometheus names it in /api/v1/rules)."""
    labels = b"".join(
        name + SEPARATOR + value.encode() + SEPARATOR
        for name, value in ((b"file", file), (b"name", group))
    )
    return (xxh64(labels) % (interval * 1_000_000_000)) // 1_000_000
