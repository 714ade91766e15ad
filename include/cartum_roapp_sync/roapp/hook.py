"""Airflow hook for RO App: turns a ``roapp`` connection into a ``RoAppClient`` whose
requests share the key's 3 requests/s budget with every other process (through the
state database, see ``ratelimit``).

Connection: host = API base URL (default https://api.roapp.io), password = API key;
extra ``timeout``. The connection is read on first use, never in ``__init__``.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import BaseHook

from ..ratelimit import SharedRateLimiter, bucket_name
from ..transport import ApiError
from .client import DEFAULT_BASE_URL, RoAppClient

#: [doc] 3 requests per second per API key.
RATE_LIMIT_REQUESTS = 3
#: The window the limiter keeps, a little over one second so that network jitter between
#: our clock and the server's arrival times cannot squeeze a 4th request into its window.
RATE_LIMIT_WINDOW = float(os.environ.get("CARTUM_ROAPP_RATE_WINDOW", "1.1"))


class RoAppHook(BaseHook):
    conn_name_attr = "roapp_conn_id"
    default_conn_name = "roapp_default"
    conn_type = "roapp"
    hook_name = "RO App (Remonline)"

    def __init__(self, roapp_conn_id: str = default_conn_name, **client_options: Any):
        super().__init__()
        self.roapp_conn_id = roapp_conn_id
        self._client_options = client_options
        self._client: RoAppClient | None = None

    def get_conn(self) -> RoAppClient:
        if self._client is None:
            self._client = self._build_client(shared_limit=True)
        return self._client

    def _build_client(self, *, shared_limit: bool) -> RoAppClient:
        conn = self.get_connection(self.roapp_conn_id)
        api_key = conn.password or ""
        extra = conn.extra_dejson or {}
        options: dict[str, Any] = {"timeout": float(extra.get("timeout") or 30), **self._client_options}
        if shared_limit and "limiter" not in options and api_key:
            from ..state.airflow import state_engine

            options["limiter"] = SharedRateLimiter(state_engine(), bucket_name("roapp", api_key),
                                                   RATE_LIMIT_REQUESTS, RATE_LIMIT_WINDOW)
        return RoAppClient(api_key, (conn.host or "").strip() or DEFAULT_BASE_URL, **options)

    def test_connection(self) -> tuple[bool, str]:
        """One ``GET /branches/``. It skips the shared limiter (and so the state database):
        the UI's Test button runs where that database may not be reachable, and a lone
        request that meets a 429 is retried anyway."""
        try:
            return True, self._build_client(shared_limit=False).check()
        except ApiError as exc:
            return False, str(exc)
