"""Writing backfilled series: OpenMetrics text in one file per day (`promtool tsdb
create-blocks-from openmetrics` cuts each into its 2-hour blocks: a 30-day backfill takes 30
promtool runs, not 360), those blocks, or JSON lines for VictoriaMetrics' /api/v1/import."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from compiler.backfill.history import Series
from compiler.backfill.source import BackfillError
from compiler.push.transport import PushError, Transport

BLOCK = 2 * 3600 * 1000  # ms: promtool's block range, aligned to multiples of it
FILE_SPAN = 12 * BLOCK  # ms of samples per OpenMetrics file: a day, whole blocks
IMPORT_BATCH = 8 * 1024 * 1024  # bytes of JSON lines per import request


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _timestamp(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _in_range(s: Series, start: int, end: int) -> range:
    """Indices of ``s``'s grid within [start, end)."""
    g = s.grid
    first = max(0, -((g.start - start) // g.step))
    last = min(g.count, -((g.start - end) // g.step))
    return range(first, max(first, last))


def openmetrics(series: Sequence[Series], span: int = FILE_SPAN) -> Iterator[tuple[int, str]]:
    """(start, OpenMetrics text) for every ``span`` (a multiple of the 2-hour block, aligned to
    it) that has a sample: families in name order, each series' samples in time order."""
    starts = {
        (s.grid.start + n * s.grid.step) // span * span
        for s in series
        for n in (0, s.grid.count - 1)
        if s.grid.count
    }
    if not starts:
        return
    named = sorted(
        ((dict(s.labels)["__name__"], s) for s in series), key=lambda p: p[0:1] + (p[1].labels,)
    )
    for start in range(min(starts), max(starts) + span, span):
        lines: list[str] = []
        family = ""
        for name, s in named:
            head = (
                name
                + "{"
                + ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels if k != "__name__")
                + "} "
            )
            body = [
                f"{head}{_number(value)} {_timestamp(s.grid.start + n * s.grid.step)}"
                for n in _in_range(s, start, start + span)
                if (value := s.values[n]) is not None
            ]
            if body:
                if name != family:
                    lines.append(f"# TYPE {name} gauge")
                    family = name
                lines += body
        if lines:
            yield start, "\n".join(lines) + "\n# EOF\n"


def write_openmetrics(series: Sequence[Series], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for start, text in openmetrics(series):
        path = directory / f"slo-backfill-{start // 1000}.om"
        path.write_text(text)
        files.append(path)
    return files


def create_blocks(files: Sequence[Path], output_dir: Path, promtool: str = "promtool") -> int:
    """promtool's blocks for ``files``, moved into ``output_dir`` only when every file made its
    block; returns how many blocks."""
    if shutil.which(promtool) is None:
        raise BackfillError(f"{promtool} is not installed: it writes the TSDB blocks")
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".slo-backfill-", dir=output_dir) as tmp:
        staging = Path(tmp)

        def run(path: Path) -> str:
            proc = subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), tmp],
                capture_output=True,
                text=True,
            )
            return "" if proc.returncode == 0 else f"{path.name}: {proc.stderr.strip()[-500:]}"

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            failures = [f for f in pool.map(run, files) if f]
        if failures:
            raise BackfillError("promtool could not make a block: " + failures[0])
        blocks = [p for p in staging.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for block in blocks:
            block.rename(output_dir / block.name)
    return len(blocks)


def import_lines(series: Iterable[Series]) -> Iterator[str]:
    """VictoriaMetrics JSON lines, one per series and block range. NaN (0/0) is left out, as
    MetricsQL drops it from results and vmalert records nothing."""
    for s in series:
        metric = dict(s.labels)
        for start, end in _blocks(s):
            kept = [
                (s.grid.start + n * s.grid.step, value)
                for n in _in_range(s, start, end)
                if (value := s.values[n]) is not None and math.isfinite(value)
            ]
            if kept:
                yield json.dumps(
                    {
                        "metric": metric,
                        "values": [v for _, v in kept],
                        "timestamps": [t for t, _ in kept],
                    },
                    separators=(",", ":"),
                )


def _blocks(s: Series) -> Iterator[tuple[int, int]]:
    if not s.grid.count:
        return
    first = s.grid.start // BLOCK * BLOCK
    last = s.grid.start + (s.grid.count - 1) * s.grid.step
    yield from ((t, t + BLOCK) for t in range(first, last + 1, BLOCK))


def import_victoriametrics(series: Iterable[Series], transport: Transport) -> int:
    """POST every line to /api/v1/import in batches; returns the lines sent."""
    batch: list[str] = []
    size = sent = 0

    def post() -> None:
        body = ("\n".join(batch) + "\n").encode()
        try:
            response = transport.request("POST", "/api/v1/import", data=body)
        except PushError as exc:
            raise BackfillError(f"import failed after {sent} series: {exc}") from None
        if response.status_code not in (200, 204):
            raise BackfillError(
                f"import failed after {sent} series: HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )

    for line in import_lines(series):
        batch.append(line)
        size += len(line) + 1
        if size >= IMPORT_BATCH:
            post()
            sent += len(batch)
            batch, size = [], 0
    if batch:
        post()
        sent += len(batch)
    return sent
