"""Content hashes: a record changed when the hash of the fields we load changed."""

from __future__ import annotations

import hashlib
import math
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from .values import is_missing


def content_hash(record: Mapping[str, Any], fields: Iterable[str]) -> str:
    """sha256 (hex) of the canonical JSON of ``record``'s ``fields``.

    Equal content gives the same hash whatever the order of keys, at any depth, and
    whatever the order of ``fields``. A missing field, None, NaN and pandas NA are all
    "no value"; whole floats equal ints (``100.0`` == ``100``); tuples and numpy arrays
    hash like lists. Fields not named do not affect the hash.
    """
    names = _sorted_names(fields) if type(fields) is tuple else sorted(set(fields))
    canonical = {}
    for name in names:
        value = record.get(name)
        canonical[name] = value if type(value) in _AS_IS else _canonical(value)
    return hashlib.sha256(_ENCODER.encode(canonical).encode("utf-8")).hexdigest()


#: ``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
#: allow_nan=False)``, built once rather than on every call.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@lru_cache(maxsize=256)
def _sorted_names(fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(fields)))


#: Types whose values are their own canonical form.
_AS_IS = frozenset({str, int, bool, type(None)})


def _canonical(value: Any) -> Any:
    # Fast paths for the plain JSON types the transform builds (nearly every value): the
    # same results as the general path below, without its checks.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if value != value:
            return None        # NaN: no value
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if kind is dict:   # an order's items: mostly texts and ints, taken as they are
        return {str(k): v if type(v) in _AS_IS else _canonical(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _AS_IS else _canonical(v) for v in value]
    return _general(value)


def _general(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays → Python values
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if is_missing(value):
        return None
    if isinstance(value, bool) or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # JSON has no infinity
        return int(value) if value.is_integer() else value
    return str(value)
