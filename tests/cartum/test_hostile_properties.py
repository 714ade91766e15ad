"""Property-based tests (hypothesis) of the boundary, the transforms and the quality step:
for any generated batch mixing good and hostile Cartum records, no exception escapes,
every good record comes out unchanged, and every hostile one is held with a reason.

The normal test run is deterministic (``derandomize``) and small; ``scripts/fuzz.sh`` runs
the same properties with ``CARTUM_ROAPP_FUZZ_EXAMPLES`` examples each, at random, and
prints how many cases were generated and how many crashed (an exception out of the code
under test)."""

from __future__ import annotations

import json
import math
import os
import unicodedata
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartum_roapp_sync import assumptions
from cartum_roapp_sync.cartum.records import clean, clean_text, content_key, parse, parse_time
from cartum_roapp_sync.entities import ENTITIES
from cartum_roapp_sync.quality import validate_entity
from cartum_roapp_sync.transform import transform_batch
from cartum_roapp_sync.transform.phones import normalize_phone
from cartum_roapp_sync.transform.values import is_ambiguous_number, to_flag, to_float, to_int

from ..transform.records import store

FUZZ = int(os.environ.get("CARTUM_ROAPP_FUZZ_EXAMPLES") or 0)
NOW = datetime(2026, 11, 29, 17, 0, 0)
CONFIG = store()
STATS = {"cases": 0, "crashes": 0, "first_crash": None}


def examples(normal: int, fuzz_share: float = 1.0) -> settings:
    """``normal`` examples, derandomized; under ``CARTUM_ROAPP_FUZZ_EXAMPLES``, that many
    (times ``fuzz_share`` for a slow property), at random."""
    return settings(max_examples=max(int(FUZZ * fuzz_share), normal) if FUZZ else normal, derandomize=not FUZZ, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def under_test(fn, *args, **kwargs):
    """Call the code under test; an exception out of it is a crash (counted, then raised)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        STATS["crashes"] += 1
        STATS["first_crash"] = STATS["first_crash"] or f"{fn.__name__}: {type(exc).__name__}: {exc}"
        raise


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    yield
    if FUZZ:
        line = json.dumps(STATS)
        print(f"\nfuzz: {STATS['cases']} generated cases, {STATS['crashes']} crashes" +
              (f" (first: {STATS['first_crash']})" if STATS["first_crash"] else ""))
        report = os.environ.get("CARTUM_ROAPP_FUZZ_REPORT")
        if report:
            with open(report, "w") as out:
                out.write(line)


# --- generated values ---------------------------------------------------------------------

#: Texts a good record may hold: anything printable-ish (no control characters, no lone
#: surrogates), short enough for every cap.
good_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)
hostile_text = st.text(max_size=40)   # control characters, NUL, surrogates, anything
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | good_text
any_json = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(good_text, inner, max_size=3), max_leaves=6)
times = st.datetimes(min_value=datetime(2015, 1, 1), max_value=NOW).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S"))
plain_number = (st.integers(0, 10**7) | st.floats(0, 1e7, allow_nan=False, allow_infinity=False)
                | st.decimals(0, 10**6, places=2).map(str))
article = st.text("ABCDEFGHJKLMNPRSTUVWXYZ0123456789-_", min_size=1, max_size=16) | st.integers(1, 10**9)


@st.composite
def good_line(draw):
    line = {"article": draw(article), "title": draw(good_text), "price": draw(plain_number),
            "quantity": draw(st.integers(1, 50) | st.integers(1, 50).map(str))}
    if draw(st.booleans()):
        line["discount"] = draw(plain_number)
    if draw(st.booleans()):
        line[draw(good_text)] = draw(any_json)   # extra fields travel along untouched
    return line


@st.composite
def good_order(draw, order_id):
    order = {
        "order_id": order_id, "stat_created": draw(times), "stat_status": draw(st.integers(0, 9) | any_json),
        "products": draw(st.lists(good_line(), min_size=1, max_size=3)),
        "delivery_name": draw(good_text), "delivery_phone": draw(good_text | st.from_regex(r"\+?380\d{9}", fullmatch=True)),
        "delivery_email": draw(good_text), "delivery_city": draw(good_text), "delivery_address": draw(good_text),
        "delivery_type": draw(any_json), "payment_type": draw(any_json), "payed": draw(any_json),
        "user": draw(any_json), "currency": draw(st.sampled_from(["UAH", "USD", None, ""]) | good_text),
        "comment": draw(good_text), "total_sum": draw(plain_number | st.none()),
        "delivery_price": draw(plain_number | st.none()),
    }
    for name in draw(st.lists(st.sampled_from(sorted(order)), max_size=3)):
        if name not in ("order_id", "stat_created", "products"):
            order.pop(name, None)   # missing fields are values the transform handles
    return order


def not_exact_id(value) -> bool:
    return not (isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63) and not (
        isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
        and 0 < int(value.strip()) < 2**63)


bad_id = (st.none() | st.booleans() | st.integers(max_value=0) | st.integers(min_value=2**63)
          | st.floats() | st.text(max_size=8).filter(not_exact_id) | st.lists(st.integers(), max_size=2)
          | st.just("A-9104") | st.just(1069.5))
bad_time = (st.text(max_size=25).filter(lambda t: parse_time(t) is None) | st.none() | st.integers()
            | st.just("2026-13-45 99:99:99") | st.just("30.11.2026 10:00")
            | st.datetimes(min_value=NOW + timedelta(minutes=assumptions.CARTUM_FUTURE_TOLERANCE_MINUTES + 1),
                           max_value=datetime(2099, 12, 31)).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")))
non_object = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.lists(json_scalar,
                                                                                                    max_size=3)
ambiguous = st.from_regex(r"[1-9]\d{0,2},\d{3}", fullmatch=True)


@st.composite
def bad_lines(draw, base):
    kind = draw(st.sampled_from(["none", "empty", "scalar", "object", "null line", "line not object", "no article",
                                 "blank article", "ambiguous", "not a number"]))
    lines = list(base)
    position = draw(st.integers(0, len(lines)))
    if kind == "none":
        return None
    if kind == "empty":
        return []
    if kind == "scalar":
        return draw(st.text(max_size=5) | st.integers() | st.floats() | st.booleans())
    if kind == "object":
        return draw(good_line())
    if kind == "null line":
        lines.insert(position, None)
    elif kind == "line not object":
        lines.insert(position, draw(non_object.filter(lambda v: v is not None)))
    elif kind in ("no article", "blank article"):
        line = draw(good_line())
        if kind == "no article":
            line.pop("article")
        else:
            line["article"] = draw(st.sampled_from(["", "  ", None, True, [], {}]))
        lines.insert(position, line)
    else:
        line = draw(good_line())
        line[draw(st.sampled_from(["price", "quantity", "discount"]))] = draw(
            ambiguous if kind == "ambiguous" else st.sampled_from(["abc", "1.2.3", "12 50", [], {}, "inf"]))
        lines.insert(position, line)
    return lines


@st.composite
def hostile_order(draw, order_id):
    """(record, its quarantine key or None when held by content)."""
    kind = draw(st.sampled_from(["non object", "id", "time", "lines", "total"]))
    if kind == "non object":
        return draw(non_object), None
    order = draw(good_order(order_id))
    if kind == "id":
        value = draw(bad_id | st.just("missing"))
        if value == "missing":
            order.pop("order_id")
        else:
            order["order_id"] = value
        return order, None
    if kind == "time":
        order["stat_created"] = draw(bad_time)
    elif kind == "lines":
        order["products"] = draw(bad_lines(order["products"]))
    else:
        order["total_sum"] = draw(ambiguous | st.sampled_from(["n/a", [], {"UAH": 1}, math.inf]))
    return order, str(order_id)


@st.composite
def batch(draw):
    ids = draw(st.lists(st.integers(1, 2**63 - 1), min_size=1, max_size=14, unique=True))
    split = draw(st.integers(0, len(ids)))
    good = [draw(good_order(i)) for i in ids[:split]]
    hostile = [draw(hostile_order(i)) for i in ids[split:]]
    mixed = [("good", g, None) for g in good] + [("hostile", record, key) for record, key in hostile]
    return draw(st.permutations(mixed))


# --- the properties -----------------------------------------------------------------------


def split(mixed):
    """The batch as Cartum sends it, its good records, its hostile ones with their keys."""
    rows = [record for _, record, _ in mixed]
    good = [record for kind, record, _ in mixed if kind == "good"]
    hostile = [(record, key) for kind, record, key in mixed if kind == "hostile"]
    return rows, good, hostile


@examples(120)
@given(batch())
def test_the_boundary_passes_good_orders_unchanged_and_holds_every_hostile_one(mixed):
    STATS["cases"] += 1
    rows, good, hostile = split(mixed)
    parsed = under_test(parse, "orders", rows, NOW)
    assert parsed.good == good
    assert len(parsed.held) == len(hostile)
    for (record, key), held in zip(hostile, parsed.held):
        assert held.entity == "orders" and held.reason.strip()
        assert held.key == (key if key is not None else content_key(record))
        json.dumps(held.record)   # what the quarantine stores is JSON


@examples(25, fuzz_share=0.1)   # the quality suites take a third of a second a batch
@given(batch(), st.booleans())
def test_transform_and_quality_take_whatever_the_boundary_passes(mixed, barcode):
    STATS["cases"] += 1
    rows, good, _ = split(mixed)
    parsed = under_test(parse, "orders", rows, NOW)
    config = store(product_key="barcode") if barcode else CONFIG
    result = under_test(transform_batch, {"orders": parsed.good}, config=config)
    assert sorted(result.orders["order_id"].tolist()) == sorted(o["order_id"] for o in good)
    for entity in ENTITIES:
        checked = under_test(validate_entity, entity.name, getattr(result, entity.name), config)
        assert len(checked.valid) + len({q["key"] for q in checked.quarantined}) >= len(getattr(result, entity.name))
        assert all(q["reasons"] for q in checked.quarantined)


@examples(120)
@given(good_order(7), st.lists(st.tuples(st.sampled_from(["delivery_name", "comment", "delivery_address",
                                                          "delivery_phone", "title"]), hostile_text), max_size=4))
def test_texts_are_cleaned_once_and_nothing_else_changes(order, dirt):
    STATS["cases"] += 1
    dirty = {**order, **{name: text for name, text in dirt}}
    parsed = under_test(parse, "orders", [dirty], NOW)
    assert len(parsed.good) == 1
    out = parsed.good[0]
    assert out == clean(dirty)
    for name, _ in dirt:
        assert all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in out[name])
        assert len(out[name]) <= assumptions.ROAPP_TEXT_CAPS.get(name, assumptions.ROAPP_TEXT_CAP_DEFAULT)
        assert clean_text(out[name]) == out[name]


@examples(200)
@given(hostile_text | any_json)
def test_value_readers_never_raise_and_read_strictly(value):
    STATS["cases"] += 1
    number = under_test(to_float, value)
    assert number is None or math.isfinite(number)
    whole = under_test(to_int, value)
    assert whole is None or isinstance(whole, int)
    under_test(to_flag, value)
    if is_ambiguous_number(value):
        assert number is None
    phone, valid = under_test(normalize_phone, value, "UA")
    if isinstance(value, str) and any(ch.isalpha() for ch in value):
        assert (phone, valid) == (None, False)


@examples(60)
@given(st.lists(any_json | st.builds(dict, id=bad_id | st.integers(1, 10**6), registered=bad_time | times),
                max_size=8),
       st.lists(any_json | st.builds(dict, article=st.none() | article | st.just(""),
                                     price=plain_number | ambiguous | any_json), max_size=8))
def test_customers_and_products_of_any_shape_are_parsed_without_a_crash(customers, products):
    STATS["cases"] += 1
    for source, rows in (("customers", customers), ("products", products)):
        parsed = under_test(parse, source, rows, NOW)
        assert len(parsed.good) + len(parsed.held) == len(rows)
        assert all(h.reason and h.key for h in parsed.held)
        assert all(isinstance(r, dict) for r in parsed.good)
    parsed_c = parse("customers", customers, NOW)
    parsed_p = parse("products", products, NOW)
    under_test(transform_batch, {"customers": parsed_c.good, "products": parsed_p.good}, config=CONFIG)
