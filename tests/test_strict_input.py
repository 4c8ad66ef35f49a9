"""Strict input: what `slo compile` accepts is what the engines accept, and no input makes the
work grow faster than the input.

- Anchored patterns: every schema pattern and every duration means the whole value (a value
  with a trailing newline once passed `^...$` and named a rule file).
- PromQL that Prometheus refuses although promql-parser takes it: `__` labels in matchers,
  regexes Go's RE2 refuses, `@` out of range, newer syntax, range-vector or `$window`
  thresholds, `$window` expressions whose recorded rule is not valid.
- Limits on PromQL size, before promql-parser reads it (the rest of the bounded work is tested
  in test_hostile_inputs.py, with the cases of bench/hostile_inputs.py).

The corpus (tests/corpus) holds one case per class through the real CLI; these tests cover each
field and each rule.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import promql_parser
import pytest
from support import needs_amtool, needs_promtool

from compiler.build.routing import calendar_range_problem
from compiler.core.diagnostics import Severity
from compiler.core.durations import DurationError, parse_duration
from compiler.pipeline import load_sources
from compiler.spec import promql

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


# --- PromQL that Prometheus refuses --------------------------------------------------------------
# (expression in a threshold, check id, words of the message)
REFUSED = [
    ('up{__meta_kubernetes_pod="x"}', "promql/label-name", "starts with '__'"),
    ('up{__address__=~"x.*"}', "promql/label-name", "starts with '__'"),
    ('up{job=~"a{1001}"}', "promql/regex", "invalid repetition size"),
    ('up{job=~"(a{100}){11}"}', "promql/regex", "invalid repetition size"),
    ('up{job=~"(?x)a b"}', "promql/regex", "invalid perl operator: (?x"),
    ('up{job=~"a**"}', "promql/regex", "bad repetition operator"),
    ('up{job=~"a*+"}', "promql/regex", "bad repetition operator"),
    ('up{job!~"(?<name>a)"}', "promql/regex", "(?P<name>...)"),
    ('up{job=~"\\\\p{Vithkuqi}"}', "promql/regex", "Unicode script unknown"),
    ('up{job=~"a)|(b"}', "promql/regex", "unexpected )"),
    ('up{job=~"' + "(" * 101 + "a" + ")" * 101 + '"}', "promql/regex", "groups deep"),
    ("up @ 1e19", "promql/timestamp", "@ 1e19 is out of range"),
    ("up @ -1e19", "promql/timestamp", "@ -1e19 is out of range"),
    ("up @ -1e16", "promql/timestamp", "@ -1e16 is out of range"),
    ("rate(up[5m] @ 0x7fffffffffffffff)", "promql/timestamp", "out of range"),
    ("up > 5m", "promql/unsupported", "a duration (5m)"),
    ("vector(1h)", "promql/unsupported", "a duration (1h)"),
    ('up{job="a" or job="b"}', "promql/unsupported", "'or' between label matchers"),
    ('{"up"}', "promql/unsupported", "quoted names"),
    ('up{"job"="a"}', "promql/unsupported", "quoted names"),
    ("info(up)", "promql/unsupported", "function 'info'"),
    ("limitk(1, up)", "promql/unsupported", "aggregation 'limitk'"),
    ("up + fill(0) up", "promql/unsupported", "fill()"),
    ("rate(up[$window])", "promql/window", "only for the counters"),
    ("max_over_time(up[$window:1m])", "promql/window", "only for the counters"),
    ("max_over_time(up[5m:1m]) > 1m", "promql/unsupported", "a duration (1m)"),
    ('up{path="$window"}', "promql/window", "inside a string"),
    ("(" * 31 + "up" + ")" * 31, "promql/limit", "more than 30 brackets"),
    ("+".join(["up"] * 62), "promql/limit", "more than 60 operators"),
    ("-" * 61 + "up", "promql/limit", "more than 60 operators"),
    ("up[5m]", "spec/threshold-expr", "is a range vector"),
    ("(rate(up[5m])[30m:1m])", "spec/threshold-expr", "is a range vector"),
    ('"up"', "spec/threshold-expr", "is a string"),
]

# Refused by slo although Prometheus 2.42 loads them: its milliseconds would wrap around; 101
# nested groups are beyond any real regex.
STRICTER_THAN_PROMETHEUS = {"up @ -1e16", 'up{job=~"' + "(" * 101 + "a" + ")" * 101 + '"}'}


@pytest.mark.parametrize(("expr", "check", "words"), REFUSED, ids=[c[0][:40] for c in REFUSED])
def test_promql_prometheus_refuses_is_refused_at_its_value(expr, check, words):
    found = errors_of(threshold(expr))

    assert len(found) == 1, found
    assert found[0].startswith(f"slo/svc.yaml:8:11: error [{check}] thresholds[0].expr: "), found
    assert words in found[0]


# Unusual but valid in Prometheus 2.42: none may be refused.
ACCEPTED = [
    "up @ 1700000000",
    "up @ -100 offset -5m",
    "up @ start()",
    "rate(up[5m] @ end())",
    'up{job=~"(?i)api|web"}',
    'up{job=~"(?P<name>a)+"}',
    'up{job=~"[[:alpha:]]+\\\\p{Greek}"}',
    'up{job=~"a{1000}"}',
    'up{job=~"(?s:.)"}',
    'up{job!~""}',
    '{__name__=~"up|down"}',
    "max_over_time(up[1h:5m])",
    "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
    'label_replace(up, "a", "$1", "b", "(.*)")',
    "sum without (instance) (up) # a comment with 5m in it",
    "up > bool 1 and on (job) up",
    "(" * 30 + "up" + ")" * 30,
    "+".join(["up"] * 61),
    'up{path="/5m"}',
    "time() - 1",
]


@pytest.mark.parametrize("expr", ACCEPTED)
def test_unusual_promql_prometheus_accepts_is_accepted(expr):
    assert errors_of(threshold(expr)) == []


def promtool_check(tmp_path: Path, rules: list[dict]) -> tuple[list[Path], str]:
    """`promtool check rules` in one run on each rule in a file of its own, so that each gets a
    verdict of its own: the files, in the order of ``rules``, and promtool's output."""
    files = []
    for i, rule in enumerate(rules):
        path = tmp_path / f"{i}.yml"
        path.write_text(json.dumps({"groups": [{"name": "g", "rules": [rule]}]}))
        files.append(path)
    proc = subprocess.run(
        ["promtool", "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    return files, proc.stdout + proc.stderr


def promtool_verdicts(tmp_path: Path, exprs: list[str]) -> list[bool]:
    """Whether `promtool check rules` accepts each expression, as a recording rule of its own."""
    files, output = promtool_check(tmp_path, [{"record": "x", "expr": expr} for expr in exprs])
    return [f"Checking {path}\n  SUCCESS" in output for path in files]


@pytest.mark.binaries
@needs_promtool
def test_promtool_agrees_with_what_slo_refuses_and_accepts(tmp_path):
    """What slo refuses as Prometheus' own refusal, promtool 2.42 refuses; what slo accepts, it
    accepts. (`__` labels, the limits and $window are slo's own rules, and a few values are
    refused on purpose: STRICTER_THAN_PROMETHEUS.)"""
    prometheus_rules = ("promql/regex", "promql/timestamp", "promql/unsupported")
    refused = [
        expr
        for expr, check, _ in REFUSED
        if check in prometheus_rules and expr not in STRICTER_THAN_PROMETHEUS
    ]

    assert promtool_verdicts(tmp_path, refused) == [False] * len(refused)
    assert promtool_verdicts(tmp_path, ACCEPTED) == [True] * len(ACCEPTED)


def test_window_expressions_stand_only_where_a_range_is_written():
    assert errors_of(ratio("sum(rate(x_total{code='500'}[$window]))")) == []
    assert (
        errors_of(ratio("sum_over_time(up[$window:1m])", "count_over_time(up[$window:1m])")) == []
    )
    assert errors_of(ratio("x_total offset $window")) == []

    times = errors_of(ratio("sum(rate(x_total{code='500'}[5m])) * $window"))
    inside = errors_of(ratio("rate(x_total{path='$window'}[$window])"))

    assert times == [
        "slo/svc.yaml:9:17: error [promql/window] slos[0].indicator.ratio.errors: $window "
        "stands for the rate window: use it as a range, as in rate(x[$window])"
    ]
    assert inside[0].startswith("slo/svc.yaml:9:17: error [promql/window]")
    assert "inside a string" in inside[0]


@pytest.mark.parametrize(
    "errors",
    ["scalar(sum(rate(x_total[$window])))", "x_total[$window]", "vector(1)[$window:]"],
)
def test_a_window_expression_whose_recorded_rule_is_invalid_is_refused(errors):
    found = errors_of(ratio(errors))

    assert len(found) == 1, found
    assert found[0].startswith(
        "slo/svc.yaml:9:17: error [promql/window] slos[0].indicator.ratio.errors: with $window "
        "= 5m, the rule slo records from it is not valid PromQL"
    )


def test_selectors_of_an_slo_are_checked_too():
    found = errors_of(ratio('x_total{__tmp="1"}', 'x_total{job=~"(?=a)"}'))

    assert [line.split(" [")[1].split("]")[0] for line in found] == [
        "promql/label-name",
        "promql/syntax",  # promql-parser (Rust's regex) refuses lookaheads itself
    ]


REGEX_BATTERY = [
    *("a", "a{1000}", "a{1001}", "(?x)a", "(?i)a", "(?U)a+", "(?=a)", "(?<name>a)"),
    *("(?P<name>a)", "(a)\\1", "a*+", "a**", "a{2}{2}", "\\C", "\\Z", "\\z", "\\Qa.b\\E"),
    *("\\pL", "\\p{Greek}", "\\p{Foo}", "\\p{Toto}", "\\p{Kawi}", "[[:alpha:]]", "[[:foo:]]"),
    *("[z-a]", "\\8", "\\12", "\\x{10FFFF}", "\\x{110000}", "\\h", "a)|(b", "(a", "a)"),
    *("(?i-s:a)", "(?)", "a|", "(a{1000}){1000}", "((a{10}){10}){11}", "(x*)*", "x{,3}"),
    *("[]a]", "[^]a]", "(?P<n>a)(?P<n>b)", "(?P<>a)", "(?i-)a", "(?#c)", "\\pL{1000}"),
    "(" * 999 + "a" + ")" * 999,
    "(" * 90 + "a" + ")" * 90,
]


@pytest.mark.binaries
@needs_promtool
def test_regex_verdicts_agree_with_promtool(tmp_path):
    """Each regex of the battery in a rule file of its own: promtool (Go's regexp, as
    Prometheus 2.42 runs it) and slo say the same, except where slo is stricter on purpose
    (RE2's 8 MB program limit)."""
    verdicts = promtool_verdicts(tmp_path, [f"up{{a=~`{regex}`}}" for regex in REGEX_BATTERY])
    stricter = {"\\pL{1000}"}

    for go_accepts, regex in zip(verdicts, REGEX_BATTERY):
        slo_accepts = promql.regex_problem(regex) is None
        if regex in stricter:
            assert go_accepts and not slo_accepts
        else:
            assert go_accepts == slo_accepts, (regex[:40], promql.regex_problem(regex))


def test_regex_errors_of_re2_are_not_printed_by_the_library(capfd):
    assert promql.regex_problem("a{1001}")
    assert capfd.readouterr().err == ""


WALKED = [
    'sum by (job) (rate(x{a="b"}[5m] @ 100 offset 5m)) / on(job) group_left(x) -y',
    "max_over_time(z[5m:1m]) > bool 3 or vector(1) unless ((up))",
    'count_values("s", q) + quantile(0.5, w) + topk(3, v) + label_replace(q, "a", "b", "c", "d")',
]


@pytest.mark.parametrize("text", WALKED)
def test_walk_visits_what_promql_parser_walk_visits_in_its_order(text):
    ast = promql_parser.parse(text)
    theirs: list[str] = []
    promql_parser.walk(ast, lambda node: theirs.append(repr(node)))

    assert [repr(node) for node in promql.walk(ast)] == theirs


# --- addresses Alertmanager reads as templates ---------------------------------------------------
TEMPLATED = {
    "e-mail to": (
        ROUTING.replace(
            "to: ops@example.com}}}\n  ticket", 'to: "o{{p}}s@example.com"}}}\n  ticket'
        ),
        "5:31: error [schema/pattern] severities.page.notify.email.to",
    ),
    "e-mail with a name": (
        ROUTING.replace(
            "to: ops@example.com}}}\n  info", 'to: "{{x}} <ops@example.com>"}}}\n  info'
        ),
        "6:33: error [schema/pattern] severities.ticket.notify.email.to",
    ),
    "global smtp_from": (
        ROUTING.replace("smtp_from: slo@example.com", 'smtp_from: "slo{{a}}@example.com"'),
        "3:21: error [schema/pattern] global.smtp_from",
    ),
    "Slack channel": (
        ROUTING.replace(
            "info: {notify: {email: {to: ops@example.com}}}",
            'info: {notify: {slack: {channel: "#a{{b}}", api_url_file: /etc/am/slack}}}',
        ),
        "7:36: error [schema/pattern] severities.info.notify.slack.channel",
    ),
}


@pytest.mark.parametrize("case", sorted(TEMPLATED))
def test_an_address_alertmanager_would_expand_as_a_template_is_refused(case):
    """Alertmanager expands a Slack channel and e-mail addresses as Go templates when it
    notifies: `amtool check-config` passes, and every notification to "a{{b}}@x" fails."""
    text, expected = TEMPLATED[case]

    found = errors_of(text, "slo/routing.yaml")

    assert any(line.startswith(f"slo/routing.yaml:{expected}") for line in found), found
    assert "without '{{'" in found[0]
    assert errors_of(text.replace("{{", "{"), "slo/routing.yaml") == []


# --- time intervals as Alertmanager reads them ---------------------------------------------------
CALENDAR = {
    "weekdays": ["monday", "monday:friday", "sunday:saturday", "saturday:sunday", "friday:monday"],
    "months": ["january", "1:3", "march:1", "december:january", "foo", "13", "0", "may:12"],
    "days_of_month": ["1", "1:7", "-3:-1", "-1:-3", "7:1", "-1:1", "1:-1", "0", "32", "-7:27"],
    "years": ["2025", "2025:2026", "2026:2025"],
}


def test_calendar_ranges_of_a_time_interval_are_refused_where_alertmanager_refuses_them():
    found = errors_of(
        ROUTING
        + "time_intervals:\n  odd: [{weekdays: [saturday:sunday], months: [foo, december:1],"
        + " days_of_month: ['-1:1'], years: ['2026:2025']}]\n",
        "slo/routing.yaml",
    )

    assert [line.split(": ", 1)[1] for line in found] == [
        "error [routing/time-range] time_intervals.odd[0].weekdays[0]: saturday:sunday: the "
        "start day comes after the end day (weeks run sunday to saturday)",
        "error [routing/time-range] time_intervals.odd[0].months[0]: foo: 'foo' is not a month "
        "(january to december, or 1 to 12)",
        "error [routing/time-range] time_intervals.odd[0].months[1]: december:1: the start "
        "month comes after the end month",
        "error [routing/time-range] time_intervals.odd[0].days_of_month[0]: -1:1: a range that "
        "starts from the end of the month must end there too",
        "error [routing/time-range] time_intervals.odd[0].years[0]: 2026:2025: the start year "
        "comes after the end year",
    ]


@pytest.mark.binaries
@needs_amtool
def test_calendar_range_verdicts_agree_with_amtool(tmp_path):
    """Each entry in an Alertmanager config of its own: amtool check-config (Alertmanager
    0.25) and slo say the same of every one, but where slo is stricter on purpose."""
    cases = [(key, text) for key, texts in CALENDAR.items() for text in texts]
    files = []
    for i, (key, text) in enumerate(cases):
        config = {
            "route": {"receiver": "r"},
            "receivers": [{"name": "r"}],
            "time_intervals": [{"name": "t", "time_intervals": [{key: [text]}]}],
        }
        path = tmp_path / f"{i}.yml"
        path.write_text(json.dumps(config))
        files.append(path)
    proc = subprocess.run(
        ["amtool", "check-config", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    output = proc.stdout + proc.stderr

    # Alertmanager 0.25 takes month numbers out of range (a month that never comes); slo says so.
    stricter = {("months", "13"), ("months", "0")}
    for path, (key, text) in zip(files, cases):
        alertmanager_accepts = f"Checking '{path}'  SUCCESS" in output
        slo_accepts = calendar_range_problem(key, text) is None
        if (key, text) in stricter:
            assert alertmanager_accepts and not slo_accepts
        else:
            assert alertmanager_accepts == slo_accepts, (key, text)


# --- rule labels ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (SERVICE + "labels: {__name__: x}\n", "4:10: error [spec/reserved-label] labels.__name__"),
        (
            threshold("up", labels="{__name__: x}"),
            "9:14: error [spec/reserved-label] thresholds[0].labels.__name__",
        ),
        (
            ratio("x_total") + "    alerting: {page: {labels: {__name__: x}}}\n",
            "11:32: error [spec/reserved-label] slos[0].alerting.page.labels.__name__",
        ),
    ],
)
def test_the_series_name_label_is_refused_as_a_rule_label(spec, where):
    found = errors_of(spec)

    assert [line for line in found if line.startswith(f"slo/svc.yaml:{where}")], found


@pytest.mark.binaries
@needs_promtool
def test_promtool_refuses_the_series_name_as_a_rule_label_and_takes_other_double_underscores(
    tmp_path,
):
    rules = [
        {"alert": "A", "expr": "up", "labels": {label: "x"}} for label in ("__name__", "__tier")
    ]
    files, output = promtool_check(tmp_path, rules)

    assert "invalid label name: __name__" in output
    assert f"Checking {files[1]}\n  SUCCESS" in output
    assert errors_of(SERVICE + "labels: {__tier: x}\n") == []
