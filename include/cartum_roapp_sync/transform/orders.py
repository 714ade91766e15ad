"""Cartum orders → RO App orders.

Decisions:

- A repeated order_id keeps the last one read; an order without an integer order_id is
  skipped and reported (nothing could refer to it).
- ``roapp_status_id`` is ``config.mapped_status(cartum_status)``; an unmapped status
  gives None and an ``unmapped_status`` problem (data quality quarantines the order).
- Items come from ``products[]``, in the order's line order. The product_key is looked up
  in ``article_index``; an article not in it is keyed like a product without a barcode
  (``products.unlisted_key``) and reported ``unknown_article``. ``transform_batch`` first
  turns such lines into products, so there it never happens. A line without an article is
  skipped and reported. The title is the catalogue title (store's language) when the
  product is known, else the line's title (the order's language), else the article.
- Totals: RO App's order amount is the sum of its items, each ``price × quantity −
  discount``; it must equal Cartum's ``total_sum`` (what the buyer pays for the goods;
  ``total_default`` is the lines' sum before an order-level promo). Amounts are counted in
  whole cents. ``discount = Σ line amounts − total_sum`` when positive, spread over the
  lines in proportion to their amounts by the largest-remainder method: each line gets its
  exact share rounded down, and the cents left go one each to the lines with the largest
  rounded-off fractions (ties: the larger line, then the earlier one). So Σ(amount −
  discount) == total_sum to the cent, no line's discount exceeds its amount, and a line at
  price 0 gets none. Every item carries ``discount`` (0 when none) and ``net`` (amount −
  discount). A total above the lines' sum (a surcharge, or a store whose total includes
  delivery) is not turned into an invented line: it is reported (``total_above_lines``)
  and the items go without discount. A total below 0, or lines with no valid price or
  quantity, give no discount either (data quality holds such an order).
- Delivery is documented, not a line: Cartum's ``total_sum`` does not include
  ``delivery_price`` (the sandbox seed keeps them apart; no public material says
  otherwise) [assumed], so the delivery price stays in the delivery comment.
- ``delivery_comment`` is one text, one ``Label: value`` line each for delivery type,
  city, address, delivery price (left out when -1, "not calculated"), payment type, paid
  yes/no, the buyer's comment and the Cartum total (``Cartum total: 10171.65 UAH
  (discount 535.35 UAH)``, the discount part only when there is one; a surcharge reads
  ``(above the lines' 900 UAH)``); empty parts are left out. Labels are English.
- ``content_hash`` covers what RO App receives: client_key, roapp_status_id, items (with
  their discounts), paid and delivery_comment (not ``total``, ``created`` or the Cartum
  status id; the total reaches RO App through the items' discounts and the comment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import pandas as pd

from ..assumptions import CARTUM_ORDER_COMMENT_FIELD, CARTUM_ORDER_CREATED_FIELD, CARTUM_ORDER_STATUS_FIELD
from ..config import StoreConfig
from ..entities import ORDERS
from .frames import make_frame
from .hashing import content_hash
from .products import unlisted_key
from .values import clean_text, plain_number, to_flag, to_float, to_int

NOT_CALCULATED = -1  # Cartum's delivery_price when the carrier has not priced it


@dataclass
class OrdersResult:
    frame: pd.DataFrame                      # exactly ORDERS.columns, one row per order_id
    report: list[dict[str, Any]] = field(default_factory=list)  # {order_id, problem, detail}


def build_orders(orders: list[dict[str, Any]], *, config: StoreConfig, order_client: dict[int, str],
                 article_index: dict[str, str], product_titles: dict[str, str]) -> OrdersResult:
    """One row per order (sorted by order_id) and the problems met. Deterministic."""
    report: list[dict[str, Any]] = []
    by_id: dict[int, dict[str, Any]] = {}
    for position, order in enumerate(orders):
        order_id = to_int(order.get("order_id"))
        if order_id is None:
            report.append(_problem(None, "missing_order_id",
                                   f"order #{position + 1} has no order_id ({order.get('order_id')!r}); skipped"))
            continue
        if order_id in by_id:
            report.append(_problem(order_id, "duplicate_order", "order read more than once; the last one kept"))
        by_id[order_id] = order
    rows = [_row(order_id, order, config, order_client, article_index, product_titles, report)
            for order_id, order in sorted(by_id.items())]
    return OrdersResult(make_frame(rows, ORDERS), report)


def delivery_comment(order: dict[str, Any], currency: str, *, lines_cents: int | None = None) -> str:
    """The human-readable delivery and payment summary of an order (module docstring).
    ``lines_cents``: the sum of the order's line amounts, which the Cartum total is
    compared with (None: the total is stated alone)."""
    price = to_float(order.get("delivery_price"))
    paid = to_flag(order.get("payed"))
    parts = [
        ("Delivery", _title(order.get("delivery_type"))),
        ("City", clean_text(order.get("delivery_city"))),
        ("Address", clean_text(order.get("delivery_address"))),
        ("Delivery price", None if price is None or price == NOT_CALCULATED else f"{_amount(price)} {currency}"),
        ("Payment", _title(order.get("payment_type"))),
        ("Paid", "yes" if paid else "no"),
        ("Buyer's comment", clean_text(order.get(CARTUM_ORDER_COMMENT_FIELD))),
        ("Cartum total", _total_text(to_cents(order.get("total_sum")), lines_cents, currency)),
    ]
    return "\n".join(f"{label}: {value}" for label, value in parts if value)


def to_cents(value: Any) -> int | None:
    """An amount in whole cents (half a cent rounds up), or None when it is not a number."""
    number = to_float(value)
    if number is None:
        return None
    return int((Decimal(str(number)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def spread_discount(amounts: list[int], discount: int) -> list[int]:
    """``discount`` cents spread over lines of ``amounts`` cents in proportion to them, by
    the largest-remainder method (module docstring): the result sums to ``discount`` and no
    line gets more than its amount. Needs ``0 <= discount <= sum(amounts)``."""
    whole = sum(amounts)
    if discount <= 0 or whole <= 0:
        return [0] * len(amounts)
    shares = [amount * discount // whole for amount in amounts]
    left = discount - sum(shares)
    # the cents rounded off, largest first: a larger fraction, then a larger line, then an earlier one
    order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] * discount % whole), -amounts[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


# --- helpers -----------------------------------------------------------------------------

def _problem(order_id: int | None, problem: str, detail: str) -> dict[str, Any]:
    return {"order_id": order_id, "problem": problem, "detail": detail}


def _title(value: Any) -> str | None:
    """``{id, title}`` objects (delivery_type, payment_type); a plain string is the title."""
    return clean_text(value.get("title")) if isinstance(value, dict) else clean_text(value)


def _amount(value: float) -> str:
    number = plain_number(value)
    return str(number) if isinstance(number, int) else f"{number:.2f}"


def _money(cents: int) -> int | float:
    """Cents as the amount RO App and the hash see: 53535 → 535.35, 1070700 → 10707."""
    return plain_number(cents / 100)


def _total_text(total: int | None, lines: int | None, currency: str) -> str | None:
    if total is None:
        return None
    text = f"{_amount(total / 100)} {currency}"
    if lines is not None and lines > total:
        text += f" (discount {_amount((lines - total) / 100)} {currency})"
    elif lines is not None and lines < total:
        text += f" (above the lines' {_amount(lines / 100)} {currency})"
    return text


def _row(order_id: int, order: dict[str, Any], config: StoreConfig, order_client: dict[int, str],
         article_index: dict[str, str], product_titles: dict[str, str], report: list[dict[str, Any]]) -> dict:
    status = to_int(order.get(CARTUM_ORDER_STATUS_FIELD))
    roapp_status = config.mapped_status(status) if status is not None else None
    if roapp_status is None:
        report.append(_problem(order_id, "unmapped_status",
                               f"Cartum status {order.get(CARTUM_ORDER_STATUS_FIELD)!r} is not in the store's "
                               "status_map: add it, or the order stays quarantined"))
    client_key = order_client.get(order_id)
    if client_key is None:
        report.append(_problem(order_id, "no_client", "no client was built for this order"))
    total = to_float(order.get("total_sum"))
    if total is None:
        report.append(_problem(order_id, "invalid_total", f"total_sum {order.get('total_sum')!r} is not a number"))
    currency = clean_text(order.get("currency")) or config.currency
    items = _items(order_id, order.get("products") or [], config.product_key, article_index, product_titles, report)
    lines_cents = _discount(order_id, items, to_cents(order.get("total_sum")), currency, report)
    row = {
        "order_id": order_id, "client_key": client_key, "cartum_status": status, "roapp_status_id": roapp_status,
        "created": clean_text(order.get(CARTUM_ORDER_CREATED_FIELD)), "currency": currency, "total": total,
        "paid": to_flag(order.get("payed")), "items": items,
        "delivery_comment": delivery_comment(order, currency, lines_cents=lines_cents),
    }
    row["content_hash"] = content_hash(row, ORDERS.hashed)
    return row


def _items(order_id: int, lines: list[dict[str, Any]], product_key: str, article_index: dict[str, str],
           product_titles: dict[str, str], report: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    for position, line in enumerate(lines):
        article = clean_text(line.get("article"))
        if article is None:
            report.append(_problem(order_id, "line_without_article",
                                   f"line #{position + 1} ({line.get('title')!r}) has no article; skipped"))
            continue
        key = article_index.get(article)
        if key is None:
            key = unlisted_key(article, product_key)
            report.append(_problem(order_id, "unknown_article", f"article {article} is not in the catalogue; "
                                                                f"item keyed {key}"))
        quantity, price = to_float(line.get("quantity")), to_float(line.get("price"))
        if quantity is None or price is None:  # kept as None, never guessed: data quality stops it
            report.append(_problem(order_id, "invalid_line", f"line #{position + 1} ({article}): quantity "
                                   f"{line.get('quantity')!r}, price {line.get('price')!r}"))
        items.append({
            "product_key": key, "article": article,
            "title": product_titles.get(key) or clean_text(line.get("title")) or article,
            "quantity": plain_number(quantity), "price": price, "discount": 0, "net": _line_amount(price, quantity),
        })
    return items


def _line_amount(price: float | None, quantity: float | None) -> int | float | None:
    cents = _line_cents(price, quantity)
    return None if cents is None else _money(cents)


def _line_cents(price: float | None, quantity: float | None) -> int | None:
    if price is None or quantity is None:
        return None
    return _cents_of(price, quantity)


@lru_cache(maxsize=65536)
def _cents_of(price: float, quantity: float) -> int:
    """price × quantity in whole cents, half a cent up. Cached: a catalogue's prices come
    back in line after line (equal floats have the same ``str``, but for 0.0 and -0.0, whose
    amount is 0 either way)."""
    exact = Decimal(str(price)) * Decimal(str(quantity)) * 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _discount(order_id: int, items: list[dict[str, Any]], total: int | None, currency: str,
              report: list[dict[str, Any]]) -> int | None:
    """Give the items their share of the order-level discount (module docstring), in
    place; returns the lines' sum in cents, or None when a line has no amount."""
    amounts = [_line_cents(item["price"], item["quantity"]) for item in items]
    if any(a is None for a in amounts):
        return None
    lines = sum(amounts)
    if total is None or total < 0:
        return lines
    if total > lines:
        report.append(_problem(order_id, "total_above_lines",
                               f"total_sum {_amount(total / 100)} {currency} is above the lines' sum "
                               f"{_amount(lines / 100)} {currency}: RO App shows the lines' sum; the comment "
                               f"states the Cartum total"))
        return lines
    for item, amount, share in zip(items, amounts, spread_discount(amounts, lines - total), strict=True):
        item["discount"], item["net"] = _money(share), _money(amount - share)
    return lines
