"""The vmalert rules on the real engine: history imported into a fresh VictoriaMetrics, evaluated
by `vmalert -replay` of the generated replay file (recordings) and rule file (alerts).

The alert-quality scenario (99.9% over 30d; 6h healthy at 1,000 requests a minute, 15 s
scrapes; then a share r of the requests fail, one SLO per r: 100%, 10%, 2%, 0.7% and 0.5%,
which never pages; a latency SLO and a threshold beside them): every recorded window, error
ratio and the period SLI equal the exact event counts of the input, and each page fires in the
minute the exact windows first exceed both thresholds, the minute promtool's tests expect of
the Prometheus rules (they see the same exact windows: ``targets/promtool``).
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from support import GOLDEN, assert_passed, needs_victoria_metrics, servers, write_files

from compiler import compile_tree
from compiler.checks import toolrun
from compiler.core.diagnostics import CompileError
from compiler.core.durations import parse_duration

pytestmark = [pytest.mark.binaries, needs_victoria_metrics]

STEP = 15  # seconds between samples
PER_STEP = 250  # requests per sample: 1,000 a minute
ONSET = 6 * 3600
MINUTE, HOUR = 60, 3600
# share of failing requests after the onset, per SLO; 0.5% never pages (5% of the budget in 6h
# needs 0.6%)
SHARES = {
    "total": 1.0,
    "tenth": 0.1,
    "two-percent": 0.02,
    "point-seven": 0.007,
    "half-percent": 0.005,
}
# a latency SLO (99.9% of requests under 300ms) with a tenth of the requests slow
LATENCY = {"slow-tenth": 0.1}
ALL = {**SHARES, **LATENCY}
# a threshold: a queue above 100 for 5m (50 before the onset, 150 after)
QUEUE_BEFORE, QUEUE_AFTER, QUEUE_FOR = 50, 150, 5 * MINUTE
TIERS = ((HOUR, 5 * MINUTE, 0.0144), (6 * HOUR, 30 * MINUTE, 0.006))

SPEC = """\
apiVersion: slo/v1
service: det
team: core
engines: [prometheus, vmalert]
slos:
"""
SLO = """\
  - name: {name}
    objective: 99.9
    indicator:
      ratio:
        errors: http_requests_total{{job="{name}",code=~"5.."}}
        total: http_requests_total{{job="{name}"}}
    alerting:
      windows:
        - {{severity: page, long: 1h, short: 5m, budget: 2}}
        - {{severity: page, long: 6h, short: 30m, budget: 5}}
"""
LATENCY_SLO = """\
  - name: {name}
    objective: 99.9
    indicator:
      latency:
        histogram: http_request_duration_seconds{{job="{name}"}}
        threshold: 0.3
    alerting:
      windows:
        - {{severity: page, long: 1h, short: 5m, budget: 2}}
        - {{severity: page, long: 6h, short: 30m, budget: 5}}
"""
THRESHOLD = """\
thresholds:
  - name: queue
    expr: queue_depth{job="det"}
    above: 100
    for: 5m
    severity: page
"""


def counts(share: float, end: int) -> tuple[dict[int, float], dict[int, float]]:
    """(errors, total) counter values by seconds since the start, every STEP."""
    errors, total, e, n = {}, {}, 0.0, 0.0
    for t in range(0, end + 1, STEP):
        if t > 0:
            n += PER_STEP
            e += PER_STEP * share if t > ONSET else 0
        errors[t], total[t] = e, n
    return errors, total


def exact_ratio(errors: dict[int, float], total: dict[int, float], t: int, window: int) -> float:
    return (errors[t] - errors[t - window]) / (total[t] - total[t - window])


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export(server: servers.Server, match: str) -> list[dict]:
    query = urllib.parse.urlencode({"match[]": match})
    with urllib.request.urlopen(f"{server.url}/api/v1/export?{query}", timeout=60) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def replay(vm: servers.Server, groups: list[dict], work: Path, start: int, end: int) -> None:
    """Each group in a run of its own, and what it wrote made searchable before the next."""
    for n, group in enumerate(groups):
        rules = work / f"replay-{n}.yml"
        rules.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
        ran = servers.vmalert_replay(
            rules,
            vm,
            rfc3339(start),
            rfc3339(start + end),
            "-datasource.queryStep=0",
            "-replay.rulesDelay=0s",
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        servers.vm_flush(vm)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The scenario through the vmalert rules: (VictoriaMetrics, start, end, compiled files)."""
    work = tmp_path_factory.mktemp("vmalert-engine")
    spec = SPEC + "".join(SLO.format(name=name) for name in SHARES)
    spec += "".join(LATENCY_SLO.format(name=name) for name in LATENCY) + THRESHOLD
    files = compile_tree(write_files(work / "slo", {"det.yaml": spec})).artifacts
    end = ONSET + 6 * HOUR + 30 * MINUTE
    # two whole days back: vmalert replays the past only, VictoriaMetrics keeps it
    start = (int(datetime.now(UTC).timestamp()) // 86400 - 2) * 86400
    lines = []
    for name, share in SHARES.items():
        errors, total = counts(share, end)
        for t in errors:
            ms = (start + t) * 1000
            lines.append(f'http_requests_total{{job="{name}",code="500"}} {errors[t]} {ms}')
            ok = total[t] - errors[t]
            lines.append(f'http_requests_total{{job="{name}",code="200"}} {ok} {ms}')
    for name, share in LATENCY.items():
        slow, total = counts(share, end)
        for t in slow:
            ms = (start + t) * 1000
            fast = total[t] - slow[t]
            lines.append(f'http_request_duration_seconds_count{{job="{name}"}} {total[t]} {ms}')
            lines.append(
                f'http_request_duration_seconds_bucket{{job="{name}",le="0.3"}} {fast} {ms}'
            )
    for t in range(0, end + 1, STEP):
        queue = QUEUE_AFTER if t > ONSET else QUEUE_BEFORE
        lines.append(f'queue_depth{{job="det"}} {queue} {(start + t) * 1000}')
    with servers.victoria_metrics(work / "vm") as vm:
        request = urllib.request.Request(
            vm.url + "/api/v1/import/prometheus", data="\n".join(lines).encode()
        )
        urllib.request.urlopen(request, timeout=60).close()
        servers.vm_flush(vm)
        replay(vm, yaml.safe_load(files["vmalert/replay.yml"])["groups"], work, start, end)
        # the alerts of the live rule file, over the history just written
        groups = yaml.safe_load(files["vmalert/rules/det.rules.yml"])["groups"]
        alerts = [
            {**group, "rules": [r for r in group["rules"] if "alert" in r]}
            for group in groups
            if any("alert" in r for r in group["rules"])
        ]
        assert len(alerts) == 2  # the SLIs' group and the thresholds'
        replay(vm, alerts, work, start, end)
        yield vm, start, end


def test_every_window_is_the_exact_event_count(evaluated):
    vm, start, end = evaluated
    checked = 0
    for name, share in ALL.items():
        errors, total = counts(share, end)
        exact = {"errors": errors, "total": total}
        for series in export(vm, f'slo:sli_events:increase{{service="det",slo="{name}"}}'):
            labels = series["metric"]
            if labels["kind"] not in exact or labels["window"] in ("week", "period"):
                continue
            size = parse_duration(labels["window"])
            counter = exact[labels["kind"]]
            for ms, value in zip(series["timestamps"], series["values"]):
                t = ms // 1000 - start
                if t - size < 0 or t > end:
                    continue
                want = counter[t] - counter[t - size]
                assert value == pytest.approx(want, rel=1e-9, abs=1e-6), (labels, t)
                checked += 1
    assert checked > 1000


def test_pages_in_the_minute_the_exact_windows_cross(evaluated):
    """For the error-counter SLOs and the latency SLO alike."""
    vm, start, end = evaluated
    for name, share in ALL.items():
        errors, total = counts(share, end)
        expected = next(
            (
                t
                for t in range(ONSET, end + 1, MINUTE)
                if any(
                    exact_ratio(errors, total, t, long) > th
                    and exact_ratio(errors, total, t, short) > th
                    for long, short, th in TIERS
                )
            ),
            None,
        )
        firing = [
            ms // 1000 - start
            for series in export(vm, f'ALERTS{{slo="{name}",alertstate="firing"}}')
            for ms in series["timestamps"]
        ]
        first = min(firing, default=None)
        if expected is None:
            assert first is None, (name, (first - ONSET) / MINUTE)
        else:
            assert first is not None, name
            # within one evaluation interval of the exact minute
            assert abs(first - expected) <= MINUTE, (name, first - ONSET, expected - ONSET)


def test_the_period_sli_and_budget_are_exact(evaluated):
    """The period ratio reads its record one period-group interval (5m) ago, which ends one base
    window and one interval before it: the SLI of the events up to 15 minutes ago."""
    vm, start, end = evaluated
    lag = 15 * MINUTE
    for name, share in ALL.items():
        errors, total = counts(share, end)
        period = export(vm, f'slo:sli_error:ratio_period{{service="det",slo="{name}"}}')
        budget = export(vm, f'slo:error_budget_remaining:ratio{{service="det",slo="{name}"}}')
        assert period and budget, name
        for series, shape in ((period, lambda r: r), (budget, lambda r: 1 - r / 0.001)):
            points = list(zip(series[0]["timestamps"], series[0]["values"]))
            seen = 0
            for ms, value in points:
                t = ms // 1000 - start - lag
                if t <= 0 or t not in total:
                    continue
                assert value == pytest.approx(shape(errors[t] / total[t]), rel=0.01, abs=1e-9)
                seen += 1
            assert seen > 100, name


def test_the_threshold_fires_when_it_has_held_for_its_duration(evaluated):
    """Above from the first evaluation after the onset (the sample 15s after it), firing once
    that has held 5 minutes: the minute promtool gives the Prometheus rules."""
    vm, start, end = evaluated
    firing = [
        ms // 1000 - start
        for series in export(vm, 'ALERTS{alertname="Queue",alertstate="firing"}')
        for ms in series["timestamps"]
    ]
    assert firing, "the threshold never fired"
    assert min(firing) == ONSET + MINUTE + QUEUE_FOR
    assert max(firing) == end // MINUTE * MINUTE  # still above at the end


def test_vmalert_dry_run_proves_every_file_and_rejects_a_broken_one(tmp_path):
    out = Path(shutil.copytree(GOLDEN / "vmalert" / "out", tmp_path / "out"))
    assert_passed(toolrun.test_output(out, only={"vmalert", "vmalert-replay"}))
    broken = out / "vmalert" / "rules" / "search.rules.yml"
    broken.write_text(broken.read_text().replace("sum(increase(", "sum(increase((", 1))
    results = toolrun.test_output(out, only={"vmalert"})
    assert [r.ok for r in results] == [False]
    assert "search.rules.yml" in results[0].output


def test_a_service_with_thresholds_only_compiles_for_vmalert(tmp_path):
    # Its replay file has no period group: there is no SLO to build a period for.
    specs = write_files(
        tmp_path / "slo",
        {
            "disk.yaml": "apiVersion: slo/v1\nservice: disk\nteam: ops\n"
            "engines: [prometheus, vmalert]\nthresholds:\n"
            "- {name: usage, expr: 'node_disk_used_ratio', severity: ticket, above: 0.85}\n"
        },
    )
    result = compile_tree(specs)
    assert not result.diagnostics
    rules = yaml.safe_load(result.artifacts["vmalert/rules/disk.rules.yml"])
    [group] = rules["groups"]
    assert [rule["alert"] for rule in group["rules"] if "alert" in rule] == ["Usage"]


@pytest.mark.parametrize("where", ["service", "slo"])
def test_a_template_opening_in_a_recorded_label_is_refused_for_vmalert(tmp_path, where):
    # vmalert would refuse the rule file (-dryRun too); Prometheus takes it, so only with vmalert.
    label = "labels: {tier: 'a{{b'}\n"
    slo = "- name: up\n  objective: 99\n  indicator:\n    latency: {histogram: h, threshold: 1}\n"
    text = "apiVersion: slo/v1\nservice: s\nteam: t\n" + (label if where == "service" else "")
    text += "slos:\n" + slo + ("  " + label if where == "slo" else "")
    for engines, refused in (("[prometheus]", False), ("[prometheus, vmalert]", True)):
        specs = write_files(tmp_path / engines, {"s.yaml": text + f"engines: {engines}\n"})
        if refused:
            with pytest.raises(CompileError) as caught:
                compile_tree(specs)
            [line] = [d.render() for d in caught.value.diagnostics]
            assert "error [spec/vmalert-label]" in line and "labels.tier" in line, line
        else:
            assert compile_tree(specs).diagnostics == []
