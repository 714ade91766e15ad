"""A client for the Cartum store API (the Horoshop API): token auth with renewal, the
``{"status", "response"}`` envelope, pagination generators and clear errors.
No Airflow imports; retries, backoff and throttling come from ``transport``.

Every request carries a descriptive User-Agent (``default_user_agent``, or the one given):
some stores' bot filters answer python-requests' own with a JS-challenge page, and such
an answer is reported as that, with the hint to change the connection's ``user_agent``.

Orders by creation window are read by ``window`` (time slices that each fit one answer,
so a deletion or insertion during the read skips nothing, and a silent page cap is
learned rather than taken for the last page); orders by id are asked again for the ids a
capped answer left out. Catalogue and customers page by offset.

**Bounded reads.** A misbehaving API cannot keep a read going or fill the memory: one read
(a creation window of ``orders/get``, a whole ``catalog/export``, a ``users/export``)
takes at most ``max_pages`` answers and ``max_rows`` distinct records, else
``MisbehavingApiError`` names the function and what to do (the caller's cursor does not
move: nothing of the read is used). Offset paging drops rows the read already gave (the
same article or id again), and a page exactly like the one before it ends the read with a
warning (the API ignores ``offset``: what follows cannot be read); such a read is *cut
short*: ``take_read_warnings`` hands the warnings to the run, and ``cut_short`` names the
functions, so that no cursor moves over what was not read. In a creation window, whose
cursor needs the whole window, such a page is an error instead. Each answer's size is
capped by the transport (``assumptions.MAX_ANSWER_BYTES``).
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from typing import Any, Callable, Iterable, Iterator

import requests

from .. import __version__, assumptions
from ..ratelimit import LocalRateLimiter
from .shapes import is_challenge_page, object_rows, row_identity
from .window import MisbehavingServerError, PageSize, WindowReader, WindowReadError, parse_bound
from ..transport import (
    AccessDeniedError,
    ApiError,
    CredentialsError,
    FatalApiError,
    NotAnApiError,
    RateLimiter,
    RetryPolicy,
    MisbehavingApiError,
    Transport,
    describe_answer,
    looks_like_html,
)

log = logging.getLogger(__name__)

TOKEN_TTL = 600.0            # [doc] seconds a token lives
TOKEN_RENEW_MARGIN = 30.0    # renew this long before it would expire
CATALOG_PAGE_LIMIT = 500     # [doc] catalog/export caps limit at 500

#: [doc] the built-in statuses, for platforms older than 4.0 without get_available_statuses.
BUILTIN_STATUSES = [
    {"id": 1, "title": {"en": "New", "ua": "Новий", "ru": "Новый"}, "is_successful": 0},
    {"id": 2, "title": {"en": "Processing", "ua": "В обробці", "ru": "В обработке"}, "is_successful": 0},
    {"id": 3, "title": {"en": "Delivered", "ua": "Доставлено", "ru": "Доставлен"}, "is_successful": 1},
    {"id": 4, "title": {"en": "Canceled / Not delivered", "ua": "Скасовано", "ru": "Отменен"}, "is_successful": 0},
    {"id": 6, "title": {"en": "Shipping", "ua": "Відправлено", "ru": "Отправлен"}, "is_successful": 0},
]


class CartumError(FatalApiError):
    """Cartum answered ``ERROR``/``EXCEPTION``, or something else that retrying won't fix."""


class UndefinedFunctionError(CartumError):
    """The store's platform version does not know this function."""


def default_user_agent() -> str:
    """The User-Agent sent when the connection names none: the project and its version."""
    return assumptions.CARTUM_USER_AGENT.format(version=__version__)


def connection_user_agent(extra: dict[str, Any]) -> str | None:
    """A connection's extra ``user_agent``, or None (empty or absent) for the default."""
    value = extra.get("user_agent")
    return (str(value).strip() or None) if value is not None else None


def format_time(value: date | datetime | str) -> str:
    """Cartum's date filters take ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS`` (store local time)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return value


def _unseen(rows: list[Any], field: str, seen: set[Any]) -> list[Any]:
    """The rows whose ``field`` is not in ``seen`` (added to it); a row without a usable
    key (not an object, no string or number there) is kept, for the boundary to judge."""
    fresh = []
    for row in rows:
        value = row.get(field) if isinstance(row, dict) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            if value in seen:
                continue
            seen.add(value)
        fresh.append(row)
    return fresh


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class CartumClient:
    """One store's API. ``base_url`` is the store address with its scheme."""

    def __init__(self, base_url: str, login: str, password: str, *,
                 requests_per_second: float = assumptions.CARTUM_DEFAULT_REQUESTS_PER_SECOND,
                 limiter: RateLimiter | None = None, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None, token_ttl: float = TOKEN_TTL,
                 clock: Callable[[], float] = time.monotonic, user_agent: str | None = None,
                 max_pages: int = assumptions.CARTUM_MAX_PAGES_PER_READ,
                 max_rows: int = assumptions.CARTUM_MAX_ROWS_PER_READ,
                 max_answer_bytes: int = assumptions.MAX_ANSWER_BYTES):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Cartum store URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.login = login
        self._password = password
        limiter = limiter if limiter is not None else (
            LocalRateLimiter.per_second(requests_per_second) if requests_per_second else None)
        self.user_agent = (user_agent or "").strip() or default_user_agent()
        self.transport = Transport("Cartum", self.base_url, timeout=timeout, retry=retry, limiter=limiter,
                                   session=session, headers={"User-Agent": self.user_agent},
                                   max_answer_bytes=max_answer_bytes)
        self.max_pages, self.max_rows = max_pages, max_rows
        self.cut_short: set[str] = set()     # functions whose read ended early (a repeated page)
        self._read_warnings: list[str] = []
        self._token: str | None = None
        self._token_expires = 0.0
        #: where the session token is kept between processes (``tokens.TokenCache``), and
        #: where the status list is (``reference.ReferenceCache``): both set by a run
        #: (``use_caches``), None otherwise
        self.token_cache: Any = None
        self.reference_cache: Any = None
        self._cache_read = False
        self._token_ttl = token_ttl
        self._clock = clock
        self._orders_pages = PageSize(asked=0)  # what orders/get answers showed of the page size

    def __repr__(self) -> str:
        return f"CartumClient(base_url={self.base_url!r}, login={self.login!r}, password='***')"

    @property
    def stats(self):  # type: ignore[no-untyped-def]
        return self.transport.stats

    # --- envelope and auth ------------------------------------------------------------

    def _post(self, function: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = f"/api/{function}/"
        # Every Cartum function is a POST, and every one is safe to send again: auth and the
        # reads (orders/get, catalog/export, users/export, get_available_statuses) only read,
        # and orders/update sets given values, so a repeat sets the same ones.
        response = self.transport.request("POST", path, json=body, repeatable=True)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "status" not in payload:
            if looks_like_html(response) and is_challenge_page(response.content):
                raise NotAnApiError(
                    f"{self.base_url} answered {function} with a JavaScript challenge page (HTTP "
                    f"{response.status_code}) instead of the Cartum API's JSON: not a reachable Cartum API for this "
                    f"client. A bot filter in front of the store likely blocks the User-Agent {self.user_agent!r}: "
                    f"set another one in the Cartum connection's extra `user_agent` (e.g. the store's own "
                    f"recommendation, or a browser-like one), or ask the store's host to let /api/ through. Check "
                    f"the store URL too.", status=response.status_code)
            raise NotAnApiError(
                f"{self.base_url} answered {function} with {describe_answer(response)} instead of the "
                f"Cartum API's JSON: not a reachable Cartum API. Check the store URL, that the store is up, "
                f"and that its plan includes the API module.", status=response.status_code)
        answer = payload.get("response")
        return str(payload["status"]), answer if isinstance(answer, dict) else {}

    def _message(self, answer: dict[str, Any]) -> str:
        message = str(answer.get("message") or answer.get("code") or "no message")
        return message.replace(self._password, "***") if self._password else message

    def _raise_for_error(self, function: str, status: str, answer: dict[str, Any]) -> None:
        message = self._message(answer)
        marker_text = f"{message} {answer.get('code', '')}".lower()
        if any(marker in marker_text for marker in assumptions.CARTUM_NO_API_ACCESS_MARKERS):
            raise AccessDeniedError(
                f"Cartum store {self.base_url} has no API access ({message}): the store's tariff plan must "
                f"include the API; upgrade the plan or ask Cartum support to enable it.")
        if status == "UNDEFINED_FUNCTION":
            raise UndefinedFunctionError(
                f"Cartum store {self.base_url} does not know the function {function!r} ({message}): "
                f"its platform version is older than this feature needs.")
        raise CartumError(f"Cartum {function} failed at {self.base_url}: {status}: {message}")

    def authenticate(self) -> None:
        """Log in and keep the token. Raises ``CredentialsError`` with what to check."""
        if not self.login or not self._password:
            raise CredentialsError(f"Cartum login and password are both required for {self.base_url}.")
        status, answer = self._post("auth", {"login": self.login, "password": self._password})
        token = answer.get("token")
        if status == "OK" and token:
            self._token = str(token)
            self._token_expires = self._clock() + self._token_ttl - TOKEN_RENEW_MARGIN
            self._cache_read = True   # what is kept now is this token
            log.info("Cartum: logged in to %s as %s", self.base_url, self.login)
            if self.token_cache is not None:
                self.token_cache.save(self._token, self._token_ttl - TOKEN_RENEW_MARGIN)
            return
        message = self._message(answer)
        marker_text = f"{message} {answer.get('code', '')}".lower()
        if any(marker in marker_text for marker in assumptions.CARTUM_NO_API_ACCESS_MARKERS):
            self._raise_for_error("auth", status, answer)
        hint = ("check the user name (not the e-mail: the Cartum user name is under Settings → Administrators) "
                "and the password") if "@" in self.login else (
                "check the user name (Settings → Administrators) and the password")
        raise CredentialsError(f"Cartum rejected login {self.login!r} for {self.base_url} ({message}): {hint}.")

    def auth_answer(self, session: requests.Session, timeout: float = 20.0) -> requests.Response:
        """The raw answer to one ``auth`` sent through ``session`` (its own User-Agent, no
        retries): what the probe compares with ours to see a bot filter."""
        return session.post(f"{self.base_url}/api/auth/", json={"login": self.login, "password": self._password},
                            timeout=timeout)

    def use_caches(self, engine: Any, reference_minutes: int) -> None:
        """Keep the session token (encrypted, ``tokens``) and the status list (for
        ``reference_minutes``, ``reference``) in the state database behind ``engine``."""
        from ..ratelimit import bucket_name
        from ..reference import CARTUM_KINDS, ReferenceCache
        from .tokens import TokenCache

        self.token_cache = TokenCache(engine, self.base_url, self.login, self._password)
        self.reference_cache = ReferenceCache(engine, bucket_name("cartum", self.base_url), CARTUM_KINDS,
                                              reference_minutes)

    def _kept_token(self) -> None:
        """Take the kept token, once per client, when this client holds none."""
        if self._cache_read or self.token_cache is None or self._token is not None:
            return
        self._cache_read = True
        kept = self.token_cache.load()
        if kept is not None:
            self._token, left = kept
            self._token_expires = self._clock() + left

    def _ensure_token(self) -> str:
        self._kept_token()
        if self._token is None or self._clock() >= self._token_expires:
            self.authenticate()
        assert self._token is not None
        return self._token

    def ensure_login(self, min_life: float = 0.0) -> bool:
        """Hold a token that lives at least ``min_life`` seconds more: the kept one, or a
        fresh login (which checks the credentials). Returns True when it logged in."""
        self._kept_token()
        if self._token is not None and self._token_expires - self._clock() >= min_life:
            return False
        self.authenticate()
        return True

    def call(self, function: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call one function with the session token; returns ``response`` (``{}`` for EMPTY).

        An expired or rejected token gets one fresh login and one retry."""
        body = dict(body or {})
        for attempt in (1, 2):
            status, answer = self._post(function, {**body, "token": self._ensure_token()})
            if status in ("OK", "EMPTY"):
                return answer
            if status == "WARNING":
                for entry in answer.get("log") or []:
                    log.warning("Cartum %s warning: %s", function, entry)
                return answer
            if status in ("UNAUTHORIZED", "AUTHORIZATION_ERROR") and attempt == 1:
                log.info("Cartum %s: session token %s; logging in again", function,
                         "expired" if status == "UNAUTHORIZED" else "rejected")
                self._token = None
                self._cache_read = True   # the kept one is this one: not taken again
                if self.token_cache is not None:
                    self.token_cache.drop()
                continue
            if status in ("UNAUTHORIZED", "AUTHORIZATION_ERROR"):
                raise CredentialsError(
                    f"Cartum keeps rejecting the session for {self.base_url} right after a fresh login "
                    f"({self._message(answer)}): check that the administrator {self.login!r} still exists and "
                    f"has API rights.")
            self._raise_for_error(function, status, answer)
        raise AssertionError("unreachable")

    # --- pagination -------------------------------------------------------------------

    def take_read_warnings(self) -> list[str]:
        """The warnings of the reads so far (a read cut short), once each."""
        taken, self._read_warnings = self._read_warnings, []
        return taken

    def _too_many(self, function: str, what: str, count: int, unit: str, setting: str) -> MisbehavingApiError:
        return MisbehavingApiError(
            f"Cartum returned {what} {count:,} of {function} for one {unit} at {self.base_url}; the store's API is "
            f"misbehaving (it never reaches the end). The read was stopped and nothing of it was used (no cursor "
            f"moved); the next run tries again. If the store really holds that much, raise the Cartum "
            f"connection's extra `{setting}`.")

    def iter_pages(self, function: str, body: dict[str, Any], key: str, page_size: int,
                   row_key: str | None = None) -> Iterator[list[dict]]:
        """Yield pages of ``response[key]`` using ``limit``/``offset`` until a short page,
        within the read limits (see the module's notes): rows whose ``row_key`` the read
        already gave are dropped, a page exactly like the one before ends the read with a
        warning, more than ``max_pages`` pages or ``max_rows`` rows raise."""
        offset, total, page, started = 0, 0, 0, time.monotonic()
        seen: set[Any] = set()
        previous: list[Any] | None = None
        while True:
            if page >= self.max_pages:
                raise self._too_many(function, "page", page, "read", "max_pages_per_read")
            answer = self.call(function, {**body, "limit": page_size, "offset": offset})
            rows = answer.get(key) or []
            page += 1
            if rows and rows == previous:
                warning = (f"Cartum {function} answered page {page} (offset {offset}) exactly like page {page - 1}: "
                           f"the store's API ignores offset, so the read ended there with {total:,} rows and what "
                           f"follows was not read this run (nothing moved past it; the next run reads again)")
                log.warning("%s", warning)
                self._read_warnings.append(warning)
                self.cut_short.add(function)
                return
            previous = rows
            fresh = rows if row_key is None else _unseen(rows, row_key, seen)
            total += len(fresh)
            if total > self.max_rows:
                raise self._too_many(function, "record", total, "read", "max_rows_per_read")
            log.info("Cartum %s: page %d (offset %d): %d rows (%d new), %d so far, %.1f s", function, page, offset,
                     len(rows), len(fresh), total, time.monotonic() - started)
            if fresh:
                yield fresh
            if len(rows) < page_size:
                return
            offset += len(rows)

    def iter_orders(self, *, created_from: date | datetime | str | None = None,
                    created_to: date | datetime | str | None = None, statuses: Iterable[int] | None = None,
                    page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every order created in the window (inclusive, store local time) that exists
        during the whole read, each once, in no particular order (see ``window``).

        Without ``created_to`` the window is open: orders created while it is read may
        come too; the reader does not set ``to`` to "now" itself, it needs no end to be
        complete (an open-ended answer that is complete ends the window), and it knows no
        store clock. A window that fits one answer costs one call (a first short page
        costs one more, once per client, to tell it from a capped one)."""
        body: dict[str, Any] = {"additionalData": True}
        if statuses is not None:
            body["status"] = list(statuses)
        known = self._orders_pages
        pages = PageSize(asked=page_size, proven=min(known.proven, page_size),
                         capped=known.capped and known.proven < page_size)

        def fetch(lo: datetime | None, hi: datetime | None, offset: int) -> list[dict[str, Any]]:
            bounds = {name: format_time(value) for name, value in (("from", lo), ("to", hi)) if value is not None}
            answer = self.call("orders/get", {**body, **bounds, "limit": page_size, "offset": offset})
            return object_rows(answer.get("orders") or [])

        reader = WindowReader(fetch, pages, assumptions.CARTUM_ORDER_CREATED_FIELD, "order_id",
                              max_calls=self.max_pages)
        lo, hi = parse_bound(created_from, end=False), parse_bound(created_to, end=True)
        seen: set[Any] = set()
        started = time.monotonic()
        try:
            for rows in reader.read(lo, hi):
                fresh = [row for row in rows if row_identity(row, "order_id") not in seen]
                seen.update(row_identity(row, "order_id") for row in fresh)
                if len(seen) > self.max_rows:
                    raise self._too_many("orders/get", "order", len(seen), "creation window", "max_rows_per_read")
                yield from fresh
        except MisbehavingServerError as exc:
            setting = "max_pages_per_read" if reader.calls >= self.max_pages else None
            raise MisbehavingApiError(
                f"Cartum {exc} (store {self.base_url}, window from {lo or 'the beginning'}); the store's API is "
                f"misbehaving. The read was stopped and nothing of it was used (the orders cursor did not move); "
                f"the next run reads the window again."
                + (f" If the store really holds that many orders in the window, raise the Cartum connection's "
                   f"extra `{setting}`." if setting else "")) from None
        except WindowReadError as exc:
            raise CartumError(f"Cartum orders/get at {self.base_url}: {exc}") from None
        finally:
            if pages.proven >= known.proven:
                self._orders_pages = pages
        log.info("Cartum orders/get: window %s … %s: %d orders in %d calls, %d slices (pages of up to %s "
                 "orders seen), %.1f s", lo or "the beginning", hi or "open", len(seen), reader.calls,
                 max(reader.slices, 1), pages.proven or "?", time.monotonic() - started)

    def get_orders_by_ids(self, ids: Iterable[int]) -> Iterator[dict[str, Any]]:
        """Orders by number, in batches small enough for the server's body limit. A batch
        answered with fewer orders than asked is asked again for the rest (a server may cap
        its pages); an answer with none of them ends it (those orders do not exist)."""
        for batch in _chunks(sorted(set(ids)), assumptions.CARTUM_IDS_PER_CALL):
            wanted = batch
            while wanted:
                # Every order asked fits one page unless the server caps it.
                answer = self.call("orders/get", {"ids": wanted, "additionalData": True, "limit": len(wanted),
                                                  "offset": 0})
                asked = set(wanted)
                rows = [row for row in object_rows(answer.get("orders") or []) if row_identity(row, "order_id") in asked]
                log.info("Cartum orders/get: %d of %d orders by id", len(rows), len(wanted))
                yield from rows
                if len(rows) == len(wanted) or not rows:
                    break
                got = {row_identity(row, "order_id") for row in rows}
                wanted = [i for i in wanted if i not in got]

    def iter_products(self, *, articles: Iterable[str] | None = None, page_size: int = CATALOG_PAGE_LIMIT,
                      **expr: Any) -> Iterator[dict[str, Any]]:
        """The catalogue, or the products with the given articles."""
        page_size = min(page_size, CATALOG_PAGE_LIMIT)
        self.cut_short.discard("catalog/export")
        if articles is not None:
            for batch in _chunks(sorted(set(articles)), page_size):
                for rows in self.iter_pages("catalog/export", {"expr": {**expr, "article": batch}}, "products",
                                            page_size, row_key="article"):
                    yield from rows
            return
        body = {"expr": expr} if expr else {}
        for rows in self.iter_pages("catalog/export", body, "products", page_size, row_key="article"):
            yield from rows

    def iter_customers(self, *, registered_from: date | datetime | str | None = None,
                       registered_to: date | datetime | str | None = None,
                       page_size: int = 500) -> Iterator[dict[str, Any]]:
        body: dict[str, Any] = {}
        if registered_from is not None:
            body["from"] = format_time(registered_from)
        if registered_to is not None:
            body["to"] = format_time(registered_to)
        self.cut_short.discard("users/export")
        for rows in self.iter_pages("users/export", body, "users", page_size, row_key="id"):
            yield from rows

    # --- single calls -----------------------------------------------------------------

    def get_statuses(self) -> list[dict[str, Any]]:
        """Every order status of the store; the built-in list on platforms before 4.0."""
        if self.reference_cache is not None:
            return self.reference_cache.get("cartum_statuses", self._read_statuses)
        return self._read_statuses()

    def _read_statuses(self) -> list[dict[str, Any]]:
        try:
            return list(self.call("orders/get_available_statuses").get("statuses") or [])
        except UndefinedFunctionError:
            log.info("Cartum %s has no orders/get_available_statuses (platform before 4.0): "
                     "using the built-in statuses", self.base_url)
            return [dict(s) for s in BUILTIN_STATUSES]

    def update_orders(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Push status/payment/tracking changes; returns the per-order problems (empty when all applied)."""
        answer = self.call("orders/update", {"orders": updates})
        return list(answer.get("log") or [])

    def check(self) -> str:
        """One cheap real call (auth): a sentence for the connection test."""
        self._token = None
        self._cache_read = True
        self.authenticate()
        return f"Logged in to the Cartum API of {self.base_url} as {self.login}."

    def close(self) -> None:
        self.transport.close()


__all__ = ["CartumClient", "CartumError", "UndefinedFunctionError", "ApiError", "BUILTIN_STATUSES",
           "connection_user_agent", "default_user_agent"]
