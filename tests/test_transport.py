"""The shared HTTP layer: backoff shape, Retry-After, which answers are retried, and which
requests are never sent twice. Request counts are read from the server's own log."""

from __future__ import annotations

import random
import socket
import time

import pytest
import requests

from cartum_roapp_sandbox.server import FaultSettings, Response, SandboxServer
from cartum_roapp_sync.transport import (
    AmbiguousWriteError,
    RetriableApiError,
    RetryPolicy,
    Transport,
    is_repeatable,
    never_sent,
    parse_retry_after,
)
from tests.fakes import FakeApp


def test_backoff_doubles_with_jitter_within_bounds():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        waits = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert min(waits) >= ceiling / 2 and max(waits) <= ceiling
        assert max(waits) - min(waits) > ceiling / 4  # jitter really spreads the waits


def test_retry_after_is_a_floor_and_capped():
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0, max_retry_after=30)
    assert policy.delay(1, retry_after=5) == 5
    assert policy.delay(1, retry_after=500) == 30


@pytest.mark.parametrize("value, expected", [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None), ("-2", 0.0)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_retry_after_header_is_honoured(roapp_sandbox):
    waits: list[float] = []
    roapp_sandbox.admin.faults(script=["429", "503"], retry_after=2)
    transport = Transport("RO App", roapp_sandbox.url, retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
                          headers={"Authorization": "Bearer sandbox-api-key"}, sleep=waits.append)

    response = transport.request("GET", "/branches/")

    assert response.status_code == 200
    assert waits[0] == 2.0          # 429 with Retry-After: 2
    assert waits[1] < 0.05          # the 503 carried no Retry-After: plain backoff
    assert transport.stats.retries == 2 and transport.stats.calls == 3


def test_4xx_other_than_429_is_not_retried(roapp_sandbox):
    transport = Transport("RO App", roapp_sandbox.url, retry=RetryPolicy(base_delay=0.01),
                          headers={"Authorization": "Bearer wrong"}, sleep=lambda s: None)
    assert transport.request("GET", "/branches/").status_code == 401
    assert transport.stats.calls == 1


def test_connection_refused_is_retriable():
    transport = Transport("RO App", "http://127.0.0.1:9", retry=RetryPolicy(max_attempts=3, base_delay=0.001),
                          timeout=1)
    with pytest.raises(RetriableApiError, match="after 3 attempts: connection failed before the request was sent"):
        transport.request("GET", "/branches/")


# --- writes whose outcome is unknown are never sent twice ----------------------------

class CountingApp(FakeApp):
    """Answers every API request: 201 with a new id for a POST, 200 otherwise. The server's
    own request log (``server.requests``) counts what arrived, faults included."""

    name = "counting"

    def __init__(self):
        self.created = 0

    def handle(self, request, faults):
        if request.method == "POST":
            self.created += 1
            return Response(201, {"id": self.created})
        return Response(200, {"ok": True})


def transport_for(url: str, **options) -> Transport:
    options = {"retry": RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.002), "timeout": 5.0,
               "headers": {"Authorization": "Bearer secret-key-123"}, "sleep": lambda s: None, **options}
    return Transport("RO App", url, **options)


def arrived(server: SandboxServer, path: str, expected: int, settle: float = 5.0) -> int:
    """Requests on ``path`` the server logged, waiting up to ``settle`` s for ``expected`` of
    them (a slow answer is logged only once the server is done with it)."""
    deadline = time.monotonic() + settle
    while True:
        count = sum(r["path"] == path for r in server.requests)
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("method, repeatable, expected", [
    ("GET", None, True), ("HEAD", None, True), ("OPTIONS", None, True), ("PUT", None, True),
    ("PATCH", None, True), ("DELETE", None, True), ("POST", None, False), ("post", None, False),
    ("POST", True, True), ("GET", False, False)])
def test_which_requests_are_safe_to_repeat(method, repeatable, expected):
    assert is_repeatable(method, repeatable) is expected


@pytest.mark.parametrize("fault, status", [("502", 502), ("html502", 502), ("500", 500), ("503", 503)])
def test_a_post_answered_5xx_is_sent_once_and_is_ambiguous(fault, status):
    app = CountingApp()
    with SandboxServer(app, port=0, faults=FaultSettings(script=[fault])) as server:
        transport = transport_for(server.url)
        with pytest.raises(AmbiguousWriteError) as caught:
            transport.request("POST", "/v2/orders/123/items", json={"entity_id": 7, "comment": "body-secret"})
        assert arrived(server, "/v2/orders/123/items", 1) == 1
        assert transport.request("GET", "/v2/orders/123/items").status_code == 200  # the script is used up

    error = caught.value
    assert isinstance(error, RetriableApiError) and error.retriable
    assert (error.method, error.path, error.status) == ("POST", "/v2/orders/123/items", status)
    message = str(error)
    assert message.startswith("RO App POST /v2/orders/123/items: the outcome is unknown (")
    assert f"HTTP {status}" in message and "look before writing again" in message
    assert "body-secret" not in message and "secret-key-123" not in message and "entity_id" not in message
    assert transport.stats.retries == 0 and transport.stats.ambiguous == 1


def test_a_post_answered_429_then_201_is_retried_and_succeeds():
    app = CountingApp()
    with SandboxServer(app, port=0, faults=FaultSettings(script=["429", "429"])) as server:
        transport = transport_for(server.url)
        response = transport.request("POST", "/v2/orders", json={"branch_id": 1})
        assert response.status_code == 201 and response.json() == {"id": 1}
        assert [r["status"] for r in server.requests] == [429, 429, 201]
    assert app.created == 1 and transport.stats.retries == 2


def test_a_post_whose_connection_is_refused_is_retried():
    """Nothing listens on the port for the first two attempts; the server appears during the
    second backoff: the POST arrives exactly once."""
    port = free_port()
    app = CountingApp()
    servers: list[SandboxServer] = []  # bound only when started: a bound socket already accepts
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            servers.append(SandboxServer(app, port=port).start())

    transport = transport_for(f"http://127.0.0.1:{port}", sleep=sleep)
    try:
        response = transport.request("POST", "/v2/contacts/people", json={"first_name": "Olena"})
    finally:
        for server in servers:
            server.stop()
    assert response.status_code == 201
    assert len(servers[0].requests) == 1 and app.created == 1
    assert transport.stats.calls == 3 and transport.stats.retries == 2


def test_a_post_refused_every_time_gives_up_saying_it_was_not_applied():
    transport = transport_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RetriableApiError) as caught:
        transport.request("POST", "/v2/orders", json={"branch_id": 1})
    assert not isinstance(caught.value, AmbiguousWriteError)
    assert "after 4 attempts: connection failed before the request was sent" in str(caught.value)
    assert "did not apply it" in str(caught.value)


def test_a_get_answered_502_then_200_is_retried():
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["502", "html502"])) as server:
        transport = transport_for(server.url)
        assert transport.request("GET", "/branches/").status_code == 200
        assert [r["status"] for r in server.requests] == [502, 502, 200]
    assert transport.stats.retries == 2


@pytest.mark.parametrize("method", ["PATCH", "DELETE", "PUT"])
def test_idempotent_writes_are_retried_on_5xx_and_dropped_connections(method):
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["503", "drop"])) as server:
        transport = transport_for(server.url)
        assert transport.request(method, "/v2/orders/5", json={"urgent": True}).status_code == 200
        assert [r["status"] for r in server.requests] == [503, 0, 200]


def test_a_read_timeout_on_a_post_is_ambiguous_and_not_retried():
    app = CountingApp()
    with SandboxServer(app, port=0, faults=FaultSettings(script=["slow"], slow_ms=1500)) as server:
        transport = transport_for(server.url, timeout=0.3)
        with pytest.raises(AmbiguousWriteError, match=r"RO App POST /v2/orders: the outcome is unknown "
                                                      r"\(no answer within 0.3 s\)") as caught:
            transport.request("POST", "/v2/orders", json={"branch_id": 1})
        assert arrived(server, "/v2/orders", 1) == 1
        time.sleep(0.2)  # nothing else is on its way
        assert len(server.requests) == 1
    assert app.created == 1  # the server did apply it: exactly why it must not be sent again
    assert caught.value.status is None and transport.stats.retries == 0


def test_a_dropped_connection_on_a_post_is_ambiguous_and_not_retried():
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["drop"])) as server:
        transport = transport_for(server.url)
        with pytest.raises(AmbiguousWriteError, match="connection dropped after the request was sent") as caught:
            transport.request("POST", "/v2/orders/9/comments", json={"comment": "hi"})
        assert len(server.requests) == 1
    assert caught.value.path == "/v2/orders/9/comments" and caught.value.status is None


def test_a_429_then_a_502_on_a_post_is_ambiguous_after_two_requests():
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["429", "502"])) as server:
        transport = transport_for(server.url)
        with pytest.raises(AmbiguousWriteError):
            transport.request("POST", "/v2/orders/9/status", json={"status_id": 2})
        assert [r["status"] for r in server.requests] == [429, 502]


def test_a_post_marked_repeatable_is_retried_on_502_and_timeouts():
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["502", "slow", "drop"],
                                                                   slow_ms=800)) as server:
        transport = transport_for(server.url, timeout=0.3)
        assert transport.request("POST", "/api/orders/get/", json={}, repeatable=True).status_code == 201
        assert arrived(server, "/api/orders/get/", 4) == 4
    assert transport.stats.retries == 3 and transport.stats.ambiguous == 0


def test_never_sent_tells_a_refused_connect_from_a_dropped_answer():
    with pytest.raises(requests.ConnectionError) as refused:
        requests.post(f"http://127.0.0.1:{free_port()}/x", json={}, timeout=2)
    assert never_sent(refused.value)
    assert never_sent(requests.exceptions.ConnectTimeout("connect timed out"))
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["drop"])) as server:
        with pytest.raises(requests.ConnectionError) as dropped:
            requests.post(f"{server.url}/x", json={}, timeout=2)
    assert not never_sent(dropped.value)
    assert not never_sent(requests.exceptions.ReadTimeout("read timed out"))
    assert not never_sent(requests.exceptions.ChunkedEncodingError("broken body"))


def test_the_exception_a_caller_was_handling_does_not_decide_for_a_new_request():
    """A loader that sends a POST while it handles a refused connection (Python chains that
    as ``__context__``): the POST's own failure, a dropped connection, is still ambiguous,
    and the message names its own cause."""
    with SandboxServer(CountingApp(), port=0, faults=FaultSettings(script=["drop"])) as server:
        transport = transport_for(server.url)
        try:
            requests.get(f"http://127.0.0.1:{free_port()}/x", timeout=2)
        except requests.ConnectionError:
            with pytest.raises(AmbiguousWriteError, match=r"dropped after the request was sent \((?!Connection"
                                                          r"RefusedError)"):
                transport.request("POST", "/v2/orders", json={})
        assert len(server.requests) == 1
