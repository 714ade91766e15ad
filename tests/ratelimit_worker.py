"""One OS process of the cross-process rate limiter test: N requests to RO App through a
SharedRateLimiter on the given state database. Usage: URL API_KEY STATE_URL N"""

import sys

from cartum_roapp_sync.ratelimit import SharedRateLimiter, bucket_name
from cartum_roapp_sync.roapp.client import RoAppClient
from cartum_roapp_sync.state.db import get_engine

if __name__ == "__main__":
    url, key, state_url, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    limiter = SharedRateLimiter(get_engine(state_url), bucket_name("roapp", key), 3, 1.1)
    client = RoAppClient(key, url, limiter=limiter)
    for _ in range(count):
        client.get("/branches/")
    print(f"done: {client.stats.calls} calls, {client.stats.retries} retries")
