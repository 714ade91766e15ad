"""The HTTP layer both API clients share: timeouts, retries with exponential backoff and
jitter (honouring ``Retry-After``), rate limiting before every attempt, and errors sorted
once into retriable and fatal. No Airflow imports.

A request is retried automatically only when sending it again cannot do harm. Requests that
are *safe to repeat* (by default every method but POST; a caller may say otherwise per
call) are retried on 429, 5xx, timeouts and dropped connections. A request that is not
(a POST that creates something) is retried only when the server certainly did not apply
it: a 429, or a connection that could not be established. Any other failure of such a
request (no answer in time, a connection dropped after sending, a 5xx) raises
``AmbiguousWriteError`` at once: the caller must look at what the server holds before
writing again.

Every answer's body is read in chunks and refused once it passes ``max_answer_bytes``
(``assumptions.MAX_ANSWER_BYTES``; a declared ``Content-Length`` past it is refused before
reading): ``MisbehavingApiError``, never a memory blow-up. The limit counts the body as
decoded (a compressed answer counts at its real size).

It never logs or raises with request bodies or headers, where the secrets are.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Protocol

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from . import assumptions

log = logging.getLogger(__name__)

#: How much of an answer's body is read at a time.
READ_CHUNK_BYTES = 64 * 1024

#: Methods whose repetition cannot change the outcome: a repeated read reads again, a
#: repeated PUT/PATCH with the same body sets the same values, a repeated DELETE answers
#: 404, which callers treat as done. POST creates, so it is not in the list.
SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


class ApiError(Exception):
    """An API call failed. ``retriable`` says whether the same call may succeed later."""

    retriable = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class RetriableApiError(ApiError):
    """Rate limited, a server error, a timeout or a dropped connection, still failing
    after every retry. A later run may well succeed."""

    retriable = True


class AmbiguousWriteError(RetriableApiError):
    """A request that is not safe to repeat failed in a way that leaves its outcome unknown:
    no answer in time, the connection dropped after the request was sent, or a 5xx. The
    server may or may not have applied it, so it was not sent again. The caller must look
    at what the server holds (by a marker, a key, a list) before writing again.

    ``method`` and ``path`` name the request (never its body or headers); ``status`` is the
    HTTP status when there was an answer, else None."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None = None):
        super().__init__(message, status=status)
        self.method = method
        self.path = path


class FatalApiError(ApiError):
    """Retrying the same call will not help: something must be fixed first."""


class MisbehavingApiError(FatalApiError):
    """The API answered what no working API does: an answer past the size limit, pages
    without end. Retrying now will not help; a later run may, once the API behaves."""


class CredentialsError(FatalApiError):
    """Login, password, token or API key rejected."""


class AccessDeniedError(FatalApiError):
    """Authenticated, but not allowed: no API access on the plan, or a 403."""


class NotAnApiError(FatalApiError):
    """The address answered, but not with the API's JSON (an HTML page, a JS challenge)."""


class NotFoundError(FatalApiError):
    """404: the object or path does not exist."""


class ValidationError(FatalApiError):
    """The API rejected the data (400/422); ``field_errors`` holds its per-field messages."""

    def __init__(self, message: str, *, status: int | None = None, field_errors: dict[str, Any] | None = None):
        super().__init__(message, status=status)
        self.field_errors = field_errors or {}


class RateLimiter(Protocol):
    def acquire(self) -> None:
        """Block until one more request may be sent."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter: attempt n waits between half and all of
    ``base_delay * 2**(n-1)``, capped at ``max_delay``. A ``Retry-After`` from the server
    is honoured as the minimum wait (up to ``max_retry_after``)."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    min_retry_after_429: float = 0.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        rng = rng or random
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def looks_like_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    head = response.content[:200].lstrip().lower()
    return "html" in kind or head.startswith((b"<!doctype", b"<html"))


def describe_answer(response: requests.Response) -> str:
    """A short description of a non-JSON answer, without echoing the page."""
    if looks_like_html(response):
        return f"an HTML page (HTTP {response.status_code})"
    return f"HTTP {response.status_code} with a {response.headers.get('Content-Type') or 'non-JSON'} body"


def _reason(exc: BaseException) -> str:
    """The innermost cause's class name, e.g. ConnectionRefusedError or RemoteDisconnected."""
    current: BaseException = exc
    for _ in range(20):
        inner = [e for e in (getattr(current, "reason", None), *current.args, current.__cause__)
                 if isinstance(e, BaseException) and e is not current]
        if not inner:
            break
        current = inner[0]
    return type(current).__name__


def is_repeatable(method: str, repeatable: bool | None = None) -> bool:
    """Whether a request may be sent again after a failure whose outcome is unknown."""
    return repeatable if repeatable is not None else method.upper() in SAFE_TO_REPEAT


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: ``args``, urllib3's ``reason``, ``__cause__``. Never
    ``__context__``: that may be whatever exception the caller was handling when it sent
    the request, unrelated to this one."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 20:
        current = pending.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        linked = [getattr(current, "reason", None), current.__cause__, *current.args]
        pending.extend(e for e in linked if isinstance(e, BaseException))
    return seen


def never_sent(exc: requests.RequestException) -> bool:
    """True when the connection could not be established, so the server never saw the
    request: a connect timeout, a refused or unreachable address, a failed name look-up.
    False for everything that may have happened after the request was sent (a connection
    reset or closed mid-answer, a read timeout, a broken chunked body, TLS errors)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(
            exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return False
    return any(isinstance(cause, (NewConnectionError, ConnectTimeoutError)) for cause in _causes(exc))


@dataclass
class CallStats:
    """API calls made, by path, and retries: the figures a run summary reports."""

    calls: int = 0
    writes: int = 0          # requests other than GET
    retries: int = 0
    ambiguous: int = 0       # requests that raised AmbiguousWriteError
    by_path: dict[str, int] = field(default_factory=dict)

    def count(self, method: str, path: str) -> None:
        self.calls += 1
        if method != "GET":
            self.writes += 1
        self.by_path[path] = self.by_path.get(path, 0) + 1


class Transport:
    """Sends requests to one API with retries, backoff and rate limiting.

    ``system`` names the API in messages ("Cartum", "RO App"). Answers other than 429 and
    5xx are returned for the client to interpret. For a request that is safe to repeat
    (see ``SAFE_TO_REPEAT`` and ``request(repeatable=...)``), 429, 5xx, timeouts and
    dropped connections are retried and, when retries run out, raised as
    ``RetriableApiError``. A request that is not safe to repeat is retried only on 429 and
    on a connection that could not be established; any other failure raises
    ``AmbiguousWriteError`` at once.
    """

    def __init__(self, system: str, base_url: str, *, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, session: requests.Session | None = None,
                 headers: dict[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
                 max_answer_bytes: int = assumptions.MAX_ANSWER_BYTES):
        self.system = system
        self.max_answer_bytes = max_answer_bytes
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.session = session or requests.Session()
        if headers:
            self.session.headers.update(headers)
        self.stats = CallStats()
        self._sleep = sleep

    def _ambiguous(self, method: str, path: str, problem: str, status: int | None) -> AmbiguousWriteError:
        self.stats.ambiguous += 1
        return AmbiguousWriteError(
            f"{self.system} {method} {path}: the outcome is unknown ({problem}): {self.system} may or may not "
            f"have applied it; look before writing again.", method=method, path=path, status=status)

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                repeatable: bool | None = None) -> requests.Response:
        """Send one request, retrying what is safe to retry.

        ``repeatable`` overrides the method's default (``SAFE_TO_REPEAT``): pass True for a
        POST that only reads or that sets values idempotently, False for a write that must
        never be sent twice."""
        method = method.upper()
        repeat = is_repeatable(method, repeatable)
        url = f"{self.base_url}{path}"
        last_problem, last_status = "", None
        for attempt in range(1, self.retry.max_attempts + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            self.stats.count(method, path)
            retry_after: float | None = None
            last_status = None
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=params, json=json, timeout=self.timeout,
                                                stream=True)
                self._read_body(response, method, path)
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                if never_sent(exc):  # the server never saw it: safe to send again, whatever the method
                    last_problem = (f"could not connect within {self.timeout:g} s"
                                    if isinstance(exc, requests.exceptions.ConnectTimeout)
                                    else f"connection failed before the request was sent ({_reason(exc)})")
                else:
                    last_problem = (f"no answer within {self.timeout:g} s" if isinstance(exc, requests.Timeout)
                                    else f"connection dropped after the request was sent ({_reason(exc)})")
                    if not repeat:
                        raise self._ambiguous(method, path, last_problem, None) from None
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    log.debug("%s %s %s -> %s in %.2f s", self.system, method, path, status,
                              time.monotonic() - started)
                    return response
                last_status = status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429:
                    last_problem = "HTTP 429 Too Many Requests"
                    retry_after = max(retry_after or 0.0, self.retry.min_retry_after_429) or None
                else:
                    last_problem = f"server error: {describe_answer(response)}"
                    if not repeat:
                        raise self._ambiguous(method, path, last_problem, status)
            if attempt == self.retry.max_attempts:
                break
            wait = self.retry.delay(attempt, retry_after)
            self.stats.retries += 1
            log.warning("%s %s %s: %s; retry %d/%d in %.1f s", self.system, method, path, last_problem,
                        attempt, self.retry.max_attempts - 1, wait)
            self._sleep(wait)
        not_applied = "" if repeat else f" {self.system} did not apply it (it was refused or never reached)."
        raise RetriableApiError(
            f"{self.system} {method} {url} still failing after {self.retry.max_attempts} attempts: {last_problem}."
            f"{not_applied} The service may be down or overloaded; the next run will try again.",
            status=last_status)

    def _read_body(self, response: requests.Response, method: str, path: str) -> None:
        """Read the answer's body into ``response`` (``content``, ``json()`` work as usual),
        refusing one past ``max_answer_bytes`` without reading more of it."""
        limit = self.max_answer_bytes
        length = response.headers.get("Content-Length", "")
        declared = int(length) if length.isdigit() else None
        size = declared or 0
        chunks: list[bytes] = []
        if size <= limit:
            size = 0
            for chunk in response.iter_content(chunk_size=READ_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
        if size > limit:
            response.close()  # the rest is never read; the connection is not reused
            raise MisbehavingApiError(
                f"{self.system} answered {method} {path} with more than {_megabytes(limit)} (HTTP "
                f"{response.status_code}{'' if declared is None else ', ' + _megabytes(declared) + ' declared'}); "
                f"no answer of this API is that big: the API is misbehaving. The answer was refused without "
                f"reading the rest, and nothing of it was used; the next run tries again. If it lasts, tell "
                f"whoever runs the {self.system} side.", status=response.status_code)
        response._content = b"".join(chunks)  # what ``content`` returns once read

    def close(self) -> None:
        self.session.close()


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"
