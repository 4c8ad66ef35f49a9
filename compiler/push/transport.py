"""HTTP for every push client: timeouts, bounded retries, and secrets that never leak.

Every request slo sends is idempotent (PUT-like POSTs that overwrite by name or uid, deletes by
uid, reloads), so a request that died half way may be sent again. What is retried: connection
errors, timeouts and 5xx answers, with exponential backoff and jitter (so many clients that
failed together do not retry together). What is not: 4xx answers, which say that the request
itself is wrong and will be wrong again.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

DEFAULT_TIMEOUT = 10.0  # seconds to wait for an answer
CONNECT_TIMEOUT = 3.05  # slightly above a TCP retransmit window
DEFAULT_RETRIES = 3  # after the first attempt
DEFAULT_BACKOFF = 0.5  # first pause, doubled each retry
MAX_BACKOFF = 8.0
BODY_EXCERPT = 300  # characters of a server's answer quoted in an error


class Secret:
    """A token: usable as text where it is needed, shown nowhere else."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class PushError(Exception):
    """Something a push client cannot do; the message is safe to print."""


class HttpError(PushError):
    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_backoff: float = MAX_BACKOFF

    def pause(self, attempt: int, rng: Callable[[], float]) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng() * ceiling / 2


class Transport:
    """One base URL, its headers and secrets; ``request`` retries what is worth retrying."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        token: Secret | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool = True,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ):
        parts = urlsplit(base_url)
        # https://user:password@host means basic auth: the credentials move from the URL, which
        # messages show, into the session.
        self.base_url = _USERINFO.sub("", base_url).rstrip("/")
        self.timeout = timeout
        self.policy = policy
        self._sleep = sleep
        self._rng = rng
        self._secrets = [token.reveal()] if token is not None and token.reveal() else []
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = "slo-push"
        self.session.headers.update(headers or {})
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token.reveal()}"
        if parts.username is not None:
            password = unquote(parts.password or "")
            self.session.auth = (unquote(parts.username), password)
            self._secrets += [password] if password else []
        self.attempts = 0  # requests actually sent, retries included (tests and reports read it)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        retry_status: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send, retrying connection errors, timeouts and (if ``retry_status``) 5xx; return any
        other answer.

        Raises HttpError once the retries are used up; its message names the method, URL and reason.
        """
        url = self.url(path)
        timeout = kwargs.setdefault("timeout", (CONNECT_TIMEOUT, self.timeout))
        wait = (
            timeout[1] if isinstance(timeout, tuple) else timeout
        )  # what a caller chose, for the message
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                response = self.session.request(method, url, **kwargs)
            except requests.Timeout:
                failure, status, body = f"no answer within {wait:g}s", None, ""
            except requests.ConnectionError as exc:
                failure, status, body = f"connection failed ({_reason(exc)})", None, ""
            else:
                if not (retry_status and response.status_code >= 500):
                    return response
                body = self.redact(excerpt(response.text))
                failure, status = f"HTTP {response.status_code}: {body}", response.status_code
            if attempt > self.policy.retries:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise HttpError(self.redact(f"{method} {url}: {failure}{tries}"), status, body)
            self._sleep(self.policy.pause(attempt, self._rng))

    def expect(
        self, response: requests.Response, ok: Iterable[int], what: str
    ) -> requests.Response:
        """``response`` if its status is in ``ok``, else an HttpError quoting the server."""
        if response.status_code in set(ok):
            return response
        body = self.redact(excerpt(response.text))
        raise HttpError(f"{what}: HTTP {response.status_code}: {body}", response.status_code, body)


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def without_userinfo(url: str) -> str:
    """``https://user:pw@host/x`` -> ``https://<redacted>@host/x``, for messages."""
    return _USERINFO.sub("<redacted>@", url)


def excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= BODY_EXCERPT else text[: BODY_EXCERPT - 3] + "..."


def _reason(exc: Exception) -> str:
    """The innermost reason of a requests/urllib3 error, without the long repr chain."""
    inner = exc.args[0] if exc.args else exc
    inner = getattr(inner, "reason", None) or inner  # urllib3's MaxRetryError wraps the cause
    if (
        isinstance(inner, Exception)
        and len(inner.args) > 1
        and isinstance(inner.args[1], Exception)
    ):
        inner = inner.args[1]  # ProtocolError('Connection aborted.', RemoteDisconnected(...))
    text = str(inner)
    return excerpt(text.split("Failed to establish a new connection: ", 1)[-1])
