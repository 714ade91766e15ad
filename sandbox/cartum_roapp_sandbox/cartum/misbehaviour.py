"""A Cartum store whose API misbehaves on demand: pages that never end, pages that repeat,
answers far too big. Set at run time, per function, by the admin action
``set_misbehaviour`` (``SandboxAdmin.set_misbehaviour``)::

    POST /_sandbox/set_misbehaviour
    {"orders/get": {"page": "endless"}, "catalog/export": {"page": "repeat"},
     "users/export": {"oversized_mb": 50}}

- ``"page": "endless"``: the function's next non-empty answer is frozen, filled up to a
  full page (``limit`` rows, or the function's own cap) by repeating its rows, and served
  again to every later call, whatever its parameters (bounds, filters, offset): an API
  stuck on one full page.
- ``"page": "bottomless"``: like ``endless``, but each answer's rows are new copies with
  ids (``order_id``/``id``) or articles never served before: a read that never ends and
  never repeats itself.
- ``"page": "repeat"``: ``offset`` is ignored: every page of a read is its first page.
- ``"oversized_mb": N``: every answer of the function carries N MB more (a ``padding``
  string in ``response``), still valid JSON.

Each call replaces the whole setting; ``{}`` ends every misbehaviour. The sandbox's state
shows it as ``misbehaviour``. ``auth`` cannot be made to misbehave.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, Callable

PAGE_MODES = ("endless", "bottomless", "repeat")
#: The rows of each paged function's answer, and each row's key.
ROWS = {"orders/get": ("orders", "order_id"), "catalog/export": ("products", "article"),
        "users/export": ("users", "id")}
MB = 1024 * 1024

Answer = tuple[str, dict[str, Any]]


class Misbehaviour:
    """The misbehaviour of each function, and what ``endless``/``bottomless`` froze."""

    def __init__(self) -> None:
        self.settings: dict[str, dict[str, Any]] = {}
        self._frozen: dict[str, list[dict[str, Any]]] = {}
        self._fresh = itertools.count(1)

    def set(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ValueError('set_misbehaviour takes {"<function>": {"page": ..., "oversized_mb": N}, ...}; '
                             '{} ends every misbehaviour')
        settings = {}
        for function, spec in payload.items():
            if function not in (*ROWS, "orders/update", "orders/get_available_statuses"):
                raise ValueError(f"no misbehaviour for {function!r}; functions: {sorted(ROWS)} and the others but auth")
            if not isinstance(spec, dict) or set(spec) - {"page", "oversized_mb"}:
                raise ValueError(f'{function}: takes {{"page": one of {PAGE_MODES}, "oversized_mb": N}}')
            page, size = spec.get("page"), spec.get("oversized_mb")
            if page is not None and (page not in PAGE_MODES or function not in ROWS):
                raise ValueError(f"{function}: page must be one of {PAGE_MODES}, on a paged function {sorted(ROWS)}")
            if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0):
                raise ValueError(f"{function}: oversized_mb must be a positive number of megabytes")
            settings[function] = {k: v for k, v in spec.items() if v is not None}
        self.settings, self._frozen = settings, {}
        return self.state()

    def state(self) -> dict[str, Any]:
        return copy.deepcopy(self.settings)

    def answer(self, function: str, body: dict[str, Any], cap: int | None,
               handler: Callable[[dict[str, Any]], Answer]) -> Answer:
        """The answer of ``handler`` to ``body``, as the misbehaving function gives it."""
        spec = self.settings.get(function, {})
        page = spec.get("page")
        if page == "repeat":
            body = {**body, "offset": 0}
        if page in ("endless", "bottomless"):
            status, response = self._stuck(function, body, cap, handler, fresh=page == "bottomless")
        else:
            status, response = handler(body)
        if spec.get("oversized_mb"):
            response = {**response, "padding": "x" * int(spec["oversized_mb"] * MB)}
            status = "OK" if status == "EMPTY" else status
        return status, response

    def _stuck(self, function: str, body: dict[str, Any], cap: int | None,
               handler: Callable[[dict[str, Any]], Answer], fresh: bool) -> Answer:
        key, id_field = ROWS[function]
        rows = self._frozen.get(function)
        if rows is None:
            status, response = handler(body)
            got = list(response.get(key) or [])
            if not got:
                return status, response
            limit = body.get("limit") if isinstance(body.get("limit"), int) and body["limit"] > 0 else len(got)
            full = min(limit, cap) if cap else limit
            rows = self._frozen[function] = [got[i % len(got)] for i in range(max(full, len(got)))]
            return "OK", {key: copy.deepcopy(rows)}
        if not fresh:
            return "OK", {key: copy.deepcopy(rows)}
        served = []
        for row in rows:
            number = next(self._fresh)
            new_key = f"{row[id_field]}-X{number}" if id_field == "article" else 10_000_000 + number
            served.append({**copy.deepcopy(row), id_field: new_key})
        return "OK", {key: served}
