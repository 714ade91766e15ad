"""A cursor moves only over sane Cartum times, and a stored one that is not sane (a time
that does not parse, or lies in 2099) is repaired when a run starts, not failed on forever."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.state.cursors import sane
from cartum_roapp_sync.state.tables import cursors

COMMITTED = datetime(2026, 11, 20, 8, 30, 0, tzinfo=timezone.utc)   # 10:30:00 in Kyiv


def spoil(state, value):
    with state.engine.begin() as c:
        c.execute(update(cursors).where(cursors.c.store_id == state.store_id).values(
            value=value, updated_at=COMMITTED))


@pytest.mark.parametrize("stored", ["2026-13-45 99:99:99", "30.11.2026 10:00", "2099-01-01 00:00:00", "garbage"])
def test_an_unsane_stored_cursor_is_repaired_to_its_last_commit(new_store, stored):
    state = new_store()
    cursor = state.cursor(ORDERS)
    cursor.advance("2026-11-20 10:00:00")
    spoil(state, stored)
    assert cursor.start(10, "Europe/Kyiv") == "2026-11-20 10:20:00"   # the commit's time minus the overlap
    assert cursor.value == "2026-11-20 10:30:00"                        # repaired in the table, once
    assert cursor.start(10, "Europe/Kyiv") == "2026-11-20 10:20:00"


def test_a_cursor_is_never_moved_onto_an_insane_time(new_store):
    cursor = new_store().cursor(ORDERS)
    assert cursor.advance_time("2026-11-20 10:00:00") == "2026-11-20 10:00:00"
    for bad in ("2026-13-45 99:99:99", "30.11.2026 10:00", "2099-01-01 00:00:00"):
        assert cursor.advance_time(bad) == "2026-11-20 10:00:00"
    assert cursor.advance_time("2026-11-20 10:00:01") == "2026-11-20 10:00:01"


def test_sane_allows_the_tolerance_and_nothing_beyond():
    now = datetime(2026, 11, 29, 15, 0, tzinfo=timezone.utc)   # 17:00 in Kyiv
    assert sane("2026-11-29 17:59:00", "Europe/Kyiv", now) and not sane("2026-11-29 18:01:00", "Europe/Kyiv", now)
    assert not sane(None) and not sane("2026-11-29")
