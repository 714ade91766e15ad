"""Any number of processes may open a new SQLite state database at once.

8 OS processes, released together, open one fresh SQLite file and write to it; 20 rounds,
each on a new file. Before the fix, some rounds failed with "database is locked" at
``PRAGMA journal_mode=WAL`` or in the schema creation. The processes start once and import
once, then meet at a file barrier before each round, so every round really is a cold open
of a new file by 8 processes at the same moment.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import create_engine, text

from cartum_roapp_sync.state.db import StateDatabaseBusyError, retry_while_locked

WORKERS = 8
ROUNDS = 20

WORKER = textwrap.dedent('''
    import os, sys, time, traceback
    from pathlib import Path

    from cartum_roapp_sync.ratelimit import SharedRateLimiter
    from cartum_roapp_sync.state.db import dispose_engines, get_engine
    from cartum_roapp_sync.state.store import StateStore

    base, worker, workers, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    failures = 0
    for n in range(rounds):
        gate = base / f"gate{n}"
        (gate / f"w{worker}").touch()            # arrive ...
        deadline = time.monotonic() + 120
        while len(os.listdir(gate)) < workers:   # ... and wait for the others: released together
            if time.monotonic() > deadline:
                sys.exit(f"worker {worker}: round {n}: the others never arrived")
            time.sleep(0.001)
        try:
            engine = get_engine(f"sqlite:///{base / f'state{n}.db'}")
            StateStore(engine, f"s{worker}").set_store_state(import_cutoff="2026-01-01 00:00:00")
            SharedRateLimiter(engine, "test:concurrent-open", 1000, 1.0).acquire()
        except Exception:
            failures += 1
            print(f"worker {worker}: round {n}:", file=sys.stderr)
            traceback.print_exc()
        finally:
            dispose_engines()
    sys.exit(1 if failures else 0)
''')


def test_eight_processes_open_a_new_sqlite_state_database_at_once_20_times(tmp_path):
    for n in range(ROUNDS):
        (tmp_path / f"gate{n}").mkdir()
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(k), str(WORKERS), str(ROUNDS)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for k in range(WORKERS)]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=240))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    elapsed = time.monotonic() - started

    failed = [f"worker {k} exited {w.returncode}:\n{err[-3000:]}"
              for k, (w, (_out, err)) in enumerate(zip(workers, outputs)) if w.returncode != 0]
    assert not failed, "\n".join(failed)
    print(f"\n{WORKERS} processes × {ROUNDS} new SQLite files: no error, {elapsed:.1f} s")

    for n in range(ROUNDS):
        engine = create_engine(f"sqlite:///{tmp_path / f'state{n}.db'}")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM store_state")).scalar_one() == WORKERS
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        engine.dispose()


def test_a_lock_is_retried_with_backoff_then_the_action_succeeds():
    attempts: list[int] = []
    waits: list[float] = []

    def action() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert retry_while_locked("Switching to WAL", action, sleep=waits.append) == "done"
    assert len(attempts) == 4 and len(waits) == 3
    assert all(0 < w <= 1.0 for w in waits) and waits[2] > waits[0]  # backs off


def test_a_lock_that_outlasts_the_bound_raises_saying_what_to_do():
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(StateDatabaseBusyError) as caught:
        retry_while_locked("Creating the schema", locked, where="the SQLite state database /x/state.db",
                           bound=5.0, sleep=sleep, clock=lambda: now[0])
    message = str(caught.value)
    assert now[0] <= 5.0 + 1e-9
    assert "Creating the schema on the SQLite state database /x/state.db failed: 'database is locked' for 5 s" \
        in message
    assert "stop it" in message and "cartum_roapp_state" in message

    def broken() -> None:
        raise sqlite3.OperationalError("no such table: x")

    calls = []
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_while_locked("Creating the schema", lambda: calls.append(1) or broken(), sleep=sleep)
    assert calls == [1]  # anything but a lock is raised at once
