"""Airflow hook for a Cartum store: turns a ``cartum`` connection into a ``CartumClient``.

Connection: host = store URL with its scheme, login = the administrator's user name,
password; extras ``requests_per_second`` and ``timeout``. The connection is read on first
use, never in ``__init__``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from .. import assumptions
from ..transport import ApiError
from .client import CartumClient


class CartumHook(BaseHook):
    conn_name_attr = "cartum_conn_id"
    default_conn_name = "cartum_default"
    conn_type = "cartum"
    hook_name = "Cartum store"

    def __init__(self, cartum_conn_id: str = default_conn_name, **client_options: Any):
        super().__init__()
        self.cartum_conn_id = cartum_conn_id
        self._client_options = client_options
        self._client: CartumClient | None = None

    def get_conn(self) -> CartumClient:
        if self._client is None:
            conn = self.get_connection(self.cartum_conn_id)
            extra = conn.extra_dejson or {}
            host = (conn.host or "").strip()
            if not host:
                raise ValueError(f"Connection {self.cartum_conn_id!r}: the store URL (host) is empty; "
                                 f"set it to the store's address, e.g. https://shop.example.com")
            options = {
                "requests_per_second": float(extra.get("requests_per_second")
                                             or assumptions.CARTUM_DEFAULT_REQUESTS_PER_SECOND),
                "timeout": float(extra.get("timeout") or 30),
                **self._client_options,
            }
            self._client = CartumClient(host, conn.login or "", conn.password or "", **options)
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        try:
            return True, self.get_conn().check()
        except (ApiError, ValueError) as exc:
            return False, str(exc)
