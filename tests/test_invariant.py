"""The invariant of issue 22, property-tested: whatever `slo compile` accepts loads in every
engine, and whatever it refuses is refused cleanly.

Specs are generated from the spec grammar (the JSON Schemas and the README's spec reference):
services with ratio and latency SLOs whose selectors carry every matcher operator, regexes Go
accepts and refuses, label values with unicode, quotes, backslashes and control characters;
thresholds with expressions built from a small PromQL grammar (functions, aggregations,
subqueries, @, offset, odd numbers); labels and annotations with template-looking text; a
Routing document with teams, time intervals and dependencies. For each spec tree:

- `slo compile` exits 0: `promtool check rules` accepts every rule file (plain, and the groups
  embedded in the Kubernetes and Mimir files), `amtool check-config` the Alertmanager config
  (whose addresses, which Alertmanager expands as templates, hold no template action), and the
  Kubernetes and Mimir files have their own shapes (names and labels Kubernetes takes);
- it exits 1: every line is `file:line:col: error [area/check] message` (or `file: error [...]`
  for a whole file) and the summary, no traceback, and the output directory is untouched.

`make test` runs INVARIANT_EXAMPLES (default 50) derandomized examples: the same specs on every
run, seconds of promtool. A longer hunt, random each time (about 1 s an example):

    INVARIANT_EXAMPLES=2000 .venv/bin/python -m pytest -q -m slow tests/test_invariant.py

(the `slow` test runs only when asked for with `-m slow`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from support import (
    assert_clean,
    assert_passed,
    needs_amtool,
    needs_promtool,
    rule_checks,
    slo,
    snapshot,
    write_files,
)

from compiler.pipeline.output import MARKER, MARKER_TEXT

# --- strings -------------------------------------------------------------------------------------
NAME = st.from_regex(r"[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,3})?", fullmatch=True)
LABEL_NAME = st.one_of(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["__x", "__name__", "le", "job", "instance", "_", "A"]),
)
NASTY = [
    "",
    " ",
    "trailing ",
    "é ü 漢字 🙂",
    '"quoted"',
    "it's",
    "back\\slash",
    "`tick`",
    "{{",
    "}}",
    "{{ $value }}",
    "{{ $labels.job }}",
    "{{ .Labels.job }}",
    "{{ humanize $value }}",
    "{{ nope }}",
    "{{- /* c */ -}}",
    "$value",
    "$window",
    "100%",
    "a\nb",
    "tab\there",
    "cr\r",
    "\x7f",
    "\u2028",
    "\ufeff",
    "#not a comment",
    "key: value",
    "- item",
    "&anchor *alias",
    "null",
    "true",
    "1e3",
    "0x10",
    "\\n",
    "$1",
]
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=12),
    st.lists(st.sampled_from(NASTY), min_size=2, max_size=3).map("".join),
)
REGEX = st.one_of(
    st.sampled_from(
        [
            ".*",
            "5..",
            "a|b",
            "(?i)get",
            "[[:alpha:]]+",
            "\\p{Greek}",
            "\\d+",
            "a{1000}",
            "a{1001}",
            "(?x)a",
            "a**",
            "(?<n>a)",
            "(?P<n>a)",
            "\\C",
            "[z-a]",
            "a)|(b",
            "",
            "é+",
            "\\.",
            '"',
            "\\\\",
            "$",
            "^a$",
            "\\Qa.b\\E",
            "(?s:.)",
            "\\pL{1000}",
        ]
    ),
    st.text(alphabet="ab.*+?()[]{}|\\^$", max_size=6),
)
REGEX = st.one_of(REGEX, st.sampled_from([".*", "5..", "a|b", "é+", "(?i)x", "[0-9]+"]))
METRIC = st.one_of(
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True),
    st.sampled_from(["http_requests_total", "up", "sum", "rate", "offset", "bool", "inf", "nan"]),
)


def quoted(value: str, style: str) -> str:
    """``value`` as a PromQL string literal in one of its three quotings."""
    if style == "backtick" and "`" not in value:
        return f"`{value}`"
    if style == "single":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return json.dumps(value, ensure_ascii=False)


@st.composite
def matcher(draw) -> str:
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(REGEX if "~" in op else TEXT)
    style = draw(st.sampled_from(["double", "single", "backtick"]))
    return f"{draw(LABEL_NAME)}{op}{quoted(value, style)}"


@st.composite
def selector(draw, metric: str | None = None) -> str:
    name = metric or draw(METRIC)
    matchers = draw(st.lists(matcher(), max_size=3))
    return f"{name}{{{','.join(matchers)}}}" if matchers else name


# --- PromQL --------------------------------------------------------------------------------------
RANGE = st.sampled_from(["5m", "1h", "30s", "1d", "1h30m", "$window", "0s", "1y"])
NUMBER = st.sampled_from(["1", "0.5", "-3", "1e3", "0x1F", "Inf", "NaN", "1e400", ".5", "5m"])


def promql_expr() -> st.SearchStrategy[str]:
    leaves = st.one_of(
        selector(),
        NUMBER,
        st.builds(lambda s, r: f"rate({s}[{r}])", selector(), RANGE),
        st.builds(lambda s, r: f"max_over_time({s}[{r}])", selector(), RANGE),
        st.builds(lambda s, r: f"{s}[{r}]", selector(), RANGE),
        st.builds(lambda s, t: f"{s} @ {t}", selector(), st.sampled_from(["100", "1e19", "end()"])),
        st.builds(lambda s, r: f"{s} offset {r}", selector(), RANGE),
        st.just("vector(1)"),
        st.just("time()"),
        st.just('"a string"'),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(
                lambda a, op, b: f"{a} {op} {b}",
                inner,
                st.sampled_from(["+", "/", ">", "> bool", "and", "or", "unless", "== on(job)"]),
                inner,
            ),
            st.builds(
                lambda agg, by, e: f"{agg} {by} ({e})",
                st.sampled_from(["sum", "max", "count", "limitk", "avg"]),
                st.sampled_from(["", "by (job)", "without (instance)", "by (__x)"]),
                inner,
            ),
            st.builds(
                lambda f, e: f"{f}({e})",
                st.sampled_from(["abs", "scalar", "sort", "info", "histogram_quantile(0.9,"]),
                inner,
            ),
            st.builds(lambda e, r: f"({e})[{r}:1m]", inner, RANGE),
            st.builds(lambda e: f"({e})", inner),
        )

    return st.recursive(leaves, extend, max_leaves=4)


PROMQL = promql_expr()


# --- documents -----------------------------------------------------------------------------------
LABELS = st.dictionaries(LABEL_NAME, TEXT, max_size=3)
DURATION = st.sampled_from(["5m", "1h", "1d", "7d", "1h30m", "90s", "1w", "30s", "4h", "365d"])


@st.composite
def alerting(draw) -> dict:
    out: dict = {}
    if draw(st.booleans()):
        out["name"] = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True))
    for severity in ("page", "ticket"):
        choice = draw(st.sampled_from(["absent", "false", "extra"]))
        if choice == "false":
            out[severity] = False
        elif choice == "extra":
            out[severity] = {"labels": draw(LABELS), "annotations": draw(LABELS)}
    if draw(st.booleans()):
        out["labels"] = draw(LABELS)
    if draw(st.booleans()):
        out["annotations"] = draw(LABELS)
    if draw(st.booleans()):
        out["min_events"] = draw(st.sampled_from([1, 0.5, 100, 1e9]))
    if draw(st.booleans()):
        out["runbook_url"] = "https://runbooks.example.com/" + draw(
            st.sampled_from(["x", "a?b=c&d", "%7B%7B", "é"])
        )
    return out


@st.composite
def slo_spec(draw) -> dict:
    spec: dict = {
        "name": draw(NAME),
        "objective": draw(st.sampled_from([99.9, 99, 50, 99.999, 0.1, 90, 99.95, 1e-5])),
    }
    if draw(st.booleans()):
        spec["period"] = draw(st.sampled_from(["30d", "28d", "7d", "1d", "365d", "2w"]))
    if draw(st.booleans()):
        spec["description"] = draw(TEXT)
    if draw(st.booleans()):
        spec["labels"] = draw(LABELS)
    if draw(st.booleans()):
        metric = draw(st.sampled_from(["http_requests_total", "x:y_total", "ok"]))
        kind = draw(st.sampled_from(["errors", "good"]))
        if draw(st.booleans()):
            part = draw(selector(metric))
        else:
            part = f"sum(rate({draw(selector(metric))}[$window]))"
        spec["indicator"] = {"ratio": {kind: part, "total": draw(selector(metric))}}
    else:
        threshold = draw(
            st.one_of(st.sampled_from(["250ms", "1s", "2s", "1m"]), st.floats(0.001, 1e4))
        )
        spec["indicator"] = {
            "latency": {
                "histogram": draw(
                    selector(draw(st.sampled_from(["http_request_duration_seconds", "h"])))
                ),
                "threshold": threshold,
            }
        }
    if draw(st.booleans()):
        spec["alerting"] = draw(alerting())
    return spec


@st.composite
def threshold_spec(draw) -> dict:
    spec: dict = {
        "name": draw(NAME),
        "expr": draw(PROMQL),
        "severity": draw(st.sampled_from(["page", "ticket", "info"])),
        draw(st.sampled_from(["above", "below"])): draw(
            st.sampled_from([0, 1, -1, 0.85, 1e300, 99.999, 3])
        ),
    }
    if draw(st.booleans()):
        spec["for"] = draw(DURATION)
    if draw(st.booleans()):
        spec["unit"] = draw(st.sampled_from(["ratio", "percent", "seconds", "days", "bytes"]))
    for key in ("description", "labels", "annotations"):
        if draw(st.booleans()):
            spec[key] = draw(TEXT if key == "description" else LABELS)
    return spec


@st.composite
def service_spec(draw, name: str, team: str) -> dict:
    spec: dict = {"apiVersion": "slo/v1", "service": name, "team": team}
    if draw(st.booleans()):
        spec["description"] = draw(TEXT)
    if draw(st.booleans()):
        spec["labels"] = draw(LABELS)
    if draw(st.booleans()):
        spec["grafana_url"] = "https://grafana.example.com" + draw(st.sampled_from(["", "/", "/x"]))
    outputs = {}
    if draw(st.booleans()):
        outputs["kubernetes"] = draw(
            st.one_of(
                st.just(True),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "namespace": st.from_regex(
                            r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True
                        ),
                        "labels": st.dictionaries(
                            st.from_regex(
                                r"([a-z]{1,5}\.[a-z]{2,3}/)?[A-Za-z0-9][-A-Za-z0-9_.]{0,8}[A-Za-z0-9]",
                                fullmatch=True,
                            ),
                            st.from_regex(
                                r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?", fullmatch=True
                            ),
                            max_size=2,
                        ),
                    },
                ),
            )
        )
    if draw(st.booleans()):
        outputs["mimir"] = True
    if outputs:
        spec["outputs"] = outputs
    # vmalert alone is refused (spec/engines): drawn rarely, so most trees still compile
    both = ["prometheus", "vmalert"]
    engines = draw(st.sampled_from([None, None, both, both, both, ["vmalert"]]))
    if engines:
        spec["engines"] = engines
    names = draw(st.lists(NAME, min_size=1, max_size=3, unique=True))
    slos, thresholds = [], []
    for objective in names:
        if draw(st.booleans()):
            slos.append({**draw(slo_spec()), "name": objective})
        else:
            thresholds.append({**draw(threshold_spec()), "name": objective})
    if slos:
        spec["slos"] = slos
    if thresholds:
        spec["thresholds"] = thresholds
    return spec


EMAIL = st.sampled_from(
    [
        "ops@example.com",
        "Ops Team <ops@example.com>",
        "é@例え.jp",
        "a+b@x",
        "a{{b}}@x",
        "{{x}}<o@x>",
    ]
)


@st.composite
def notify(draw) -> dict:
    kind = draw(st.sampled_from(["email", "slack", "pagerduty"]))
    if kind == "email":
        return {"email": {"to": draw(EMAIL)}}
    if kind == "slack":
        channel = draw(st.sampled_from(["#alerts", "@me", "general", "#é-ü", "#a{{b}}"]))
        return {"slack": {"channel": channel, "api_url_file": "/etc/am/slack"}}
    return {"pagerduty": {"routing_key_file": "/etc/am/pd key"}}


@st.composite
def routing_spec(draw, services: list[dict]) -> dict:
    def policy() -> dict:
        out = {"notify": draw(notify())}
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if draw(st.booleans()):
                out[key] = draw(DURATION)
        if draw(st.booleans()):
            out["active_time_intervals"] = ["hours"]
        return out

    spec: dict = {
        "apiVersion": "slo/v1",
        "kind": "Routing",
        "global": {
            "smtp_from": "slo@example.com",
            "smtp_smarthost": "smtp.example.com:587",
            "slack_api_url_file": "/etc/am/slack",
        },
        "severities": {s: policy() for s in ("page", "ticket", "info")},
        "time_intervals": {
            "hours": [
                {
                    "times": [
                        {
                            "start_time": draw(st.sampled_from(["00:00", "09:00"])),
                            "end_time": "24:00",
                        }
                    ],
                    "weekdays": [
                        draw(st.sampled_from(["monday:friday", "sunday", "saturday:sunday"]))
                    ],
                    "location": draw(
                        st.sampled_from(["UTC", "Europe/London", "Local", "Nowhere/City"])
                    ),
                }
            ]
        },
    }
    if draw(st.booleans()):
        spec["group_by"] = draw(st.lists(LABEL_NAME, min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        spec["fallback"] = draw(st.sampled_from(["page", "ticket", "info"]))
    teams = sorted({s["team"] for s in services})
    if draw(st.booleans()):
        spec["teams"] = {team: {"page": draw(notify())} for team in teams}
    if len(services) > 1 and draw(st.booleans()):
        refs = [s["service"] for s in services]
        spec["dependencies"] = [{"dependent": refs[0], "depends_on": refs[1:]}]
        if draw(st.booleans()):
            spec["dependency_equal"] = draw(
                st.lists(LABEL_NAME, min_size=1, max_size=2, unique=True)
            )
    return spec


@st.composite
def spec_tree(draw) -> dict[str, str]:
    """{file name under slo/: YAML text}."""
    names = draw(st.lists(NAME, min_size=1, max_size=2, unique=True))
    teams = draw(st.lists(NAME, min_size=1, max_size=2))
    services = [draw(service_spec(n, teams[i % len(teams)])) for i, n in enumerate(names)]
    files = {f"{s['service']}.yaml": dump(s) for s in services}
    if draw(st.booleans()):
        files["routing.yaml"] = dump(draw(routing_spec(services)))
    return files


def dump(document: dict) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=10_000)


# --- checking one tree ---------------------------------------------------------------------------
OLD = "# from an earlier compile\ngroups: []\n"
DIAGNOSTIC = re.compile(r"slo/[^:]+\.yaml(:\d+:\d+)?: (error|warning) \[[a-z]+/[a-z0-9-]+\] \S.*")
SUMMARY = re.compile(r"\d+ error\(s\), \d+ warning\(s\)")
K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
K8S_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
K8S_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def check_tree(tmp: Path, files: dict[str, str]) -> None:
    specs = write_files(tmp / "slo", files)
    out = write_files(tmp / "out", {MARKER: MARKER_TEXT, "prometheus/rules/old.rules.yml": OLD})
    before = snapshot(tmp)

    result = slo("compile", specs, "--out", out, "--cache-dir", "")

    assert_clean(result)
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        lines = result.stderr.splitlines()
        for line in lines[:-1]:
            event(line.split("] ")[0].split("[")[-1])
        assert lines and SUMMARY.fullmatch(lines[-1]), result.stderr
        bad = [line for line in lines[:-1] if not DIAGNOSTIC.fullmatch(line)]
        assert not bad, bad
        assert any(" error [" in line for line in lines), result.stderr
        assert snapshot(tmp) == before, "a refused compile changed the output directory"
        return
    event("compiled")
    assert_passed(rule_checks([out]))
    config = out / "alertmanager" / "alertmanager.yml"
    if config.exists():
        proc = subprocess.run(
            ["amtool", "check-config", str(config)], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr + config.read_text()
        check_addresses(yaml.safe_load(config.read_text()))
    for path in sorted((out / "kubernetes").rglob("*.y*ml")):
        check_prometheus_rule(yaml.safe_load(path.read_text()))
    for path in sorted((out / "mimir").rglob("*.y*ml")):
        namespace = yaml.safe_load(path.read_text())
        assert set(namespace) == {"namespace", "groups"}, path
        assert isinstance(namespace["namespace"], str) and namespace["groups"], path


# Alertmanager expands these fields of a receiver as Go templates when it notifies: an address
# that is not a template must contain no action, or every notification to it fails.
TEMPLATED_ADDRESSES = {"slack_configs": ("channel",), "email_configs": ("to", "from")}


def check_addresses(config: dict) -> None:
    for receiver in config.get("receivers", []):
        for kind, fields in TEMPLATED_ADDRESSES.items():
            for notifier in receiver.get(kind, []):
                for key in fields:
                    assert "{{" not in str(notifier.get(key, "")), (receiver["name"], notifier)


def check_prometheus_rule(obj: dict) -> None:
    # The Prometheus Operator's PrometheusRule, or VictoriaMetrics operator's VMRule (same spec)
    assert (obj["apiVersion"], obj["kind"]) in {
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("operator.victoriametrics.com/v1beta1", "VMRule"),
    }
    metadata = obj["metadata"]
    assert len(metadata["name"]) <= 253 and K8S_NAME.fullmatch(metadata["name"]), metadata
    if "namespace" in metadata:
        assert len(metadata["namespace"]) <= 63 and K8S_NAME.fullmatch(metadata["namespace"])
    for key, value in metadata.get("labels", {}).items():
        assert K8S_LABEL_KEY.fullmatch(key) and len(key.rsplit("/", 1)[-1]) <= 63, key
        assert isinstance(value, str) and K8S_LABEL_VALUE.fullmatch(value), (key, value)
    assert isinstance(obj["spec"]["groups"], list) and obj["spec"]["groups"]


PROFILE = settings(
    max_examples=int(os.environ.get("INVARIANT_EXAMPLES", 50)),
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.binaries
@needs_promtool
@needs_amtool
@PROFILE
@given(files=spec_tree())
def test_what_compile_accepts_every_engine_loads(tmp_path_factory, files):
    check_tree(tmp_path_factory.mktemp("tree"), files)


@pytest.mark.slow
@pytest.mark.binaries
@needs_promtool
@needs_amtool
@settings(
    PROFILE,
    derandomize=False,
    max_examples=int(os.environ.get("INVARIANT_EXAMPLES", 500)),
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(files=spec_tree())
def test_what_compile_accepts_every_engine_loads_long_hunt(tmp_path_factory, files):
    check_tree(tmp_path_factory.mktemp("tree"), files)
