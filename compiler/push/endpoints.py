"""Where `slo push` and `slo diff` deliver: flags > environment > targets.yaml (``--env NAME``).

A target is configured when its URL is set from any source; the others are skipped. Tokens are
read from the environment or from files, never from targets.yaml itself (it is committed), and
live only in Secret objects that print as ``<redacted>``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from compiler.core.diagnostics import CompileError, Diagnostic, Position, error
from compiler.push.transport import DEFAULT_TIMEOUT, Secret, without_userinfo
from compiler.spec.validate import schema_diagnostic
from compiler.spec.yaml_source import SourceDocument, load_documents

TARGET_NAMES = ("prometheus", "alertmanager", "grafana", "mimir")

# setting -> environment variable; flags use the same setting names (see cli.py)
ENVIRONMENT = {
    "prometheus.url": "SLO_PROMETHEUS_URL",
    "prometheus.rules_dir": "SLO_PROMETHEUS_RULES_DIR",
    "alertmanager.url": "SLO_ALERTMANAGER_URL",
    "alertmanager.config": "SLO_ALERTMANAGER_CONFIG",
    "grafana.url": "SLO_GRAFANA_URL",
    "grafana.token": "SLO_GRAFANA_TOKEN",
    "grafana.token_file": "SLO_GRAFANA_TOKEN_FILE",
    "mimir.url": "SLO_MIMIR_URL",
    "mimir.tenant": "SLO_MIMIR_TENANT",
    "mimir.token_file": "SLO_MIMIR_TOKEN_FILE",
}
PATH_SETTINGS = {
    "prometheus.rules_dir",
    "alertmanager.config",
    "grafana.token_file",
    "mimir.token_file",
}

_STRING = {"type": "string", "minLength": 1}
_URL = {
    "type": "string",
    "pattern": "^https?://[^\\s]+$",
    "description": "an http:// or https:// URL",
}


def _section(**properties) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {"url": _URL, **properties},
    }


TARGETS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["environments"],
    "properties": {
        "environments": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "prometheus": _section(rules_dir=_STRING),
                    "alertmanager": _section(config=_STRING),
                    "grafana": _section(token_file=_STRING),
                    "mimir": _section(tenant=_STRING, token_file=_STRING),
                    "tls_verify": {"type": "boolean"},
                    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
                },
            },
        }
    },
}


# Sources, lowest precedence first
FROM_FILE, FROM_ENVIRONMENT, FROM_FLAG = range(3)


@dataclass(frozen=True)
class Setting:
    value: object
    source: Position  # where it was set: a flag, a variable, or targets.yaml:line:col
    rank: int = FROM_FILE


@dataclass(frozen=True)
class Prometheus:
    url: str
    rules_dir: Path | None  # needed to push; diff works from the URL alone


@dataclass(frozen=True)
class Alertmanager:
    url: str
    config: Path | None  # the file Alertmanager loads; needed to push


@dataclass(frozen=True)
class Grafana:
    url: str
    token: Secret | None


@dataclass(frozen=True)
class Mimir:
    url: str
    tenant: str
    token: Secret | None


@dataclass(frozen=True)
class Endpoints:
    prometheus: Prometheus | None = None
    alertmanager: Alertmanager | None = None
    grafana: Grafana | None = None
    mimir: Mimir | None = None
    tls_verify: bool = True
    timeout: float = DEFAULT_TIMEOUT

    def configured(self) -> list[str]:
        return [name for name in TARGET_NAMES if getattr(self, name) is not None]


class EndpointError(CompileError):
    """Endpoint configuration is wrong; carries diagnostics like any other input error."""


def resolve(
    flags: Mapping[str, object],
    environ: Mapping[str, str] = os.environ,
    targets_file: Path | None = None,
    env_name: str | None = None,
) -> Endpoints:
    """Merge the three sources, highest first; raise EndpointError listing every problem."""
    settings: dict[str, Setting] = {}
    problems: list[Diagnostic] = []
    if env_name:
        settings.update(
            _from_targets_file(Path(targets_file or "targets.yaml"), env_name, problems)
        )
    for key, variable in ENVIRONMENT.items():
        if environ.get(variable):
            settings[key] = Setting(environ[variable], Position(variable), FROM_ENVIRONMENT)
    for key, value in flags.items():
        if value is not None:
            settings[key] = Setting(value, Position(flag_name(key)), FROM_FLAG)
    if problems:
        raise EndpointError(problems)
    endpoints = _build(settings, problems)
    if problems:
        raise EndpointError(sorted(problems, key=Diagnostic.sort_key))
    return endpoints


def flag_name(key: str) -> str:
    """prometheus.rules_dir -> --prometheus-rules-dir"""
    return "--" + key.replace(".", "-").replace("_", "-")


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(TARGETS_SCHEMA)


def _from_targets_file(path: Path, env_name: str, problems: list[Diagnostic]) -> dict[str, Setting]:
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(
            error(
                Position(name),
                "targets/read",
                f"--env {env_name} needs {name}: {exc.strerror or exc}",
            )
        )
        return {}
    documents, diagnostics = load_documents(name, raw)
    problems.extend(diagnostics)
    if diagnostics:
        return {}
    if len(documents) != 1:
        problems.append(
            error(Position(name), "targets/document", "expected exactly one YAML document")
        )
        return {}
    doc = documents[0]
    schema_errors = [schema_diagnostic(doc, e) for e in _validator().iter_errors(doc.data)]
    if schema_errors:
        problems.extend(schema_errors)
        return {}
    environments = doc.data["environments"]
    if env_name not in environments:
        known = ", ".join(sorted(environments))
        problems.append(
            error(
                doc.key_at(("environments",)),
                "targets/unknown-env",
                f"environment '{env_name}' is not defined; defined: {known}",
            )
        )
        return {}
    return _flatten(doc, ("environments", env_name), path.parent)


def _flatten(doc: SourceDocument, base: tuple, directory: Path) -> dict[str, Setting]:
    found = {}
    for section, body in doc.data[base[0]][base[1]].items():
        if not isinstance(body, dict):
            found[section] = Setting(body, doc.at(base + (section,)))
            continue
        for key, value in body.items():
            setting = f"{section}.{key}"
            if setting in PATH_SETTINGS:
                value = str(
                    directory / value
                )  # relative to targets.yaml, not to the working directory
            found[setting] = Setting(value, doc.at(base + (section, key)))
    return found


def _build(settings: dict[str, Setting], problems: list[Diagnostic]) -> Endpoints:
    def get(key: str):
        setting = settings.get(key)
        return setting.value if setting else None

    def url(section: str) -> str | None:
        setting = settings.get(f"{section}.url")
        extras = sorted(
            k for k in settings if k.startswith(section + ".") and k != f"{section}.url"
        )
        if setting is None:
            if extras:
                where = settings[extras[0]].source
                problems.append(
                    error(
                        where,
                        "targets/url",
                        f"{extras[0]} is set but {section} has no URL (set {ENVIRONMENT[section + '.url']})",
                    )
                )
            return None
        text = str(setting.value).strip()
        if not text.startswith(("http://", "https://")) or any(c.isspace() for c in text):
            shown = without_userinfo(text)
            problems.append(
                error(
                    setting.source,
                    "targets/url",
                    f"{section} URL {shown!r} is not an http:// or https:// URL",
                )
            )
            return None
        return text.rstrip("/")

    def path(key: str) -> Path | None:
        value = get(key)
        return Path(str(value)) if value else None

    def token(section: str) -> Secret | None:
        inline, from_file = settings.get(f"{section}.token"), settings.get(f"{section}.token_file")
        if inline and from_file and inline.rank == from_file.rank:
            problems.append(
                error(
                    inline.source,
                    "targets/token",
                    f"set only one of {inline.source.file} and {from_file.source.file}",
                )
            )
            return None
        if inline and (not from_file or inline.rank > from_file.rank):
            return Secret(str(inline.value).strip())
        if from_file:
            return _read_token(from_file, problems)
        return None

    found = {}
    if (u := url("prometheus")) is not None:
        found["prometheus"] = Prometheus(u, path("prometheus.rules_dir"))
    if (u := url("alertmanager")) is not None:
        found["alertmanager"] = Alertmanager(u, path("alertmanager.config"))
    if (u := url("grafana")) is not None:
        found["grafana"] = Grafana(u, token("grafana"))
    if (u := url("mimir")) is not None:
        tenant = get("mimir.tenant")
        if not tenant:
            problems.append(
                error(
                    settings["mimir.url"].source,
                    "targets/tenant",
                    "mimir needs a tenant: set SLO_MIMIR_TENANT (X-Scope-OrgID)",
                )
            )
        else:
            found["mimir"] = Mimir(u, str(tenant), token("mimir"))
    tls_verify = get("tls_verify")
    return Endpoints(
        **found,
        tls_verify=True if tls_verify is None else bool(tls_verify),
        timeout=float(get("timeout") or DEFAULT_TIMEOUT),
    )


def _read_token(setting: Setting, problems: list[Diagnostic]) -> Secret | None:
    path = Path(str(setting.value))
    try:
        text = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        problems.append(
            error(setting.source, "targets/token", f"cannot read token file {path}: {reason}")
        )
        return None
    if not text:
        problems.append(error(setting.source, "targets/token", f"token file {path} is empty"))
        return None
    return Secret(text)
