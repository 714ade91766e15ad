"""A client for the RO App (Remonline) REST API: Bearer auth, both list formats, 50-row
pagination, repeated-key array filters, and errors that say what to do. No Airflow
imports; retries, backoff and the 3 requests/s limit come from ``transport`` and
``ratelimit``. Assumed paths and fields come from ``assumptions``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Iterator

import requests

from .. import assumptions
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


def roapp_retry_policy(**overrides: Any) -> RetryPolicy:
    """Backoff for RO App: a 429 without ``Retry-After`` still waits out the one-second window."""
    return RetryPolicy(**{"min_retry_after_429": assumptions.ROAPP_DEFAULT_RETRY_AFTER, **overrides})


def _array(name: str, values: Iterable[Any] | None) -> dict[str, list[Any]]:
    """Array filters are repeated query keys: ``ids[]=1&ids[]=2``."""
    return {name: list(values)} if values is not None else {}


class RoAppClient:
    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, limiter: RateLimiter | None = None,
                 timeout: float = 30.0, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None):
        if not api_key:
            raise CredentialsError("RO App API key is empty: create one under RO App → Settings → API and put it "
                                   "in the connection's password field.")
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
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

    def iter_list(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a paged list, reading either ``count`` or ``paging`` answers."""
        page, seen, started = 1, 0, time.monotonic()
        while True:
            payload = self.request("GET", path, params={**(params or {}), "page": page})
            if isinstance(payload, list):  # a dictionary: the whole list at once
                yield from payload
                return
            rows = payload.get("data") or []
            paging = payload.get("paging") or {}
            total = payload.get("count", paging.get("count"))
            seen += len(rows)
            log.debug("RO App %s: page %d, %d rows, %d of %s, %.1f s", path, page, len(rows), seen, total,
                      time.monotonic() - started)
            yield from rows
            last_page = paging.get("total_pages")
            if not rows or len(rows) < PAGE_SIZE or (total is not None and seen >= int(total)) or (
                    last_page is not None and page >= int(last_page)):
                return
            page += 1

    def list_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self.iter_list(path, params))

    # --- reference data ---------------------------------------------------------------

    def branches(self) -> list[dict[str, Any]]:
        return self.list_all("/branches/")

    def employees(self) -> list[dict[str, Any]]:
        return self.list_all(assumptions.ROAPP_EMPLOYEES_PATH)

    def order_statuses(self) -> list[dict[str, Any]]:
        return self.list_all("/v2/orders/statuses")

    def order_types(self) -> list[dict[str, Any]]:
        return self.list_all("/v2/orders/types")

    def custom_fields(self) -> list[dict[str, Any]]:
        return self.list_all("/v2/orders/custom-fields")

    def check(self) -> str:
        """One cheap real call (``GET /branches/``): a sentence for the connection test."""
        payload = self.request("GET", "/branches/", params={"page": 1})
        rows = payload if isinstance(payload, list) else payload.get("data") or []
        return f"RO App API at {self.base_url} accepted the key; {len(rows)} location(s) visible."

    # --- people -----------------------------------------------------------------------
    # The create_*, add_* and set_order_status helpers POST and are not repeatable: an
    # unknown outcome raises AmbiguousWriteError, and the caller looks before writing again.
    # The update_* helpers PATCH and delete_order_item DELETEs: those are retried.

    def find_people(self, *, phones: Iterable[str] | None = None, emails: Iterable[str] | None = None,
                    names: Iterable[str] | None = None, ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        params = {**_array("phones[]", phones), **_array(assumptions.ROAPP_PEOPLE_EMAIL_FILTER, emails),
                  **_array("names[]", names), **_array("ids[]", ids)}
        return self.list_all("/v2/contacts/people", params)

    def create_person(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/v2/contacts/people", body)

    def get_person(self, person_id: int) -> dict[str, Any]:
        return self.get(f"/v2/contacts/people/{person_id}")

    def update_person(self, person_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.patch(f"/v2/contacts/people/{person_id}", body)

    # --- catalogue --------------------------------------------------------------------

    def find_products(self, *, skus: Iterable[str] | None = None, barcodes: Iterable[str] | None = None,
                      ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        params = {**_array(assumptions.ROAPP_PRODUCT_SKU_FILTER, skus),
                  **_array(assumptions.ROAPP_PRODUCT_BARCODE_FILTER, barcodes), **_array("ids[]", ids)}
        return self.list_all(assumptions.ROAPP_PRODUCTS_PATH, params)

    def _product_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k in assumptions.ROAPP_PRODUCT_WRITE_FIELDS}

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post(assumptions.ROAPP_PRODUCTS_PATH, self._product_body(body))

    def update_product(self, product_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.patch(f"{assumptions.ROAPP_PRODUCTS_PATH}/{product_id}", self._product_body(body))

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
        return self.get(f"/v2/orders/{order_id}")

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/v2/orders", body)

    def update_order(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.patch(f"/v2/orders/{order_id}", body)

    def set_order_status(self, order_id: int, status_id: int, comment: str | None = None) -> Any:
        body: dict[str, Any] = {"status_id": status_id}
        if comment:
            body["comment"] = comment
        return self.post(f"/v2/orders/{order_id}/status", body)

    def order_items(self, order_id: int) -> list[dict[str, Any]]:
        return self.list_all(f"/v2/orders/{order_id}/items")

    def add_order_item(self, order_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"/v2/orders/{order_id}/items", body)

    def update_order_item(self, order_id: int, item_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.patch(f"/v2/orders/{order_id}/items/{item_id}", body)

    def delete_order_item(self, order_id: int, item_id: int) -> Any:
        return self.delete(f"/v2/orders/{order_id}/items/{item_id}")

    def add_order_comment(self, order_id: int, comment: str, *, is_private: bool = True) -> Any:
        return self.post(f"/v2/orders/{order_id}/comments", {"comment": comment, "is_private": is_private})

    def close(self) -> None:
        self.transport.close()
