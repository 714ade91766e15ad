"""``transform_batch``: one batch read from a store → the three frames, the article index
and the problems met (see the package's docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..config import StoreConfig
from .clients import build_clients
from .orders import build_orders
from .products import build_products, products_from_order_lines


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
