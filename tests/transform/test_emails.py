import pytest

from cartum_roapp_sync.transform.emails import clean_email


@pytest.mark.parametrize("raw, expected", [
    ("ivan.shevchenko@gmail.com", "ivan.shevchenko@gmail.com"),
    ("IVAN.SHEVCHENKO@GMAIL.COM", "ivan.shevchenko@gmail.com"),
    ("Ivan.shevchenko@ukr.net", "ivan.shevchenko@ukr.net"),
    ("  ivan@i.ua ", "ivan@i.ua"),
    ("a+tag@mail.example.com", "a+tag@mail.example.com"),
])
def test_valid_addresses_are_trimmed_and_lower_cased(raw, expected):
    assert clean_email(raw) == (expected, True)


@pytest.mark.parametrize("raw", ["ivan@", "name at mail", "ivan@gmail", "a@@b.com", "iv an@gmail.com",
                                 "@gmail.com", "ivan@.com", "ivan@gmail..com"])
def test_invalid_addresses_give_none(raw):
    assert clean_email(raw) == (None, False)


@pytest.mark.parametrize("raw", ["", "  ", None])
def test_empty_gives_none(raw):
    assert clean_email(raw) == (None, False)
