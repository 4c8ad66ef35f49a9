"""Valid but unusual specs compile, and their generated tests pass promtool.

The other side of the strict-input tests: input a user may well write (a BOM and CRLF from a
Windows editor, unicode, a literal ``{{`` in a description, 99.999, 1d and 365d periods, YAML
anchors, `$window` expressions, a plain-number latency threshold, forty labels) must not be
refused, and what it compiles to must load and prove itself like the examples do.
"""

from __future__ import annotations

import pytest
import yaml
from support import assert_clean, needs_promtool, slo, write_files

FORTY_LABELS = "".join(f"  l{i:02d}: v{i}\n" for i in range(40))

# Written with a byte-order mark and CRLF line ends, as some Windows editors save.
UNICODE = """\
apiVersion: slo/v1
service: baeckerei-api
team: payments
description: "Bäckerei — Brötchen 🥐, 注文 API; literal {{ $value }} and }} stay text"
labels:
  owner: "Zoë Ørsted 🚀"
  tier: "1"
slos:
  - name: availability
    objective: 99.999
    period: 1d
    description: "Orders succeed — {{ not a template }}"
    indicator:
      ratio:
        errors: http_requests_total{job="bäckerei",code=~"5.."}
        total: http_requests_total{job="bäckerei"}
  - name: latency
    objective: 99.5
    period: 7d
    indicator:
      latency:
        histogram: http_request_duration_seconds{job="bäckerei"}
        threshold: 0.25
thresholds:
  - name: queue-depth
    expr: sum(queue_depth{queue="größe"})
    above: 1000
    severity: ticket
    description: "Queue {{ größe }} is deep: ünïcödé"
"""

ANCHORED = (
    """\
apiVersion: slo/v1
service: anchored
team: platform
labels:
"""
    + FORTY_LABELS
    + """\
slos:
  - name: reads
    objective: 99.9
    alerting: &alerting
      min_events: 10
      runbook_url: https://runbooks.example.com/anchored
    indicator:
      ratio:
        errors: &errors sum by (job) (increase(http_requests_total{job="a",code=~"5.."}[$window]))
        total: &total sum by (job) (increase(http_requests_total{job="a"}[$window]))
  - name: writes
    objective: 99.95
    alerting: *alerting
    indicator:
      ratio:
        errors: *errors
        total: *total
"""
)

YEARLY = """\
apiVersion: slo/v1
service: yearly
team: platform
slos:
  - name: availability
    objective: 99.9
    period: 365d
    indicator:
      ratio:
        good: probe_success_total{job="yearly"}
        total: probe_total{job="yearly"}
"""

FILES: dict[str, str | bytes] = {
    "unicode.yaml": b"\xef\xbb\xbf" + UNICODE.replace("\n", "\r\n").encode("utf-8"),
    "anchored.yaml": ANCHORED,
    "yearly.yaml": YEARLY,
}

# A `$window` expression may compute anything from its series, so no input can be synthesised
# for it with a known error ratio: its SLOs compile, with this warning instead of tests.
UNCOVERED = "warning [tests/uncovered]"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unusual")
    specs = write_files(tmp / "slo", FILES)
    result = slo("compile", specs, "--out", tmp / "out", "--cache-dir", "")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    return tmp / "out", result.stderr.splitlines()


def test_every_unusual_spec_compiles_with_no_error(compiled):
    _, lines = compiled
    assert lines[-1] == "0 error(s), 2 warning(s)", lines
    assert all(UNCOVERED in line and "anchored.yaml" in line for line in lines[:-1]), lines


def test_what_the_unusual_specs_say_reaches_the_rules_unchanged(compiled):
    out, _ = compiled
    rules = yaml.safe_load((out / "prometheus/rules/baeckerei-api.rules.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    burn = next(a for a in alerts if a["labels"]["slo"] == "availability")
    assert burn["labels"]["owner"] == "Zoë Ørsted 🚀"  # the BOM and CRLF file read as written
    # the literal braces stay text once Prometheus expands the annotation (promtool checks it)
    assert '{{ "{{" }} not a template }}' in burn["annotations"]["description"]
    anchored = yaml.safe_load((out / "prometheus/rules/anchored.rules.yml").read_text())
    anchored_alerts = [r for g in anchored["groups"] for r in g["rules"] if "alert" in r]
    assert {a["labels"]["slo"] for a in anchored_alerts} == {"reads", "writes"}
    assert all(a["labels"]["l39"] == "v39" for a in anchored_alerts)
    assert all(  # the aliased alerting block: min_events guards both SLOs' alerts
        ">= 10" in a["expr"] for a in anchored_alerts if a["labels"]["severity"] == "page"
    )


@pytest.mark.binaries
@needs_promtool
def test_the_generated_tests_of_unusual_specs_pass(compiled):
    out, _ = compiled
    result = slo("test", "--out", out, "--no-cache", "-j", "2", "--cache-dir", "")
    assert_clean(result)
    assert result.exit_code == 0, result.output
    for name in ("baeckerei-api.burn.test.yml", "baeckerei-api.test.yml", "yearly.burn.test.yml"):
        assert f"ok     promtool test rules {out}/prometheus/tests/{name}" in result.output
