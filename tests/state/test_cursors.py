"""Cursors: how far each store's entity has been read. A cursor starts empty, a run reads
from its value minus the overlap, and it only ever moves forward."""

from __future__ import annotations

import pytest

from cartum_roapp_sync.entities import CLIENTS, ORDERS, PRODUCTS
from cartum_roapp_sync.state.cursors import Cursor, observe, shift
from cartum_roapp_sync.state.store import count_rows
from cartum_roapp_sync.state.tables import cursors


def test_a_cursor_starts_at_none(new_store):
    state = new_store()
    cursor = state.cursor(ORDERS)
    assert (cursor.store_id, cursor.entity, cursor.name) == (state.store_id, "orders", "created")
    assert cursor.value is None
    assert cursor.start(10) is None
    assert state.cursor(CLIENTS).name == "registered"


def test_an_entity_without_a_cursor_has_none_to_give(new_store):
    with pytest.raises(ValueError, match="products has no cursor"):
        new_store().cursor(PRODUCTS)


def test_start_reads_from_the_value_minus_the_overlap(new_store):
    cursor = new_store().cursor(ORDERS)
    cursor.advance("2025-03-01 00:05:00")
    assert cursor.start(10) == "2025-02-28 23:55:00"
    assert cursor.start(0) == "2025-03-01 00:05:00"
    assert cursor.start(1440) == "2025-02-28 00:05:00"
    assert cursor.value == "2025-03-01 00:05:00"       # start reads, it never moves the cursor


def test_shift_moves_a_cartum_time_across_days_and_years():
    assert shift("2024-12-31 23:59:30", 1) == "2025-01-01 00:00:30"
    assert shift("2025-01-01 00:00:30", -1) == "2024-12-31 23:59:30"
    assert shift("2024-03-01 00:00:00", -60 * 24) == "2024-02-29 00:00:00"


def test_advance_never_moves_back_and_returns_where_it_stands(new_store):
    state = new_store()
    cursor = state.cursor(ORDERS)
    assert cursor.advance("2025-03-01 12:00:00") == "2025-03-01 12:00:00"
    assert cursor.advance("2025-03-01 11:59:59") == "2025-03-01 12:00:00"
    assert cursor.advance("2025-03-01 12:00:00") == "2025-03-01 12:00:00"
    assert cursor.advance(None) == "2025-03-01 12:00:00"
    assert cursor.advance("") == "2025-03-01 12:00:00"
    assert cursor.value == "2025-03-01 12:00:00"
    assert cursor.advance("2025-03-01 12:00:01") == "2025-03-01 12:00:01"
    # what is committed is what any other process reads
    assert Cursor(state.engine, state.store_id, "orders", "created").value == "2025-03-01 12:00:01"
    assert count_rows(state.engine, cursors, store_id=state.store_id) == 1


def test_advancing_to_nothing_leaves_a_new_cursor_empty(new_store):
    state = new_store()
    assert state.cursor(ORDERS).advance(None) is None
    assert state.cursor(ORDERS).value is None
    assert count_rows(state.engine, cursors, store_id=state.store_id) == 0


def test_stores_and_entities_have_cursors_of_their_own(new_store):
    kyiv, lviv = new_store(), new_store()
    kyiv.cursor(ORDERS).advance("2025-03-01 10:00:00")
    kyiv.cursor(CLIENTS).advance("2025-02-01 08:00:00")
    lviv.cursor(ORDERS).advance("2025-01-15 09:00:00")

    assert kyiv.cursor(ORDERS).value == "2025-03-01 10:00:00"
    assert kyiv.cursor(CLIENTS).value == "2025-02-01 08:00:00"
    assert lviv.cursor(ORDERS).value == "2025-01-15 09:00:00"
    assert lviv.cursor(CLIENTS).value is None

    # one store behind another still moves forward; the other is untouched
    assert lviv.cursor(ORDERS).advance("2025-02-01 00:00:00") == "2025-02-01 00:00:00"
    assert kyiv.cursor(ORDERS).value == "2025-03-01 10:00:00"
    assert kyiv.cursor(CLIENTS).advance("2025-02-02 00:00:00") == "2025-02-02 00:00:00"
    assert kyiv.cursor(ORDERS).value == "2025-03-01 10:00:00"


def test_observe_takes_the_highest_non_empty_value():
    records = [{"stat_created": "2025-03-01 10:00:00"}, {"stat_created": ""}, {"stat_created": None}, {},
               {"stat_created": "2025-03-02 09:00:00"}, {"stat_created": "2025-02-28 23:59:59"}]
    assert observe(records, "stat_created") == "2025-03-02 09:00:00"
    assert observe([{"stat_created": ""}, {"stat_created": None}, {}], "stat_created") is None
    assert observe([], "stat_created") is None
