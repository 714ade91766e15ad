import math

import pytest

from cartum_roapp_sync.transform.phones import normalize_phone


@pytest.mark.parametrize("raw", [
    "+380 50 123 45 67",
    "0501234567",
    "380-50-123-4567",
    "(050) 123-45-67",
    "+38 (050) 123 45 67",
    "+380501234567",
    "380501234567",
    "  050 123 45 67 ",
])
def test_every_typed_format_gives_the_same_e164(raw):
    assert normalize_phone(raw, "UA") == ("+380501234567", True)


def test_default_country_is_ukraine():
    assert normalize_phone("0501234567") == ("+380501234567", True)


@pytest.mark.parametrize("raw", ["12345", "050-12", "abc", "8 050 123 45 67", "+380 00 000 00 00"])
def test_invalid_numbers_give_none(raw):
    assert normalize_phone(raw, "UA") == (None, False)


@pytest.mark.parametrize("raw", ["", "   ", None, math.nan])
def test_empty_gives_none(raw):
    assert normalize_phone(raw, "UA") == (None, False)


def test_a_foreign_number_with_plus_keeps_its_country():
    assert normalize_phone("+48 601 234 567", "UA") == ("+48601234567", True)


def test_national_format_is_read_for_the_given_country():
    assert normalize_phone("601 234 567", "PL") == ("+48601234567", True)
    assert normalize_phone("48 601 234 567", "PL") == ("+48601234567", True)


def test_numbers_typed_as_ints_are_read():
    assert normalize_phone(380501234567, "UA") == ("+380501234567", True)
