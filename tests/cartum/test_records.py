"""The boundary (``cartum.records``): each hostile shape of issue 11 is held with a reason,
a good record passes unchanged, texts are cleaned once."""

from __future__ import annotations

from datetime import datetime

import pytest

from cartum_roapp_sync import assumptions
from cartum_roapp_sync.cartum.records import clean_text, content_key, exact_id, held_record, parse
from cartum_roapp_sync.transform.phones import normalize_phone
from cartum_roapp_sync.transform.values import to_float, to_int

from ..transform.records import customer, line, order, product

NOW = datetime(2026, 11, 29, 17, 0, 0)


def one_held(source, row):
    parsed = parse(source, [row], NOW)
    assert parsed.good == [] and len(parsed.held) == 1
    return parsed.held[0]


@pytest.mark.parametrize("row", [None, "order 1", [1, 2], 7, True])
def test_an_order_that_is_not_an_object_is_held_by_its_content(row):
    held = one_held("orders", row)
    assert held.entity == "orders" and held.key == content_key(row) and held.key.startswith("sha256:")
    assert "not an object" in held.reason and held.time is None


@pytest.mark.parametrize("order_id, shown", [("A-9104", "'A-9104'"), (2**63, str(2**63)), (1069.5, "1069.5"),
                                             (None, "missing"), (0, "0"), (-5, "-5"), (True, "bool"),
                                             ([1], "list"), (1069.0, "1069.0")])
def test_an_order_id_that_is_not_an_exact_integer_is_refused_never_truncated(order_id, shown):
    held = one_held("orders", {**order(1), "order_id": order_id})
    assert held.key.startswith("sha256:") and "order_id is" in held.reason and shown in held.reason
    assert "1069" not in held.key


def test_exact_ids_keep_every_digit():
    big = 2**63 - 1
    parsed = parse("orders", [order(big), order(2**62 + 1), {**order(1), "order_id": " 42 "}], NOW)
    assert [o["order_id"] for o in parsed.good] == [big, 2**62 + 1, 42] and not parsed.held
    assert exact_id(2**63) is None and exact_id("٣") is None and to_int(str(2**62 + 1)) == 2**62 + 1


@pytest.mark.parametrize("created", ["2026-13-45 99:99:99", "30.11.2026 10:00", "", None, 20261129, "2026-11-29"])
def test_an_unreadable_creation_time_holds_the_order_and_never_reaches_a_cursor(created):
    held = one_held("orders", order(6, stat_created=created))
    assert held.key == "6" and "stat_created" in held.reason and held.time is None


def test_a_creation_time_in_the_future_holds_the_order_and_the_tolerance_lets_skew_pass():
    held = one_held("orders", order(8, stat_created="2099-01-01 00:00:00"))
    assert "future" in held.reason and held.time is None
    skewed = f"{NOW.replace(minute=NOW.minute + assumptions.CARTUM_FUTURE_TOLERANCE_MINUTES // 2):%Y-%m-%d %H:%M:%S}"
    assert parse("orders", [order(9, stat_created=skewed)], NOW).good


@pytest.mark.parametrize("products, words", [(None, "no lines"), ([], "no lines"), ("SKU-1", "string"),
                                             (5, "number"), ({"article": "SKU-1"}, "object"),
                                             ([None], "line 1: the line is null"),
                                             ([{"title": "Чохол", "price": 1, "quantity": 1}], "no article"),
                                             ([line("SKU-1"), {**line("x"), "article": "  "}], "line 2"),
                                             ([line("SKU-1"), "SKU-2"], "line 2: the line is string")])
def test_an_order_is_held_whole_when_a_line_cannot_be_loaded_or_it_has_none(products, words):
    held = one_held("orders", {**order(10), "products": products})
    assert held.key == "10" and words in held.reason and "held" in held.reason
    assert held.time == "2025-01-02 10:00:00"  # a sane time: re-read by id, the cursor may pass it


@pytest.mark.parametrize("field", ["price", "quantity"])
def test_an_ambiguous_comma_in_a_line_holds_the_order(field):
    held = one_held("orders", order(16, lines=[{**line("SKU-1"), field: "1,299"}]))
    assert f"{field} '1,299' is ambiguous" in held.reason


def test_numbers_are_read_strictly():
    assert to_float("1,299") is None and to_float("1.299") == 1.299 and to_float("12,5") == 12.5
    assert to_float("1,299.50") == 1299.5 and to_float("1,299,000") == 1299000 and to_float("1234,567") == 1234.567
    assert to_float("12 50") is None and to_float("1e3") is None and to_float("١٢") is None
    parsed = parse("orders", [order(3, lines=[line("SKU-1", price="12,50")]), {**order(4), "total_sum": "1,299"}], NOW)
    assert [o["order_id"] for o in parsed.good] == [3] and "total_sum '1,299'" in parsed.held[0].reason


@pytest.mark.parametrize("phone", ["050ABC4567", "0501234567 ext 5", "+38050123456x"])
def test_a_phone_with_letters_is_invalid_not_repaired(phone):
    assert normalize_phone(phone, "UA") == (None, False)


def test_texts_are_cleaned_once_and_capped():
    raw = {**order(18), "comment": "a\x00b\x07c\nd\te\ud800", "delivery_name": "Я" * 999, "extra": {"k\x00": "v\x1b"}}
    good = parse("orders", [raw], NOW).good[0]
    caps = assumptions.ROAPP_TEXT_CAPS
    assert good["comment"] == "abc\nd\te" and len(good["delivery_name"]) == caps["delivery_name"]
    assert good["extra"] == {"k": "v"}
    assert clean_text("plain text") == "plain text"


def test_an_article_too_long_for_the_state_holds_the_record_instead_of_merging_products():
    long = "A" * (assumptions.CARTUM_ARTICLE_MAX + 1)
    assert "longer than" in one_held("orders", order(20, lines=[line(long)])).reason
    assert "characters long" in one_held("products", product(long)).reason


def test_customers_and_products_are_parsed_too():
    parsed = parse("customers", [customer(1), None, {**customer(2), "registered": "2099-01-01 00:00:00"},
                                 {**customer(3), "id": "x"}, {**customer(4), "registered": None}], NOW)
    assert [c["id"] for c in parsed.good] == [1, 4]
    assert [h.key for h in parsed.held][1] == "cartum_user:2" and all(h.entity == "clients" for h in parsed.held)
    parsed = parse("products", [product("A"), None, 5, product(""), {**product("B"), "price": "1,299"},
                                {**product("C"), "price": {"UAH": 5}}], NOW)
    assert [p["article"] for p in parsed.good] == ["A"]
    assert [h.key for h in parsed.held][3:] == ["B", "C"] and all(h.entity == "products" for h in parsed.held)


def test_a_huge_held_record_is_kept_short():
    kept = held_record({"order_id": "x", "comment": "z" * 100_000})
    assert kept["truncated"] is True and len(kept["start"]) <= 2000
