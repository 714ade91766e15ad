from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.transform.orders import build_orders, delivery_comment

from .records import line, order, store

CLIENT = "phone:+380501234567"


def build(orders, *, config=None, article_index=None, titles=None, order_client=None):
    return build_orders(orders, config=config or store(),
                        order_client={o["order_id"]: CLIENT for o in orders} if order_client is None else order_client,
                        article_index={"SKU-1": "SKU-1"} if article_index is None else article_index,
                        product_titles={"SKU-1": "Чохол (каталог)"} if titles is None else titles)


def problems(result, problem):
    return sorted(p["order_id"] for p in result.report if p["problem"] == problem)


def test_columns_and_plain_fields():
    result = build([order(5, status=2, payed=1, total_sum=1614.5, currency="UAH")])
    assert list(result.frame.columns) == list(ORDERS.columns)
    row = result.frame.iloc[0]
    assert (row["order_id"], row["client_key"], row["cartum_status"], row["roapp_status_id"]) == (5, CLIENT, 2, 102)
    assert (row["created"], row["currency"], row["total"], bool(row["paid"])) == \
        ("2025-01-02 10:00:00", "UAH", 1614.5, True)
    assert result.report == []


def test_unmapped_status_gives_none_and_is_reported():
    result = build([order(1, status=7), order(2, status=3)])
    rows = result.frame.set_index("order_id")
    assert rows.loc[1, "roapp_status_id"] is None
    assert rows.loc[2, "roapp_status_id"] == 103
    assert problems(result, "unmapped_status") == [1]


def test_status_map_comes_from_the_store():
    result = build([order(1, status=7)], config=store(status_map={"7": 500}))
    assert result.frame.iloc[0]["roapp_status_id"] == 500


def test_items_use_the_catalogue_key_and_title():
    lines = [line("SKU-1", title="Чехол (рус. версия сайта)", price=199, quantity=2),
             line("SKU-2", title="Gift", price=0, quantity=1)]
    result = build([order(1, lines=lines)], article_index={"SKU-1": "4820000000001", "SKU-2": "article:SKU-2"},
                   titles={"4820000000001": "Чохол"})
    assert result.frame.iloc[0]["items"] == [
        {"product_key": "4820000000001", "article": "SKU-1", "title": "Чохол", "quantity": 2, "price": 199.0,
         "discount": 0, "net": 398},
        {"product_key": "article:SKU-2", "article": "SKU-2", "title": "Gift", "quantity": 1, "price": 0.0,
         "discount": 0, "net": 0},
    ]
    assert result.report == []


def test_unknown_article_is_keyed_per_mode_and_reported():
    lines = [line("SKU-9", title="Видалений товар")]
    sku = build([order(1, lines=lines)], config=store(product_key="sku"))
    barcode = build([order(1, lines=lines)], config=store(product_key="barcode"))
    assert sku.frame.iloc[0]["items"][0]["product_key"] == "SKU-9"
    assert barcode.frame.iloc[0]["items"][0]["product_key"] == "article:SKU-9"
    assert barcode.frame.iloc[0]["items"][0]["title"] == "Видалений товар"
    assert problems(sku, "unknown_article") == problems(barcode, "unknown_article") == [1]


def test_lines_without_article_or_with_bad_numbers_are_reported():
    lines = [{"title": "no article", "price": 1, "quantity": 1}, line("SKU-1", price="n/a")]
    result = build([order(1, lines=lines)])
    items = result.frame.iloc[0]["items"]
    assert [item["article"] for item in items] == ["SKU-1"] and items[0]["price"] is None
    assert problems(result, "line_without_article") == problems(result, "invalid_line") == [1]


def test_delivery_comment_lists_the_parts_in_order():
    text = delivery_comment(order(1, delivery_price=80, payed=1, comment="Передзвоніть, будь ласка"), "UAH")
    assert text == ("Delivery: Нова Пошта\nCity: Київ\nAddress: Відділення №1\nDelivery price: 80 UAH\n"
                    "Payment: Накладений платіж\nPaid: yes\nBuyer's comment: Передзвоніть, будь ласка")


def test_delivery_comment_skips_uncalculated_price_and_empty_parts():
    text = delivery_comment(order(1, delivery_price=-1, delivery_address="", comment="  ", payed=0), "UAH")
    assert text == "Delivery: Нова Пошта\nCity: Київ\nPayment: Накладений платіж\nPaid: no"
    assert "Delivery price: 0 UAH" in delivery_comment(order(1, delivery_price=0), "UAH")
    assert "Delivery price: 45.50 UAH" in delivery_comment(order(1, delivery_price=45.5), "UAH")


def test_order_without_client_is_reported():
    result = build([order(1)], order_client={})
    assert result.frame.iloc[0]["client_key"] is None
    assert problems(result, "no_client") == [1]


def test_repeated_and_unnumbered_orders():
    result = build([order(2, status=1), order(1), order(2, status=2), order(None)])
    assert result.frame["order_id"].tolist() == [1, 2]
    assert result.frame.set_index("order_id").loc[2, "cartum_status"] == 2
    assert problems(result, "duplicate_order") == [2]
    assert problems(result, "missing_order_id") == [None]


def test_missing_currency_falls_back_to_the_store_currency():
    assert build([order(1, currency="")], config=store(currency="EUR")).frame.iloc[0]["currency"] == "EUR"


def test_hash_follows_loaded_fields_only():
    def digest(config=None, order_client=None, **changes):
        return build([order(1, **changes)], config=config, order_client=order_client).frame.iloc[0]["content_hash"]
    base = digest()
    assert digest() == base
    assert digest(total_sum=999, total_default=999, stat_created="2025-02-02 00:00:00") == base
    assert digest(status=2) != base
    assert digest(status=2, config=store(status_map={"1": 101, "2": 101})) == base  # same RO App status
    assert digest(payed=1) != base
    assert digest(comment="Після 18:00") != base
    assert digest(lines=[line("SKU-1", quantity=2)]) != base
    assert digest(order_client={1: "email:other@mail.com"}) != base
