"""Cursors: how far each store's entity has been read. A cursor starts empty, a run reads
from its value minus the overlap, and it only ever moves forward."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from cartum_roapp_sync.entities import CLIENTS, ORDERS, PRODUCTS
from cartum_roapp_sync.state.cursors import CARTUM_TIME, Cursor, observe, read_start, shift
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


# --- the store's timezone: the repeated autumn hour and the spring-forward gap -------------
# Europe/Kyiv leaves summer time on 2026-10-25 (04:00 EEST → 03:00 EET: 03:00–04:00 twice)
# and enters it on 2026-03-29 (03:00 EET → 04:00 EEST: 03:00–04:00 never happens).

KYIV = "Europe/Kyiv"


def kyiv_utc(local: str, fold: int = 0) -> datetime:
    return datetime.strptime(local, CARTUM_TIME).replace(tzinfo=ZoneInfo(KYIV), fold=fold).astimezone(timezone.utc)


def test_a_cursor_in_the_repeated_hour_reads_its_whole_second_pass():
    # 03:58 of the first pass read; an order at 03:20 of the second pass is stamped before it
    start = read_start("2026-10-25 03:58:00", 10, KYIV)
    assert start == "2026-10-25 02:48:00"
    assert start <= "2026-10-25 03:00:00"   # every stamp of the second pass is at or after the start
    # without the timezone rule the read would start at 03:48 and miss 03:20
    assert shift("2026-10-25 03:58:00", -10) == "2026-10-25 03:48:00"


def test_the_start_moves_back_only_when_the_last_hour_before_the_cursor_touches_the_repeated_hour():
    # an hour and more before it: the plain overlap
    assert read_start("2026-10-25 01:50:00", 10, KYIV) == "2026-10-25 01:40:00"
    assert read_start("2026-10-25 02:59:00", 10, KYIV) == "2026-10-25 02:49:00"
    # the span (cursor - overlap - 1 h .. cursor) reaches into the repeated hour → one hour more
    assert read_start("2026-10-25 03:05:00", 10, KYIV) == "2026-10-25 01:55:00"
    # after the repeated hour, while the span still reaches back into it
    assert read_start("2026-10-25 04:30:00", 10, KYIV) == "2026-10-25 03:20:00"
    assert kyiv_utc("2026-10-25 04:30:00") - kyiv_utc("2026-10-25 03:20:00", fold=1) == timedelta(minutes=70)
    # long after it: the plain overlap again
    assert read_start("2026-10-25 05:20:00", 10, KYIV) == "2026-10-25 05:10:00"
    # the same wall times on an ordinary day never move
    assert read_start("2026-10-24 03:58:00", 10, KYIV) == "2026-10-24 03:48:00"


def test_the_overlap_is_real_time_across_the_spring_forward_gap():
    # 04:05 EEST is 02:55 EET plus ten minutes: the read starts at a time that exists
    assert read_start("2026-03-29 04:05:00", 10, KYIV) == "2026-03-29 02:55:00"
    assert kyiv_utc("2026-03-29 04:05:00") - kyiv_utc("2026-03-29 02:55:00") == timedelta(minutes=10)
    # a cursor inside the gap (Cartum never writes one) reads from before the gap, never later
    assert read_start("2026-03-29 03:30:00", 10, KYIV) == "2026-03-29 02:20:00"
    # a gap never counts as a repeated hour
    assert read_start("2026-03-29 05:00:00", 10, KYIV) == "2026-03-29 04:50:00"


def test_read_start_follows_the_store_timezone():
    # New York leaves summer time on 2026-11-01 at 02:00 (01:00–02:00 twice)
    assert read_start("2026-11-01 01:58:00", 10, "America/New_York") == "2026-11-01 00:48:00"
    assert read_start("2026-10-25 03:58:00", 10, "America/New_York") == "2026-10-25 03:48:00"
    assert read_start("2026-10-25 03:58:00", 10, "UTC") == "2026-10-25 03:48:00"


def test_cursor_start_uses_the_timezone_it_is_given(new_store):
    cursor = new_store().cursor(ORDERS)
    cursor.advance("2026-10-25 03:58:00")
    assert cursor.start(10) == "2026-10-25 02:48:00"            # the default: Europe/Kyiv
    assert cursor.start(10, "UTC") == "2026-10-25 03:48:00"
