"""The Cartum session token kept between processes (``cartum.tokens``), against the Cartum
sandbox over real HTTP and a real SQLite state database: one login serves the next
clients, the state database never holds the token in clear, a changed password is never
served the kept token, and an expired or rejected one is replaced by one fresh login."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from cartum_roapp_sync.cartum.client import TOKEN_RENEW_MARGIN, TOKEN_TTL, CartumClient
from cartum_roapp_sync.cartum.tokens import TokenCache
from cartum_roapp_sync.state.db import get_engine
from cartum_roapp_sync.state.tables import api_cache
from cartum_roapp_sync.transport import CredentialsError
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY


@pytest.fixture
def engine(tmp_path):
    return get_engine(f"sqlite:///{tmp_path}/state.db")


def client(url: str, engine, password: str = CARTUM_PASSWORD, **cache_options) -> CartumClient:
    """A fresh client (as a new task process makes) keeping its token in ``engine``."""
    made = CartumClient(url, CARTUM_LOGIN, password, retry=FAST_RETRY, requests_per_second=0, timeout=5.0)
    made.use_caches(engine, reference_minutes=15)
    if cache_options:
        made.token_cache = TokenCache(engine, made.base_url, CARTUM_LOGIN, password, **cache_options)
    return made


def logins(sandbox) -> int:
    return sum(1 for r in sandbox.admin.requests() if r["path"] == "/api/auth/")


def stored(engine) -> list[dict]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(api_cache)).mappings()]


def test_one_login_serves_the_next_clients(cartum_sandbox, engine):
    first = client(cartum_sandbox.url, engine)
    first.get_statuses()
    assert logins(cartum_sandbox) == 1
    for _ in range(3):   # three more task processes of the run
        assert list(client(cartum_sandbox.url, engine).iter_orders(created_from="2099-01-01 00:00:00")) == []
    assert logins(cartum_sandbox) == 1
    assert client(cartum_sandbox.url, engine).ensure_login(min_life=60) is False   # validate_setup: no call
    assert logins(cartum_sandbox) == 1


def test_the_state_database_never_holds_the_token_in_clear(cartum_sandbox, engine, caplog):
    made = client(cartum_sandbox.url, engine)
    with caplog.at_level(logging.DEBUG):
        made.get_statuses()
    token = made._token   # the token Cartum gave (the sandbox's request log masks it)
    assert token and len(token) >= 16 and logins(cartum_sandbox) == 1
    rows = stored(engine)
    [kept] = [r for r in rows if r["kind"] == "cartum_token"]
    everything = repr(rows)
    assert token not in everything and CARTUM_PASSWORD not in everything and CARTUM_LOGIN not in everything
    assert kept["value"].startswith("v1:")
    assert token not in caplog.text   # nor in any log line
    # what is kept decrypts only with the connection's credentials
    assert TokenCache(engine, cartum_sandbox.url, CARTUM_LOGIN, CARTUM_PASSWORD).load()[0] == token
    assert TokenCache(engine, cartum_sandbox.url, CARTUM_LOGIN, CARTUM_PASSWORD + "x").load() is None
    assert TokenCache(engine, cartum_sandbox.url + "/other", CARTUM_LOGIN, CARTUM_PASSWORD).load() is None


def test_a_changed_password_is_never_served_the_kept_token(cartum_sandbox, engine):
    client(cartum_sandbox.url, engine).get_statuses()
    assert logins(cartum_sandbox) == 1
    # the password is changed in Cartum and in the connection: the next task logs in with it
    cartum_sandbox.admin.action("set_credentials", {"login": CARTUM_LOGIN, "password": "a-new-password"})
    cartum_sandbox.admin.clear_requests()
    changed = client(cartum_sandbox.url, engine, password="a-new-password")
    assert changed.ensure_login(min_life=60) is True
    assert logins(cartum_sandbox) == 1 and changed.get_statuses()   # Cartum took the new password
    # and a client with the old password is refused by Cartum, not handed the new token
    cartum_sandbox.admin.clear_requests()
    with pytest.raises(CredentialsError):
        client(cartum_sandbox.url, engine).ensure_login()
    assert {r["path"] for r in cartum_sandbox.admin.requests()} == {"/api/auth/"}


def test_an_expired_kept_token_is_not_used(cartum_sandbox, engine):
    later = [datetime.now(timezone.utc)]
    client(cartum_sandbox.url, engine, clock=lambda: later[0]).get_statuses()
    assert logins(cartum_sandbox) == 1
    # inside its life it serves; past TOKEN_TTL less the margin it is not offered at all
    assert client(cartum_sandbox.url, engine, clock=lambda: later[0]).ensure_login() is False
    later[0] += timedelta(seconds=TOKEN_TTL - TOKEN_RENEW_MARGIN + 1)
    cartum_sandbox.admin.clear_requests()
    assert client(cartum_sandbox.url, engine, clock=lambda: later[0]).ensure_login() is True
    assert logins(cartum_sandbox) == 1


def test_a_rejected_kept_token_is_dropped_and_replaced_by_one_login(cartum_sandbox, engine):
    client(cartum_sandbox.url, engine).get_statuses()
    before = [r["value"] for r in stored(engine) if r["kind"] == "cartum_token"]
    cartum_sandbox.admin.action("expire_tokens", {})   # Cartum ends the session early
    cartum_sandbox.admin.clear_requests()

    fresh = client(cartum_sandbox.url, engine)
    assert list(fresh.iter_orders(created_from="2099-01-01 00:00:00")) == []
    paths = [r["path"] for r in cartum_sandbox.admin.requests()]
    assert paths == ["/api/orders/get/", "/api/auth/", "/api/orders/get/"]   # rejected, one login, again
    after = [r["value"] for r in stored(engine) if r["kind"] == "cartum_token"]
    assert after and after != before   # the new token is kept
    cartum_sandbox.admin.clear_requests()
    assert list(client(cartum_sandbox.url, engine).iter_orders(created_from="2099-01-01 00:00:00")) == []
    assert [r["path"] for r in cartum_sandbox.admin.requests()] == ["/api/orders/get/"]


def test_a_kept_value_that_is_not_ours_is_ignored(cartum_sandbox, engine):
    cache = TokenCache(engine, cartum_sandbox.url, CARTUM_LOGIN, CARTUM_PASSWORD)
    for junk in ("not a token", "v1:!!:garbage", "v2:abc:def"):
        cache.cache.put("cartum_token", junk, timedelta(minutes=5))
        assert cache.load() is None
    made = client(cartum_sandbox.url, engine)
    made.get_statuses()
    assert logins(cartum_sandbox) == 1
