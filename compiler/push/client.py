"""What a push client declares once, in its own module, for the rest of `slo push` to use.

A client is a ``PushClient``: its name; its configuration keys (each with its environment
variable; the flag and the targets.yaml key follow from the name); which out/ paths it
delivers; ``configure``, which turns the resolved settings into the client's endpoint; and
``build``, which makes the pusher. endpoints.py (sources, targets.yaml schema), the command
line's options, runner.py and the report order all iterate the registry (registry.py), so a
new client is its module, one line there, and its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from compiler.core.model import Model
from compiler.push.plan import Pusher
from compiler.push.transport import RetryPolicy, Secret, Transport

URL = "url"  # every client has this key; a client is configured when it is set
TOKEN, TOKEN_FILE = "token", "token_file"  # the keys ``Section.token`` reads

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
    with the run's timeout, TLS and retry policy."""

    model: Model
    settings: Settings
    timeout: float
    tls_verify: bool

    @property
    def out_dir(self) -> Path:
        return Path(self.settings.out_dir)

    def transport(
        self, url: str, token: Secret | None = None, headers: dict[str, str] | None = None
    ) -> Transport:
        return Transport(
            url,
            headers=headers or {},
            token=token,
            timeout=self.timeout,
            verify=self.tls_verify,
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
