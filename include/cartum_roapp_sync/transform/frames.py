"""Rows → DataFrames with exactly an entity's columns and predictable dtypes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..entities import Entity

# Columns not listed are ``object``: Python values kept as they are, so "str or None" and
# "int or None" stay None (pandas would turn None into NaN, and ints into floats) and list
# columns hold real lists. Listed str/bool/int columns never hold a missing value; a
# float64 column shows a missing number as NaN (and the transform reports it).
DTYPES: dict[str, dict[str, str]] = {
    "clients": {"client_key": "str", "first_name": "str", "phone_valid": "bool", "email_valid": "bool",
                "content_hash": "str"},
    "products": {"product_key": "str", "article": "str", "sku": "str", "title": "str",
                 "language_fallback": "bool", "price": "float64", "content_hash": "str"},
    "orders": {"order_id": "int64", "total": "float64", "paid": "bool",
               "delivery_comment": "str", "content_hash": "str"},
}


def make_frame(rows: Sequence[Mapping[str, Any]], entity: Entity) -> pd.DataFrame:
    """A DataFrame of ``rows`` with exactly ``entity.columns`` in that order (same dtypes
    when empty). Extra keys in the rows are ignored; a missing column raises KeyError."""
    dtypes = DTYPES.get(entity.name, {})
    return pd.DataFrame({
        column: pd.Series([row[column] for row in rows], dtype=dtypes.get(column, object))
        for column in entity.columns
    })
