"""The read limits (issue 11): an answer past the size limit is refused without reading the
rest, for both APIs; a Cartum read takes a bounded number of pages and holds a bounded
number of records; a page exactly like the one before ends a catalogue or customers read
with a warning, and fails a creation window. Counts come from the sandbox's own log."""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta

import pytest

from cartum_roapp_sandbox.server import Response, SandboxServer
from cartum_roapp_sync.cartum.client import CartumClient
from cartum_roapp_sync.cartum.window import CARTUM_TIME, MisbehavingServerError, PageSize, WindowReader
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.transport import MisbehavingApiError, Transport
from tests.conftest import CARTUM_LOGIN, CARTUM_PASSWORD, FAST_RETRY, ROAPP_KEY, seeded_cartum
from tests.fakes import FakeApp
from tests.pipeline.checks import function_calls


class SizedApp(FakeApp):
    """Answers every request with a JSON string of ``size`` bytes."""

    def __init__(self, size: int):
        self.size = size

    def handle(self, request, faults):
        return Response(200, b'"' + b"x" * (self.size - 2) + b'"')


@pytest.mark.parametrize("size, refused", [(1000, False), (1001, True)])
def test_an_answer_past_the_size_limit_is_refused_once_and_not_retried(size, refused):
    with SandboxServer(SizedApp(size), port=0) as server:
        transport = Transport("Cartum", server.url, retry=FAST_RETRY, max_answer_bytes=1000)
        if refused:
            with pytest.raises(MisbehavingApiError) as caught:
                transport.request("GET", "/big")
            message = str(caught.value)
            assert "Cartum answered GET /big with more than" in message and "misbehaving" in message
            assert "declared" in message  # refused on its Content-Length
        else:
            assert len(transport.request("GET", "/big").json()) == size - 2
        assert len(server.requests) == 1


def test_an_undeclared_stream_is_cut_at_the_limit():
    """No Content-Length, the body streamed until the connection closes: the client stops
    reading past the limit and hangs up, long before the server has sent it all."""
    total, sent = 64 * 1024 * 1024, []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        count = 0
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            chunk = b"x" * 65536
            while count < total:
                conn.sendall(chunk)
                count += len(chunk)
        except OSError:
            pass
        finally:
            sent.append(count)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = Transport("RO App", f"http://127.0.0.1:{listener.getsockname()[1]}", retry=FAST_RETRY,
                          max_answer_bytes=256 * 1024)
    with pytest.raises(MisbehavingApiError) as caught:
        transport.request("GET", "/v2/stream")
    thread.join(10)
    listener.close()
    assert "RO App answered GET /v2/stream with more than 0.2 MB" in str(caught.value)
    assert "declared" not in str(caught.value)
    assert sent and sent[0] < total


def test_the_ro_app_client_reads_through_the_size_limit(roapp_sandbox):
    client = RoAppClient(ROAPP_KEY, roapp_sandbox.url, retry=FAST_RETRY)
    assert client.branches()
    client.transport.max_answer_bytes = 50
    with pytest.raises(MisbehavingApiError, match="RO App answered GET"):
        client.branches()


@pytest.fixture
def cartum():
    yield from seeded_cartum(seed=3, orders=150, products=40, customers=30, days=30)


def client(cartum, **limits) -> CartumClient:
    return CartumClient(cartum.url, CARTUM_LOGIN, CARTUM_PASSWORD, retry=FAST_RETRY, requests_per_second=0, **limits)


def calls(cartum, function: str) -> int:
    return function_calls(cartum.admin.requests())[function]


def test_the_same_full_catalogue_page_ends_the_read_with_a_warning(cartum):
    cartum.admin.set_misbehaviour({"catalog/export": {"page": "endless"}})
    reader = client(cartum)

    products = list(reader.iter_products())

    # the frozen page is 500 rows: the 40 products over and over, each kept once
    assert sorted(p["article"] for p in products) == sorted(p["article"] for p in cartum.admin.state()["products"])
    assert calls(cartum, "catalog/export") == 2
    assert reader.cut_short == {"catalog/export"}
    [warning] = reader.take_read_warnings()
    assert "catalog/export answered page 2 (offset 500) exactly like page 1" in warning
    assert "ignores offset" in warning and "40 rows" in warning
    assert reader.take_read_warnings() == []

    cartum.admin.stop_misbehaviour()
    assert len(list(reader.iter_products())) == 40 and reader.cut_short == set()


def test_customers_paged_by_an_api_ignoring_offset_end_after_one_page(cartum):
    cartum.admin.set_misbehaviour({"users/export": {"page": "repeat"}})
    reader = client(cartum)

    customers = list(reader.iter_customers(page_size=10))

    assert [c["id"] for c in customers] == [u["id"] for u in cartum.admin.state()["users"][:10]]
    assert calls(cartum, "users/export") == 2 and reader.cut_short == {"users/export"}


def test_new_full_pages_forever_stop_at_the_record_limit(cartum):
    cartum.admin.set_misbehaviour({"catalog/export": {"page": "bottomless"}})
    reader = client(cartum, max_rows=1200)
    held = []

    with pytest.raises(MisbehavingApiError) as caught:
        for product in reader.iter_products():
            held.append(product)

    # the first page holds the 40 products (repeated up to 500 rows), each later one 500 new
    assert "Cartum returned record 1,540 of catalog/export for one read" in str(caught.value)
    assert "max_rows_per_read" in str(caught.value)
    assert calls(cartum, "catalog/export") == 4 and len(held) == 1040


def test_new_full_pages_forever_stop_at_the_page_limit(cartum):
    cartum.admin.set_misbehaviour({"catalog/export": {"page": "bottomless"}})
    reader = client(cartum, max_pages=4)

    with pytest.raises(MisbehavingApiError, match="returned page 4 of catalog/export for one read") as caught:
        list(reader.iter_products())

    assert "max_pages_per_read" in str(caught.value) and "no cursor moved" in str(caught.value)
    assert calls(cartum, "catalog/export") == 4


def test_a_creation_window_on_an_api_stuck_on_one_page_fails_at_once(cartum):
    cartum.admin.set_misbehaviour({"orders/get": {"page": "endless"}})
    reader = client(cartum)

    with pytest.raises(MisbehavingApiError) as caught:
        list(reader.iter_orders(created_from="2000-01-01 00:00:00"))

    message = str(caught.value)
    assert message.startswith("Cartum answered orders/get at offset 99 ")
    assert "exactly like the page before it: it ignores offset" in message and "cursor did not move" in message
    assert calls(cartum, "orders/get") <= 20


def test_a_creation_window_takes_at_most_max_pages_answers(cartum):
    cartum.admin.action("set_orders_paging", {"page_cap": 20})
    with pytest.raises(MisbehavingApiError, match="Cartum returned page 3 of orders/get for one creation window"):
        list(client(cartum, max_pages=3).iter_orders(created_from="2000-01-01 00:00:00"))
    assert calls(cartum, "orders/get") == 3
    cartum.admin.clear_requests()
    assert len(list(client(cartum).iter_orders(created_from="2000-01-01 00:00:00"))) == 150


def test_the_window_reader_stops_a_second_that_never_ends():
    """Offset pages of one second that always chain on (each starts with the last row of the
    one before) and never come back short: stopped at ``max_calls``."""
    second = datetime(2026, 3, 1, 12)
    got = []

    def fetch(lo, hi, offset):
        got.append(offset)
        return [{"order_id": offset + i, "stat_created": second.strftime(CARTUM_TIME)} for i in range(100)]

    reader = WindowReader(fetch, PageSize(asked=100), "stat_created", "order_id", max_calls=40)
    with pytest.raises(MisbehavingServerError, match="returned page 40 of orders/get"):
        for _ in reader.read(second - timedelta(days=1), None):
            pass
    assert reader.calls == len(got) == 40
