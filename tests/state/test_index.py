"""The look-up index's storage (``state/index.py``) on SQLite and PostgreSQL: rows per
account and kind, a record's rows replaced as a whole, a whole read replacing the kind, a
cursor that only moves forward, and no effect of a store's purge."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from cartum_roapp_sync.state.index import LookupIndex
from cartum_roapp_sync.state.store import StateStore
from cartum_roapp_sync.state.tables import roapp_index, roapp_index_cursors


def later(a: str, b: str) -> bool:
    return a > b  # ISO-8601 UTC texts of one format order as their times


def indexes(engine, kind="person"):
    account = f"roapp:{uuid.uuid4().hex}"
    return LookupIndex(engine, account, kind), LookupIndex(engine, f"{account}-other", kind)


def cleanup(engine, *accounts):
    with engine.begin() as c:
        for table in (roapp_index, roapp_index_cursors):
            c.execute(delete(table).where(table.c.account.in_(accounts)))


def test_rows_per_account_replaced_per_record(engine):
    index, other = indexes(engine)
    try:
        index.put({1: [("email", "a@x.ua")], 2: [("email", "b@x.ua")], 3: [("email", "a@x.ua")]},
                  full=True, modified_at="2025-03-01T10:00:00.000Z", newer=later)
        other.put({9: [("email", "a@x.ua")]})
        assert index.find("email", ["a@x.ua", "b@x.ua", "c@x.ua"]) == {"a@x.ua": [1, 3], "b@x.ua": [2]}
        assert other.find("email", ["a@x.ua"]) == {"a@x.ua": [9]}
        # person 1 changed its e-mail, person 2 lost it: their old rows go
        index.put({1: [("email", "new@x.ua")], 2: [("email", "")]}, modified_at="2025-03-01T09:00:00.000Z",
                  newer=later)
        assert index.records() == {1: [("email", "new@x.ua")], 3: [("email", "a@x.ua")]}
        cursor = index.cursor()
        assert cursor.modified_at == "2025-03-01T10:00:00.000Z"  # an older time never moves it back
        assert cursor.full_at is not None and cursor.refreshed_at >= cursor.full_at
        index.drop(3)
        assert index.find("email", ["a@x.ua"]) == {}
        # a whole read replaces every row of the kind
        index.put({5: [("email", "e@x.ua")]}, full=True, modified_at="2025-03-02T00:00:00.000Z", newer=later)
        assert index.records() == {5: [("email", "e@x.ua")]} and index.cursor().modified_at.startswith("2025-03-02")
        assert other.records() == {9: [("email", "a@x.ua")]} and other.cursor().full_at is None
    finally:
        cleanup(engine, index.account, other.account)


def test_a_stores_purge_keeps_the_accounts_index(engine):
    index, _ = indexes(engine, "product")
    store = StateStore(engine, f"purge_{uuid.uuid4().hex[:8]}")
    try:
        index.put({7: [("sku", "ART-1"), ("barcode", "4820000000001")]})
        store.set_store_state(import_cutoff="2025-03-01 00:00:00")
        store.purge()
        assert index.find("barcode", ["4820000000001"]) == {"4820000000001": [7]}
    finally:
        cleanup(engine, index.account)
