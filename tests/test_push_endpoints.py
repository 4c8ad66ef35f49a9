"""Where to push: flags > environment > targets.yaml, with diagnostics that name file, line and
field."""

from pathlib import Path

import pytest

from compiler.push import endpoints as ep
from compiler.push.alertmanager import Alertmanager
from compiler.push.client import Tls
from compiler.push.prometheus import Prometheus

TARGETS = """\
environments:
  prod:
    prometheus: {url: "https://prom.prod.example", rules_dir: rules/slo}
    grafana:
      url: https://grafana.prod.example
      token_file: secrets/grafana
    mimir: {url: "https://mimir.prod.example", tenant: prod}
  staging:
    prometheus: {url: "https://prom.staging.example"}
    tls_verify: false
    timeout: 3
"""


@pytest.fixture
def targets(tmp_path) -> Path:
    path = tmp_path / "conf" / "targets.yaml"
    path.parent.mkdir()
    path.write_text(TARGETS)
    (tmp_path / "conf" / "secrets").mkdir()
    (tmp_path / "conf" / "secrets" / "grafana").write_text("glsa_from_file\n")
    return path


def test_targets_file_environment_with_paths_relative_to_the_file(targets):
    found = ep.resolve({}, {}, targets, "prod")
    assert found.configured() == ["prometheus", "grafana", "mimir"]
    assert found.targets["prometheus"] == Prometheus(
        "https://prom.prod.example", targets.parent / "rules" / "slo"
    )
    assert found.targets["grafana"].token.reveal() == "glsa_from_file"
    assert found.targets["mimir"].tenant == "prod" and found.targets["mimir"].token is None
    assert found.tls_verify is True
    staging = ep.resolve({}, {}, targets, "staging")
    assert staging.tls_verify is False and staging.timeout == 3.0


def test_environment_overrides_the_file_and_flags_override_both(targets):
    environ = {"SLO_PROMETHEUS_URL": "http://from-env:9090", "SLO_GRAFANA_TOKEN": "glsa_from_env"}
    found = ep.resolve({}, environ, targets, "prod")
    assert found.targets["prometheus"].url == "http://from-env:9090"
    prometheus = found.targets["prometheus"]
    assert prometheus.rules_dir == targets.parent / "rules" / "slo"  # still from the file
    assert found.targets["grafana"].token.reveal() == "glsa_from_env"
    flags = {
        "prometheus.url": "http://from-flag:9090",
        "grafana.token_file": str(targets.parent / "secrets" / "grafana"),
    }
    found = ep.resolve(flags, environ, targets, "prod")
    assert found.targets["prometheus"].url == "http://from-flag:9090"
    assert found.targets["grafana"].token.reveal() == "glsa_from_file"


def test_without_env_only_flags_and_variables_count(targets):
    assert ep.resolve({}, {}, targets, None).configured() == []
    found = ep.resolve(
        {}, {"SLO_ALERTMANAGER_URL": "http://127.0.0.1:9093", "SLO_ALERTMANAGER_CONFIG": "am.yml"}
    )
    assert found.targets["alertmanager"] == Alertmanager("http://127.0.0.1:9093", Path("am.yml"))


def diagnostics(*args) -> list[str]:
    with pytest.raises(ep.EndpointError) as exc:
        ep.resolve(*args)
    return [d.render() for d in exc.value.diagnostics]


def test_mistakes_in_the_targets_file_name_file_line_and_field(tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text(
        "environments:\n  prod:\n    grafana:\n"
        "      url: https://g.example\n      token: glsa_inline\n"
    )
    assert diagnostics({}, {}, path, "prod") == [
        f"{path}:5:7: error [schema/unknown-key] environments.prod.grafana.token: "
        "unknown key 'token'; did you mean 'token_file'?"
    ]
    path.write_text("environments:\n  prod:\n    prometheus: {url: prom:9090}\n")
    assert diagnostics({}, {}, path, "prod") == [
        f"{path}:3:23: error [schema/pattern] environments.prod.prometheus.url: "
        '"prom:9090" is not valid: an http:// or https:// URL'
    ]
    path.write_text("environments:\n  prod:\n    prometheus: {url: http://prom:9090}\n")
    assert diagnostics({}, {}, path, "qa") == [
        f"{path}:1:1: error [targets/unknown-env] environment 'qa' is not defined; defined: prod"
    ]
    assert diagnostics({}, {}, tmp_path / "none.yaml", "qa")[0].startswith(
        f"{tmp_path / 'none.yaml'}: error [targets/read] --env qa needs"
    )


def test_mistakes_in_variables_and_flags_name_them(tmp_path):
    assert diagnostics({}, {"SLO_PROMETHEUS_URL": "localhost:9090"}) == [
        "SLO_PROMETHEUS_URL: error [targets/url] prometheus URL 'localhost:9090' "
        "is not an http:// or https:// URL"
    ]
    assert diagnostics(
        {"grafana.url": "http://g", "grafana.token_file": str(tmp_path / "nope")}, {}
    )[0].startswith(
        f"--grafana-token-file: error [targets/token] cannot read token file {tmp_path / 'nope'}"
    )
    assert diagnostics({}, {"SLO_PROMETHEUS_RULES_DIR": "/x"}) == [
        "SLO_PROMETHEUS_RULES_DIR: error [targets/url] prometheus.rules_dir is set "
        "but prometheus has no URL (set SLO_PROMETHEUS_URL)"
    ]


def test_tokens_are_never_part_of_a_message(tmp_path):
    token = tmp_path / "token"
    token.write_text("glsa_very_secret\n")
    problems = diagnostics(
        {},
        {
            "SLO_GRAFANA_URL": "http://g",
            "SLO_GRAFANA_TOKEN": "glsa_other",
            "SLO_GRAFANA_TOKEN_FILE": str(token),
        },
    )
    assert problems == [
        "SLO_GRAFANA_TOKEN: error [targets/token] "
        "set only one of SLO_GRAFANA_TOKEN and SLO_GRAFANA_TOKEN_FILE"
    ]
    found = ep.resolve({}, {"SLO_GRAFANA_URL": "http://g", "SLO_GRAFANA_TOKEN_FILE": str(token)})
    assert (
        "glsa_very_secret" not in repr(found)
        and found.targets["grafana"].token.reveal() == "glsa_very_secret"
    )


def test_a_token_with_a_control_character_is_refused_naming_its_source_never_itself(tmp_path):
    """A two-line token file went into the Authorization header, and requests' InvalidHeader
    printed it whole as an internal error."""
    two_lines = tmp_path / "token"
    two_lines.write_text("glsa_first_line\nsecond_line\n")
    problems = diagnostics(
        {}, {"SLO_GRAFANA_URL": "http://g", "SLO_GRAFANA_TOKEN_FILE": str(two_lines)}
    )
    assert problems == [
        f"SLO_GRAFANA_TOKEN_FILE: error [targets/token] token file {two_lines} holds more than "
        "one line; a token file holds the token alone, on one line"
    ]
    problems += diagnostics(
        {}, {"SLO_GRAFANA_URL": "http://g", "SLO_GRAFANA_TOKEN": "glsa_first_line\x1b[2Jx"}
    )
    assert problems[1] == (
        "SLO_GRAFANA_TOKEN: error [targets/token] SLO_GRAFANA_TOKEN holds a control character "
        "(\\x1b); a token is one line"
    )
    assert not any("first_line" in p or "second_line" in p for p in problems)


# --- TLS files per target -------------------------------------------------------------------------
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"


def test_tls_files_come_from_variables_flags_and_targets_yaml_per_target(tmp_path):
    conf = tmp_path / "conf"
    (conf / "tls").mkdir(parents=True)
    for name, text in (("ca.pem", CERTIFICATE), ("me.pem", CERTIFICATE), ("me.key", KEY)):
        (conf / "tls" / name).write_text(text)
    targets = conf / "targets.yaml"
    targets.write_text(
        "environments:\n  prod:\n"
        "    grafana: {url: 'https://g', ca_file: tls/ca.pem}\n"
        "    mimir: {url: 'https://m', tenant: t, cert_file: tls/me.pem, key_file: tls/me.key}\n"
    )
    found = ep.resolve({}, {}, targets, "prod")
    assert found.tls == {
        "grafana": Tls(ca_file=conf / "tls" / "ca.pem"),
        "mimir": Tls(cert_file=conf / "tls" / "me.pem", key_file=conf / "tls" / "me.key"),
    }
    assert found.tls["grafana"].verify(True) == str(conf / "tls" / "ca.pem")
    assert found.tls["grafana"].verify(False) is False  # --insecure-skip-tls-verify still wins
    assert found.tls["mimir"].cert() == (str(conf / "tls" / "me.pem"), str(conf / "tls" / "me.key"))

    ca = str(conf / "tls" / "ca.pem")
    environ = {"SLO_PROMETHEUS_URL": "https://p", "SLO_PROMETHEUS_CA_FILE": ca}
    assert ep.resolve({}, environ).tls == {"prometheus": Tls(ca_file=Path(ca))}
    flags = {"alertmanager.url": "https://a", "alertmanager.cert_file": str(conf / "tls/me.pem")}
    assert ep.resolve(flags, {}).tls == {"alertmanager": Tls(cert_file=conf / "tls" / "me.pem")}


def test_tls_files_that_cannot_serve_are_errors_naming_where_they_were_set(tmp_path):
    (tmp_path / "key.pem").write_text(KEY)
    (tmp_path / "not-pem.txt").write_text("hello\n")
    problems = diagnostics(
        {"grafana.url": "https://g", "grafana.ca_file": str(tmp_path / "missing.pem")},
        {
            "SLO_MIMIR_URL": "https://m",
            "SLO_MIMIR_TENANT": "t",
            "SLO_MIMIR_KEY_FILE": str(tmp_path / "key.pem"),
            "SLO_PROMETHEUS_URL": "https://p",
            "SLO_PROMETHEUS_CERT_FILE": str(tmp_path / "not-pem.txt"),
        },
    )
    assert problems == [
        f"--grafana-ca-file: error [targets/tls] grafana.ca_file {tmp_path / 'missing.pem'}: "
        "cannot be read: No such file or directory",
        "SLO_MIMIR_KEY_FILE: error [targets/tls] mimir.key_file is set but mimir.cert_file is "
        "not: a client key needs its certificate",
        f"SLO_PROMETHEUS_CERT_FILE: error [targets/tls] prometheus.cert_file "
        f"{tmp_path / 'not-pem.txt'}: no PEM certificate (-----BEGIN CERTIFICATE-----)",
    ]
