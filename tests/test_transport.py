"""The shared HTTP layer: backoff shape, Retry-After, and which answers are retried."""

from __future__ import annotations

import random

import pytest

from cartum_roapp_sync.transport import RetriableApiError, RetryPolicy, Transport, parse_retry_after


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
    with pytest.raises(RetriableApiError, match="after 3 attempts: connection failed"):
        transport.request("GET", "/branches/")
