from datetime import datetime

import pytest

from cartum_roapp_sync.entities import CLIENTS, ORDERS, PRODUCTS
from cartum_roapp_sync.transform import transform_batch

from .records import customer, line, order, product, store


def raw_batch():
    return {
        "products": [product("SKU-1", gtin="4820000000001"), product("SKU-2", gtin="4820000000001"),
                     product("SKU-3", gtin="", title={"en": "Cable"})],
        "orders": [order(1, phone="0501234567", lines=[line("SKU-2", title="Чехол"), line("SKU-3")]),
                   order(2, phone="+380 50 123 45 67", status=8, lines=[line("SKU-9", title="Видалений")]),
                   order(3, phone="", email="", lines=[line("SKU-1")])],
        "customers": [customer(11, email="maria@i.ua")],
    }


@pytest.mark.parametrize("mode", ["sku", "barcode"])
def test_output_columns_are_exactly_the_entities(mode):
    result = transform_batch(raw_batch(), config=store(product_key=mode))
    assert tuple(result.clients.columns) == CLIENTS.columns
    assert tuple(result.products.columns) == PRODUCTS.columns
    assert tuple(result.orders.columns) == ORDERS.columns
    assert all(p["entity"] in {"clients", "products", "orders"} for p in result.report)


def test_empty_batch_gives_empty_frames_with_the_columns():
    result = transform_batch({}, config=store())
    for frame, entity in ((result.clients, CLIENTS), (result.products, PRODUCTS), (result.orders, ORDERS)):
        assert tuple(frame.columns) == entity.columns and frame.empty
    assert result.report == [] and result.article_index == {}


def test_barcode_batch_links_everything():
    result = transform_batch(raw_batch(), config=store(product_key="barcode"))
    assert result.products["product_key"].tolist() == ["4820000000001", "article:SKU-3", "article:SKU-9"]
    assert result.article_index == {"SKU-1": "4820000000001", "SKU-2": "4820000000001",
                                    "SKU-3": "article:SKU-3", "SKU-9": "article:SKU-9"}
    assert result.clients["client_key"].tolist() == ["email:maria@i.ua", "guest:3", "phone:+380501234567"]
    orders = result.orders.set_index("order_id")
    assert orders.loc[1, "client_key"] == orders.loc[2, "client_key"] == "phone:+380501234567"
    assert [item["product_key"] for item in orders.loc[1, "items"]] == ["4820000000001", "article:SKU-3"]
    assert [item["title"] for item in orders.loc[1, "items"]] == ["Товар SKU-1", "Cable"]  # catalogue titles
    # Every item points at a product of this batch.
    keys = set(result.products["product_key"])
    assert all(item["product_key"] in keys for items in result.orders["items"] for item in items)
    problems = {(p["entity"], p["problem"]) for p in result.report}
    assert problems == {("products", "duplicate_key_merged"), ("products", "empty_barcode"),
                        ("products", "language_fallback"), ("products", "not_in_catalogue"),
                        ("orders", "unmapped_status"), ("clients", "no_contact")}


def test_known_articles_and_titles_from_earlier_runs_are_used_when_the_catalogue_is_not_read():
    raw = {"orders": [order(1, lines=[line("SKU-1", title="Чехол")])]}
    result = transform_batch(raw, config=store(product_key="barcode"),
                             known_articles={"SKU-1": "4820000000001"},
                             known_titles={"4820000000001": "Чохол"})
    assert result.products.empty
    assert result.orders.iloc[0]["items"][0] == {"product_key": "4820000000001", "article": "SKU-1",
                                                 "title": "Чохол", "quantity": 1, "price": 100.0,
                                                 "discount": 0, "net": 100}
    assert result.article_index == {"SKU-1": "4820000000001"}
    assert result.product_titles == {"4820000000001": "Чохол"}


def test_this_runs_catalogue_overrides_known_articles():
    raw = {"products": [product("SKU-1", gtin="4820000000002")], "orders": []}
    result = transform_batch(raw, config=store(product_key="barcode"),
                             known_articles={"SKU-1": "4820000000001", "SKU-7": "4820000000007"})
    assert result.article_index == {"SKU-1": "4820000000002", "SKU-7": "4820000000007"}


def test_same_input_same_output():
    first = transform_batch(raw_batch(), config=store(product_key="barcode"))
    second = transform_batch(raw_batch(), config=store(product_key="barcode"))
    for name in ("clients", "products", "orders"):
        assert getattr(first, name).equals(getattr(second, name))
    assert first.report == second.report


def test_sandbox_store_data_transforms_cleanly():
    seed = pytest.importorskip("cartum_roapp_sandbox.cartum.seed")
    data = seed.generate(seed.CartumSeedConfig(seed=7, orders=120, products=60, customers=40,
                                               now=datetime(2025, 3, 1, 12, 0, 0)))
    config = store(product_key="barcode", status_map={str(s["id"]): 100 + s["id"] for s in data["statuses"]})
    result = transform_batch({"orders": data["orders"], "products": data["products"], "customers": data["users"]},
                             config=config)
    assert len(result.orders) == len(data["orders"])
    assert result.orders["roapp_status_id"].notna().all()
    assert set(result.article_index) >= {p["article"] for p in data["products"]}
    keys = set(result.products["product_key"])
    assert all(item["product_key"] in keys for items in result.orders["items"] for item in items)
    assert set(result.orders["client_key"]) <= set(result.clients["client_key"])
    assert result.clients["client_key"].is_unique and result.products["product_key"].is_unique
    assert result.clients["first_name"].str.len().gt(0).all()
    # Every valid phone in the data is E.164, and the messy formats collapse into few clients.
    assert result.clients["phone"].dropna().str.match(r"^\+380\d{9}$").all()
    assert len(result.clients) < len(data["orders"]) + len(data["users"])
