"""Rate limiters. The cross-process test runs at the real 3 requests/s against the RO App
sandbox and measures the result from the sandbox's own request log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cartum_roapp_sandbox.roapp import RoAppSandbox
from cartum_roapp_sandbox.server import FaultSettings, SandboxServer
from cartum_roapp_sync import ratelimit
from cartum_roapp_sync.ratelimit import (
    MAX_QUEUE_WINDOWS,
    LocalRateLimiter,
    SharedRateLimiter,
    book,
    bucket_name,
    max_wait,
    next_slot,
)
from cartum_roapp_sync.state.db import get_engine
from tests.conftest import ROAPP_KEY

POSTGRES_URL = os.environ.get("CARTUM_ROAPP_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
WORKER = Path(__file__).with_name("ratelimit_worker.py")


def max_in_any_window(timestamps: list[float], window: float = 1.0) -> int:
    """The most requests whose arrival times fall in any half-open window of that length."""
    times = sorted(timestamps)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_max_in_any_window():
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_any_window([0.0, 0.1, 0.2, 0.3]) == 4
    assert max_in_any_window([]) == 0


def test_next_slot_keeps_max_requests_per_window():
    slots: list[float] = []
    for _ in range(10):
        slots.append(next_slot(slots[-3:], 100.0, 3, 1.0))
    assert slots == [100.0, 100.0, 100.0, 101.0, 101.0, 101.0, 102.0, 102.0, 102.0, 103.0]
    # never earlier than the previous slot, even when the window would allow it
    assert next_slot([100.0, 105.0], 101.0, 3, 1.0) == 105.0


def test_local_limiter_across_threads():
    stamps: list[float] = []
    limiter = LocalRateLimiter(5, 0.2)

    def work():
        for _ in range(5):
            limiter.acquire()
            stamps.append(time.time())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 20
    assert max_in_any_window(stamps, 0.2 - 0.01) <= 5


def test_bucket_name_hides_the_key():
    name = bucket_name("roapp", ROAPP_KEY)
    assert ROAPP_KEY not in name and name.startswith("roapp:") and name == bucket_name("roapp", ROAPP_KEY)


def _postgres_available() -> bool:
    try:
        with create_engine(POSTGRES_URL).connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False



@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    if not _postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (the README's test command starts it)")
    engine = get_engine(POSTGRES_URL)
    with engine.begin() as connection:  # a fresh budget for this test's key
        connection.execute(text("DELETE FROM rate_limit_buckets"))
    return POSTGRES_URL


def test_shared_limiter_serialises_threads_through_the_database(state_url):
    engine = get_engine(state_url)
    limiters = [SharedRateLimiter(engine, "test:threads", 4, 0.25) for _ in range(3)]
    booked: list[tuple[float, float]] = []   # (the slot granted, when the caller went on)

    def work(limiter):
        for _ in range(6):
            slot = limiter.acquire()
            booked.append((slot, time.time()))

    threads = [threading.Thread(target=work, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(booked) == 18
    # The limiter's guarantee is on the slots it grants (a thread the OS schedules late goes
    # late, and may then bunch with the next one: nothing a limiter can prevent), and that
    # no caller goes on before its slot.
    assert max_in_any_window([slot for slot, _ in booked], 0.25 - 1e-6) <= 4
    assert all(went >= slot - 1e-3 for slot, went in booked)


@pytest.mark.slow
def test_two_processes_sharing_one_key_never_exceed_3_per_second(state_url):
    """The issue's figure: 2 OS processes × 60 requests on one key at the real limit."""
    app = RoAppSandbox.seeded(api_keys=[ROAPP_KEY])
    with SandboxServer(app, port=0, faults=FaultSettings(rate_limit=3, rate_window=1.0)) as server:
        started = time.monotonic()
        workers = [subprocess.Popen([sys.executable, str(WORKER), server.url, ROAPP_KEY, state_url, "60"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outputs = [w.communicate(timeout=180) for w in workers]
        elapsed = time.monotonic() - started
        log = [r for r in server.requests if r["path"] == "/branches/"]

    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    assert len(log) == 120, "every request arrives once: no 429 means no retry"
    assert all(r["status"] == 200 for r in log)
    peak = max_in_any_window([r["ts"] for r in log])
    print(f"\nrate limiter ({state_url.split(':')[0]}): 120 requests from 2 processes in {elapsed:.1f} s, "
          f"max {peak} in any 1-second window")
    assert peak <= 3


def test_a_limiter_whose_row_was_deleted_starts_a_fresh_budget(state_url):
    """State can be lost at any time (a cleaned or rebuilt state database): the limiter
    books its slot in a new row instead of failing the request."""
    engine = get_engine(state_url)
    limiter = SharedRateLimiter(engine, "test:deleted", 3, 1.0, sleep=lambda s: None)
    limiter.acquire()
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM rate_limit_buckets WHERE bucket = 'test:deleted'"))
    limiter.acquire()
    with engine.connect() as connection:
        slots = connection.execute(text("SELECT slots FROM rate_limit_buckets WHERE bucket = 'test:deleted'")).scalar()
    assert len(json.loads(slots)) == 1


# --- clocks: a process only ever waits for a legitimate queue ----------------------------

def test_book_discards_slots_no_queue_could_have_written():
    assert max_wait(1.0) == 16.0 == MAX_QUEUE_WINDOWS * 1.0
    # a legitimate queue, up to the bound: kept
    assert book([110.0, 115.0, 116.0], 100.0, 3, 1.0) == (116.0, [115.0, 116.0, 116.0], 0.0)
    # slots 900 s ahead: written by a wrong clock; booking starts from now
    assert book([1000.0, 1000.0, 1000.0], 100.0, 3, 1.0) == (100.0, [100.0], 900.0)


def _slots(engine, bucket: str) -> list[float]:
    with engine.connect() as connection:
        return json.loads(connection.execute(
            text("SELECT slots FROM rate_limit_buckets WHERE bucket = :b"), {"b": bucket}).scalar_one())


def test_slots_in_the_future_are_discarded_and_spacing_resumes(state_url, caplog):
    """A bucket row whose slots are 900 s ahead (a clock stepped back, a skewed worker):
    acquire does not wait for them, warns once naming the bucket, and the next acquires are
    spaced at 3 per window again. Waits are recorded by an injected sleep, never timed."""
    engine = get_engine(state_url)
    bucket = "roapp:skewed0123456789abcdef0123456"
    waits: list[float] = []
    limiter = SharedRateLimiter(engine, bucket, 3, 1.0, sleep=waits.append)
    future = time.time() + 900
    with engine.begin() as connection:
        connection.execute(text("UPDATE rate_limit_buckets SET slots = :s WHERE bucket = :b"),
                           {"s": json.dumps([future, future, future]), "b": bucket})
    caplog.set_level(logging.WARNING, logger=ratelimit.__name__)

    limiter.acquire()

    assert all(w <= max_wait(1.0) for w in waits) and sum(waits) < 1.0  # no wait for the bogus queue
    booked = [_slots(engine, bucket)[-1]]
    assert booked[0] < future - 800
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and bucket in warnings[0].getMessage()
    assert "ahead of this clock" in warnings[0].getMessage()

    for _ in range(6):
        limiter.acquire()
        booked.append(_slots(engine, bucket)[-1])

    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1  # once per occurrence
    assert booked == sorted(booked)
    assert max_in_any_window(booked, 1.0 - 1e-6) <= 3
    assert booked[3] - booked[0] >= 1.0 - 1e-6 and booked[6] - booked[3] >= 1.0 - 1e-6
    assert all(w <= max_wait(1.0) for w in waits)


def test_a_legitimate_queue_within_the_bound_is_kept(state_url):
    engine = get_engine(state_url)
    bucket = "test:queue"
    waits: list[float] = []
    limiter = SharedRateLimiter(engine, bucket, 3, 1.0, sleep=waits.append)
    ahead = time.time() + 10  # 10 windows: 30 requests waiting; legitimate
    with engine.begin() as connection:
        connection.execute(text("UPDATE rate_limit_buckets SET slots = :s WHERE bucket = :b"),
                           {"s": json.dumps([ahead - 1, ahead - 0.5, ahead]), "b": bucket})
    limiter.acquire()
    assert len(waits) == 1 and 8.0 < waits[0] <= max_wait(1.0)
    assert _slots(engine, bucket)[-1] == ahead


def test_no_single_wait_exceeds_the_bound(tmp_path):
    """Even at the edge (the last slot exactly at the bound, the window pushing one further),
    a wait is capped at window × MAX_QUEUE_WINDOWS."""
    slot, _recent, discarded = book([115.9, 115.95, 116.0], 100.0, 3, 1.0)
    assert not discarded and slot == 116.9 and slot - 100.0 > max_wait(1.0)
    engine = get_engine(f"sqlite:///{tmp_path}/state.db")
    waits: list[float] = []
    limiter = SharedRateLimiter(engine, "test:edge", 3, 1.0, sleep=waits.append)
    now = time.time()
    with engine.begin() as connection:
        connection.execute(text("UPDATE rate_limit_buckets SET slots = :s WHERE bucket = 'test:edge'"),
                           {"s": json.dumps([now + 15.9, now + 15.95, now + 16.0])})
    limiter.acquire()
    assert waits and max(waits) <= max_wait(1.0)


def test_the_local_limiter_ignores_a_wall_clock_step(monkeypatch):
    """LocalRateLimiter books on the monotonic clock: the wall clock stepping back 900 s
    between two acquires does not make it wait."""
    waits: list[float] = []
    limiter = LocalRateLimiter(3, 1.0, sleep=waits.append)
    for _ in range(3):
        limiter.acquire()
    real_time = time.time
    monkeypatch.setattr(ratelimit.time, "time", lambda: real_time() - 900)
    limiter.acquire()
    assert all(w <= 1.0 for w in waits)


def test_the_local_limiter_spaces_slots_on_its_clock():
    now = [50.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = LocalRateLimiter(3, 1.0, sleep=sleep, clock=lambda: now[0])
    stamps = []
    for _ in range(9):
        limiter.acquire()
        stamps.append(now[0])
    assert stamps == [50.0, 50.0, 50.0, 51.0, 51.0, 51.0, 52.0, 52.0, 52.0]
