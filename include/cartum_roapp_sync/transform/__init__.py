"""The transform layer: raw Cartum records → the CLIENTS, PRODUCTS and ORDERS frames
declared in ``entities``. Pure functions: no Airflow, no network, no database; the same
input always gives the same output.

``transform_batch`` (``batch``) is the entry point; the builders it combines (``build_products``,
``build_clients``, ``build_orders``) and the value cleaners (``normalize_phone``,
``clean_email``, ``content_hash``) are usable on their own. Each module's docstring
states the decisions it applies.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Each public name → the module that defines it. Imported on first use (PEP 562): a module
#: that needs only ``transform.values`` (``cartum.records``, so every extract step and the
#: steps' module) does not import pandas with the package.
_EXPORTS = {
    "ClientsResult": "clients", "build_clients": "clients", "split_name": "clients",
    "OrdersResult": "orders", "build_orders": "orders", "delivery_comment": "orders",
    "ProductsResult": "products", "build_products": "products", "product_from_order_line": "products",
    "products_from_order_lines": "products",
    "TransformResult": "batch", "transform_batch": "batch",
    "clean_email": "emails", "content_hash": "hashing", "normalize_phone": "phones",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
