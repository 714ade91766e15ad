"""Faults injected at an exact moment of a run: ``OnRequest`` makes something happen
inside a sandbox when a given request reaches it (kill the worker that sent it, expire
the Cartum sessions, start an outage), and the actions for those three uses.

The sandboxes run in the test's own process, so the moment is exact: an action that runs
after a request has been carried out runs before its answer leaves.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from tests.conftest import RunningSandbox


class OnRequest:
    """Runs ``action`` once, when the ``nth`` request matching ``method`` (None: any) and
    ``path`` (a regex for the whole path, trailing slash left out) reaches the sandbox's app.

    ``before=True`` runs it just before the app handles that request, otherwise right after
    the app has carried it out. ``succeeded_only`` counts only the requests the app answered
    with a status below 300. Requests the sandbox server answered itself (a fault, the rate
    limit) never reach the app and do not count.

    Wraps the app's request handler until ``close()`` (or the end of a ``with`` block);
    several may wrap the same app, closed in the reverse order.
    """

    def __init__(self, sandbox: RunningSandbox, path: str, action: Callable[[], Any], *, method: str | None = None,
                 nth: int = 1, before: bool = False, succeeded_only: bool = False):
        self.app = sandbox.server.app
        self.path, self.action, self.method = re.compile(path), action, method
        self.nth, self.before, self.succeeded_only = nth, before, succeeded_only
        self.seen = 0
        self.fired = False
        self._lock = threading.Lock()
        self._had_own_handle = "handle" in vars(self.app)  # another OnRequest's wrapper
        self._wrapped = self.app.handle
        self.app.handle = self._handle

    def _matches(self, request) -> bool:
        return (not self.fired and (self.method is None or request.method == self.method)
                and self.path.fullmatch(request.path.rstrip("/")) is not None)

    def _count(self) -> None:
        with self._lock:
            if self.fired:
                return
            self.seen += 1
            if self.seen < self.nth:
                return
            self.fired = True
        self.action()

    def _handle(self, request, faults):
        matches = self._matches(request)
        if matches and self.before:
            self._count()
        response = self._wrapped(request, faults)
        if matches and not self.before and (
                not self.succeeded_only or (response is not None and response.status < 300)):
            self._count()
        return response

    def close(self) -> None:
        if self._had_own_handle:
            self.app.handle = self._wrapped
        else:
            del self.app.handle

    def __enter__(self) -> "OnRequest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kill(worker: subprocess.Popen) -> Callable[[], None]:
    """SIGKILL for the worker, waited for: RO App holds the write, the worker never learns
    of it."""
    def action() -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    return action


def expire_tokens(cartum: RunningSandbox) -> Callable[[], None]:
    """Every Cartum session token issued so far expires: a request that carries one is
    refused, and the client has to log in again."""
    return lambda: cartum.server.app.admin("expire_tokens", {})


def outage(sandbox: RunningSandbox, length: int) -> Callable[[], None]:
    """The next ``length`` requests fail with 503."""
    def action() -> None:
        with sandbox.server.lock:
            sandbox.server.faults.script = ["503"] * length
    return action
