"""Where the public Cartum sources disagree, both shapes are read: an order's ``user`` as a
number or an object; and the User-Agent a bot filter looks at is ours, configurable, with a
JS-challenge answer reported as that."""

from __future__ import annotations

import json

import pytest

from cartum_roapp_sandbox.cartum import CartumSandbox
from cartum_roapp_sync import __version__
from cartum_roapp_sync.cartum.client import CartumClient, default_user_agent
from cartum_roapp_sync.cartum.hook import CartumHook
from cartum_roapp_sync.cartum.shapes import is_challenge_page, order_user_id, user_id, user_shape
from cartum_roapp_sync.transport import NotAnApiError
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, serving


@pytest.mark.parametrize("value, expected", [
    (99, 99), ("99", 99), (" 99 ", 99), (99.0, 99), ({"id": 99}, 99), ({"id": "99", "title": "x"}, 99),
    (None, None), (0, None), ("0", None), ("", None), ({}, None), ({"id": None}, None), ({"id": 0}, None),
    (-5, None), (True, None), ("abc", None), (99.5, None), ([99], None),
])
def test_user_id_reads_every_shape_and_guests_are_none(value, expected):
    assert user_id(value) == expected
    assert order_user_id({"order_id": 1, "user": value}) == expected


def test_user_shape_names_the_shape_never_the_value():
    assert user_shape(99) == "number" and user_shape("99") == "numeric string"
    assert user_shape({"id": 1, "email": "a@b.c"}) == "object{email,id}"
    assert user_shape(None) == "null" and user_shape("") == "empty string"


def test_challenge_pages_are_told_from_plain_error_pages():
    assert is_challenge_page(b"<html><head><script>document.cookie='x=1';location.reload()</script></head></html>")
    assert is_challenge_page(b"<!DOCTYPE html><title>Just a moment...</title><div id=cf-chl-widget></div>")
    assert not is_challenge_page(b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                                 b"<body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>")


def _client(url: str, **options) -> CartumClient:
    return CartumClient(url, CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY, requests_per_second=0, timeout=5.0,
                        **options)


def test_the_default_user_agent_names_the_project_and_passes_a_bot_filter():
    assert default_user_agent().startswith(f"cartum-roapp-sync/{__version__} ")
    assert "python-requests" not in default_user_agent()
    app = CartumSandbox.seeded(seed=3, orders=20, products=5, customers=4, profile="alternative")
    with serving(app) as sandbox:
        client = _client(sandbox.url)
        assert client.user_agent == default_user_agent()
        assert len(list(client.iter_orders(created_from="2000-01-01"))) == 20

        blocked = _client(sandbox.url, user_agent="python-requests/2.32.3")
        with pytest.raises(NotAnApiError) as caught:
            blocked.authenticate()
        message = str(caught.value)
        assert "JavaScript challenge" in message and "python-requests/2.32.3" in message
        assert "extra `user_agent`" in message and CARTUM_PASSWORD not in message

    # a plain HTML page (a wrong address) keeps the general message
    with serving(CartumSandbox.seeded(seed=3, orders=1, products=1, customers=1)) as sandbox:
        wrong = CartumClient(sandbox.url + "/shop", CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY,
                             requests_per_second=0)
        with pytest.raises(NotAnApiError, match="not a reachable Cartum API") as caught:
            wrong.authenticate()
        assert "JavaScript" not in str(caught.value)


def test_the_hook_reads_the_user_agent_extra(monkeypatch):
    app = CartumSandbox.seeded(seed=3, orders=5, products=5, customers=2, profile="alternative")
    with serving(app) as sandbox:
        for extra, expected in (({"user_agent": "ShopSync/1.0 (+https://shop.example.com)"},
                                 "ShopSync/1.0 (+https://shop.example.com)"),
                                ({"user_agent": "  "}, default_user_agent()), ({}, default_user_agent())):
            monkeypatch.setenv("AIRFLOW_CONN_CARTUM_UA", json.dumps({
                "conn_type": "cartum", "host": sandbox.url, "login": CARTUM_LOGIN, "password": CARTUM_PASSWORD,
                "extra": extra}))
            ok, message = CartumHook("cartum_ua").test_connection()
            assert ok, message
            assert CartumHook("cartum_ua", limiter=None).get_conn().user_agent == expected
        monkeypatch.setenv("AIRFLOW_CONN_CARTUM_UA", json.dumps({
            "conn_type": "cartum", "host": sandbox.url, "login": CARTUM_LOGIN, "password": CARTUM_PASSWORD,
            "extra": {"user_agent": "curl/8.5.0"}}))
        ok, message = CartumHook("cartum_ua").test_connection()
        assert not ok and "JavaScript challenge" in message and "user_agent" in message
