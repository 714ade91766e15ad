"""What the chaos run changes in the pipeline tests' harness: a short RO App timeout (an
answer the sandbox holds after applying a write must time out quickly; the retry policy
is already the fast one), and a count of the retries the API clients made, read from the
transport's own log lines, so that a worker's retries (its log file) and this process's
are counted alike."""

from __future__ import annotations

import logging
import re
from typing import Any

from tests.pipeline.harness import Harness

#: Seconds the RO App client waits for an answer. The sandbox answers on loopback in
#: milliseconds; anything slower is an answer it holds (``apply_timeout``).
CLIENT_TIMEOUT = 1.0
#: The transport's line for each retry: "RO App POST /v2/orders: …; retry 1/4 in 0.0 s".
RETRY_LINE = re.compile(r"; retry \d+/\d+ in ")
TRANSPORT_LOGGER = "cartum_roapp_sync.transport"


def chaos_harness(config: Any, engine: Any, cartum_url: str, roapp_url: str, *,
                  timeout: float = CLIENT_TIMEOUT) -> Harness:
    return Harness(config, engine, cartum_url, roapp_url, roapp_timeout=timeout)


class RetryCounter(logging.Handler):
    """Counts the transport's retry lines in this process while installed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0
        self._logger = logging.getLogger(TRANSPORT_LOGGER)
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        if RETRY_LINE.search(record.getMessage()):
            self.retries += 1

    def __enter__(self) -> "RetryCounter":
        if self._logger.getEffectiveLevel() > logging.WARNING:
            self._logger.setLevel(logging.WARNING)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
