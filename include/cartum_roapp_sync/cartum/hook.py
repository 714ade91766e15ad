"""Airflow hook for a Cartum store: turns a ``cartum`` connection into a ``CartumClient``.

Connection: host = store URL with its scheme, login = the administrator's user name,
password; extras ``requests_per_second``, ``timeout`` and ``user_agent`` (the User-Agent
sent to the store; default ``cartum-roapp-sync/<version> (...)``: some stores' bot filters
answer the default python-requests one with a JS-challenge page). The connection is read on first
use, never in ``__init__``. ``requests_per_second`` is the store's budget across every
process (its parallel extract tasks), kept through the state database like RO App's.
``max_pages_per_read`` and ``max_rows_per_read`` raise the read limits for a store that
really holds more than ``assumptions`` allows (see ``client``).
What the two hooks share is in ``hook_base``.
"""

from __future__ import annotations

from typing import Any

from .. import assumptions
from ..hook_base import ApiClientHook
from ..ratelimit import SharedRateLimiter, bucket_name
from ..transport import ApiError
from .client import CartumClient, connection_user_agent


class CartumHook(ApiClientHook[CartumClient]):
    conn_name_attr = "cartum_conn_id"
    default_conn_name = "cartum_default"
    conn_type = "cartum"
    hook_name = "Cartum store"
    #: ``test_connection`` is one ``auth`` call; an empty store URL fails the test too.
    test_errors = (ApiError, ValueError)

    cartum_conn_id: str  # set by ApiClientHook.__init__ (conn_name_attr)

    def __init__(self, cartum_conn_id: str = default_conn_name, **client_options: Any):
        super().__init__(cartum_conn_id, client_options)

    def _build_client(self, *, shared_limit: bool) -> CartumClient:
        conn = self.get_connection(self.cartum_conn_id)
        extra = conn.extra_dejson or {}
        host = (conn.host or "").strip()
        if not host:
            raise ValueError(f"Connection {self.cartum_conn_id!r}: the store URL (host) is empty; "
                             f"set it to the store's address, e.g. https://shop.example.com")
        rate = float(extra.get("requests_per_second") or assumptions.CARTUM_DEFAULT_REQUESTS_PER_SECOND)
        limits = {name: int(extra[key]) for name, key in (("max_pages", "max_pages_per_read"),
                                                            ("max_rows", "max_rows_per_read")) if extra.get(key)}
        options = self._client_kwargs(extra, requests_per_second=rate, user_agent=connection_user_agent(extra),
                                      **limits)
        if shared_limit and "limiter" not in options:
            # The store's extract tasks run in parallel processes: they share one budget.
            from ..state.airflow import state_engine

            options["limiter"] = SharedRateLimiter.per_second(state_engine(), bucket_name("cartum", host.rstrip("/")),
                                                              rate)
        return CartumClient(host, conn.login or "", conn.password or "", **options)
