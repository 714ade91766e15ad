"""The HTTP layer both API clients share: timeouts, retries with exponential backoff and
jitter (honouring ``Retry-After``), rate limiting before every attempt, and errors sorted
once into retriable and fatal. No Airflow imports.

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

log = logging.getLogger(__name__)


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


class FatalApiError(ApiError):
    """Retrying the same call will not help: something must be fixed first."""


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


@dataclass
class CallStats:
    """API calls made, by path, and retries: the figures a run summary reports."""

    calls: int = 0
    writes: int = 0          # requests other than GET
    retries: int = 0
    by_path: dict[str, int] = field(default_factory=dict)

    def count(self, method: str, path: str) -> None:
        self.calls += 1
        if method != "GET":
            self.writes += 1
        self.by_path[path] = self.by_path.get(path, 0) + 1


class Transport:
    """Sends requests to one API with retries, backoff and rate limiting.

    ``system`` names the API in messages ("Cartum", "RO App"). Answers other than 429 and
    5xx are returned for the client to interpret; 429, 5xx, timeouts and dropped
    connections are retried and, when retries run out, raised as ``RetriableApiError``.
    """

    def __init__(self, system: str, base_url: str, *, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, session: requests.Session | None = None,
                 headers: dict[str, str] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.session = session or requests.Session()
        if headers:
            self.session.headers.update(headers)
        self.stats = CallStats()
        self._sleep = sleep

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> requests.Response:
        url = f"{self.base_url}{path}"
        last_problem = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            self.stats.count(method, path)
            retry_after: float | None = None
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
            except requests.Timeout:
                last_problem = f"no answer within {self.timeout:g} s"
            except requests.ConnectionError as exc:
                last_problem = f"connection failed or dropped ({type(exc).__name__})"
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    log.debug("%s %s %s -> %s in %.2f s", self.system, method, path, status,
                              time.monotonic() - started)
                    return response
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429:
                    last_problem = "HTTP 429 Too Many Requests"
                    retry_after = max(retry_after or 0.0, self.retry.min_retry_after_429) or None
                else:
                    last_problem = f"server error: {describe_answer(response)}"
            if attempt == self.retry.max_attempts:
                break
            wait = self.retry.delay(attempt, retry_after)
            self.stats.retries += 1
            log.warning("%s %s %s: %s; retry %d/%d in %.1f s", self.system, method, path, last_problem,
                        attempt, self.retry.max_attempts - 1, wait)
            self._sleep(wait)
        raise RetriableApiError(
            f"{self.system} {method} {url} still failing after {self.retry.max_attempts} attempts: {last_problem}. "
            f"The service may be down or overloaded; the next run will try again."
        )

    def close(self) -> None:
        self.session.close()
