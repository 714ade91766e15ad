"""The probe's machinery: the read-only, recording HTTP session, the registry of checks,
findings, and the report with the numbers that matter (calls, latency, page sizes,
rate-limit headers). See the package docstring for the rules."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

CONFIRMED, CONTRADICTED, NOT_CHECKABLE = "confirmed", "contradicted", "not checkable"
VERDICTS = (CONFIRMED, CONTRADICTED, NOT_CHECKABLE)

#: Cartum functions that only read (every Cartum function is a POST).
CARTUM_READS = frozenset({"auth", "orders/get", "catalog/export", "users/export", "orders/get_available_statuses"})
#: Headers worth reporting: they tell the rate limit.
RATE_HEADER_MARKERS = ("ratelimit", "rate-limit", "retry-after", "x-ratelimit")


class WriteRefused(RuntimeError):
    """The probe was about to send something other than a read: a bug, never sent."""


@dataclass
class Exchange:
    """One request as the probe saw it: never the body nor a header that could hold a secret."""

    system: str
    method: str
    path: str
    status: int | None
    ms: float
    content_type: str
    rate_headers: dict[str, str]


class ReadOnlySession(requests.Session):
    """A ``requests.Session`` that sends only reads and records each exchange."""

    def __init__(self, system: str, user_agent: str | None = None):
        super().__init__()
        if user_agent:
            self.headers["User-Agent"] = user_agent
        self.system = system
        self.exchanges: list[Exchange] = []

    def _check_read(self, method: str, path: str) -> None:
        if self.system == "cartum":
            function = path.removeprefix("/api/").strip("/")
            allowed = method == "POST" and path.startswith("/api/") and function in CARTUM_READS
        else:
            allowed = method == "GET"
        if not allowed:
            raise WriteRefused(f"the probe refuses to send {method} {path} to {self.system}: it only reads")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        method = method.decode() if isinstance(method, bytes) else str(method)
        url = url.decode() if isinstance(url, bytes) else str(url)
        path = urlsplit(url).path
        self._check_read(method.upper(), path)
        started = time.monotonic()
        status, kind, rate = None, "", {}
        try:
            response = super().request(method, url, *args, **kwargs)
            status, kind = response.status_code, response.headers.get("Content-Type", "")
            rate = {k: v for k, v in response.headers.items()
                    if any(marker in k.lower() for marker in RATE_HEADER_MARKERS)}
            return response
        finally:
            self.exchanges.append(Exchange(self.system, method.upper(), path, status,
                                           round((time.monotonic() - started) * 1000, 1), kind, rate))


@dataclass
class Finding:
    fact: str
    system: str
    claim: str
    verdict: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class Observations:
    """What a gatherer saw: answers by label (``None`` when the call failed), the error
    of each failed call, and figures (page sizes asked and answered)."""

    system: str
    answers: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def get(self, label: str) -> Any:
        return self.answers.get(label)


CheckFunction = Callable[[Observations], tuple[str, list[str]]]


@dataclass(frozen=True)
class Check:
    fact: str
    system: str
    claim: str
    function: CheckFunction


_REGISTRY: dict[str, Check] = {}


def check(fact: str, system: str, claim: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register the check of one fact: ``function(observations) -> (verdict, evidence)``."""
    def register(function: CheckFunction) -> CheckFunction:
        if fact in _REGISTRY:
            raise ValueError(f"the fact {fact!r} has a check already")
        _REGISTRY[fact] = Check(fact, system, claim, function)
        return function
    return register


def registered_facts(system: str | None = None) -> list[str]:
    return [name for name, c in _REGISTRY.items() if system is None or c.system == system]


def evaluate(observations: Observations) -> list[Finding]:
    """Every registered check of the observations' system; a check that raises is reported
    as not checkable with the error (a probe must not stop half way)."""
    findings = []
    for entry in _REGISTRY.values():
        if entry.system != observations.system:
            continue
        try:
            verdict, evidence = entry.function(observations)
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            verdict, evidence = NOT_CHECKABLE, [f"the check failed: {type(exc).__name__}: {exc}"]
        if verdict not in VERDICTS:
            raise ValueError(f"check {entry.fact} answered {verdict!r}")
        findings.append(Finding(entry.fact, entry.system, entry.claim, verdict, evidence))
    return findings


def latency(exchanges: list[Exchange]) -> dict[str, float] | None:
    times = [e.ms for e in exchanges if e.status is not None]
    if not times:
        return None
    return {"min_ms": min(times), "median_ms": round(statistics.median(times), 1), "max_ms": max(times)}


@dataclass
class SystemReport:
    system: str
    base_url: str
    reachable: bool
    error: str | None
    calls: int
    latency: dict[str, float] | None
    rate_headers: dict[str, str]
    figures: dict[str, Any]
    user_agent: str | None = None


@dataclass
class ProbeReport:
    systems: list[SystemReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(self, system: str, base_url: str, session: ReadOnlySession, observations: Observations,
            error: str | None, user_agent: str | None = None) -> None:
        rate: dict[str, str] = {}
        for exchange in session.exchanges:
            rate.update(exchange.rate_headers)
        self.systems.append(SystemReport(system, base_url, error is None, error, len(session.exchanges),
                                         latency(session.exchanges), rate, observations.figures, user_agent))
        self.findings.extend(evaluate(observations))

    def verdicts(self, verdict: str) -> list[str]:
        return [f.fact for f in self.findings if f.verdict == verdict]

    def as_dict(self) -> dict[str, Any]:
        return {"systems": [asdict(s) for s in self.systems], "findings": [asdict(f) for f in self.findings],
                "summary": {v: len(self.verdicts(v)) for v in VERDICTS}}
