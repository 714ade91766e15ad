"""Airflow hook for RO App: turns a ``roapp`` connection into a ``RoAppClient`` whose
requests share the key's 3 requests/s budget with every other process (through the
state database, see ``ratelimit``).

Connection: host = API base URL (default https://api.roapp.io), password = API key;
extra ``timeout``. The connection is read on first use, never in ``__init__``. What the
two hooks share is in ``hook_base``.
"""

from __future__ import annotations

import os
from typing import Any

from ..hook_base import ApiClientHook
from ..ratelimit import SharedRateLimiter, bucket_name
from .client import DEFAULT_BASE_URL, RoAppClient

#: [doc] 3 requests per second per API key.
RATE_LIMIT_REQUESTS = 3
#: The window the limiter keeps, a little over one second so that network jitter between
#: our clock and the server's arrival times cannot squeeze a 4th request into its window.
DEFAULT_RATE_LIMIT_WINDOW = 1.1
#: The environment variable that overrides ``DEFAULT_RATE_LIMIT_WINDOW`` (seconds).
RATE_LIMIT_WINDOW_VARIABLE = "CARTUM_ROAPP_RATE_WINDOW"


def rate_limit_window() -> float:
    """The limiter's window in seconds, read from the environment each time a client is built."""
    return float(os.environ.get(RATE_LIMIT_WINDOW_VARIABLE, str(DEFAULT_RATE_LIMIT_WINDOW)))


class RoAppHook(ApiClientHook[RoAppClient]):
    """``test_connection`` is one ``GET /branches/``. It skips the shared limiter: a lone
    request that meets a 429 is retried anyway."""

    conn_name_attr = "roapp_conn_id"
    default_conn_name = "roapp_default"
    conn_type = "roapp"
    hook_name = "RO App (Remonline)"

    roapp_conn_id: str  # set by ApiClientHook.__init__ (conn_name_attr)

    def __init__(self, roapp_conn_id: str = default_conn_name, **client_options: Any):
        super().__init__(roapp_conn_id, client_options)

    def _build_client(self, *, shared_limit: bool) -> RoAppClient:
        conn = self.get_connection(self.roapp_conn_id)
        api_key = conn.password or ""
        extra = conn.extra_dejson or {}
        options = self._client_kwargs(extra)
        if shared_limit and "limiter" not in options and api_key:
            from ..state.airflow import state_engine

            options["limiter"] = SharedRateLimiter(state_engine(), bucket_name("roapp", api_key),
                                                   RATE_LIMIT_REQUESTS, rate_limit_window())
        return RoAppClient(api_key, (conn.host or "").strip() or DEFAULT_BASE_URL, **options)
