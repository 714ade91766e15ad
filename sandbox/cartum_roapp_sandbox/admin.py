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

    def action(self, name: str, payload: Any = None) -> Any:
        return self._call("POST", name, payload if payload is not None else {})
