"""CartumClient against the Cartum sandbox over real HTTP."""

from __future__ import annotations

import logging

import pytest

from cartum_roapp_sandbox.server import SandboxServer
from cartum_roapp_sync.cartum.client import BUILTIN_STATUSES, CartumClient
from cartum_roapp_sync.transport import (
    AccessDeniedError,
    CredentialsError,
    NotAnApiError,
    RetriableApiError,
)
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY
from tests.fakes import HtmlApp


def make_client(url: str, **options) -> CartumClient:
    options = {"retry": FAST_RETRY, "requests_per_second": 0, "timeout": 5.0, **options}
    return CartumClient(url, CARTUM_LOGIN, CARTUM_PASSWORD, **options)


def api_calls(sandbox, function: str) -> list[dict]:
    return [r for r in sandbox.admin.requests() if r["path"] == f"/api/{function}/"]


def test_a_window_that_fits_one_answer(cartum_sandbox):
    """Empty: one call. Short: one more read at the last row's offset tells it from a capped
    page, once per client (the size is then known)."""
    expected = sorted(o["order_id"] for o in cartum_sandbox.admin.state()["orders"])
    client = make_client(cartum_sandbox.url)

    assert list(client.iter_orders(created_from="2099-01-01 00:00:00")) == []
    assert len(api_calls(cartum_sandbox, "orders/get")) == 1
    cartum_sandbox.admin.clear_requests()

    got = sorted(o["order_id"] for o in client.iter_orders(page_size=200))

    assert got == expected
    calls = api_calls(cartum_sandbox, "orders/get")
    assert [(c["body"]["limit"], c["body"]["offset"]) for c in calls] == [(200, 0), (200, len(expected) - 1)]
    cartum_sandbox.admin.clear_requests()
    later = sorted(o["stat_created"] for o in cartum_sandbox.admin.state()["orders"])[10]
    assert len(list(client.iter_orders(created_from=later, page_size=200))) == len(expected) - 10
    assert len(api_calls(cartum_sandbox, "orders/get")) == 1  # fewer than an answer has held: not cut


@pytest.mark.parametrize("sort", ["id", "newest_first"])
@pytest.mark.parametrize("cap", [None, 20])
def test_a_window_larger_than_a_page_is_read_in_complete_time_slices(cartum_sandbox, cap, sort):
    cartum_sandbox.admin.action("set_orders_paging", {"page_cap": cap, "sort": sort})
    expected = sorted(o["order_id"] for o in cartum_sandbox.admin.state()["orders"])
    client = make_client(cartum_sandbox.url)

    got = [o["order_id"] for o in client.iter_orders(created_from="2000-01-01", page_size=30)]

    assert sorted(got) == expected  # every order, each once
    page = cap or 30
    calls = api_calls(cartum_sandbox, "orders/get")
    assert len(calls) < 4 * len(expected) / page
    # what was kept came from answers shorter than a page: none of them can have been cut
    assert all(c["body"]["limit"] == 30 for c in calls)


def old_offset_paging(client: CartumClient, body: dict, page_size: int) -> list[int]:
    """The paging before issue 9: limit/offset until a short page."""
    got: list[int] = []
    while True:
        rows = client.call("orders/get", {**body, "limit": page_size, "offset": len(got)}).get("orders") or []
        got.extend(o["order_id"] for o in rows)
        if len(rows) < page_size:
            return got


def churn(cartum_sandbox, state: dict, after_calls: int) -> tuple[set[int], set[int]]:
    """Schedule, after ``after_calls`` orders/get answers, the deletion of one order in
    four among the 40 newest and one new order in the window: (kept ids, new ids)."""
    newest = sorted(state["orders"], key=lambda o: o["stat_created"], reverse=True)[:40]
    deleted = [o["order_id"] for o in newest[::4]]
    new = [{"order_id": 90000 + i, "stat_created": newest[i * 7]["stat_created"]} for i in range(3)]
    cartum_sandbox.admin.action("schedule_order_changes", {"after_calls": after_calls, "delete": deleted,
                                                           "upsert": new})
    return {o["order_id"] for o in state["orders"]} - set(deleted), {o["order_id"] for o in new}


def test_deletions_and_insertions_during_the_read_skip_nothing(cartum_sandbox):
    """Newest first with a page cap of 20 (the client asks 30): the old paging loses orders
    when the store changes between its pages; the sliced read loses none."""
    cartum_sandbox.admin.action("set_orders_paging", {"page_cap": 20, "sort": "newest_first"})
    state = cartum_sandbox.admin.state()
    client = make_client(cartum_sandbox.url)

    kept, new = churn(cartum_sandbox, state, after_calls=1)
    cartum_sandbox.admin.action("set_orders_paging", {"page_cap": None})
    old = old_offset_paging(client, {"from": "2000-01-01"}, 30)
    assert kept - set(old), "the old paging should have skipped an order here"

    cartum_sandbox.admin.action("upsert_orders", state["orders"])  # back to the start
    cartum_sandbox.admin.action("delete_orders", sorted(new))
    for after_calls in (1, 2, 5):
        cartum_sandbox.admin.action("set_orders_paging", {"page_cap": 20})
        kept, new = churn(cartum_sandbox, state, after_calls=after_calls)
        got = [o["order_id"] for o in client.iter_orders(created_from="2000-01-01", page_size=30)]
        assert len(got) == len(set(got))
        assert kept <= set(got) <= kept | new | {o["order_id"] for o in state["orders"]}
        cartum_sandbox.admin.action("upsert_orders", state["orders"])
        cartum_sandbox.admin.action("delete_orders", sorted(new))


def test_one_second_fuller_than_a_page_is_paged_with_overlap(cartum_sandbox):
    second = "2026-03-01 10:00:00"
    burst = [{"order_id": 50000 + i, "stat_created": second} for i in range(70)]
    cartum_sandbox.admin.action("upsert_orders", burst)
    cartum_sandbox.admin.action("set_orders_paging", {"page_cap": 20, "sort": "newest_first"})
    client = make_client(cartum_sandbox.url)
    list(client.iter_orders(created_from="2000-01-01", page_size=30))  # learns the cap
    # a deletion at the newest end of the second while it is read by offset
    cartum_sandbox.admin.action("schedule_order_changes", {"after_calls": 3, "delete": [50069, 50068]})
    cartum_sandbox.admin.clear_requests()

    got = [o["order_id"] for o in client.iter_orders(created_from=second, created_to=second, page_size=30)]

    assert sorted(got) == list(range(50000, 50068))  # the pass that saw the shift is read again whole
    offsets = [c["body"]["offset"] for c in api_calls(cartum_sandbox, "orders/get")]
    assert offsets[:4] == [0, 0, 19, 38]  # the window, then pages overlapping by one row
    assert offsets.count(0) >= 3  # the shift was seen and the second read again


def test_orders_by_id_through_a_page_cap(cartum_sandbox):
    ids = sorted(o["order_id"] for o in cartum_sandbox.admin.state()["orders"])
    cartum_sandbox.admin.action("set_orders_paging", {"page_cap": 50})
    client = make_client(cartum_sandbox.url)

    got = sorted(o["order_id"] for o in client.get_orders_by_ids([*ids, 777777]))

    assert got == ids
    calls = api_calls(cartum_sandbox, "orders/get")
    assert [len(c["body"]["ids"]) for c in calls] == [121, 71, 21, 1]  # the last finds only the missing one


def test_catalog_pages_are_capped_at_500(cartum_sandbox):
    extra = [{"article": f"BULK-{i:05d}", "title": {"ua": f"Товар {i}"}, "price": 10} for i in range(1100)]
    cartum_sandbox.admin.action("upsert_products", extra)
    total = len(cartum_sandbox.admin.state()["products"])
    client = make_client(cartum_sandbox.url)

    articles = [p["article"] for p in client.iter_products(page_size=2000)]

    assert len(articles) == total == len(set(articles))
    calls = api_calls(cartum_sandbox, "catalog/export")
    assert [c["body"]["limit"] for c in calls] == [500] * len(calls)
    assert len(calls) == total // 500 + 1


def test_products_by_article(cartum_sandbox):
    wanted = sorted(p["article"] for p in cartum_sandbox.admin.state()["products"])[:3]
    client = make_client(cartum_sandbox.url)

    assert sorted(p["article"] for p in client.iter_products(articles=wanted)) == wanted


def test_token_expiry_in_the_middle_of_a_pagination(cartum_sandbox):
    client = make_client(cartum_sandbox.url)
    pages = client.iter_orders(page_size=25)
    first = [next(pages) for _ in range(30)]  # beyond the first page
    cartum_sandbox.admin.action("expire_tokens")

    rest = list(pages)

    assert len(first) + len(rest) == len(cartum_sandbox.admin.state()["orders"])
    assert len(api_calls(cartum_sandbox, "auth")) == 2  # the first login and exactly one renewal
    statuses = [r["status"] for r in cartum_sandbox.admin.requests()]
    assert all(s == 200 for s in statuses)


def test_token_is_renewed_before_its_ttl(cartum_sandbox):
    now = [1000.0]
    client = make_client(cartum_sandbox.url, clock=lambda: now[0])
    client.get_statuses()
    now[0] += 569  # renewal margin is 30 s before the 600 s TTL
    client.get_statuses()
    assert len(api_calls(cartum_sandbox, "auth")) == 1
    now[0] += 2
    client.get_statuses()
    assert len(api_calls(cartum_sandbox, "auth")) == 2


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "html502", "drop"])
def test_transient_faults_are_retried(cartum_sandbox, fault):
    client = make_client(cartum_sandbox.url)
    client.authenticate()
    cartum_sandbox.admin.faults(script=[fault, fault])

    statuses = client.get_statuses()

    assert statuses
    assert client.stats.retries == 2
    assert [r["status"] for r in api_calls(cartum_sandbox, "orders/get_available_statuses")][-1] == 200


def test_a_429_storm_is_ridden_out(cartum_sandbox):
    client = make_client(cartum_sandbox.url, retry=FAST_RETRY.__class__(max_attempts=12, base_delay=0.005,
                                                                       max_delay=0.02))
    cartum_sandbox.admin.faults(error_rate=0.5, error_codes=["429"])

    orders = list(client.iter_orders(page_size=20))

    assert len(orders) == len(cartum_sandbox.admin.state()["orders"])
    assert client.stats.retries > 0
    assert any(r["status"] == 429 for r in cartum_sandbox.admin.requests())


def test_persistent_html_502_is_reported_as_not_reachable(cartum_sandbox):
    client = make_client(cartum_sandbox.url)
    cartum_sandbox.admin.faults(error_rate=1.0, error_codes=["502"], html_errors=True)

    with pytest.raises(RetriableApiError) as caught:
        client.authenticate()

    assert "HTML page (HTTP 502)" in str(caught.value)
    assert len(cartum_sandbox.admin.requests()) == FAST_RETRY.max_attempts


def test_timeout_is_retried_then_reported(cartum_sandbox):
    client = make_client(cartum_sandbox.url, timeout=0.3)
    cartum_sandbox.admin.faults(script=["slow"], slow_ms=1000)
    client.authenticate()  # first attempt times out, the second succeeds
    assert client.stats.retries == 1

    cartum_sandbox.admin.faults(latency_ms=1000)
    with pytest.raises(RetriableApiError, match="no answer within 0.3 s"):
        client.get_statuses()


def test_wrong_password_is_a_credentials_error_with_a_hint(cartum_sandbox):
    client = CartumClient(cartum_sandbox.url, CARTUM_LOGIN, "wrong-password-123", retry=FAST_RETRY)
    with pytest.raises(CredentialsError) as caught:
        client.authenticate()
    message = str(caught.value)
    assert CARTUM_LOGIN in message and "Settings → Administrators" in message
    assert "wrong-password-123" not in message


def test_email_as_login_gets_the_user_name_hint(cartum_sandbox):
    client = CartumClient(cartum_sandbox.url, "owner@shop.example", CARTUM_PASSWORD, retry=FAST_RETRY)
    with pytest.raises(CredentialsError, match="not the e-mail"):
        client.authenticate()


def test_no_api_access_on_the_plan(cartum_sandbox):
    cartum_sandbox.admin.action("set_api_access", {"enabled": False})
    with pytest.raises(AccessDeniedError, match="tariff plan"):
        make_client(cartum_sandbox.url).authenticate()


def test_statuses_fall_back_to_builtin_on_old_platforms(cartum_sandbox):
    cartum_sandbox.admin.action("set_statuses_function", {"available": False})
    assert make_client(cartum_sandbox.url).get_statuses() == BUILTIN_STATUSES


def test_update_orders_surfaces_warnings(cartum_sandbox):
    order_id = cartum_sandbox.admin.state()["orders"][0]["order_id"]
    client = make_client(cartum_sandbox.url)
    problems = client.update_orders([{"order_id": order_id, "status": 2}, {"order_id": 999999, "status": 2}])
    assert [p["order_id"] for p in problems] == [999999]
    changed = {o["order_id"]: o for o in cartum_sandbox.admin.state()["orders"]}[order_id]
    assert changed["stat_status"] == 2


def test_html_instead_of_json_is_not_a_parse_crash():
    with SandboxServer(HtmlApp(), port=0) as server:
        with pytest.raises(NotAnApiError, match="not a reachable Cartum API"):
            make_client(server.url).authenticate()


def test_secrets_never_reach_logs_exceptions_or_repr(cartum_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(cartum_sandbox.url)
    list(client.iter_orders(page_size=50))
    cartum_sandbox.admin.action("expire_tokens")
    client.get_statuses()
    token = client._token
    bad = CartumClient(cartum_sandbox.url, CARTUM_LOGIN, "another-secret-pw", retry=FAST_RETRY)
    with pytest.raises(CredentialsError) as caught:
        bad.authenticate()

    texts = [caplog.text, repr(client), repr(bad), str(caught.value)]
    for secret in (CARTUM_PASSWORD, "another-secret-pw", token):
        assert secret and all(secret not in text for text in texts)
    # The sandbox's own request log keeps no secret either.
    assert all(r["body"].get("password") in (None, "***") and r["body"].get("token") in (None, "***")
               for r in cartum_sandbox.admin.requests() if r["body"])


def test_store_url_needs_a_scheme():
    with pytest.raises(ValueError, match="http:// or https://"):
        CartumClient("shop.example.com", "a", "b")



@pytest.mark.parametrize("function, call", [
    ("auth", lambda c: c.authenticate()),
    ("orders/get", lambda c: list(c.iter_orders(created_from="2099-01-01"))),
    ("catalog/export", lambda c: next(c.iter_products(page_size=5))),
    ("users/export", lambda c: next(c.iter_customers(page_size=5))),
    ("orders/get_available_statuses", lambda c: c.get_statuses()),
    ("orders/update", lambda c: c.update_orders([{"order_id": 1, "status": 2}])),
])
def test_every_cartum_call_is_a_repeatable_post(cartum_sandbox, function, call):
    """Cartum's functions are POSTs that read (or, orders/update, set values): unlike an RO App
    create, a 502, an HTML 502 or a dropped connection is retried, and the server sees it again."""
    client = make_client(cartum_sandbox.url)
    if function != "auth":
        client.authenticate()
    cartum_sandbox.admin.clear_requests()
    cartum_sandbox.admin.faults(script=["502", "html502", "drop"])

    call(client)

    calls = api_calls(cartum_sandbox, function)
    assert [c["method"] for c in calls] == ["POST"] * 4
    assert [c["status"] for c in calls] == [502, 502, 0, 200]
    assert client.stats.retries == 3 and client.stats.ambiguous == 0
