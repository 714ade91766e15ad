"""What the backfill (``extract``) and the loaders share: where the customers backfill
stands, and durations as the progress lines write them. Imports nothing of the steps."""

from __future__ import annotations

from ..entities import CLIENTS
from ..state.cursors import Cursor
from ..state.store import StateStore


def customers_backfill(state: StateStore) -> Cursor:
    """Where the customers backfill stands: ``<registered>#<id>#<done>`` of the last customer
    of the last chunk RO App confirmed. It compares as a string in backfill order
    (registration time, then id; ``done`` counts the customers behind it)."""
    return Cursor(state.engine, state.store_id, CLIENTS.name, "backfill")


def duration_text(seconds: float) -> str:
    """``40 s``, ``12 min``, ``3 h 5 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
