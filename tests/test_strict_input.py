"""Strict input: what `slo compile` accepts is what the engines accept.

- Anchored patterns: every schema pattern and every duration means the whole value (a value
  with a trailing newline once passed `^...$` and named a rule file).

The corpus (tests/corpus) holds one case per class through the real CLI; these tests cover each
field and each rule.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from compiler.core.diagnostics import Severity
from compiler.core.durations import DurationError, parse_duration
from compiler.pipeline import load_sources

SERVICE = """\
apiVersion: slo/v1
service: checkout
team: payments
"""


def errors_of(text: str, name: str = "slo/svc.yaml") -> list[str]:
    """The error diagnostics of one spec file, as the CLI prints them."""
    _, found = load_sources([(name, text)])
    return [d.render() for d in found if d.severity >= Severity.ERROR]


def threshold(expr: str, **extra: str) -> str:
    fields = "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return (
        SERVICE
        + "thresholds:\n  - name: t\n    severity: page\n    below: 1\n"
        + f"    expr: {json.dumps(expr)}\n"
        + fields
    )


def ratio(errors: str, total: str = 'http_requests_total{job="api"}') -> str:
    return SERVICE + textwrap.dedent(
        f"""\
        slos:
          - name: s
            objective: 99.9
            indicator:
              ratio:
                errors: {json.dumps(errors)}
                total: {json.dumps(total)}
        """
    )


# --- anchored patterns ---------------------------------------------------------------------------
# One value per class of anchored field, each with a trailing newline: (spec text, the error).
ANCHORED = {
    "service name": (
        SERVICE.replace("service: checkout", 'service: "checkout\\n"'),
        '2:10: error [schema/pattern] service: "checkout\\n" is not valid',
    ),
    "team name": (
        SERVICE.replace("team: payments", 'team: "payments\\n"'),
        '3:7: error [schema/pattern] team: "payments\\n" is not valid',
    ),
    "SLO name": (
        ratio("x_total").replace("- name: s", '- name: "s\\n"'),
        '5:11: error [schema/pattern] slos[0].name: "s\\n" is not valid',
    ),
    "threshold name": (
        threshold("up").replace("- name: t", '- name: "t\\n"'),
        '5:11: error [schema/pattern] thresholds[0].name: "t\\n" is not valid',
    ),
    "label name": (
        SERVICE + 'labels: {"tier\\n": gold}\n',
        "4:10: error [schema/label-name] labels.tier\\n: label name 'tier\\n' is not valid",
    ),
    "annotation name": (
        threshold("up", annotations='{"summary\\n": x}'),
        "9:19: error [schema/label-name] thresholds[0].annotations.summary\\n: label name",
    ),
    "duration": (
        threshold("up", **{"for": '"5m\\n"'}),
        '9:10: error [schema/pattern] thresholds[0].for: "5m\\n" is not valid',
    ),
    "alert name": (
        ratio("x_total") + '    alerting: {name: "Burn\\n"}\n',
        '11:22: error [schema/pattern] slos[0].alerting.name: "Burn\\n" is not valid',
    ),
    "URL": (
        SERVICE + 'grafana_url: "https://grafana.example.com\\n"\n',
        '4:14: error [schema/pattern] grafana_url: "https://grafana.example.com\\n"',
    ),
    "Kubernetes namespace": (
        SERVICE + 'outputs: {kubernetes: {namespace: "monitoring\\n"}}\n',
        "4:35: error [schema/pattern] outputs.kubernetes.namespace",
    ),
    "Kubernetes label value": (
        SERVICE + 'outputs: {kubernetes: {labels: {team: "x\\n"}}}\n',
        "4:39: error [schema/pattern] outputs.kubernetes.labels.team",
    ),
}

ROUTING = """\
apiVersion: slo/v1
kind: Routing
global: {smtp_from: slo@example.com, smtp_smarthost: "smtp.example.com:587"}
severities:
  page: {notify: {email: {to: ops@example.com}}}
  ticket: {notify: {email: {to: ops@example.com}}}
  info: {notify: {email: {to: ops@example.com}}}
"""
ANCHORED_ROUTING = {
    "e-mail address": (
        ROUTING.replace(
            "page: {notify: {email: {to: ops@example.com}}}",
            'page: {notify: {email: {to: "ops@example.com\\n"}}}',
        ),
        "5:31: error [schema/pattern] severities.page.notify.email.to",
    ),
    "host:port": (
        ROUTING.replace('smtp.example.com:587"', 'smtp.example.com:587\\n"'),
        "3:54: error [schema/pattern] global.smtp_smarthost",
    ),
    "label name list": (
        ROUTING + 'group_by: ["alertname\\n"]\n',
        "8:12: error [schema/pattern] group_by[0]",
    ),
    "time of day": (
        ROUTING
        + 'time_intervals:\n  night: [{times: [{start_time: "00:00\\n", end_time: "06:00"}]}]\n',
        "9:33: error [schema/pattern] time_intervals.night[0].times[0].start_time",
    ),
    "objective reference": (
        ROUTING + 'dependencies: [{dependent: "checkout\\n", depends_on: [payments]}]\n',
        "8:28: error [schema/pattern] dependencies[0].dependent",
    ),
}


@pytest.mark.parametrize("case", sorted(ANCHORED) + sorted(ANCHORED_ROUTING))
def test_a_trailing_newline_is_refused_in_every_anchored_field(case):
    text, expected = ANCHORED.get(case) or ANCHORED_ROUTING[case]
    name = "slo/routing.yaml" if case in ANCHORED_ROUTING else "slo/svc.yaml"

    found = errors_of(text, name)

    assert any(line.startswith(f"{name}:{expected}") for line in found), found
    assert all("\n" not in line for line in found), "a diagnostic must stay on one line"


def test_without_the_newline_each_anchored_value_is_valid():
    """The cases above differ from schema-valid specs by the newline only."""
    for case, (text, _) in {**ANCHORED, **ANCHORED_ROUTING}.items():
        name = "slo/routing.yaml" if case in ANCHORED_ROUTING else "slo/svc.yaml"
        found = errors_of(text.replace("\\n", ""), name)
        assert not [line for line in found if "[schema/" in line], case


@pytest.mark.parametrize("text", ["1h\n", "5m\n", "١h", "1d١h", "\n1h", "1h ", "1h\r"], ids=repr)
def test_durations_are_the_whole_text_in_ascii_digits(text):
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert "\n" not in str(caught.value)


def test_a_duration_of_thousands_of_digits_is_too_long_not_a_crash():
    with pytest.raises(DurationError, match="is longer than 3650d"):
        parse_duration("9" * 5000 + "s")
