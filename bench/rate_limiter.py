"""Benchmark: what the shared rate limiter costs and what it achieves, side by side.

1. Overhead: acquires per second with a limit too high to ever wait (so only the
   bookkeeping is timed), for the in-process limiter, the SQLite-backed and the
   PostgreSQL-backed shared limiter. Reported as ratios to the in-process limiter.
2. Achieved rate: 2 threads × N acquires at the real RO App budget (3 per 1.1 s window),
   as a ratio to that budget (1.0 = the whole budget used, never more). The shared
   limiters give each thread its own limiter object, as separate processes would have.

Usage: .venv/bin/python bench/rate_limiter.py [--pg URL] [--n 40]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

from sqlalchemy import text

from cartum_roapp_sync.ratelimit import LocalRateLimiter, SharedRateLimiter
from cartum_roapp_sync.state.db import get_engine


def overhead(limiter, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        limiter.acquire()
    return count / (time.perf_counter() - started)


def achieved(make, per_thread: int) -> float:
    stamps: list[float] = []
    lock = threading.Lock()

    def work():
        limiter = make()
        for _ in range(per_thread):
            limiter.acquire()
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    # n requests in bursts of 3 occupy (span + one window): the steady rate, against 3 per 1.1 s
    return len(stamps) / (stamps[-1] - stamps[0] + 1.1) / (3 / 1.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=os.environ.get("CARTUM_ROAPP_TEST_PG_URL",
                                                       "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--n", type=int, default=30, help="acquires per thread at the real limit")
    args = parser.parse_args()
    sqlite = get_engine(f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    postgres = get_engine(args.pg)
    with postgres.begin() as c:
        c.execute(text("DELETE FROM rate_limit_buckets WHERE bucket LIKE 'bench:%'"))

    results = {
        "in-process": overhead(LocalRateLimiter(10**9, 1.0), 20000),
        "SQLite": overhead(SharedRateLimiter(sqlite, "bench:overhead", 10**9, 1.0), 2000),
        "PostgreSQL": overhead(SharedRateLimiter(postgres, "bench:overhead", 10**9, 1.0), 2000),
    }
    base = results["in-process"]
    print("| limiter | acquires/s (no waiting) | ratio to in-process |")
    print("|---|---|---|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,.0f} | {rate / base:.4f} |")
    print()
    print("| limiter | 2 threads at 3 per 1.1 s: achieved / budget |")
    print("|---|---|")
    local = LocalRateLimiter(3, 1.1)  # threads of one process share one in-process limiter
    print(f"| in-process | {achieved(lambda: local, args.n):.3f} |")
    print(f"| SQLite | {achieved(lambda: SharedRateLimiter(sqlite, 'bench:rate', 3, 1.1), args.n):.3f} |")
    print(f"| PostgreSQL | {achieved(lambda: SharedRateLimiter(postgres, 'bench:rate', 3, 1.1), args.n):.3f} |")


if __name__ == "__main__":
    main()
