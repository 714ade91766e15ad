"""Run the probe on one store's accounts: build read-only clients, gather, check, and
optionally record the redacted answers. No Airflow here: the command passes the accounts
as read from the connections."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cartum.client import CartumClient
from ..roapp.client import RoAppClient
from ..transport import ApiError, RateLimiter, RetryPolicy
from . import cartum as cartum_checks
from . import roapp as roapp_checks
from .core import Observations, ProbeReport, ReadOnlySession
from .redact import redact

#: Answers never recorded: the session token, and the probe's own summary of a call.
NOT_RECORDED = frozenset({"auth", "plain_agent"})


@dataclass(frozen=True)
class CartumAccount:
    url: str
    login: str
    password: str = field(repr=False)
    user_agent: str | None = None
    requests_per_second: float = 5.0


@dataclass(frozen=True)
class RoAppAccount:
    base_url: str
    api_key: str = field(repr=False)


def run_probe(cartum: CartumAccount | None, roapp: RoAppAccount | None, *, record: Path | None = None,
              retry: RetryPolicy | None = None, timeout: float = 20.0,
              roapp_limiter: RateLimiter | None = None) -> ProbeReport:
    report = ProbeReport()
    if cartum is not None:
        session = ReadOnlySession("cartum")
        error = None
        try:
            client = CartumClient(cartum.url, cartum.login, cartum.password, user_agent=cartum.user_agent,
                                  session=session, retry=retry, timeout=timeout,
                                  requests_per_second=cartum.requests_per_second)
            observations = cartum_checks.gather(client, session)
            error = observations.errors.get("auth")
            agent = client.user_agent
        except (ApiError, ValueError) as exc:
            observations, error, agent = Observations("cartum"), str(exc), cartum.user_agent
        report.add("cartum", cartum.url, session, observations, error, agent)
        _record(record, observations, envelope=True)
    if roapp is not None:
        session = ReadOnlySession("roapp")
        error = None
        try:
            client = RoAppClient(roapp.api_key, roapp.base_url, session=session, retry=retry, timeout=timeout,
                                 limiter=roapp_limiter)
            observations = roapp_checks.gather(client)
            failed = [e for e in observations.errors.values() if e.startswith(("HTTP 401", "HTTP 403"))]
            error = failed[0] if failed else None
        except ApiError as exc:
            observations, error = Observations("roapp"), str(exc)
        report.add("roapp", roapp.base_url, session, observations, error)
        _record(record, observations, envelope=False)
    return report


def _record(directory: Path | None, observations: Observations, *, envelope: bool) -> None:
    """Each answer, redacted, as ``DIR/<system>/<label>.json``; Cartum's in its envelope."""
    if directory is None:
        return
    folder = directory / observations.system
    folder.mkdir(parents=True, exist_ok=True)
    for label, answer in observations.answers.items():
        if label in NOT_RECORDED:
            continue
        body: Any = redact(answer)
        if envelope:
            body = {"status": "OK" if body else "EMPTY", "response": body}
        path = folder / f"{label.replace('/', '__')}.json"
        path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
