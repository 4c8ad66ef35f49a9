"""What a push client declares once, in its own module, for the rest of `slo push` to use.

A client is a ``PushClient``: its name; its configuration keys (each with its environment
variable; the flag and the targets.yaml key follow from the name; the TLS keys ``ca_file``,
``cert_file`` and ``key_file`` every client gets without declaring them); which out/ paths it
delivers; ``configure``, which turns the resolved settings into the client's endpoint; and
``build``, which makes the pusher. endpoints.py (sources, targets.yaml schema), the command
line's options, runner.py and the report order all iterate the registry (registry.py), so a
new client is its module, one line there, and its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from compiler.core.model import Model
from compiler.push.plan import Pusher
from compiler.push.transport import RetryPolicy, Secret, Transport

URL = "url"  # every client has this key; a client is configured when it is set
TOKEN, TOKEN_FILE = "token", "token_file"  # the keys ``Section.token`` reads
# Every client's TLS settings, added to its keys by PushClient (endpoints.py reads and checks them)
CA_FILE, CERT_FILE, KEY_FILE = "ca_file", "cert_file", "key_file"
TLS_KEYS = (CA_FILE, CERT_FILE, KEY_FILE)

E = TypeVar("E")


@dataclass(frozen=True)
class Key:
    """One setting of a client, e.g. ``rules_dir`` of ``prometheus``.

    It is set by its environment ``variable``, by the flag ``--<client>-<name>`` and by
    ``<client>: {<name>: ...}`` in targets.yaml, highest first. A ``secret`` (an inline token)
    comes from the environment only: a flag ends up in shell history and targets.yaml is
    committed. A ``path`` set in targets.yaml is relative to that file.
    """

    name: str
    variable: str
    path: bool = False
    secret: bool = False


@dataclass(frozen=True)
class Delivers:
    """Files under out/ a client delivers: the file ``path``, or the files of the directory
    ``path`` matching ``pattern``. ``missing`` completes "<path> ..." to say why the client is
    skipped when there are none; empty for what the client delivers only when it is there."""

    path: str
    pattern: str = ""
    missing: str = ""

    def present(self, out_dir: Path) -> bool:
        where = Path(out_dir) / self.path
        return any(where.glob(self.pattern)) if self.pattern else where.is_file()

    def missing_reason(self, out_dir: Path) -> str | None:
        if not self.missing or self.present(out_dir):
            return None
        return f"{(Path(out_dir) / self.path).as_posix()} {self.missing}"


class Section(Protocol):
    """One client's settings after merging flags, environment and targets.yaml (endpoints.py).

    ``configure`` is only called when the URL is set and valid."""

    @property
    def url(self) -> str:
        """The URL without a trailing slash."""
        ...

    def text(self, key: str) -> str | None: ...

    def path(self, key: str) -> Path | None: ...

    def token(self) -> Secret | None:
        """From ``token`` or ``token_file``, whichever was set at the higher precedence."""
        ...

    def problem(self, key: str, check: str, message: str) -> None:
        """Report an error at the place ``key`` was set; the client is then not configured."""
        ...


def tls_keys(client: str) -> tuple[Key, ...]:
    """The TLS keys of ``client``: ``SLO_GRAFANA_CA_FILE``, ``--grafana-ca-file``,
    ``grafana: {ca_file: ...}``; paths, so targets.yaml's are relative to that file."""
    prefix = "SLO_" + client.upper().replace("-", "_")
    return tuple(Key(name, f"{prefix}_{name.upper()}", path=True) for name in TLS_KEYS)


@dataclass(frozen=True)
class Tls:
    """A target's own TLS files: the CA bundle that verifies its certificate (instead of the
    system's or ``REQUESTS_CA_BUNDLE``), and a client certificate with its key (the key may be in
    the certificate's file)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def verify(self, tls_verify: bool) -> bool | str:
        """What requests' ``verify`` gets."""
        return str(self.ca_file) if tls_verify and self.ca_file else tls_verify

    def cert(self) -> str | tuple[str, str] | None:
        """What requests' ``cert`` gets."""
        if self.cert_file is None:
            return None
        return (str(self.cert_file), str(self.key_file)) if self.key_file else str(self.cert_file)


@dataclass(frozen=True)
class Settings:
    """How to push, whichever the clients: the same for every client of one run."""

    out_dir: Path
    prune: bool = False  # also delete managed objects out/ no longer has
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # promtool/amtool before writing; tests switch them off to reach the server's own refusal
    checks: bool = True


@dataclass(frozen=True)
class Context:
    """What ``build`` gets besides its endpoint: the model, the run's settings, and a transport
    with the run's timeout, TLS and retry policy. ``of`` gives each client its own context,
    whose transport uses that client's TLS files."""

    model: Model
    settings: Settings
    timeout: float
    tls_verify: bool
    tls: Mapping[str, Tls] = field(default_factory=dict)  # by client name
    client: str = ""  # the client this context is for (``of``)

    def of(self, client: str) -> Context:
        return replace(self, client=client)

    @property
    def out_dir(self) -> Path:
        return Path(self.settings.out_dir)

    def transport(
        self, url: str, token: Secret | None = None, headers: dict[str, str] | None = None
    ) -> Transport:
        tls = self.tls.get(self.client, Tls())
        return Transport(
            url,
            headers=headers or {},
            token=token,
            timeout=self.timeout,
            verify=tls.verify(self.tls_verify),
            cert=tls.cert(),
            policy=self.settings.policy,
        )


@dataclass(frozen=True)
class PushClient(Generic[E]):
    """One live system `slo push` delivers to, declared once (see the module's docstring)."""

    name: str
    keys: tuple[Key, ...]
    delivers: tuple[Delivers, ...]
    configure: Callable[[Section], E | None]  # None after reporting a problem
    build: Callable[[E, Context], Pusher]

    def __post_init__(self) -> None:
        if not any(key.name == URL for key in self.keys):
            raise ValueError(f"push client {self.name} has no {URL!r} key")
        declared = {key.name for key in self.keys}
        tls = tuple(key for key in tls_keys(self.name) if key.name not in declared)
        object.__setattr__(self, "keys", self.keys + tls)  # declared once, here, for every client

    def setting(self, key: Key) -> str:
        """The setting's name across sources: ``prometheus.rules_dir``."""
        return f"{self.name}.{key.name}"

    @property
    def url_key(self) -> Key:
        return next(key for key in self.keys if key.name == URL)

    def missing_output(self, out_dir: Path) -> str | None:
        """Why out/ has nothing for this client, or None when it has."""
        for delivered in self.delivers:
            reason = delivered.missing_reason(out_dir)
            if reason:
                return reason
        return None
