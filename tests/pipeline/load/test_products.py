"""The products loader against the fake RO App: created, unchanged, updated; a product
already in RO App is found by SKU (or by barcode, with product_key ``barcode``) and adopted;
the catalogue refresh clock moves only when the run read the whole catalogue; new products
are looked up a chunk at a time, so a step its time budget stops pays no look-up for the
products it did not reach."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from cartum_roapp_sync.pipeline.load import ProductLoader
from cartum_roapp_sync.pipeline.load.base import LOOKUP_CHUNK, LoadBudgetSpent
from cartum_roapp_sync.state.store import StateStore, as_utc

from .fake_roapp import FakeRoApp
from .records import config, context, plan, product


def load(engine, fake: FakeRoApp, records: list[Any], run_id: str, **settings: Any) -> Any:
    ctx = context(config(**settings), engine, fake, run_id)
    fake.forget_calls()
    return ProductLoader(ctx).run(records)


def held(record: Any) -> dict[str, Any]:
    """What RO App should hold for ``record``."""
    return {"title": record.title, "sku": record.sku, "barcodes": list(record.barcodes or []),
            "description": record.description or "", "price": record.price}


def fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("title", "sku", "barcodes", "description", "price")}


def by_sku(fake: FakeRoApp) -> dict[str, dict[str, Any]]:
    return {p["sku"]: p for p in fake.products.values()}


def test_products_are_created_then_unchanged_then_updated(engine, fake):
    first = [product("ART-1", price=100.0, description="Опис"), product("ART-2", price=50.0,
                                                                        barcodes=["4820000000024"])]
    counts = load(engine, fake, first, "run_1")

    assert counts.created == 2
    assert fake.names() == ["find_products", "create_product", "create_product"]
    assert fake.calls_of("find_products")[0][0]["skus"] == ["ART-1", "ART-2"]
    assert {sku: fields(p) for sku, p in by_sku(fake).items()} == {r.sku: held(r) for r in first}
    rows = StateStore(engine, "shop").id_rows("products")
    assert {k: (r.status, r.roapp_id) for k, r in rows.items()} == {
        "ART-1": ("synced", by_sku(fake)["ART-1"]["id"]), "ART-2": ("synced", by_sku(fake)["ART-2"]["id"])}

    counts = load(engine, fake, first, "run_2")
    assert fake.calls == [] and counts.unchanged == 2

    second = [product("ART-1", price=120.0, description="Опис"), first[1]]
    counts = load(engine, fake, second, "run_3")
    assert (counts.updated, counts.unchanged) == (1, 1)
    assert fake.names() == ["update_product"]
    assert fake.calls_of("update_product")[0][0] == by_sku(fake)["ART-1"]["id"]
    assert {sku: fields(p) for sku, p in by_sku(fake).items()} == {r.sku: held(r) for r in second}
    assert StateStore(engine, "shop").id_rows("products")["ART-1"].content_hash == second[0].content_hash


def test_a_product_already_in_roapp_is_found_by_sku_and_adopted(engine, fake):
    existing = fake.add_product(title="Made by hand", sku="ART-1", price=90.0)
    record = product("ART-1", price=100.0)

    counts = load(engine, fake, [record], "run_1")

    assert fake.names() == ["find_products"]
    assert (counts.created, counts.matched, counts.unchanged) == (0, 1, 1)
    assert list(fake.products) == [existing["id"]]
    row = StateStore(engine, "shop").id_rows("products")["ART-1"]
    assert (row.status, row.roapp_id, row.content_hash) == ("synced", existing["id"], record.content_hash)

    assert row.details["linked"] is True

    # it was made in RO App, not by this store: linked, never edited; orders still use it
    before = dict(fake.products[existing["id"]])
    changed = product("ART-1", price=110.0)
    counts = load(engine, fake, [changed], "run_2")
    assert fake.names() == [] and (counts.updated, counts.unchanged) == (0, 1)
    assert fake.products[existing["id"]] == before
    assert StateStore(engine, "shop").id_rows("products")["ART-1"].content_hash == changed.content_hash


def test_with_product_key_barcode_a_product_is_found_by_barcode_then_by_sku(engine, fake):
    by_barcode = fake.add_product(title="Old title", sku="OLD-ART", barcodes=["4820000000017"])
    by_article = fake.add_product(title="Other", sku="ART-3", barcodes=[])
    records = [product("ART-2", key="4820000000017", barcodes=["4820000000017"]),
               product("ART-3", key="4820000000031", barcodes=["4820000000031"]),
               product("ART-4", key="4820000000048", barcodes=["4820000000048"])]

    counts = load(engine, fake, records, "run_1", product_key="barcode")

    assert fake.names() == ["find_products", "find_products", "create_product"]
    assert fake.calls_of("find_products")[0][0]["barcodes"] == ["4820000000017", "4820000000031", "4820000000048"]
    assert fake.calls_of("find_products")[1][0]["skus"] == ["ART-3", "ART-4"]   # what the barcodes did not find
    assert (counts.matched, counts.created) == (2, 1)
    rows = StateStore(engine, "shop").id_rows("products")
    created = by_sku(fake)["ART-4"]
    assert {k: r.roapp_id for k, r in rows.items()} == {
        "4820000000017": by_barcode["id"], "4820000000031": by_article["id"], "4820000000048": created["id"]}
    assert fields(created) == held(records[2])
    assert len(fake.products) == 3


def test_finish_records_the_catalogue_refresh_only_after_a_full_read(engine, fake):
    state = StateStore(engine, "shop")

    ctx = context(config(), engine, fake, "run_1", plan=plan(catalog_full=False))
    loader = ProductLoader(ctx)
    loader.run([product("ART-1")])
    loader.finish(None)
    assert (state.get_store_state() or {}).get("catalog_refreshed_at") is None

    before = datetime.now(timezone.utc)
    ctx = context(config(), engine, fake, "run_2", plan=plan(catalog_full=True))
    ProductLoader(ctx).finish(None)
    refreshed = as_utc(state.get_store_state()["catalog_refreshed_at"])
    assert before <= refreshed <= datetime.now(timezone.utc)

    ctx = context(config(), engine, fake, "run_3", plan=plan(catalog_full=False))
    ProductLoader(ctx).finish(None)
    assert as_utc(state.get_store_state()["catalog_refreshed_at"]) == refreshed


def test_new_records_are_looked_up_a_chunk_at_a_time_so_a_stopped_step_pays_only_for_what_it_reached(engine, fake):
    many = [product(f"ART-{n:04d}") for n in range(2 * LOOKUP_CHUNK + 50)]
    fake.add_product(title="Made by hand", sku=many[-1].sku)   # in the last chunk: found and adopted

    # a budget spent at once: one product written, only its chunk looked up
    with pytest.raises(LoadBudgetSpent):
        load(engine, fake, many, "run_1", load_budget_minutes=1e-9)
    assert fake.names() == ["find_products", "create_product"]
    assert fake.calls_of("find_products")[0][0]["skus"] == [r.sku for r in many[:LOOKUP_CHUNK]]

    # the retry looks up from the first product not done, a chunk before the first write of each
    counts = load(engine, fake, many, "run_1")
    finds = fake.calls_of("find_products")
    assert [call[0]["skus"] for call in finds] == [
        [r.sku for r in many[1:LOOKUP_CHUNK + 1]], [r.sku for r in many[LOOKUP_CHUNK + 1:2 * LOOKUP_CHUNK + 1]],
        [r.sku for r in many[2 * LOOKUP_CHUNK + 1:]]]
    names = fake.names()
    assert [n for n, name in enumerate(names) if name == "find_products"] == [0, LOOKUP_CHUNK + 1,
                                                                                2 * LOOKUP_CHUNK + 2]
    assert (counts.created, counts.matched, counts.unchanged) == (len(many) - 2, 1, 2)
    assert sorted(by_sku(fake)) == sorted(r.sku for r in many)   # each once: none created twice
    assert len(fake.products) == len(many)
