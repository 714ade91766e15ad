import math

import numpy as np
import pandas as pd

from cartum_roapp_sync.transform.hashing import content_hash


def test_same_content_same_hash_whatever_the_key_order():
    a = {"title": "X", "price": 10, "items": [{"a": 1, "b": 2}], "other": "ignored"}
    b = {"items": [{"b": 2, "a": 1}], "price": 10, "title": "X"}
    assert content_hash(a, ["title", "price", "items"]) == content_hash(b, ["items", "title", "price"])


def test_missing_none_nan_and_na_hash_alike():
    hashes = {content_hash(record, ["x", "y"]) for record in
              ({"y": 1}, {"x": None, "y": 1}, {"x": math.nan, "y": 1}, {"x": pd.NA, "y": 1},
               {"x": np.nan, "y": 1})}
    assert len(hashes) == 1


def test_whole_floats_equal_ints_and_numpy_values_equal_python_values():
    assert content_hash({"p": 100.0}, ["p"]) == content_hash({"p": 100}, ["p"]) == \
        content_hash({"p": np.int64(100)}, ["p"])
    assert content_hash({"b": ("1",)}, ["b"]) == content_hash({"b": ["1"]}, ["b"]) == \
        content_hash({"b": np.array(["1"])}, ["b"])


def test_only_the_named_fields_count():
    base = {"title": "X", "price": 10, "hash_me_not": 1}
    assert content_hash(base, ["title", "price"]) == content_hash({**base, "hash_me_not": 2}, ["title", "price"])
    assert content_hash(base, ["title", "price"]) != content_hash({**base, "price": 11}, ["title", "price"])
    assert content_hash(base, ["title", "price"]) != content_hash({**base, "title": "Y"}, ["title", "price"])


def test_values_are_not_confused_across_types():
    assert content_hash({"x": "1"}, ["x"]) != content_hash({"x": 1}, ["x"])
    assert content_hash({"x": True}, ["x"]) != content_hash({"x": 1}, ["x"])
    assert content_hash({"x": None}, ["x"]) != content_hash({"x": ""}, ["x"])


def test_hash_is_hex_sha256():
    digest = content_hash({"x": "Київ"}, ["x"])
    assert len(digest) == 64 and int(digest, 16) >= 0
