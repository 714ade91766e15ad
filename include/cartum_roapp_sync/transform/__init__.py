"""The transform layer: raw Cartum records → the CLIENTS, PRODUCTS and ORDERS frames
declared in ``entities``. Pure functions: no Airflow, no network, no database; the same
input always gives the same output.

``transform_batch`` is the entry point; the builders it combines (``build_products``,
``build_clients``, ``build_orders``) and the value cleaners (``normalize_phone``,
``clean_email``, ``content_hash``) are usable on their own. Each module's docstring
states the decisions it applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..config import StoreConfig
from .clients import ClientsResult, build_clients, split_name
from .emails import clean_email
from .hashing import content_hash
from .orders import OrdersResult, build_orders, delivery_comment
from .phones import normalize_phone
from .products import ProductsResult, build_products, product_from_order_line, products_from_order_lines

__all__ = [
    "ClientsResult", "OrdersResult", "ProductsResult", "TransformResult",
    "build_clients", "build_orders", "build_products", "clean_email", "content_hash", "delivery_comment",
    "normalize_phone", "product_from_order_line", "products_from_order_lines", "split_name", "transform_batch",
]


@dataclass
class TransformResult:
    clients: pd.DataFrame                    # exactly CLIENTS.columns
    products: pd.DataFrame                   # exactly PRODUCTS.columns
    orders: pd.DataFrame                     # exactly ORDERS.columns
    article_index: dict[str, str]            # known_articles updated with this run: every article → product_key
    report: list[dict[str, Any]]             # problems, each with "entity": "clients" | "products" | "orders"
    product_titles: dict[str, str] = field(default_factory=dict)  # known_titles updated with this run


def transform_batch(raw: dict[str, Any], *, config: StoreConfig, known_articles: dict[str, str] | None = None,
                    known_titles: dict[str, str] | None = None) -> TransformResult:
    """Transform one batch read from a store: ``raw`` holds ``orders``, ``products`` and
    ``customers`` (lists of Cartum records; a missing key means "not read this run").

    ``known_articles`` (article → product_key) and ``known_titles`` (product_key → title)
    come from earlier runs, for when the catalogue is not re-read; this run's catalogue
    overrides them. Order-line articles found in neither become products built from the
    line (reported ``not_in_catalogue``), so every order item points at a product in the
    products frame or known from earlier runs. The returned ``article_index`` and
    ``product_titles`` are the merged maps, ready to be saved for the next run.
    """
    orders = list(raw.get("orders") or [])
    catalogue = build_products(list(raw.get("products") or []), language=config.language,
                               product_key=config.product_key)
    article_index = {**(known_articles or {}), **catalogue.article_index}
    titles = {**(known_titles or {}), **catalogue.titles}

    unlisted = products_from_order_lines(orders, known_articles=article_index, product_key=config.product_key)
    article_index.update(unlisted.article_index)
    titles.update(unlisted.titles)
    products = catalogue.frame
    if len(unlisted.frame):
        products = pd.concat([products, unlisted.frame], ignore_index=True)
        products = products.sort_values("product_key", kind="stable", ignore_index=True)

    clients = build_clients(orders, list(raw.get("customers") or []), country=config.phone_country)
    built_orders = build_orders(orders, config=config, order_client=clients.order_client,
                                article_index=article_index, product_titles=titles)

    report = ([{"entity": "clients", **p} for p in clients.report]
              + [{"entity": "products", **p} for p in catalogue.report + unlisted.report]
              + [{"entity": "orders", **p} for p in built_orders.report])
    return TransformResult(clients.frame, products, built_orders.frame, article_index, report, titles)
