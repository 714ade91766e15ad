"""A client for the RO App (Remonline) REST API: Bearer auth, both list formats, 50-row
pagination, repeated-key array filters, and errors that say what to do. No Airflow
imports; retries, backoff and the 3 requests/s limit come from ``transport`` and
``ratelimit``. Assumed paths and fields come from ``assumptions``.

Rules:
- Documented paths first (``/v2/company/locations``, ``/v2/company/employees``); when one
  answers 404 the legacy path (``/branches/``, ``/employees/``) is used instead, logged once
  per client.
- Answers are read in either shape the public sources show (``shapes``): wrapped or bare
  single objects, phones as objects or strings, barcodes as strings or objects, prices as
  ``prices[]`` or a flat ``price``, custom fields named by ``title`` or ``name``.
- Products are written with ``prices[]``; comments are sent with both ``is_private: true``
  and ``visibility: "private"``.
- An undocumented filter (``skus[]``, ``barcodes[]``) is never trusted: every row of its
  first page must match, or the filter counts as ignored for the rest of the client's life
  (one WARNING). Then products are matched over one scan of the catalogue (kept until the
  client writes a product), or over the ``catalogue_cache`` (``roapp.index``) while that
  holds a recent scan; a new scan goes into the cache. Values go 50 to a request while a
  filter is honoured. People are never asked for by e-mail (RO App documents no such
  filter): ``roapp.index`` finds them.
- ``account`` names the RO App account for the local index: a hash of the base URL and
  the key (``ratelimit.bucket_name``), never the key.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Iterator, Protocol

import requests

from .. import assumptions
from . import shapes
from ..ratelimit import bucket_name
from ..transport import (
    AccessDeniedError,
    CredentialsError,
    FatalApiError,
    NotAnApiError,
    NotFoundError,
    RateLimiter,
    RetryPolicy,
    Transport,
    ValidationError,
    describe_answer,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.roapp.io"   # [doc]
PAGE_SIZE = 50                              # [doc] rows a list page holds at most
LOOKUP_BATCH = 50                           # values of one array filter in one request


def roapp_retry_policy(**overrides: Any) -> RetryPolicy:
    """Backoff for RO App: a 429 without ``Retry-After`` still waits out the one-second window."""
    return RetryPolicy(**{"min_retry_after_429": assumptions.ROAPP_DEFAULT_RETRY_AFTER, **overrides})


def _array(name: str, values: Iterable[Any] | None) -> dict[str, list[Any]]:
    """Array filters are repeated query keys: ``ids[]=1&ids[]=2``."""
    return {name: list(values)} if values is not None else {}


class CatalogueCache(Protocol):
    """Where a catalogue scan is kept between clients (``roapp.index.CatalogueIndex``)."""

    def rows(self) -> list[dict[str, Any]] | None:
        """The products of a recent scan (``{id, sku, barcodes}``); None when a scan is due."""

    def replace(self, rows: list[dict[str, Any]]) -> None: ...

    def add(self, row: dict[str, Any]) -> None: ...

    def drop(self, product_id: int) -> None: ...


class RoAppClient:
    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, limiter: RateLimiter | None = None,
                 timeout: float = 30.0, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None):
        self._legacy_used: set[str] = set()        # documented paths that answered 404
        self._ignored_filters: set[str] = set()    # undocumented filters the API ignores
        self._catalogue: list[dict[str, Any]] | None = None  # one scan, while a product filter is ignored
        self.catalogue_cache: CatalogueCache | None = None    # the scan kept between runs
        #: the reference lists kept between runs (``reference.ReferenceCache``; set by a run)
        self.reference_cache: Any = None
        if not api_key:
            raise CredentialsError("RO App API key is empty: create one under RO App → Settings → API and put it "
                                   "in the connection's password field.")
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.account = bucket_name("roapp", f"{self.base_url} {api_key}")
        self.transport = Transport("RO App", self.base_url, timeout=timeout, retry=retry or roapp_retry_policy(),
                                   limiter=limiter, session=session,
                                   headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"RoAppClient(base_url={self.base_url!r}, api_key='***')"

    @property
    def stats(self):  # type: ignore[no-untyped-def]
        return self.transport.stats

    # --- one request ------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, repeatable: bool | None = None) -> Any:
        """Send one request; return the decoded JSON, or raise an ``ApiError`` that says what to do.

        A POST is not repeatable by default: when its outcome is unknown (no answer in time,
        a dropped connection, a 5xx) it raises ``AmbiguousWriteError`` instead of being sent
        again. PATCH, DELETE and GET are retried. ``repeatable`` overrides this per call."""
        response = self.transport.request(method, path, params=params, json=json, repeatable=repeatable)
        status = response.status_code
        try:
            payload = response.json() if response.content else None
        except ValueError:
            raise NotAnApiError(
                f"RO App {method} {path} answered with {describe_answer(response)} instead of JSON: check the API "
                f"base URL ({self.base_url}); it should be {DEFAULT_BASE_URL}.", status=status) from None
        if status < 400:
            return payload
        message = payload.get("message") if isinstance(payload, dict) else None
        message = str(message or response.reason or "no message")
        if status == 401:
            raise CredentialsError(f"RO App rejected the API key ({message}): check the key under RO App → "
                                   f"Settings → API and the connection's password field.", status=status)
        if status == 403:
            raise AccessDeniedError(f"RO App refused {method} {path} ({message}): the API key's account lacks the "
                                    f"permission; check the employee rights of the key's owner.", status=status)
        if status == 404:
            raise NotFoundError(f"RO App {method} {path}: not found ({message}).", status=status)
        if status in (400, 422):
            errors = {}
            if isinstance(payload, dict):
                errors = payload.get("errors") or payload.get("validation") or {}
            details = "; ".join(f"{field}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                for field, v in errors.items()) if isinstance(errors, dict) else str(errors)
            raise ValidationError(f"RO App rejected {method} {path}: {message}" + (f" ({details})" if details else ""),
                                  status=status, field_errors=errors if isinstance(errors, dict) else {})
        raise FatalApiError(f"RO App {method} {path} failed with HTTP {status}: {message}", status=status)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: dict[str, Any], *, repeatable: bool | None = None) -> Any:
        """A create: never sent twice when its outcome is unknown (see ``request``)."""
        return self.request("POST", path, json=body, repeatable=repeatable)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        """Sets the given values: safe to repeat, so retried like a read."""
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        """Safe to repeat: a repeated DELETE answers 404, which callers treat as done."""
        return self.request("DELETE", path)

    # --- lists ------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, Any], *, first: int = 1) -> Iterator[tuple[int, list[Any]]]:
        """``(page number, rows)`` of a paged list from page ``first``, reading either
        ``count`` or ``paging`` answers; a dictionary (a bare array) is one page."""
        page, seen, started = first, (first - 1) * PAGE_SIZE, time.monotonic()
        while True:
            payload = self.request("GET", path, params={**params, "page": page})
            if isinstance(payload, list):  # a dictionary: the whole list at once
                yield page, payload
                return
            rows = payload.get("data") or []
            paging = payload.get("paging") or {}
            total = payload.get("count", paging.get("count"))
            seen += len(rows)
            log.debug("RO App %s: page %d, %d rows, %d of %s, %.1f s", path, page, len(rows), seen, total,
                      time.monotonic() - started)
            yield page, rows
            last_page = paging.get("total_pages")
            if not rows or len(rows) < PAGE_SIZE or (total is not None and seen >= int(total)) or (
                    last_page is not None and page >= int(last_page)):
                return
            page += 1

    def iter_list(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a paged list, reading either ``count`` or ``paging`` answers."""
        for _, rows in self._pages(path, params or {}):
            yield from rows

    def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self.iter_list(path, params))

    # --- reference data ---------------------------------------------------------------

    def _documented_or_legacy(self, documented: str, legacy: str) -> list[dict[str, Any]]:
        """The list at the documented path; the legacy one when that answers 404 (logged once)."""
        if documented not in self._legacy_used:
            try:
                return self.list_all(documented)
            except NotFoundError:
                self._legacy_used.add(documented)
                log.warning("RO App answered 404 for %s: using the legacy %s for this client", documented, legacy)
        return self.list_all(legacy)

    def use_reference_cache(self, engine: Any, minutes: int) -> None:
        """Keep the reference lists (locations, order types, employees, order statuses) in
        the state database behind ``engine`` for ``minutes`` (``reference``)."""
        from ..reference import ROAPP_KINDS, ReferenceCache

        self.reference_cache = ReferenceCache(engine, self.account, ROAPP_KINDS, minutes)

    def _reference(self, kind: str, read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        return self.reference_cache.get(kind, read) if self.reference_cache is not None else read()

    def _branches(self) -> list[dict[str, Any]]:
        return self._documented_or_legacy(assumptions.ROAPP_LOCATIONS_PATH, assumptions.ROAPP_LEGACY_LOCATIONS_PATH)

    def branches(self) -> list[dict[str, Any]]:
        """The account's locations (``GET /v2/company/locations``)."""
        return self._reference("roapp_branches", self._branches)

    def employees(self) -> list[dict[str, Any]]:
        """The employees as RO App gives them; ``shapes.employee_facts`` reads what they say."""
        return self._reference("roapp_employees", lambda: self._documented_or_legacy(
            assumptions.ROAPP_EMPLOYEES_PATH, assumptions.ROAPP_LEGACY_EMPLOYEES_PATH))

    def order_statuses(self) -> list[dict[str, Any]]:
        return self._reference("roapp_order_statuses", lambda: self.list_all("/v2/orders/statuses"))

    def order_types(self) -> list[dict[str, Any]]:
        return self._reference("roapp_order_types", lambda: self.list_all("/v2/orders/types"))

    def custom_fields(self) -> list[dict[str, Any]]:
        """Order custom fields, each named by ``title`` (RO App may call it ``name``)."""
        return [shapes.custom_field(f) for f in self.list_all("/v2/orders/custom-fields")]

    def check(self) -> str:
        """One cheap real call (the locations): a sentence for the connection test."""
        count = len(self._branches())   # a real call, never the cache
        return f"RO App API at {self.base_url} accepted the key; {count} location(s) visible."

    # --- look-ups by undocumented filters ---------------------------------------------

    def _filtered(self, path: str, name: str, values: list[str], matches) -> list[dict[str, Any]]:
        """Rows of ``path`` that ``matches(row, wanted)``, asked for with the undocumented array
        filter ``name``, 50 values a request. When a first page holds a row that does not
        match, the filter is ignored: it is not used again by this client, and the values are
        matched over the whole list (``_scan``, that page counting as its first)."""
        wanted = set(values)
        if not wanted:
            return []
        if name in self._ignored_filters or self._catalogue is not None:
            # (a scan still current answers any filter of the catalogue at no cost)
            return [r for r in self._scan(path) if matches(r, wanted)]
        found: list[dict[str, Any]] = []
        for start in range(0, len(values), LOOKUP_BATCH):
            batch = set(values[start:start + LOOKUP_BATCH])
            page, rows, honoured = 1, [], True
            for page, rows in self._pages(path, {name: sorted(batch)}):
                if page == 1 and not all(matches(r, batch) for r in rows):
                    honoured = False
                    break
                found += rows
            if not honoured:
                self._ignored_filters.add(name)
                log.warning("RO App ignores the %s filter of %s (its answer holds rows that do not match): "
                            "matching locally instead", name, path)
                return found + [r for r in self._scan(path, first=rows) if matches(r, wanted)]
        return found

    def _scan(self, path: str, *, first: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The whole list, read once per client (``first``: its first page, already read), or
        the ``catalogue_cache``'s recent scan with ``first`` on top of it (current rows win)."""
        if self._catalogue is None:
            cached = self.catalogue_cache.rows() if self.catalogue_cache is not None else None
            if cached is not None:
                current = {int(r["id"]): r for r in first or []}
                self._catalogue = [r for r in cached if int(r["id"]) not in current] + list(current.values())
                log.info("RO App %s: matching over the %d rows of the local index", path, len(self._catalogue))
                return self._catalogue
            rows = list(first or [])
            if first is None or len(first) >= PAGE_SIZE:
                rows += [r for _, more in self._pages(path, {}, first=1 if first is None else 2) for r in more]
            self._catalogue = rows
            log.info("RO App %s: scanned %d rows to match locally", path, len(rows))
            if self.catalogue_cache is not None:
                self.catalogue_cache.replace(rows)
        return self._catalogue

    # --- people -----------------------------------------------------------------------
    # The create_*, add_* and set_order_status helpers POST and are not repeatable: an
    # unknown outcome raises AmbiguousWriteError, and the caller looks before writing again.
    # The update_* helpers PATCH and delete_order_item DELETEs: those are retried.

    def find_people(self, *, phones: Iterable[str] | None = None, names: Iterable[str] | None = None,
                    created_since: str | None = None) -> list[dict[str, Any]]:
        """People by the documented filters (``phones[]``, ``names[]``, ``created_at[]``),
        50 phones a request."""
        params = {**_array("names[]", names), **_array("created_at[]", (created_since,) if created_since else None)}
        if phones is None:
            return [shapes.person(p) for p in self.list_all("/v2/contacts/people", params)]
        values, found = sorted(set(phones)), {}
        for start in range(0, len(values), LOOKUP_BATCH):
            for row in self.list_all("/v2/contacts/people", {**params, "phones[]": values[start:start + LOOKUP_BATCH]}):
                found.setdefault(row["id"], shapes.person(row))
        return list(found.values())

    def people_pages(self, *, modified_since: str | None = None,
                     first: int = 1) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """``(page number, people)`` of the contact base from page ``first``, all of it or those
        modified since a time (the documented ``modified_at[]``; whether RO App honoured it
        is the caller's to check)."""
        params = _array("modified_at[]", (modified_since,) if modified_since else None)
        for page, rows in self._pages("/v2/contacts/people", params, first=first):
            yield page, [shapes.person(r) for r in rows]

    def create_person(self, body: dict[str, Any]) -> dict[str, Any]:
        return shapes.person(self.post("/v2/contacts/people", body))

    def get_person(self, person_id: int) -> dict[str, Any]:
        return shapes.person(self.get(f"/v2/contacts/people/{person_id}"))

    def update_person(self, person_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return shapes.person(self.patch(f"/v2/contacts/people/{person_id}", body))

    # --- catalogue --------------------------------------------------------------------

    def find_products(self, *, skus: Iterable[str] | None = None,
                      barcodes: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Products with one of ``skus`` or of ``barcodes``. The filters are not documented:
        while honoured, 50 values a request; once seen ignored, one scan of the catalogue per
        client (until it writes a product) matched locally."""
        found: dict[int, dict[str, Any]] = {}
        for name, values, matches in (
                (assumptions.ROAPP_PRODUCT_BARCODE_FILTER, barcodes,
                 lambda row, wanted: bool(set(shapes.barcodes(row.get("barcodes"))) & wanted)),
                (assumptions.ROAPP_PRODUCT_SKU_FILTER, skus, lambda row, wanted: row.get("sku") in wanted)):
            for row in self._filtered(assumptions.ROAPP_PRODUCTS_PATH, name, sorted(set(values or [])), matches):
                found.setdefault(int(row["id"]), shapes.product(row))
        return list(found.values())

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        self._catalogue = None
        product = shapes.product(self.post(assumptions.ROAPP_PRODUCTS_PATH, shapes.product_write(body)))
        self._cache_product(product["id"], body)
        return product

    def update_product(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self._catalogue = None
        product = shapes.product(self.patch(f"{assumptions.ROAPP_PRODUCTS_PATH}/{product_id}",
                                            shapes.product_write(body)))
        self._cache_product(product_id, body)
        return product

    def _cache_product(self, product_id: Any, body: dict[str, Any]) -> None:
        """What the client just wrote (its SKU and barcodes) goes into the catalogue cache."""
        if self.catalogue_cache is not None and product_id is not None:
            self.catalogue_cache.add({"id": int(product_id), "sku": body.get("sku"),
                                      "barcodes": list(body.get("barcodes") or [])})

    def forget_product(self, product_id: int) -> None:
        """RO App no longer has this product (it refused it as missing): never match it again."""
        self._catalogue = None
        if self.catalogue_cache is not None:
            self.catalogue_cache.drop(product_id)

    # --- orders -----------------------------------------------------------------------

    def find_orders(self, *, ids: Iterable[int] | None = None, branches: Iterable[int] | None = None,
                    created_at: tuple[str, ...] | None = None, modified_at: tuple[str, ...] | None = None,
                    client_ids: Iterable[int] | None = None, sort: str | None = None) -> list[dict[str, Any]]:
        params = {**_array("ids[]", ids), **_array("branches[]", branches), **_array("created_at[]", created_at),
                  **_array("modified_at[]", modified_at), **_array("clients_ids[]", client_ids)}
        if sort:
            params["sort"] = sort
        return self.list_all("/v2/orders", params)

    def get_order(self, order_id: int) -> dict[str, Any]:
        return shapes.unwrap(self.get(f"/v2/orders/{order_id}"))

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        return shapes.unwrap(self.post("/v2/orders", body))

    def update_order(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return shapes.unwrap(self.patch(f"/v2/orders/{order_id}", body))

    def set_order_status(self, order_id: int, status_id: int, comment: str | None = None) -> Any:
        body: dict[str, Any] = {"status_id": status_id}
        if comment:
            body["comment"] = comment
        return shapes.unwrap(self.post(f"/v2/orders/{order_id}/status", body))

    def order_items(self, order_id: int) -> list[dict[str, Any]]:
        return self.list_all(f"/v2/orders/{order_id}/items")

    def add_order_item(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return shapes.unwrap(self.post(f"/v2/orders/{order_id}/items", body))

    def update_order_item(self, order_id: int, item_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return shapes.unwrap(self.patch(f"/v2/orders/{order_id}/items/{item_id}", body))

    def delete_order_item(self, order_id: int, item_id: int) -> Any:
        return self.delete(f"/v2/orders/{order_id}/items/{item_id}")

    def add_order_comment(self, order_id: int, comment: str) -> Any:
        """A private comment: sent with both ``is_private`` and ``visibility`` (the sources
        disagree on the name), so delivery details never become public."""
        return shapes.unwrap(self.post(f"/v2/orders/{order_id}/comments",
                                       {"comment": comment, **assumptions.ROAPP_COMMENT_PRIVACY}))

    def close(self) -> None:
        self.transport.close()
