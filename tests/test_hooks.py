"""Hooks build clients from Airflow connections; the provider registers both connection types."""

from __future__ import annotations

import json

import pytest

from cartum_roapp_sync.cartum.hook import CartumHook
from cartum_roapp_sync.ratelimit import SharedRateLimiter
from cartum_roapp_sync.roapp.hook import RoAppHook
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, ROAPP_KEY


def set_connection(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def test_cartum_hook_reads_the_connection_lazily(monkeypatch):
    hook = CartumHook("cartum_missing")  # no connection defined: __init__ must not look it up
    assert hook.cartum_conn_id == "cartum_missing"
    with pytest.raises(Exception, match="cartum_missing"):
        hook.get_conn()


def test_cartum_test_connection_succeeds(cartum_sandbox, monkeypatch):
    set_connection(monkeypatch, "cartum_shop", conn_type="cartum", host=cartum_sandbox.url, login=CARTUM_LOGIN,
                   password=CARTUM_PASSWORD, extra={"requests_per_second": 20, "timeout": 5})
    ok, message = CartumHook("cartum_shop").test_connection()
    assert ok, message
    assert CARTUM_LOGIN in message
    assert [r["path"] for r in cartum_sandbox.admin.requests()] == ["/api/auth/"]


def test_cartum_test_connection_fails_clearly_on_wrong_password(cartum_sandbox, monkeypatch):
    set_connection(monkeypatch, "cartum_shop", conn_type="cartum", host=cartum_sandbox.url, login=CARTUM_LOGIN,
                   password="definitely-wrong-pw")
    ok, message = CartumHook("cartum_shop").test_connection()
    assert not ok
    assert "rejected login" in message and "Settings → Administrators" in message
    assert "definitely-wrong-pw" not in message


def test_cartum_hook_uses_the_connection_extras(cartum_sandbox, monkeypatch):
    set_connection(monkeypatch, "cartum_shop", conn_type="cartum", host=cartum_sandbox.url + "/", login="a",
                   password="b", extra={"requests_per_second": 2, "timeout": 7})
    client = CartumHook("cartum_shop").get_conn()
    assert client.base_url == cartum_sandbox.url
    assert client.transport.timeout == 7.0
    limiter = client.transport.limiter
    assert isinstance(limiter, SharedRateLimiter)  # one budget for the store's parallel tasks
    assert (limiter.max_requests, limiter.window) == (2, 1.0)


def test_roapp_test_connection_succeeds(roapp_sandbox, monkeypatch):
    set_connection(monkeypatch, "roapp_test", conn_type="roapp", host=roapp_sandbox.url, password=ROAPP_KEY)
    ok, message = RoAppHook("roapp_test").test_connection()
    assert ok, message
    assert [r["path"] for r in roapp_sandbox.admin.requests()] == ["/v2/company/locations"]


def test_roapp_test_connection_fails_clearly_on_a_wrong_key(roapp_sandbox, monkeypatch):
    set_connection(monkeypatch, "roapp_test", conn_type="roapp", host=roapp_sandbox.url, password="wrong-key-1234")
    ok, message = RoAppHook("roapp_test").test_connection()
    assert not ok
    assert "rejected the API key" in message and "wrong-key-1234" not in message


@pytest.mark.parametrize("hook", [CartumHook, RoAppHook])
def test_the_test_of_an_unreachable_host_says_what_to_check(hook, monkeypatch):
    import socket

    from cartum_roapp_sync.transport import RetryPolicy

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_connection(monkeypatch, "closed", conn_type=hook.conn_type, host=f"http://127.0.0.1:{port}", login="a",
                   password="secret-value-77")
    ok, message = hook("closed", retry=RetryPolicy(max_attempts=2, base_delay=0.01)).test_connection()
    assert not ok
    assert f"127.0.0.1:{port}" in message and "still failing after 2 attempts" in message
    assert message.endswith("Check the URL (scheme, host and port) and that the service is up and reachable "
                            "from Airflow, then test again.")
    assert "next run" not in message and "secret-value-77" not in message


def test_roapp_hook_shares_the_rate_limit_through_the_state_database(roapp_sandbox, monkeypatch, tmp_path):
    set_connection(monkeypatch, "roapp_test", conn_type="roapp", host=roapp_sandbox.url, password=ROAPP_KEY)
    set_connection(monkeypatch, "cartum_roapp_state", conn_type="sqlite", host=str(tmp_path / "state.db"))
    client = RoAppHook("roapp_test").get_conn()
    assert client.transport.limiter.engine.url.database == str(tmp_path / "state.db")
    assert ROAPP_KEY not in client.transport.limiter.bucket
    assert client.branches()


def test_cartum_test_connection_fails_clearly_on_an_empty_store_url(monkeypatch):
    set_connection(monkeypatch, "cartum_blank", conn_type="cartum", host="  ", login="a", password="b")
    ok, message = CartumHook("cartum_blank").test_connection()
    assert not ok
    assert "the store URL (host) is empty" in message


def test_roapp_rate_window_is_read_when_a_client_is_built(roapp_sandbox, monkeypatch, tmp_path):
    set_connection(monkeypatch, "roapp_test", conn_type="roapp", host=roapp_sandbox.url, password=ROAPP_KEY)
    set_connection(monkeypatch, "cartum_roapp_state", conn_type="sqlite", host=str(tmp_path / "state.db"))
    monkeypatch.delenv("CARTUM_ROAPP_RATE_WINDOW", raising=False)
    limiter = RoAppHook("roapp_test").get_conn().transport.limiter
    assert (limiter.max_requests, limiter.window) == (3, 1.1)
    monkeypatch.setenv("CARTUM_ROAPP_RATE_WINDOW", "0.25")  # after the import: still taken into account
    assert RoAppHook("roapp_test").get_conn().transport.limiter.window == 0.25


def test_roapp_hook_defaults_to_the_public_api(monkeypatch):
    set_connection(monkeypatch, "roapp_public", conn_type="roapp", password=ROAPP_KEY)
    hook = RoAppHook("roapp_public", limiter=None)
    assert hook.get_conn().base_url == "https://api.roapp.io"


def test_provider_registers_both_connection_types():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "cartum-roapp-sync" in manager.providers
    hooks = ProvidersManagerTaskRuntime().hooks
    assert hooks["cartum"].hook_class_name == "cartum_roapp_sync.cartum.hook.CartumHook"
    assert hooks["roapp"].hook_class_name == "cartum_roapp_sync.roapp.hook.RoAppHook"
    widgets = manager.connection_form_widgets
    assert "extra__cartum__requests_per_second" in widgets and "extra__roapp__timeout" in widgets
    behaviours = manager.field_behaviours
    assert behaviours["cartum"]["relabeling"]["host"] == "Store URL"
    assert behaviours["roapp"]["relabeling"]["password"] == "API key"
    assert "login" in behaviours["roapp"]["hidden_fields"]
