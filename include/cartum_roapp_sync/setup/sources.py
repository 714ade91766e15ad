"""The two APIs as the setup sees them: clients with retries short enough for a person
waiting at a prompt, and the lists the setup asks about again and again (Cartum statuses
and catalogue, RO App locations, order types, statuses and employees) read once.

The cached wrappers answer the same methods as the clients, so the checks of
``setup_checks`` run on them unchanged.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..cartum.client import CartumClient, connection_user_agent
from ..roapp.client import RoAppClient, roapp_retry_policy
from ..transport import RetryPolicy

#: A person is waiting: three tries within a few seconds, not the pipeline's minute of backoff.
SETUP_RETRY_OPTIONS: dict[str, Any] = {"max_attempts": 3, "base_delay": 0.5, "max_delay": 2.0, "max_retry_after": 5.0}
SETUP_TIMEOUT = 20.0


class CachedCartum:
    """A Cartum store whose statuses and catalogue are read at most once."""

    def __init__(self, client: CartumClient):
        self.client = client
        self._statuses: list[dict[str, Any]] | None = None
        self._products: list[dict[str, Any]] | None = None

    @classmethod
    def connect(cls, url: str, login: str, password: str, user_agent: str | None = None) -> "CachedCartum":
        return cls(CartumClient(url, login, password, retry=RetryPolicy(**SETUP_RETRY_OPTIONS),
                                timeout=SETUP_TIMEOUT, user_agent=user_agent))

    @property
    def base_url(self) -> str:
        return self.client.base_url

    @property
    def login(self) -> str:
        return self.client.login

    def check(self) -> str:
        return self.client.check()

    def get_statuses(self) -> list[dict[str, Any]]:
        if self._statuses is None:
            self._statuses = self.client.get_statuses()
        return self._statuses

    def products(self) -> list[dict[str, Any]]:
        if self._products is None:
            self._products = list(self.client.iter_products())
        return self._products

    def iter_products(self) -> Iterator[dict[str, Any]]:
        return iter(self.products())

    def close(self) -> None:
        self.client.close()


class CachedRoApp:
    """An RO App account's reference data, each list read at most once."""

    def __init__(self, client: RoAppClient):
        self.client = client
        self._lists: dict[str, list[dict[str, Any]]] = {}

    def _list(self, name: str) -> list[dict[str, Any]]:
        if name not in self._lists:
            self._lists[name] = getattr(self.client, name)()
        return self._lists[name]

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def branches(self) -> list[dict[str, Any]]:
        return self._list("branches")

    def order_types(self) -> list[dict[str, Any]]:
        return self._list("order_types")

    def order_statuses(self) -> list[dict[str, Any]]:
        return self._list("order_statuses")

    def employees(self) -> list[dict[str, Any]]:
        return self._list("employees")

    def close(self) -> None:
        self.client.close()


def open_roapp(conn_id: str) -> CachedRoApp:
    """The RO App account of an Airflow connection, its requests counted against the key's
    shared 3 requests/s budget like the DAGs' are (``RoAppHook``)."""
    from ..roapp.hook import RoAppHook

    return CachedRoApp(RoAppHook(conn_id, retry=roapp_retry_policy(**SETUP_RETRY_OPTIONS),
                                timeout=SETUP_TIMEOUT).get_conn())


def open_cartum_connection(conn: Any) -> CachedCartum:
    """The Cartum store of an Airflow connection object (host = URL, login, password, and
    the extra ``user_agent``)."""
    return CachedCartum.connect((conn.host or "").strip(), conn.login or "", conn.password or "",
                                connection_user_agent(conn.extra_dejson or {}))
