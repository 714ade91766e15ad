import math

import numpy as np
import pandas as pd
import pytest

from cartum_roapp_sync.transform.values import clean_text, is_missing, plain_number, to_flag, to_float, to_int


@pytest.mark.parametrize("value", [None, math.nan, np.nan, pd.NA, pd.NaT])
def test_missing_values(value):
    assert is_missing(value)


@pytest.mark.parametrize("value", [0, "", [], {}, "x", np.array([1, 2])])
def test_present_values(value):
    assert not is_missing(value)


def test_conversions():
    assert clean_text("  a  ") == "a" and clean_text("  ") is None and clean_text(5) == "5"
    assert to_float("12,5") == 12.5 and to_float("x") is None and to_float(True) is None
    assert to_float(math.inf) is None
    assert to_int("1001") == 1001 and to_int(1001.0) == 1001 and to_int(1.5) is None
    assert [to_flag(v) for v in (1, "1", True, "true", 0, "0", None, "")] == [True] * 4 + [False] * 4
    assert plain_number(100.0) == 100 and isinstance(plain_number(100.0), int) and plain_number(1.5) == 1.5
