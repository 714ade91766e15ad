"""A small client for a sandbox's admin API, for tests, the demo and benchmarks."""

from __future__ import annotations

from typing import Any

import requests

from .server import ADMIN_PREFIX


class SandboxAdmin:
    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, action: str, payload: Any = None) -> Any:
        response = self._session.request(method, f"{self.base_url}{ADMIN_PREFIX}{action}", json=payload,
                                         timeout=self.timeout)
        if response.status_code != 200:
            raise RuntimeError(f"sandbox admin {method} {action} failed: {response.status_code} {response.text}")
        return response.json()

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def faults(self, **changes: Any) -> dict[str, Any]:
        """Change fault settings (see FaultSettings); with no argument, read them."""
        return self._call("POST", "faults", changes) if changes else self._call("GET", "faults")

    def fault_rules(self, rules: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Replace the targeted fault rules with ``rules`` (``[]`` clears them), e.g.
        ``[{"method": "POST", "path": "/v2/orders/*/items", "fault": "apply_drop", "times": 1}]``
        (``method`` optional, ``times`` default 1); with no argument, read them. Answers
        the rules left, each with its remaining ``times``."""
        if rules is None:
            return self._call("GET", "faults")["rules"]
        return self._call("POST", "faults", {"rules": rules})["rules"]

    def clear_fault_rules(self) -> None:
        self.fault_rules([])

    def action(self, name: str, payload: Any = None) -> Any:
        return self._call("POST", name, payload if payload is not None else {})

    # --- RO App only: what a manager does in RO App's interface -----------------------

    def delete_person(self, person_id: int) -> dict[str, Any]:
        """Delete a client (person): 404 afterwards, 422 on ``client_id`` for a new order."""
        return self.action("delete_person", {"id": person_id})

    def merge_people(self, keep: int, drop: int) -> dict[str, Any]:
        """Merge duplicates: ``drop``'s orders move to ``keep``, its phones and e-mail that
        ``keep`` lacks are added, ``drop`` is deleted. Answers ``{keep, drop, orders, at,
        person}`` (``orders``: the ids moved; ``person``: ``keep`` afterwards)."""
        return self.action("merge_people", {"keep": keep, "drop": drop})

    def delete_order(self, order_id: int) -> dict[str, Any]:
        """Delete an order (with its items, comments, status history): 404 afterwards."""
        return self.action("delete_order", {"id": order_id})

    def delete_product(self, product_id: int) -> dict[str, Any]:
        """Delete a product: 404 afterwards, 422 on ``entity_id`` for a new order item."""
        return self.action("delete_product", {"id": product_id})

    # --- Cartum only: an API that misbehaves ------------------------------------------

    def set_misbehaviour(self, by_function: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Make functions misbehave, e.g. ``{"orders/get": {"page": "endless"},
        "catalog/export": {"oversized_mb": 50}}`` (see ``cartum.misbehaviour``); replaces
        the whole setting. Answers the setting."""
        return self.action("set_misbehaviour", by_function)

    def stop_misbehaviour(self) -> None:
        """Every function answers as it should again."""
        self.action("set_misbehaviour", {})
