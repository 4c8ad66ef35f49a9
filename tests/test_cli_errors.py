"""Bad input gets clear diagnostics: exit code 1, exact `file:line:col: error [check] message`
lines on stderr, no traceback, and the output directory left exactly as it was.

Each case is a spec tree written under ``<tmp>/slo`` and compiled with
``slo compile <tmp>/slo --out <tmp>/out``. The expected stderr is the full list of diagnostic
lines followed by the ``N error(s), M warning(s)`` summary, so nothing else may be printed.

"""

from __future__ import annotations

import textwrap

import pytest
from support import assert_clean, slo, snapshot, write_files

# click >= 8.2 removed CliRunner(mix_stderr=...): stdout and stderr are always captured
# separately (result.stdout / result.stderr) and result.output holds both, interleaved.


def y(text: str) -> str:
    """A YAML file from an indented triple-quoted string (first line is line 1)."""
    return textwrap.dedent(text).lstrip("\n")


def case(id_, files, *lines):
    if isinstance(files, str):
        files = {"svc.yaml": files}
    return pytest.param(files, list(lines), id=id_)


# A valid ratio SLO; several cases below are small edits of it (line numbers noted).
GOOD = y("""
    apiVersion: slo/v1
    service: svc
    team: web
    slos:
      - name: avail
        objective: 99.9
        indicator:
          ratio:
            errors: 'http_requests_total{job="api",code=~"5.."}'
            total: 'http_requests_total{job="api"}'
""")


def good_with(**replace) -> str:
    text = GOOD
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def latency(threshold: str, histogram: str = 'http_request_duration_seconds{job="api"}') -> str:
    """A latency SLO: the histogram at line 9, the threshold at line 10, both at column 20."""
    return y(f"""
        apiVersion: slo/v1
        service: svc
        team: web
        slos:
          - name: latency
            objective: 99
            indicator:
              latency:
                histogram: '{histogram}'
                threshold: {threshold}
    """)


def threshold(*lines: str) -> str:
    """A threshold on free disk space, completed by ``lines`` (each a line of its mapping, the
    first at line 7, column 5): the cases differ only in them."""
    head = y("""
        apiVersion: slo/v1
        service: svc
        team: web
        thresholds:
          - name: disk-usage
            expr: 'node_filesystem_avail_bytes{mountpoint="/"}'
    """)
    return head + "".join(f"    {line}\n" for line in lines)


CASES = [
    # --- YAML -------------------------------------------------------------------------------
    case(
        "yaml-syntax-mapping-in-value",
        y("""
            apiVersion: slo/v1
            service: svc
            team: web: platform
        """),
        "slo/svc.yaml:3:10: error [yaml/syntax] mapping values are not allowed in this context",
    ),
    case(
        "yaml-syntax-tab-indent",
        "apiVersion: slo/v1\nservice: svc\n\tteam: web\n",
        "slo/svc.yaml:3:1: error [yaml/syntax] found a tab character that violates indentation"
        " (while scanning a plain scalar at line 2, column 10)",
    ),
    case(
        "yaml-syntax-unterminated-quote",
        y("""
            apiVersion: slo/v1
            service: 'svc
            team: web
        """),
        "slo/svc.yaml:4:1: error [yaml/syntax] found unexpected end of stream"
        " (while scanning a quoted scalar at line 2, column 10)",
    ),
    case(
        "yaml-duplicate-key",
        y("""
            apiVersion: slo/v1
            service: svc
            team: web
            team: platform
        """),
        "slo/svc.yaml:4:1: error [yaml/duplicate-key] key 'team' appears twice in the same mapping "
        "(first at line 3)",
    ),
    case("empty-file", "", "slo/svc.yaml: error [spec/empty] file holds no spec document"),
    case(
        "comments-only-file",
        "# nothing here yet\n\n",
        "slo/svc.yaml: error [spec/empty] file holds no spec document",
    ),
    case(
        "document-is-a-list",
        "- apiVersion: slo/v1\n- service: svc\n",
        "slo/svc.yaml:1:1: error [schema/type] a spec document must be a mapping, got a list",
    ),
    case(
        "document-is-a-string",
        "just some text\n",
        "slo/svc.yaml:1:1: error [schema/type] a spec document must be a mapping, got a string",
    ),
    # --- document header --------------------------------------------------------------------
    case(
        "missing-api-version",
        "service: svc\nteam: web\n",
        "slo/svc.yaml:1:1: error [spec/api-version] missing 'apiVersion: slo/v1'",
    ),
    case(
        "wrong-api-version",
        "apiVersion: slo/v2\nservice: svc\nteam: web\n",
        "slo/svc.yaml:1:13: error [spec/api-version] apiVersion 'slo/v2' is not supported; use "
        "'slo/v1'",
    ),
    case(
        "unknown-kind",
        "apiVersion: slo/v1\nkind: Team\nservice: svc\nteam: web\n",
        "slo/svc.yaml:2:7: error [spec/kind] kind 'Team' is not known; expected one of: Routing, "
        "Service",
    ),
    # --- schema: keys -----------------------------------------------------------------------
    case(
        "unknown-top-level-key-did-you-mean",
        good_with(**{"slos:": "slo:"}),
        "slo/svc.yaml:4:1: error [schema/unknown-key] slo: unknown key 'slo'; did you mean 'slos'?",
    ),
    case(
        "unknown-top-level-key-lists-allowed",
        "apiVersion: slo/v1\nservice: svc\nteam: web\nowner: bob\n",
        "slo/svc.yaml:4:1: error [schema/unknown-key] owner: unknown key 'owner'; allowed keys: "
        "apiVersion, description, engines, evaluation_interval, grafana_url, kind, labels, "
        "maintenance, outputs, service, slos, team, thresholds",
    ),
    case(
        "unknown-key-in-slo",
        good_with(
            **{"    indicator:": "    descripton: Requests that do not fail.\n    indicator:"}
        ),
        "slo/svc.yaml:7:5: error [schema/unknown-key] slos[0].descripton: unknown key "
        "'descripton'; did you mean 'description'?",
    ),
    case(
        "misspelt-required-key-in-slo",
        good_with(**{"objective: 99.9": "objectve: 99.9"}),
        "slo/svc.yaml:5:5: error [schema/required] slos[0]: missing required key 'objective'",
        "slo/svc.yaml:6:5: error [schema/unknown-key] slos[0].objectve: unknown key 'objectve'; "
        "did you mean 'objective'?",
    ),
    case(
        "unknown-key-in-ratio",
        good_with(**{"errors:": "error:"}),
        "slo/svc.yaml:9:9: error [schema/unknown-key] slos[0].indicator.ratio.error: unknown key "
        "'error'; did you mean 'errors'?",
    ),
    case(
        "missing-team",
        "apiVersion: slo/v1\nservice: svc\n",
        "slo/svc.yaml:1:1: error [schema/required] missing required key 'team'",
    ),
    case(
        "missing-service-and-team",
        "apiVersion: slo/v1\n",
        "slo/svc.yaml:1:1: error [schema/required] missing required key 'service'",
        "slo/svc.yaml:1:1: error [schema/required] missing required key 'team'",
    ),
    case(
        "missing-objective-in-slo",
        good_with(**{"    objective: 99.9\n": ""}),
        "slo/svc.yaml:5:5: error [schema/required] slos[0]: missing required key 'objective'",
    ),
    case(
        "slos-is-null",
        "apiVersion: slo/v1\nservice: svc\nteam: web\nslos:\n",
        "slo/svc.yaml:4:6: error [schema/type] slos: expected array, got nothing (null)",
    ),
    case(
        "slos-is-a-mapping",
        "apiVersion: slo/v1\nservice: svc\nteam: web\nslos: {}\n",
        "slo/svc.yaml:4:7: error [schema/type] slos: expected array, got a mapping {}",
    ),
    case(
        "empty-indicator",
        y("""
            apiVersion: slo/v1
            service: svc
            team: web
            slos:
              - name: avail
                objective: 99.9
                indicator: {}
        """),
        "slo/svc.yaml:7:16: error [schema/indicator] slos[0].indicator: needs exactly one of "
        "'ratio' or 'latency'",
    ),
    # --- schema: values ---------------------------------------------------------------------
    case(
        "service-name-pattern",
        good_with(**{"service: svc": "service: Checkout_API"}),
        'slo/svc.yaml:2:10: error [schema/pattern] service: "Checkout_API" is not valid: lowercase '
        "letters, digits and single hyphens, starting with a letter; at most 30 characters (names "
        "become file names, rule group names and Grafana UIDs)",
    ),
    case(
        "service-name-too-long",
        good_with(**{"service: svc": "service: a-very-long-service-name-over-the-limit"}),
        "slo/svc.yaml:2:10: error [schema/length] service: longer than 30 characters",
    ),
    case(
        "objective-zero",
        good_with(**{"objective: 99.9": "objective: 0"}),
        "slo/svc.yaml:6:16: error [schema/range] slos[0].objective: 0 is out of range; "
        "must be greater than 0 and less than 100",
    ),
    case(
        "objective-hundred",
        good_with(**{"objective: 99.9": "objective: 100"}),
        "slo/svc.yaml:6:16: error [schema/range] slos[0].objective: 100 is out of range; "
        "must be greater than 0 and less than 100",
    ),
    case(
        "objective-negative",
        good_with(**{"objective: 99.9": "objective: -1"}),
        "slo/svc.yaml:6:16: error [schema/range] slos[0].objective: -1 is out of range; "
        "must be greater than 0 and less than 100",
    ),
    case(
        "objective-string",
        good_with(**{"objective: 99.9": "objective: high"}),
        "slo/svc.yaml:6:16: error [schema/type] slos[0].objective: expected number, got a string "
        '"high"',
    ),
    case(
        "objective-percent-string",
        good_with(**{"objective: 99.9": "objective: 99.9%"}),
        "slo/svc.yaml:6:16: error [schema/type] slos[0].objective: expected number, got a string "
        '"99.9%"',
    ),
    case(
        "objective-nan",
        good_with(**{"objective: 99.9": "objective: .nan"}),
        "slo/svc.yaml:6:16: error [schema/range] slos[0].objective: NaN is out of range; "
        "must be greater than 0 and less than 100",
    ),
    # --- durations --------------------------------------------------------------------------
    case(
        "period-not-a-duration",
        good_with(**{"    indicator:": "    period: 30 days\n    indicator:"}),
        'slo/svc.yaml:7:13: error [schema/pattern] slos[0].period: "30 days" is not valid: use a '
        "number followed by w, d, h, m or s, largest unit first (e.g. 30d or 1h30m)",
    ),
    case(
        "period-bad-unit-order",
        good_with(**{"    indicator:": "    period: 1d1d\n    indicator:"}),
        "slo/svc.yaml:7:13: error [spec/duration] slos[0].period: '1d1d' is not a duration: use a "
        "number followed by w, d, h, m or s, largest unit first (e.g. 1h30m)",
    ),
    case(
        "period-zero",
        good_with(**{"    indicator:": "    period: 0d\n    indicator:"}),
        "slo/svc.yaml:7:13: error [spec/duration] slos[0].period: '0d' must be longer than zero",
    ),
    case(
        "period-shorter-than-a-day",
        good_with(**{"    indicator:": "    period: 12h\n    indicator:"}),
        "slo/svc.yaml:7:13: error [spec/period] slos[0].period: 12h is shorter than the minimum "
        "period of 1d",
    ),
    # --- ratio indicators -------------------------------------------------------------------
    case(
        "ratio-invalid-promql",
        good_with(
            **{
                """errors: 'http_requests_total{job="api",code=~"5.."}'""": (
                    """errors: 'http_requests_total{job="api"'"""
                )
            }
        ),
        "slo/svc.yaml:9:17: error [promql/syntax] slos[0].indicator.ratio.errors: invalid PromQL: "
        "unexpected end of input inside braces",
    ),
    case(
        "ratio-errors-and-good",
        good_with(
            **{
                "        total:": (
                    "        good: 'http_requests_total{code!~\"5..\"}'\n        total:"
                )
            }
        ),
        "slo/svc.yaml:9:9: error [spec/ratio] slos[0].indicator.ratio: needs exactly one of "
        "'errors' or 'good' (besides 'total')",
    ),
    case(
        "ratio-neither-errors-nor-good",
        good_with(**{"""        errors: 'http_requests_total{job="api",code=~"5.."}'\n""": ""}),
        "slo/svc.yaml:9:9: error [spec/ratio] slos[0].indicator.ratio: needs exactly one of "
        "'errors' or 'good' (besides 'total')",
    ),
    case(
        "ratio-rate-without-window-placeholder",
        good_with(
            **{
                """errors: 'http_requests_total{job="api",code=~"5.."}'""": (
                    """errors: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'"""
                )
            }
        ),
        "slo/svc.yaml:9:17: error [spec/counter] slos[0].indicator.ratio.errors: must be a counter "
        'selector such as http_requests_total{job="api"}, or an expression using [$window] for the '
        "rate window",
    ),
    case(
        "ratio-empty-expression",
        good_with(**{"""errors: 'http_requests_total{job="api",code=~"5.."}'""": "errors: ''"}),
        "slo/svc.yaml:9:17: error [schema/length] slos[0].indicator.ratio.errors: must not be "
        "empty",
    ),
    # --- latency indicators -----------------------------------------------------------------
    case(
        "latency-histogram-with-bucket-suffix",
        latency("300ms", 'http_request_duration_seconds_bucket{job="api"}'),
        "slo/svc.yaml:9:20: error [spec/histogram] slos[0].indicator.latency.histogram: give the "
        "histogram's base name without '_bucket' (e.g. http_request_duration_seconds)",
    ),
    case(
        "latency-threshold-garbage",
        latency("fast"),
        "slo/svc.yaml:10:20: error [schema/type] slos[0].indicator.latency.threshold: expected a "
        'duration such as 2s or 1m, or a positive number, got "fast"',
    ),
    case(
        "latency-threshold-milliseconds",
        latency("300ms"),
        "slo/svc.yaml:10:20: error [spec/duration] slos[0].indicator.latency.threshold: '300ms' is "
        "not a duration: use a number followed by w, d, h, m or s, largest unit first (e.g. 1h30m)",
    ),
    case(
        "latency-threshold-nan",
        latency(".nan"),
        "slo/svc.yaml:10:20: error [schema/type] slos[0].indicator.latency.threshold: expected a "
        "duration such as 2s or 1m, or a positive number, got NaN",
    ),
    # --- thresholds -------------------------------------------------------------------------
    case(
        "threshold-neither-above-nor-below",
        threshold("severity: page"),
        "slo/svc.yaml:5:5: error [spec/threshold-comparison] thresholds[0]: needs exactly one of "
        "'above' or 'below'",
    ),
    case(
        "threshold-above-and-below",
        threshold("above: 10", "below: 5", "severity: page"),
        "slo/svc.yaml:5:5: error [spec/threshold-comparison] thresholds[0]: needs exactly one of "
        "'above' or 'below'",
    ),
    case(
        "threshold-unknown-severity",
        threshold("below: 1000000", "severity: critical"),
        'slo/svc.yaml:8:15: error [schema/enum] thresholds[0].severity: "critical" is not allowed; '
        'expected "page", "ticket", "info"',
    ),
    case(
        "threshold-above-nan",
        threshold("above: .nan", "severity: page"),
        "slo/svc.yaml:7:12: error [schema/range] thresholds[0].above: NaN is out of range; must be "
        "a finite number",
    ),
    # --- labels -----------------------------------------------------------------------------
    case(
        "reserved-label-in-threshold",
        threshold("below: 1000000", "severity: page", "labels:", "  severity: critical"),
        "slo/svc.yaml:10:7: error [spec/reserved-label] thresholds[0].labels.severity: label "
        "'severity' is set by the compiler; choose another name",
    ),
    case(
        "reserved-label-in-slo",
        good_with(**{"    indicator:": "    labels:\n      severity: high\n    indicator:"}),
        "slo/svc.yaml:8:7: error [spec/reserved-label] slos[0].labels.severity: label 'severity' "
        "is set by the compiler; choose another name",
    ),
    case(
        "reserved-label-on-service",
        good_with(**{"slos:": "labels:\n  team: other\nslos:"}),
        "slo/svc.yaml:5:3: error [spec/reserved-label] labels.team: label 'team' is set by the "
        "compiler; choose another name",
    ),
    # --- names ------------------------------------------------------------------------------
    case(
        "duplicate-slo-name-in-file",
        # GOOD with a second SLO of the same name appended to its list
        GOOD
        + textwrap.indent(
            y("""
                - name: avail
                  objective: 99
                  indicator:
                    ratio:
                      errors: 'grpc_server_handled_total{grpc_code!="OK"}'
                      total: 'grpc_server_handled_total'
            """),
            "  ",
        ),
        "slo/svc.yaml:11:11: error [spec/duplicate-name] slos[1].name: 'avail' is already used by "
        "slos[0] (line 5)",
    ),
    case(
        "duplicate-service-across-files",
        {
            "a.yaml": GOOD,
            "b.yaml": "# the same service again\napiVersion: slo/v1\nservice: svc\nteam: other\n",
        },
        "slo/b.yaml:3:10: error [spec/duplicate-service] service 'svc' is already defined in "
        "slo/a.yaml:2",
    ),
    # --- alert windows ----------------------------------------------------------------------
    case(
        "custom-window-short-longer-than-long",
        good_with(
            **{
                "    indicator:": (
                    "    alerting:\n"
                    "      windows:\n"
                    "        - severity: page\n"
                    "          long: 1h\n"
                    "          short: 2h\n"
                    "          budget: 2\n"
                    "    indicator:"
                )
            }
        ),
        "slo/svc.yaml:11:18: error [spec/window] slos[0].alerting.windows[0].short: short window "
        "2h is longer than the long window 1h",
    ),
    # --- several files at once --------------------------------------------------------------
    case(
        "errors-in-two-files-sorted-by-file-then-line",
        {
            # b.yaml's builder reports line 9, then 12, then 5: the output must be sorted.
            "b.yaml": y("""
                apiVersion: slo/v1
                service: beta
                team: web
                labels:
                  slo: x
                slos:
                  - name: avail
                    objective: 99.9
                    period: 12h
                    indicator:
                      ratio:
                        errors: 'rate(http_requests_total{code=~"5.."}[5m])'
                        total: 'http_requests_total'
            """),
            "a.yaml": "apiVersion: slo/v1\nservice: alpha\nteam: Web Team\n",
        },
        'slo/a.yaml:3:7: error [schema/pattern] team: "Web Team" is not valid: lowercase letters, '
        "digits and single hyphens, starting with a letter; at most 30 characters (names become "
        "file names, rule group names and Grafana UIDs)",
        "slo/b.yaml:5:3: error [spec/reserved-label] labels.slo: label 'slo' is set by the "
        "compiler; choose another name",
        "slo/b.yaml:9:13: error [spec/period] slos[0].period: 12h is shorter than the minimum "
        "period of 1d",
        "slo/b.yaml:12:17: error [spec/counter] slos[0].indicator.ratio.errors: must be a counter "
        'selector such as http_requests_total{job="api"}, or an expression using [$window] for the '
        "rate window",
    ),
]


# --- helpers --------------------------------------------------------------------------------


def summary(lines: list[str]) -> str:
    errors = sum(" error [" in line for line in lines)
    return f"{errors} error(s), {len(lines) - errors} warning(s)"


# --- the table ------------------------------------------------------------------------------


def test_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("files, lines", CASES)
def test_compile_reports_bad_input(tmp_path, old_out, files, lines):
    specs = write_files(tmp_path / "slo", files)
    before = snapshot(tmp_path)

    result = slo("compile", specs, "--out", old_out)

    assert_clean(result)
    assert result.stderr.splitlines() == lines + [summary(lines)], result.stderr
    assert result.exit_code == 1
    assert result.stdout == ""
    assert snapshot(tmp_path) == before, "a failed compile changed the output directory"


def test_warning_only_still_compiles(tmp_path, old_out):
    # objective 90: the 1h page tier needs 14.4 x 10% = 144% errors, so it can never fire.
    specs = write_files(
        tmp_path / "slo", {"svc.yaml": good_with(**{"objective: 99.9": "objective: 90"})}
    )

    result = slo("compile", specs, "--out", old_out)

    assert_clean(result)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "slo/svc.yaml:5:5: warning [spec/unreachable-tier] slos[0].alerting: the page tier 1h/5m "
        "(burn rate 14.4) can never fire: it needs an error ratio of 144% with an objective of 90%",
        "0 error(s), 1 warning(s)",
    ]
    assert (old_out / ".slo-out").is_file()
    assert (old_out / "prometheus" / "rules" / "svc.rules.yml").is_file()
    assert not (old_out / "prometheus" / "rules" / "old.rules.yml").exists()  # replaced as a whole


# --- slo validate ---------------------------------------------------------------------------


def test_validate_bad_spec(tmp_path):
    specs = write_files(
        tmp_path / "slo", {"svc.yaml": good_with(**{"objective: 99.9": "objective: 100"})}
    )
    before = snapshot(tmp_path)

    result = slo("validate", specs)

    assert_clean(result)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "slo/svc.yaml:6:16: error [schema/range] slos[0].objective: 100 is out of range; "
        "must be greater than 0 and less than 100",
        "1 error(s), 0 warning(s)",
    ]
    assert result.stdout == ""
    assert snapshot(tmp_path) == before  # validate writes nothing


def test_validate_good_spec(tmp_path):
    specs = write_files(tmp_path / "slo", {"svc.yaml": GOOD})
    before = snapshot(tmp_path)

    result = slo("validate", specs)

    assert_clean(result)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == "ok: 1 service(s), 1 SLO(s), 0 threshold(s)\n"
    assert snapshot(tmp_path) == before


# --- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "compile", "test"])
def test_help_has_an_example(command):
    result = slo(command, "--help")
    assert_clean(result)
    assert result.exit_code == 0
    assert "Example" in result.stdout
