"""What the Cartum and RO App hooks share: the connection id, kept under the attribute
Airflow's ``conn_name_attr`` names; the API client, built on first use (the connection is
never read in ``__init__``) and kept; and ``test_connection`` for the UI's Test button.

A hook builds its client either with the shared rate limiter (a run's tasks, in parallel
processes, share one budget through the state database) or without it: the Test button
runs where the state database may not be reachable, and a lone request needs no budget.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from airflow.sdk import BaseHook

from .transport import NEXT_RUN_RETRIES, ApiError

Client = TypeVar("Client")

#: How a failed Test ends when the service did not answer (instead of NEXT_RUN_RETRIES).
TEST_AGAIN = (" Check the URL (scheme, host and port) and that the service is up and reachable from Airflow, "
              "then test again.")

#: Seconds a request may take, unless the connection's extra ``timeout`` says otherwise.
DEFAULT_TIMEOUT = 30.0


class ApiClientHook(BaseHook, Generic[Client]):
    """Subclasses set Airflow's class attributes (``conn_name_attr``, ``default_conn_name``,
    ``conn_type``, ``hook_name``) and build their client in ``_build_client``."""

    #: The errors ``test_connection`` reports as a failed test; any other one propagates.
    test_errors: ClassVar[tuple[type[Exception], ...]] = (ApiError,)

    def __init__(self, conn_id: str, client_options: dict[str, Any]):
        super().__init__()
        setattr(self, self.conn_name_attr, conn_id)
        self._client_options = client_options
        self._client: Client | None = None

    @property
    def api_conn_id(self) -> str:
        """The connection id (the same as ``self.<conn_name_attr>``)."""
        return getattr(self, self.conn_name_attr)

    def get_conn(self) -> Client:
        if self._client is None:
            self._client = self._build_client(shared_limit=True)
        return self._client

    def _build_client(self, *, shared_limit: bool) -> Client:
        """A new client from the connection; ``shared_limit``: with the limiter shared
        through the state database, unless the hook's options give a ``limiter``."""
        raise NotImplementedError

    def _client_kwargs(self, extra: dict[str, Any], **settings: Any) -> dict[str, Any]:
        """The client's keyword arguments: ``settings`` read from the connection, its extra
        ``timeout``, then the options the hook was created with, which win."""
        return {**settings, "timeout": float(extra.get("timeout") or DEFAULT_TIMEOUT), **self._client_options}

    def test_connection(self) -> tuple[bool, str]:
        """One light call (the client's ``check``), without the shared limiter and so
        without the state database."""
        try:
            return True, self._build_client(shared_limit=False).check()
        except self.test_errors as exc:
            # No run is involved here: say what to check, not that a run will retry.
            return False, str(exc).replace(NEXT_RUN_RETRIES, TEST_AGAIN)
