"""Cartum catalogue → RO App products.

Decisions (each also stated where it is applied):

- **Title language.** The title and description are taken in the store's language; when
  it is missing or blank, in the first of: the store's language, its alias (``ua`` and
  ``uk`` are the same language), then ``ua``, ``ru``, ``en``, then any other language in
  sorted order. ``language`` names the one used; ``language_fallback`` is True and a
  ``language_fallback`` problem is reported when it is not the store's. A product with no
  title at all is titled with its article (``language`` None, reported ``missing_title``).
  The description follows the same order on its own, so it may be in another language.
- **Keys.** ``product_key="sku"``: the key is the article. ``"barcode"``: the key is the
  gtin, and articles sharing one gtin fold into one record: the smallest article (string
  order) is kept, the others are listed in ``merged_articles`` and each is reported
  ``duplicate_key_merged``. A product with an empty gtin cannot be matched by barcode, so
  it is keyed ``article:<article>`` and reported ``empty_barcode``; nothing is dropped.
- **Repeated articles** (the same article twice in the input, e.g. overlapping pages):
  the last occurrence wins and ``duplicate_article`` is reported.
- **Variants** (``parent_article``) are products of their own: RO App has no variants.
- **Order lines whose article is not in the catalogue** (deleted products) become
  products built from the line (``products_from_order_lines``), keyed like a product with
  no barcode, and are reported ``not_in_catalogue``: an order must never point at a
  product the load cannot create.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

from ..entities import PRODUCTS
from .frames import make_frame
from .hashing import content_hash
from .values import clean_text, to_float, to_int

FALLBACK_LANGUAGES = ("ua", "ru", "en")
LANGUAGE_ALIASES = {"ua": "uk", "uk": "ua"}
UNLISTED_PREFIX = "article:"


@dataclass
class ProductsResult:
    frame: pd.DataFrame                      # exactly PRODUCTS.columns, one row per product_key
    article_index: dict[str, str]            # every input article → its product_key
    report: list[dict[str, Any]] = field(default_factory=list)  # {article, problem, detail}

    @property
    def titles(self) -> dict[str, str]:
        """product_key → title, for titling order lines."""
        return dict(zip(self.frame["product_key"], self.frame["title"]))


def language_order(language: str, available: Iterable[str]) -> list[str]:
    """The languages of ``available`` in the order a text is looked for (module docstring)."""
    available = set(available)
    ordered = [lang for lang in _preferred(language) if lang in available]
    return ordered + sorted(available - set(ordered))


@lru_cache(maxsize=64)
def _preferred(language: str) -> tuple[str, ...]:
    """The store's language, its alias, then the fallbacks, each once."""
    return tuple(dict.fromkeys([language, LANGUAGE_ALIASES.get(language, language), *FALLBACK_LANGUAGES]))


def pick_text(texts: Any, language: str) -> tuple[str | None, str | None]:
    """``(text, language used)`` from a ``{lang: text}`` object, or ``(None, None)`` when no
    language has a non-blank text. A plain string is taken as the store's language."""
    if isinstance(texts, str):
        texts = {language: texts}
    if not isinstance(texts, Mapping):
        return None, None
    if type(texts) is dict and all(type(lang) is str for lang in texts):
        # The usual case: the first preferred language with a text wins, as in the general
        # path below (which also reads keys that are not strings, and other languages).
        for lang in _preferred(language):
            text = clean_text(texts.get(lang))
            if text is not None:
                return text, lang
    present = {str(lang): clean_text(text) for lang, text in texts.items()}
    for lang in language_order(language, [lang for lang, text in present.items() if text]):
        return present[lang], lang
    return None, None


def unlisted_key(article: str, product_key: str) -> str:
    """The key of a product that cannot be keyed by barcode (empty gtin, or known only from
    an order line): the article itself in ``sku`` mode, ``article:<article>`` in
    ``barcode`` mode, so it can never collide with a real barcode."""
    _check_mode(product_key)
    return article if product_key == "sku" else f"{UNLISTED_PREFIX}{article}"


def build_products(raw_products: list[dict[str, Any]], *, language: str, product_key: str) -> ProductsResult:
    """The catalogue as one row per product_key (sorted by it), the index of every input
    article to its key, and the problems met. Deterministic for the same input."""
    _check_mode(product_key)
    report: list[dict[str, Any]] = []
    by_article = _unique_articles(raw_products, report)

    groups: dict[str, list[str]] = {}
    for article in sorted(by_article):
        key = _key_for(article, by_article[article], product_key, report)
        groups.setdefault(key, []).append(article)

    rows, article_index = [], {}
    for key, articles in sorted(groups.items()):
        kept, merged = articles[0], articles[1:]  # articles are sorted: the smallest is kept
        for article in articles:
            article_index[article] = key
        for article in merged:
            report.append(_problem(article, "duplicate_key_merged",
                                   f"barcode {key} is shared with {kept}; folded into {kept}"))
        rows.append(_row(key, kept, merged, by_article[kept], language, report))
    return ProductsResult(make_frame(rows, PRODUCTS), article_index, report)


def product_from_order_line(line: Mapping[str, Any], *, product_key: str) -> dict[str, Any]:
    """A product row (PRODUCTS columns) for an order line whose article is not in the
    catalogue: keyed by ``unlisted_key``, titled from the line (the order's language, so
    ``language`` None and ``language_fallback`` True), priced at the line's price. Raises
    ValueError when the line has no article."""
    article = clean_text(line.get("article"))
    if article is None:
        raise ValueError(f"order line without an article: {dict(line)!r}")
    row = {
        "product_key": unlisted_key(article, product_key), "article": article, "sku": article,
        "barcodes": [], "title": clean_text(line.get("title")) or article, "description": None,
        "price": to_float(line.get("price")), "language": None, "language_fallback": True,
        "merged_articles": [],
    }
    row["content_hash"] = content_hash(row, PRODUCTS.hashed)
    return row


def products_from_order_lines(orders: list[dict[str, Any]], *, known_articles: Iterable[str],
                              product_key: str) -> ProductsResult:
    """Products for the order-line articles not in ``known_articles``, one per article,
    built from its line in the latest order (highest order_id), each reported
    ``not_in_catalogue``."""
    known = set(known_articles)
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for order in orders:
        order_id = to_int(order.get("order_id"))
        for line in order.get("products") or []:
            article = clean_text(line.get("article"))
            if article is None or article in known:
                continue
            if article not in latest or (order_id or 0) >= latest[article][0]:
                latest[article] = (order_id or 0, line)
    rows, index, report = [], {}, []
    for article, (order_id, line) in sorted(latest.items()):
        row = product_from_order_line(line, product_key=product_key)
        rows.append(row)
        index[article] = row["product_key"]
        report.append(_problem(article, "not_in_catalogue",
                               f"ordered (latest in order {order_id}) but not in the catalogue; "
                               f"product built from the order line, titled {row['title']!r}"))
    return ProductsResult(make_frame(rows, PRODUCTS), index, report)


# --- helpers -----------------------------------------------------------------------------

def _check_mode(product_key: str) -> None:
    if product_key not in ("sku", "barcode"):
        raise ValueError(f"product_key must be 'sku' or 'barcode', got {product_key!r}")


def _problem(article: str | None, problem: str, detail: str) -> dict[str, Any]:
    return {"article": article, "problem": problem, "detail": detail}


def _unique_articles(raw_products: list[dict[str, Any]], report: list[dict[str, Any]]) -> dict[str, dict]:
    by_article: dict[str, dict[str, Any]] = {}
    for position, raw in enumerate(raw_products):
        article = clean_text(raw.get("article"))
        if article is None:
            # Without an article nothing (orders, RO App, later runs) can refer to the product.
            report.append(_problem(None, "missing_article", f"catalogue entry #{position + 1} has no article; skipped"))
            continue
        if article in by_article:
            report.append(_problem(article, "duplicate_article", "article listed more than once; the last one kept"))
        by_article[article] = raw
    return by_article


def _key_for(article: str, raw: dict[str, Any], product_key: str, report: list[dict[str, Any]]) -> str:
    if product_key == "sku":
        return article
    gtin = clean_text(raw.get("gtin"))
    if gtin is None:
        key = unlisted_key(article, product_key)
        report.append(_problem(article, "empty_barcode", f"no gtin, cannot be matched by barcode; keyed {key}"))
        return key
    return gtin


def _row(key: str, article: str, merged: list[str], raw: dict[str, Any], language: str,
         report: list[dict[str, Any]]) -> dict[str, Any]:
    title, used = pick_text(raw.get("title"), language)
    fallback = used not in (language, LANGUAGE_ALIASES.get(language))
    if title is None:
        title = article
        report.append(_problem(article, "missing_title", "no title in any language; titled with the article"))
    elif fallback:
        report.append(_problem(article, "language_fallback", f"no {language!r} title; used {used!r}"))
    description, _ = pick_text(raw.get("description"), language)
    price = to_float(raw.get("price"))
    if price is None:
        report.append(_problem(article, "invalid_price", f"price {raw.get('price')!r} is not a number"))
    gtin = clean_text(raw.get("gtin"))
    row = {
        "product_key": key, "article": article, "sku": article, "barcodes": [gtin] if gtin else [],
        "title": title, "description": description, "price": price,
        "language": used, "language_fallback": fallback, "merged_articles": list(merged),
    }
    row["content_hash"] = content_hash(row, PRODUCTS.hashed)
    return row
