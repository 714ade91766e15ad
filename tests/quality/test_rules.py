"""The checks built from the entity declarations: every declared rule can be expanded, and
each frame gets exactly the checks it always had, in the same order."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from cartum_roapp_sync.entities import ENTITIES, ORDERS, PRODUCTS, RULE_KINDS, Rule
from cartum_roapp_sync.quality import ITEM_COLUMNS, build_suite
from cartum_roapp_sync.quality import rules

from .rows import CONFIG, store

# --------------------------------------------------------------------------- declarations


def test_every_rule_kind_has_an_expansion():
    assert set(rules.EXPANSIONS) == set(RULE_KINDS)


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.name)
def test_every_entity_declares_rules_the_quality_package_can_build(entity):
    assert entity.rules, f"{entity.name} declares no quality rules"
    for rule in entity.rules:
        assert rule.kind in rules.EXPANSIONS, f"{entity.name}: no expansion for rule kind {rule.kind!r}"
        if rule.kind == "key":
            assert rule.column in (None, entity.key), f"{entity.name}: {rule} is not about the key"
            assert entity.key in entity.columns, f"{entity.name}: key {entity.key} is not a declared field"
        else:
            assert rule.column in entity.columns, f"{entity.name}: {rule} names an undeclared column"
    if entity.lines is not None:
        lines = entity.lines
        assert lines.column in entity.columns, f"{entity.name}: lines column {lines.column} is not declared"
        assert lines.rules, f"{entity.name}: its lines declare no quality rules"
        for rule in lines.rules:
            assert rule.kind in rules.EXPANSIONS, f"{lines.frame}: no expansion for rule kind {rule.kind!r}"
            assert rule.kind != "key", f"{lines.frame}: lines have no key"
            assert rule.column in lines.fields, f"{lines.frame}: {rule} names an undeclared line field"
    assert rules.problems(entity) == []
    for frame in rules.frames_of(entity):
        assert rules.checks(frame.name, CONFIG)


def _bad(entity, **changes):
    return dataclasses.replace(entity, **changes)


def _bad_lines(**changes):
    return _bad(ORDERS, lines=dataclasses.replace(ORDERS.lines, **changes))


@pytest.mark.parametrize(("entity", "problem"), [
    (_bad(PRODUCTS, rules=()), "products: no quality rules declared"),
    (_bad(PRODUCTS, rules=(Rule("key"), Rule("shiny", "title"))), "products: rule shiny(title): unknown kind"),
    (_bad(PRODUCTS, rules=(Rule("key"), Rule("present", "weight"))),
     "products: rule present(weight): weight is not a declared column"),
    (_bad(PRODUCTS, rules=(Rule("key"), Rule("present"))), "products: rule present(): names no column"),
    (_bad(PRODUCTS, rules=(Rule("key", "title"),)), "products: rule key(title): a key rule is about"),
    (_bad_lines(rules=()), "order_items: no quality rules declared"),
    (_bad_lines(rules=(Rule("shiny", "price"),)), "order_items: rule shiny(price): unknown kind"),
    (_bad_lines(rules=(Rule("positive", "weight"),)),
     "order_items: rule positive(weight): weight is not a declared column"),
    (_bad_lines(rules=(Rule("key"),)), "order_items: rule key(): lines have no key"),
    (_bad_lines(rules=(Rule("status_mapped", "price"),)),
     "order_items: rule status_mapped(price): its reason reads cartum_status"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_bad_declaration_is_named(entity, problem):
    found = rules.problems(entity)
    assert any(text.startswith(problem) for text in found), found


def test_checks_are_not_built_from_a_bad_declaration(monkeypatch):
    bad = rules.Frame("products", PRODUCTS, PRODUCTS.columns, (Rule("key"), Rule("present", "weight")))
    monkeypatch.setitem(rules.FRAMES, "products", bad)
    with pytest.raises(ValueError, match="weight is not a declared column"):
        rules.checks("products", CONFIG)


def test_an_unknown_frame_is_refused():
    with pytest.raises(ValueError, match="No quality checks for 'customers': expected one of "
                                         "clients, products, orders, order_items"):
        rules.checks("customers", CONFIG)


# --------------------------------------------------------------------------- the checks built

NOT_NULL, NOT_BLANK = "ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToNotMatchRegex"
UNIQUE, BETWEEN, IN_SET = "ExpectColumnValuesToBeUnique", "ExpectColumnValuesToBeBetween", "ExpectColumnValuesToBeInSet"
BLANK = {"regex": r"\A\s*\Z"}

#: The checks of each frame as they were written by hand before the declarations existed:
#: name, expectation, column, arguments; in suite order (the order of a row's reasons).
EXPECTED = {
    "clients": [
        ("client_key_not_null", NOT_NULL, "client_key", {}),
        ("client_key_not_blank", NOT_BLANK, "client_key", BLANK),
        ("client_key_unique", UNIQUE, "client_key", {}),
        ("first_name_not_null", NOT_NULL, "first_name", {}),
        ("first_name_not_blank", NOT_BLANK, "first_name", BLANK),
    ],
    "products": [
        ("product_key_not_null", NOT_NULL, "product_key", {}),
        ("product_key_not_blank", NOT_BLANK, "product_key", BLANK),
        ("product_key_unique", UNIQUE, "product_key", {}),
        ("title_not_null", NOT_NULL, "title", {}),
        ("title_not_blank", NOT_BLANK, "title", BLANK),
        ("price_not_null", NOT_NULL, "price", {}),
        ("price_at_least_zero", BETWEEN, "price", {"min_value": 0}),
    ],
    "orders": [
        ("order_id_not_null", NOT_NULL, "order_id", {}),      # an int key: no not_blank
        ("order_id_unique", UNIQUE, "order_id", {}),
        ("client_key_not_null", NOT_NULL, "client_key", {}),
        ("client_key_not_blank", NOT_BLANK, "client_key", BLANK),
        ("status_mapped", NOT_NULL, "roapp_status_id", {}),
        ("currency_not_null", NOT_NULL, "currency", {}),
        ("currency_is_store_currency", IN_SET, "currency", {"value_set": ["UAH"]}),
        ("total_not_null", NOT_NULL, "total", {}),
        ("total_at_least_zero", BETWEEN, "total", {"min_value": 0}),
    ],
    "order_items": [
        ("item_product_key_not_null", NOT_NULL, "product_key", {}),
        ("item_product_key_not_blank", NOT_BLANK, "product_key", BLANK),
        ("item_title_not_null", NOT_NULL, "title", {}),
        ("item_title_not_blank", NOT_BLANK, "title", BLANK),
        ("item_quantity_not_null", NOT_NULL, "quantity", {}),
        ("item_quantity_positive", BETWEEN, "quantity", {"min_value": 0, "strict_min": True}),
        ("item_price_not_null", NOT_NULL, "price", {}),
        ("item_price_at_least_zero", BETWEEN, "price", {"min_value": 0}),
        ("item_discount_not_null", NOT_NULL, "discount", {}),
        ("item_discount_at_least_zero", BETWEEN, "discount", {"min_value": 0}),
        ("item_net_at_least_zero", BETWEEN, "net", {"min_value": 0}),
    ],
}

EXPECTED_COLUMNS = {
    "clients": ("client_key", "first_name", "last_name", "phone", "phone_raw", "phone_valid", "email",
                "email_valid", "address", "cartum_user_id", "order_ids", "content_hash"),
    "products": ("product_key", "article", "sku", "barcodes", "title", "description", "price", "language",
                 "language_fallback", "merged_articles", "content_hash"),
    "orders": ("order_id", "client_key", "cartum_status", "roapp_status_id", "created", "currency", "total",
               "paid", "items", "delivery_comment", "content_hash"),
    "order_items": ("order_id", "item_no", "product_key", "article", "title", "quantity", "price", "discount",
                    "net"),
}


def test_the_frames_are_the_entities_and_the_order_lines():
    assert list(rules.FRAMES) == ["clients", "products", "orders", "order_items"]
    assert ITEM_COLUMNS == EXPECTED_COLUMNS["order_items"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_frame_gets_exactly_its_checks_in_order(name):
    built = rules.checks(name, CONFIG)
    schema, *rest = built
    assert (schema.name, schema.expectation, schema.column) == ("columns_match_entity",
                                                                "ExpectTableColumnsToMatchSet", None)
    assert schema.kwargs == {"column_set": list(EXPECTED_COLUMNS[name]), "exact_match": True}
    assert schema.reason is None
    assert [(c.name, c.expectation, c.column, dict(c.kwargs)) for c in rest] == EXPECTED[name]
    assert all(c.reason is not None for c in rest)


def test_the_currency_check_uses_the_store_currency():
    built = {c.name: c for c in rules.checks("orders", store(currency="EUR"))}
    assert built["currency_is_store_currency"].kwargs == {"value_set": ["EUR"]}
    assert built["currency_not_null"].reason({"currency": None}, None) == "currency (the store sells in EUR) is missing"


def test_line_reasons_name_the_line():
    built = {c.name: c for c in rules.checks("order_items", CONFIG)}
    row = {"order_id": 1001, "item_no": 2, "product_key": "X", "article": "X", "title": "T",
           "quantity": 0, "price": -1.0}
    assert built["item_quantity_positive"].reason(row, None) == "item 2 (article 'X'): quantity 0 is not greater than 0"
    assert built["item_price_at_least_zero"].reason(row, None) == "item 2 (article 'X'): price -1 is negative"
    assert built["item_title_not_null"].reason(dict(row, article=None), None) == "item 2 (no article): title is missing"


# --------------------------------------------------------------------------- suites


def test_build_suite_declares_every_check():
    suite = build_suite("orders", CONFIG)
    checks = [e.meta["check"] for e in suite.expectations]
    assert checks[0] == "columns_match_entity"
    assert {"order_id_unique", "status_mapped", "currency_is_store_currency"} <= set(checks)
    items = [e.meta["check"] for e in build_suite("order_items", CONFIG).expectations]
    assert "item_quantity_positive" in items


def test_build_suite_keeps_the_check_order_and_names_the_suite_after_the_store():
    suite = build_suite("products", CONFIG)
    assert suite.name == "shop_one.products"
    assert [e.meta["check"] for e in suite.expectations] == ["columns_match_entity",
                                                            *(c[0] for c in EXPECTED["products"])]


def test_build_suite_works_first_thing_in_a_process():
    # An ExpectationSuite needs an active GX context: build_suite must not rely on a
    # validation having created it before.
    code = ("from cartum_roapp_sync.config import StoreConfig; "
            "from cartum_roapp_sync.quality import build_suite; "
            "config = StoreConfig(store_id='s', name='S', cartum_conn_id='c', location_id=1, order_type_id=2, "
            "language='uk', product_key='sku', managers='all', status_map={}, currency='UAH'); "
            "print(len(build_suite('clients', config).expectations))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == str(1 + len(EXPECTED["clients"]))

