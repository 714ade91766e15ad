"""The HTTP machinery both sandboxes share: routing to an app, faults on demand,
a request log, and the admin API under ``/_sandbox/``.

A sandbox app (Cartum or RO App) only answers emulated API requests. Everything a test
needs to steer or inspect a sandbox goes through the admin endpoints, which are never
subject to faults, rate limits or the request log:

- ``GET  /_sandbox/state``     the app's full state (JSON)
- ``GET  /_sandbox/requests``  every API request received: ts, method, path, status, key, body
- ``DELETE /_sandbox/requests`` clear the request log
- ``GET/POST /_sandbox/faults`` read or change the fault settings (partial JSON object)
- ``POST /_sandbox/<action>``  app-specific actions (see each app's ``admin`` method)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sandbox/"
FAULT_KINDS = ("429", "500", "502", "503", "html502", "drop", "slow")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False, default=str).encode("utf-8")


def html_page(status: int, title: str) -> Response:
    """An error page as a web server or CDN in front of an API would send it."""
    body = (
        f"<!DOCTYPE html><html><head><title>{status} {title}</title></head>"
        f"<body><h1>{status} {title}</h1><hr><center>nginx</center></body></html>"
    )
    return Response(status=status, body=body, content_type="text/html; charset=utf-8")


@dataclass
class FaultSettings:
    """Faults on demand. Random faults use ``error_rate`` over ``error_codes``; scripted
    faults in ``script`` are consumed one per API request, in order, before any random one.
    ``rate_limit`` requests per ``rate_window`` seconds per key (0 = no limit)."""

    error_rate: float = 0.0
    error_codes: list[str] = field(default_factory=lambda: ["429", "500", "502", "503"])
    html_errors: bool = False
    drop_rate: float = 0.0
    latency_ms: float = 0.0
    slow_ms: float = 3000.0
    retry_after: float | None = None
    script: list[str] = field(default_factory=list)
    rate_limit: int = 0
    rate_window: float = 1.0
    token_ttl: float = 600.0

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        for kind in changes.get("script", []):
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown scripted fault {kind!r}; known: {FAULT_KINDS}")
        for name, value in changes.items():
            setattr(self, name, value)


def key_fingerprint(secret: str) -> str:
    """A short, non-reversible name for an API key or token, safe to log."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


class SandboxApp(Protocol):
    name: str

    def handle(self, request: Request, faults: FaultSettings) -> Response | None:
        """Answer one emulated API request; None drops the connection unanswered."""

    def rate_key(self, request: Request) -> str | None:
        """The key the rate limit is counted on (None: not rate limited)."""

    def log_body(self, request: Request) -> Any:
        """What of the request body goes into the request log (secrets removed)."""

    def state(self) -> dict[str, Any]:
        """The full state, for tests to read back."""

    def admin(self, action: str, payload: Any) -> Any:
        """An app-specific admin action; raise KeyError for an unknown one."""


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # several sync workers connect at once; the default 5 stalls them
    daemon_threads = True


class SandboxServer:
    """Serves one app over HTTP/1.1 on a thread per connection."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultSettings | None = None, seed: int = 0):
        self.app = app
        self.faults = faults or FaultSettings()
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self._windows: dict[str, deque[float]] = {}
        self._random = random.Random(seed)
        self._httpd = _Server((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SandboxServer":
        # A short poll interval makes stop() quick: tests start and stop many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.app.name}-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the emulated API -------------------------------------------------------------

    def pick_fault(self) -> str | None:
        with self.lock:
            f = self.faults
            if f.script:
                return f.script.pop(0)
            if f.drop_rate and self._random.random() < f.drop_rate:
                return "drop"
            if f.error_rate and self._random.random() < f.error_rate:
                code = self._random.choice(f.error_codes)
                return f"html{code}" if f.html_errors and code != "429" else code
        return None

    def over_rate_limit(self, key: str | None, now: float) -> bool:
        """Sliding window: a request is refused when ``rate_limit`` requests of the same
        key were accepted in the last ``rate_window`` seconds."""
        f = self.faults
        if not key or not f.rate_limit:
            return False
        with self.lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - f.rate_window:
                window.popleft()
            if len(window) >= f.rate_limit:
                return True
            window.append(now)
            return False

    def record(self, request: Request, status: int, received: float, key: str | None) -> None:
        try:
            body = self.app.log_body(request)
        except ValueError:
            body = None
        with self.lock:
            self.requests.append({
                "ts": received, "method": request.method, "path": request.path,
                "query": request.query, "status": status,
                "key": key_fingerprint(key) if key else None, "body": body,
            })

    def answer_api(self, request: Request) -> Response | None:
        """None means: drop the connection without an answer."""
        received = time.time()
        key = self.app.rate_key(request)
        fault = self.pick_fault()
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if fault == "slow":
            time.sleep(self.faults.slow_ms / 1000)
            fault = None
        if fault == "drop":
            self.record(request, 0, received, key)
            return None
        if fault is not None:
            code = int(fault.removeprefix("html"))
            if fault.startswith("html"):
                response = html_page(code, "Bad Gateway" if code == 502 else "Error")
            else:
                response = Response(code, {"message": f"sandbox fault {code}"})
            if code == 429 and self.faults.retry_after is not None:
                response.headers["Retry-After"] = str(self.faults.retry_after)
        elif self.over_rate_limit(key, received):
            response = Response(429, {"message": "Too Many Requests: rate limit exceeded"})
            if self.faults.retry_after is not None:
                response.headers["Retry-After"] = str(self.faults.retry_after)
        else:
            try:
                response = self.app.handle(request, self.faults)
            except Exception:  # a bug in the sandbox must show, as a 500, and in its log
                log.exception("sandbox %s failed on %s %s", self.app.name, request.method, request.path)
                response = Response(500, {"message": "sandbox internal error"})
        self.record(request, response.status if response is not None else 0, received, key)
        return response

    # --- the admin API ----------------------------------------------------------------

    def answer_admin(self, request: Request) -> Response:
        action = request.path[len(ADMIN_PREFIX):].strip("/")
        try:
            payload = request.json()
        except ValueError:
            return Response(400, {"message": "admin body must be JSON"})
        if action == "state" and request.method == "GET":
            with self.lock:
                return Response(200, self.app.state())
        if action == "requests":
            with self.lock:
                if request.method == "DELETE":
                    self.requests.clear()
                    return Response(200, {"cleared": True})
                return Response(200, list(self.requests))
        if action == "faults":
            with self.lock:
                if request.method == "POST":
                    try:
                        self.faults.update(payload)
                    except ValueError as exc:
                        return Response(400, {"message": str(exc)})
                return Response(200, asdict(self.faults))
        try:
            with self.lock:
                return Response(200, self.app.admin(action, payload))
        except KeyError as exc:
            return Response(404, {"message": f"unknown admin action {action!r}: {exc}"})
        except ValueError as exc:
            return Response(400, {"message": str(exc)})
        except Exception:  # a sandbox bug must show as a 500 and in its log, not as a dropped connection
            log.exception("sandbox %s admin action %s failed", self.app.name, action)
            return Response(500, {"message": "sandbox internal error"})


def _make_handler(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            log.debug("%s %s", server.app.name, format % args)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body)
            if parts.path.startswith(ADMIN_PREFIX):
                response = server.answer_admin(request)
            else:
                response = server.answer_api(request)
            if response is None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            payload = response.encode()
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return Handler


def add_common_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    """Command-line flags every sandbox takes: where to listen, the seed, and faults."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=42, help="seed of the deterministic data generator")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of API requests that fail")
    parser.add_argument("--error-codes", default="429,500,502,503", help="HTTP codes random failures use")
    parser.add_argument("--html-errors", action="store_true", help="5xx failures answer with an HTML page")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped unanswered")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every API answer")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After sent with 429")


def faults_from_arguments(args: argparse.Namespace, **overrides: Any) -> FaultSettings:
    faults = FaultSettings(
        error_rate=args.error_rate, error_codes=[c.strip() for c in args.error_codes.split(",") if c.strip()],
        html_errors=args.html_errors, drop_rate=args.drop_rate, latency_ms=args.latency_ms,
        retry_after=args.retry_after,
    )
    faults.update(overrides)
    return faults


def serve_from_command_line(app: SandboxApp, args: argparse.Namespace, faults: FaultSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = SandboxServer(app, host=args.host, port=args.port, faults=faults, seed=args.seed)
    print(f"{app.name} sandbox listening on {server.url} (admin API under {server.url}{ADMIN_PREFIX})",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
