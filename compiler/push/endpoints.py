"""Where `slo push` and `slo diff` deliver: flags > environment > targets.yaml (``--env NAME``).

A target is configured when its URL is set from any source; the others are skipped. Tokens are
read from the environment or from files, never from targets.yaml itself (it is committed), and
live only in Secret objects that print as ``<redacted>``; a token with a control character (a
token file of two lines) is refused where it was read. Each target's TLS files (``ca_file``,
``cert_file``, ``key_file``) are checked here: readable, PEM, and no key without a certificate.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from compiler.core.diagnostics import CompileError, Diagnostic, Position, error
from compiler.push import registry
from compiler.push.client import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    TOKEN,
    TOKEN_FILE,
    URL,
    PushClient,
    Tls,
)
from compiler.push.transport import DEFAULT_TIMEOUT, Secret, control_character, without_userinfo
from compiler.spec.validate import schema_diagnostic
from compiler.spec.yaml_source import SourceDocument, load_documents

_STRING = {"type": "string", "minLength": 1}
_URL = {
    "type": "string",
    "pattern": "^https?://[^\\s]+$",
    "description": "an http:// or https:// URL",
}


def environment() -> dict[str, str]:
    """Setting -> its environment variable, for every key of every client, in registry order."""
    return {c.setting(key): key.variable for c in registry.clients() for key in c.keys}


def flag_settings() -> list[str]:
    """The settings a flag may set: all but inline secrets, which would end up in shell history.
    The command line adds one option per setting (``flag_name``)."""
    return [c.setting(key) for c in registry.clients() for key in c.keys if not key.secret]


def _section_schema(client: PushClient[Any]) -> dict:
    extra = {key.name: _STRING for key in client.keys if key.name != URL and not key.secret}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [URL],
        "properties": {URL: _URL, **extra},
    }


def targets_schema() -> dict:
    """The JSON schema of targets.yaml: per environment, a section per registered client (its
    keys but inline secrets: the file is committed) and the environment-wide settings."""
    return {
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
                        **{c.name: _section_schema(c) for c in registry.clients()},
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
class Endpoints:
    """Every configured client's endpoint (what its ``configure`` made), by client name."""

    targets: Mapping[str, Any] = field(default_factory=dict)
    tls_verify: bool = True
    timeout: float = DEFAULT_TIMEOUT
    tls: Mapping[str, Tls] = field(default_factory=dict)  # by client name, when any is set

    def configured(self) -> list[str]:
        return [name for name in registry.names() if name in self.targets]


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
    for key, variable in environment().items():
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


def _validator() -> jsonschema.Draft202012Validator:
    return _validator_for(registry.clients())


@functools.cache
def _validator_for(clients: tuple[PushClient[Any], ...]) -> jsonschema.Draft202012Validator:
    # Keyed on the clients, which the schema is made of: a client registered later (a test's
    # fake) gets a validator that knows its section.
    return jsonschema.Draft202012Validator(targets_schema())


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
    if schema_errors or not isinstance(doc.data, dict):  # the schema asks for a mapping
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
    base = ("environments", env_name)
    return _flatten(doc, base, environments[env_name], path.parent)


def _flatten(
    doc: SourceDocument, base: tuple, environment: dict, directory: Path
) -> dict[str, Setting]:
    paths = {c.setting(key) for c in registry.clients() for key in c.keys if key.path}
    found = {}
    for section, body in environment.items():
        if not isinstance(body, dict):
            found[section] = Setting(body, doc.at(base + (section,)))
            continue
        for key, value in body.items():
            setting = f"{section}.{key}"
            if setting in paths:  # relative to targets.yaml, not to the working directory
                value = str(directory / value)
            found[setting] = Setting(value, doc.at(base + (section, key)))
    return found


def _build(settings: dict[str, Setting], problems: list[Diagnostic]) -> Endpoints:
    found, tls = {}, {}
    for client in registry.clients():
        url = _url(client, settings, problems)
        if url is None:
            continue
        section = _Section(client.name, url, settings, problems)
        endpoint = client.configure(section)
        if endpoint is not None:
            found[client.name] = endpoint
        files = section.tls()
        if files != Tls():
            tls[client.name] = files
    tls_verify, timeout = (settings.get(key) for key in ("tls_verify", "timeout"))
    return Endpoints(
        found,
        tls_verify=True if tls_verify is None else bool(tls_verify.value),
        timeout=_seconds(timeout.value if timeout else None),
        tls=tls,
    )


def _seconds(value: object) -> float:
    """A timeout as the flag (a float) or targets.yaml (a number) gives it."""
    if isinstance(value, (int, float)) and value:
        return float(value)
    return DEFAULT_TIMEOUT


def _url(
    client: PushClient[Any], settings: dict[str, Setting], problems: list[Diagnostic]
) -> str | None:
    """The client's URL, or None when it is not set (the client is not configured) or wrong."""
    section = client.name
    setting = settings.get(f"{section}.{URL}")
    extras = sorted(k for k in settings if k.startswith(section + ".") and k != f"{section}.{URL}")
    if setting is None:
        if extras:
            problems.append(
                error(
                    settings[extras[0]].source,
                    "targets/url",
                    f"{extras[0]} is set but {section} has no URL (set {client.url_key.variable})",
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


class _Section:
    """One client's merged settings, as its ``configure`` sees them (client.Section)."""

    def __init__(
        self, name: str, url: str, settings: dict[str, Setting], problems: list[Diagnostic]
    ):
        self.name = name
        self._url = url
        self._settings = settings
        self._problems = problems

    @property
    def url(self) -> str:
        return self._url

    def _get(self, key: str) -> Setting | None:
        return self._settings.get(f"{self.name}.{key}")

    def text(self, key: str) -> str | None:
        setting = self._get(key)
        return None if setting is None else str(setting.value)

    def path(self, key: str) -> Path | None:
        setting = self._get(key)
        return Path(str(setting.value)) if setting and setting.value else None

    def token(self) -> Secret | None:
        inline, from_file = self._get(TOKEN), self._get(TOKEN_FILE)
        if inline and from_file and inline.rank == from_file.rank:
            self._problems.append(
                error(
                    inline.source,
                    "targets/token",
                    f"set only one of {inline.source.file} and {from_file.source.file}",
                )
            )
            return None
        if inline and (not from_file or inline.rank > from_file.rank):
            text = str(inline.value).strip()
            bad = control_character(text)
            if bad:
                self._problems.append(
                    error(
                        inline.source,
                        "targets/token",
                        f"{inline.source.file} holds a control character ({bad}); a token is "
                        "one line",
                    )
                )
                return None
            return Secret(text)
        if from_file:
            return _read_token(from_file, self._problems)
        return None

    def tls(self) -> Tls:
        """The TLS files set for this client, each checked (a problem is reported where it was
        set); a key without a certificate is a problem too."""
        files = {}
        for key in (CA_FILE, CERT_FILE, KEY_FILE):
            path = self.path(key)
            if path is None:
                continue
            problem = _pem_problem(path, _PEM_MARKERS[key])
            if problem:
                self.problem(key, "targets/tls", f"{self.name}.{key} {path}: {problem}")
            files[key] = path
        if KEY_FILE in files and CERT_FILE not in files:
            self.problem(
                KEY_FILE,
                "targets/tls",
                f"{self.name}.{KEY_FILE} is set but {self.name}.{CERT_FILE} is not: a client "
                "key needs its certificate",
            )
        return Tls(**files)

    def problem(self, key: str, check: str, message: str) -> None:
        setting = self._get(key) or self._get(URL)
        where = setting.source if setting else Position(self.name)
        self._problems.append(error(where, check, message))


# What each TLS file must hold (PEM, as requests and ssl read them)
_PEM_MARKERS = {
    CA_FILE: (b"-----BEGIN CERTIFICATE-----", "no PEM certificate (-----BEGIN CERTIFICATE-----)"),
    CERT_FILE: (b"-----BEGIN CERTIFICATE-----", "no PEM certificate (-----BEGIN CERTIFICATE-----)"),
    KEY_FILE: (b"PRIVATE KEY-----", "no PEM private key (-----BEGIN PRIVATE KEY-----)"),
}
_MAX_PEM_BYTES = 16 * 1024 * 1024  # a CA bundle with every public CA is about 200 KiB


def _pem_problem(path: Path, marker: tuple[bytes, str]) -> str | None:
    """Why ``path`` cannot be used as a PEM file of its kind, or None."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(_MAX_PEM_BYTES)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    needle, missing = marker
    return None if needle in data else missing


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
    bad = control_character(text)
    if bad:
        what = "more than one line" if bad in ("\\n", "\\r") else f"a control character ({bad})"
        problems.append(
            error(
                setting.source,
                "targets/token",
                f"token file {path} holds {what}; a token file holds the token alone, on one line",
            )
        )
        return None
    return Secret(text)
