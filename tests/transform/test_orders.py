import pytest

from cartum_roapp_sync.entities import ORDERS
from cartum_roapp_sync.transform.orders import build_orders, delivery_comment, spread_discount

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
    result = build([order(5, status=2, payed=1, lines=[line("SKU-1", price=1614.5)], currency="UAH")])
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
                    "Payment: Накладений платіж\nPaid: yes\nBuyer's comment: Передзвоніть, будь ласка\n"
                    "Cartum total: 100 UAH")


def test_delivery_comment_skips_uncalculated_price_and_empty_parts():
    text = delivery_comment(order(1, delivery_price=-1, delivery_address="", comment="  ", payed=0), "UAH")
    assert text == "Delivery: Нова Пошта\nCity: Київ\nPayment: Накладений платіж\nPaid: no\nCartum total: 100 UAH"
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
    assert digest(total_default=999, stat_created="2025-02-02 00:00:00") == base
    assert digest(total_sum=95) != base  # the discount and the comment's Cartum total reach RO App
    assert digest(status=2) != base
    assert digest(status=2, config=store(status_map={"1": 101, "2": 101})) == base  # same RO App status
    assert digest(payed=1) != base
    assert digest(comment="Після 18:00") != base
    assert digest(lines=[line("SKU-1", quantity=2)]) != base
    assert digest(order_client={1: "email:other@mail.com"}) != base


# --- totals: the order-level discount as item discounts ------------------------------------

def items_of(result):
    return result.frame.iloc[0]["items"]


def nets_in_cents(items):
    return sum(round(item["net"] * 100) for item in items)


def test_a_promo_discount_is_spread_over_the_items_to_the_cent():
    # the sandbox's promo: total_sum = round(total_default × 0.95, 2)
    lines = [line("SKU-1", price=8999, quantity=1), line("SKU-2", price=854, quantity=2)]
    result = build([order(1, lines=lines, total_default=10707, total_sum=10171.65)],
                   article_index={"SKU-1": "SKU-1", "SKU-2": "SKU-2"})
    items = items_of(result)
    # 535.35 split 8999 : 1708 → 449.949… : 85.40 exactly; the cent rounded off goes to the first line
    assert [(i["discount"], i["net"]) for i in items] == [(449.95, 8549.05), (85.4, 1622.6)]
    assert nets_in_cents(items) == 1017165
    assert result.report == []
    assert result.frame.iloc[0]["delivery_comment"].endswith("Cartum total: 10171.65 UAH (discount 535.35 UAH)")


def test_the_cents_left_by_rounding_down_go_to_the_largest_fractions():
    # 3 equal lines of 0.01, 0.02 off: each share is 0.00666…; two lines get a cent, never more than their amount
    lines = [line(f"SKU-{n}", price=0.01) for n in (1, 2, 3)]
    result = build([order(1, lines=lines, total_sum=0.01)], article_index={f"SKU-{n}": f"SKU-{n}" for n in (1, 2, 3)})
    assert [i["discount"] for i in items_of(result)] == [0.01, 0.01, 0]
    assert [i["net"] for i in items_of(result)] == [0, 0, 0.01]


@pytest.mark.parametrize("total", [0, 0.01, 99.99, 100, 123.45, 333.33, 1000])
def test_nets_always_sum_to_the_total_and_no_discount_exceeds_its_line(total):
    lines = [line("SKU-1", price=333.33, quantity=3), line("SKU-2", price=0.07, quantity=1),
             line("SKU-3", price=0, quantity=2), line("SKU-4", price=12.5, quantity=1)]
    index = {f"SKU-{n}": f"SKU-{n}" for n in (1, 2, 3, 4)}
    items = items_of(build([order(1, lines=lines, total_sum=total)], article_index=index))
    assert nets_in_cents(items) == round(total * 100)
    for item in items:
        assert 0 <= item["discount"] <= round(item["price"] * item["quantity"], 2)
    assert items[2]["discount"] == 0  # a line at price 0 gets none


def test_no_discount_gives_zero_discounts_and_states_the_total():
    result = build([order(1, lines=[line("SKU-1", price=100, quantity=2)], total_default=200, total_sum=200)])
    assert [(i["discount"], i["net"]) for i in items_of(result)] == [(0, 200)]
    assert result.frame.iloc[0]["delivery_comment"].endswith("\nCartum total: 200 UAH")
    assert result.report == []


def test_a_total_above_the_lines_is_reported_not_invented():
    result = build([order(1, lines=[line("SKU-1", price=900)], total_default=900, total_sum=980)])
    assert [(i["discount"], i["net"]) for i in items_of(result)] == [(0, 900)]
    assert problems(result, "total_above_lines") == [1]
    assert result.frame.iloc[0]["delivery_comment"].endswith("Cartum total: 980 UAH (above the lines' 900 UAH)")


def test_an_all_free_order_and_bad_lines_give_no_discount():
    free = build([order(1, lines=[line("SKU-1", price=0)], total_sum=0)])
    assert [(i["discount"], i["net"]) for i in items_of(free)] == [(0, 0)]
    bad = build([order(1, lines=[line("SKU-1", price="n/a")], total_sum=50)])
    assert [(i["discount"], i["net"]) for i in items_of(bad)] == [(0, None)]
    assert bad.frame.iloc[0]["delivery_comment"].endswith("Cartum total: 50 UAH")


def test_delivery_is_not_in_the_items_and_stays_in_the_comment():
    result = build([order(1, lines=[line("SKU-1", price=100)], total_sum=95, delivery_price=80)])
    items = items_of(result)
    assert nets_in_cents(items) == 9500
    text = result.frame.iloc[0]["delivery_comment"]
    assert "Delivery price: 80 UAH" in text and "Cartum total: 95 UAH (discount 5 UAH)" in text


def test_the_hash_follows_the_discount():
    def digest(total):
        return build([order(1, lines=[line("SKU-1", price=100)], total_sum=total)]).frame.iloc[0]["content_hash"]
    assert digest(95) != digest(100) != digest(90)
    assert digest(95) == digest(95.0)


def test_spread_discount_is_proportional_and_exact():
    assert spread_discount([1000, 3000], 400) == [100, 300]
    assert spread_discount([1, 1, 1], 2) == [1, 1, 0]
    assert spread_discount([0, 500], 100) == [0, 100]
    assert spread_discount([700, 300], 0) == [0, 0]
    assert spread_discount([3, 3], 6) == [3, 3]
