"""HTTP for every push client: timeouts, bounded retries, and secrets that never leak.

Every request slo sends is idempotent (PUT-like POSTs that overwrite by name or uid, deletes by
uid, reloads), so a request that died half way may be sent again. What is retried: connection
errors, timeouts and 5xx answers, with exponential backoff and jitter (so many clients that
failed together do not retry together). What is not: 4xx answers, which say that the request
itself is wrong and will be wrong again.
"""

from __future__ import annotations

import base64
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

DEFAULT_TIMEOUT = 10.0  # seconds to wait for an answer
CONNECT_TIMEOUT = 3.05  # slightly above a TCP retransmit window
DEFAULT_RETRIES = 3  # after the first attempt
DEFAULT_BACKOFF = 0.5  # first pause, doubled each retry
MAX_BACKOFF = 8.0
BODY_EXCERPT = 300  # characters of a server's answer quoted in an error
# The most of one answer slo reads. The largest real answers are a ruler's or Prometheus' whole
# rule set: 20 MiB for 1,000 services (bench/README.md), so 1 GiB leaves room for ten times that
# with every field a server adds, and still stops a server that streams without end.
MAX_ANSWER_BYTES = 1024**3
_CHUNK = 1024 * 1024
REDACTED = "<redacted>"


# --- secrets -----------------------------------------------------------------------------------
# Every Secret alive in the process: ``redact`` replaces their values wherever they appear, so a
# server that echoes a token or password back (in an error, a reload answer, anything) has it
# replaced before the text reaches a message. Weak references: a secret leaves with its owner.
_SECRETS_LOCK = threading.Lock()
_SECRETS: weakref.WeakValueDictionary[int, Secret] = weakref.WeakValueDictionary()
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Secret:
    """A token or password: usable as text where it is needed, shown nowhere else."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str):
        self._value = value
        if value:
            with _SECRETS_LOCK:
                _SECRETS[id(self)] = self

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def control_character(text: str) -> str | None:
    """The first control character in ``text`` (a line break, an escape...), as ``\\n``, or
    None. A token holding one cannot go into an HTTP header: requests would refuse it and print
    the header, token and all."""
    found = _CONTROL.search(text)
    return None if found is None else repr(found.group())[1:-1]


def _known_values() -> list[str]:
    """The values of every live secret, in every form a message may carry them, longest first."""
    with _SECRETS_LOCK:
        values = [secret.reveal() for secret in list(_SECRETS.values())]
    forms: set[str] = set()
    for value in values:
        forms.update((value, quote(value, safe=""), " ".join(value.split())))
    forms.discard("")
    return sorted(forms, key=len, reverse=True)


def _basic_credentials(match: re.Match[str]) -> str:
    """``Basic <base64 of user:password>`` with the credentials redacted; other text as it was."""
    try:
        decoded = base64.b64decode(match.group(2), validate=True)
    except ValueError:
        return match.group()
    return match.group(1) + REDACTED if b":" in decoded else match.group()


# Secrets by their form, for the ones slo did not create (a server echoing someone else's): URL
# userinfo (anything up to the authority's last "@", so a raw "@" in the password leaks nothing),
# bearer tokens, Basic credentials, Authorization headers, secret parameters and JSON fields, and
# well-known token formats.
_USERINFO_IN_TEXT = re.compile(r"(?<=://)[^\s/?#]*@")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
_BASIC = re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
_AUTHORIZATION = re.compile(
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)([A-Za-z]+\s+)?[^\s\"',;}]+"
)
_SECRET_NAMES = (
    r"password|passwd|pwd|secret|client_secret|token|access_token|auth_token|id_token"
    r"|refresh_token|api_?key|apikey|private_key"
)
_SECRET_PARAMETER = re.compile(rf"(?i)([?&;\s]|^)((?:{_SECRET_NAMES})=)[^\s&;#\"']+")
_SECRET_FIELD = re.compile(rf"(?i)(\"(?:{_SECRET_NAMES})\"\s*:\s*\")(?:[^\"\\]|\\.)+")
_TOKEN_FORMS = re.compile(
    r"glsa_[A-Za-z0-9_]{8,}"  # Grafana service-account token
    r"|eyJrIjoi[A-Za-z0-9+/=]{8,}"  # Grafana API key
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # a JWT
    r"|xox[abposr]-[0-9A-Za-z-]{10,}"  # Slack
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(?:-----END [A-Z ]*PRIVATE KEY-----)?"
)


def redact(text: str) -> str:
    """``text`` with every secret replaced by ``<redacted>``: the values of all live Secrets (in
    any of their forms) and secrets recognised by their form. The one redaction of slo: every
    message that may carry server text or request data goes through it, before any truncation."""
    text = str(text)
    for value in _known_values():
        if value in text:
            text = text.replace(value, REDACTED)
    if "://" in text:
        text = _USERINFO_IN_TEXT.sub(REDACTED + "@", text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _BASIC.sub(_basic_credentials, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + (m.group(2) or "") + REDACTED, text)
    text = _SECRET_PARAMETER.sub(r"\1\2" + REDACTED, text)
    text = _SECRET_FIELD.sub(r"\1" + REDACTED, text)
    return _TOKEN_FORMS.sub(REDACTED, text)


class PushError(Exception):
    """Something a push client cannot do; the message is safe to print: it is redacted here,
    whatever server text went into it."""

    def __init__(self, message: object = "", *args: object):
        super().__init__(redact(str(message)), *args)


class HttpError(PushError):
    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = redact(body)


class _Answer(requests.Response):
    """A response read in full (bounded), whose ``json()`` fails like any other bad JSON when the
    answer nests deeper than Python's recursion limit, instead of raising RecursionError."""

    def json(self, **kwargs: Any) -> Any:
        try:
            return super().json(**kwargs)
        except RecursionError:
            raise requests.JSONDecodeError("nested too deeply", "", 0) from None


class _AnswerTooLarge(Exception):
    pass


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
    """One base URL, its headers, secrets and TLS settings; ``request`` retries what is worth
    retrying and reads answers of at most ``max_answer`` bytes."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        token: Secret | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        max_answer: int = MAX_ANSWER_BYTES,
    ):
        parts = urlsplit(base_url)
        # https://user:password@host means basic auth: the credentials move from the URL, which
        # messages show, into the session. The userinfo ends at the authority's last "@" (as
        # urlsplit reads it), so a raw "@" in the password stays in the password.
        userinfo, at, host = parts.netloc.rpartition("@")
        self.base_url = (urlunsplit(parts._replace(netloc=host)) if at else base_url).rstrip("/")
        self.timeout = timeout
        self.policy = policy
        self.max_answer = max_answer
        self._sleep = sleep
        self._rng = rng
        # Passed with every request: a session's own verify loses to REQUESTS_CA_BUNDLE, which
        # would override a ca_file and even --insecure-skip-tls-verify.
        self.verify = verify
        self.cert = cert
        self._secrets: list[Secret] = []  # kept alive while the transport is: redact knows them
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = "slo-push"
        self.session.headers.update(headers or {})
        if token is not None and token.reveal():
            if control_character(token.reveal()):
                raise PushError("the token contains a control character; a token is one line")
            self._secrets.append(token)
            self.session.headers["Authorization"] = f"Bearer {token.reveal()}"
        if at:
            user, password = unquote(parts.username or ""), unquote(parts.password or "")
            self.session.auth = (user, password)
            header = base64.b64encode(_latin1_or_utf8(f"{user}:{password}")).decode("ascii")
            raw = userinfo.partition(":")[2]
            self._secrets += [Secret(v) for v in (password, raw, f"{user}:{password}", header)]
        self.attempts = 0  # requests actually sent, retries included (tests and reports read it)

    def redact(self, text: str) -> str:
        return redact(text)

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
        other answer, read in full.

        Raises HttpError once the retries are used up, or at once for what no retry can mend (a
        TLS failure, a request requests refuses to send, an answer larger than ``max_answer``);
        its message names the method, URL and reason.
        """
        url = self.url(path)
        timeout = kwargs.setdefault("timeout", (CONNECT_TIMEOUT, self.timeout))
        kwargs.setdefault("verify", self.verify)
        if self.cert is not None:
            kwargs.setdefault("cert", self.cert)
        kwargs["stream"] = True  # read below, up to max_answer
        wait = (
            timeout[1] if isinstance(timeout, tuple) else timeout
        )  # what a caller chose, for the message
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                response = self._read(self.session.request(method, url, **kwargs))
            except requests.exceptions.SSLError as exc:
                raise HttpError(f"{method} {url}: TLS failed ({_reason(exc)})") from None
            except requests.Timeout:
                failure, status, body = f"no answer within {wait:g}s", None, ""
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                failure, status, body = f"connection failed ({_reason(exc)})", None, ""
            except requests.RequestException as exc:  # InvalidHeader, InvalidURL, ...
                raise HttpError(
                    f"{method} {url}: cannot send the request "
                    f"({type(exc).__name__}: {excerpt(str(exc))})"
                ) from None
            except _AnswerTooLarge:
                raise HttpError(
                    f"{method} {url}: the answer is larger than {self.max_answer} bytes; "
                    "not read further"
                ) from None
            else:
                if not (retry_status and response.status_code >= 500):
                    return response
                body = excerpt(response.text)
                failure, status = f"HTTP {response.status_code}: {body}", response.status_code
            if attempt > self.policy.retries:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise HttpError(f"{method} {url}: {failure}{tries}", status, body)
            self._sleep(self.policy.pause(attempt, self._rng))

    def _read(self, response: requests.Response) -> requests.Response:
        """The whole answer, or _AnswerTooLarge beyond ``max_answer`` bytes (decompressed)."""
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > self.max_answer:
                    raise _AnswerTooLarge
                chunks.append(chunk)
        finally:
            response.close()
        answer = _Answer()
        answer.__dict__.update(response.__dict__)
        answer._content = b"".join(chunks)
        return answer

    def expect(
        self, response: requests.Response, ok: Iterable[int], what: str
    ) -> requests.Response:
        """``response`` if its status is in ``ok``, else an HttpError quoting the server."""
        if response.status_code in set(ok):
            return response
        body = excerpt(response.text)
        raise HttpError(f"{what}: HTTP {response.status_code}: {body}", response.status_code, body)


def _latin1_or_utf8(text: str) -> bytes:
    """Basic credentials as requests encodes them."""
    try:
        return text.encode("latin1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def without_userinfo(url: str) -> str:
    """``https://user:pw@host/x`` -> ``https://<redacted>@host/x``, for messages: everything up to
    the last "@" is the userinfo here, whatever characters the password holds (a URL shown
    this way is one slo was given, and may be malformed)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return redact(url)
    return redact(f"{scheme}://{REDACTED}@{rest.rpartition('@')[2]}")


def excerpt(text: str) -> str:
    """A server's answer for a message: redacted first, then on one line and truncated, so a
    secret cut by the truncation cannot be shown in part."""
    text = " ".join(redact(text or "").split())
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
