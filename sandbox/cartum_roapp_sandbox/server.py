"""The HTTP machinery both sandboxes share: routing to an app, faults on demand,
a request log, and the admin API under ``/_sandbox/``.

A sandbox app (Cartum or RO App) only answers emulated API requests. Everything a test
needs to steer or inspect a sandbox goes through the admin endpoints, which are never
subject to faults, rate limits or the request log:

- ``GET  /_sandbox/state``     the app's full state (JSON)
- ``GET  /_sandbox/requests``  every API request received: ts, method, path, status, key, body
- ``DELETE /_sandbox/requests`` clear the request log
- ``GET/POST /_sandbox/faults`` read or change the fault settings (partial JSON object),
  including the targeted ``rules`` (GET shows what is left of them)
- ``POST /_sandbox/<action>``  app-specific actions (see each app's ``admin`` method)

Fault kinds (``FAULT_KINDS``), used in ``script``, in targeted ``rules`` and by the random
settings:

- answered without reaching the app: ``429``, ``500``, ``502``, ``503``, ``504`` (JSON
  error body) and ``html500`` .. ``html504`` (an nginx HTML page);
- ``drop``: the connection is closed unanswered; ``slow``: the answer comes ``slow_ms``
  late; ``timeout``: held ``timeout_s`` seconds, then closed unanswered. None of these
  reach the app: nothing is changed;
- applied, then the answer is lost (``APPLY_FAULTS``): the app handles the request and
  changes its state, then ``apply_drop`` closes the connection unanswered, ``apply_502`` /
  ``apply_504`` answer a 502 / 504 (an HTML page when ``html_errors`` is set, JSON
  otherwise; ``apply_html502`` / ``apply_html504`` always HTML), and ``apply_timeout``
  holds the app's answer ``timeout_s`` seconds (default 35) before sending it. The server
  is threaded: a held answer does not block other requests.

Which fault a request gets: the first targeted rule that matches it (method, path glob),
else the next ``script`` entry, else the random ones (``drop_rate``, ``error_rate``, then
``apply_error_rate`` for write requests). An applied fault picked for a request the rate
limit refuses is given back (the app never saw the request), so a rule is spent only on a
request the app actually handled.
"""

from __future__ import annotations

import argparse
import fnmatch
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
from typing import Any, Callable, Protocol
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sandbox/"
#: Faults answered by the server itself, without the app: a JSON error or an HTML page.
ANSWER_FAULTS = ("429", "500", "502", "503", "504", "html500", "html502", "html503", "html504")
#: Faults where the app handles the request (and changes its state) and the answer is lost.
APPLY_FAULTS = ("apply_drop", "apply_502", "apply_504", "apply_html502", "apply_html504", "apply_timeout")
FAULT_KINDS = ANSWER_FAULTS + ("drop", "slow", "timeout") + APPLY_FAULTS
#: What a request counts as a write by, for ``apply_error_rate``, unless the app says otherwise.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
HTML_TITLES = {502: "Bad Gateway", 504: "Gateway Time-out"}


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


def fault_response(code: int, html: bool) -> Response:
    """The error answer of a fault: an nginx page, or a JSON ``{"message"}``."""
    if html:
        return html_page(code, HTML_TITLES.get(code, "Error"))
    return Response(code, {"message": f"sandbox fault {code}"})


@dataclass
class FaultSettings:
    """Faults on demand. Random faults use ``error_rate`` over ``error_codes``; scripted
    faults in ``script`` are consumed one per API request, in order, before any random one.
    Targeted ``rules`` (``[{"method", "path", "fault", "times"}]``, see ``fault_rule``) are
    consumed before the script. ``apply_error_rate`` is the share of write requests that
    are applied and then get one of ``apply_error_kinds``. ``timeout_s`` is how long
    ``timeout`` and ``apply_timeout`` hold an answer.
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
    rules: list[dict[str, Any]] = field(default_factory=list)
    apply_error_rate: float = 0.0
    apply_error_kinds: list[str] = field(default_factory=lambda: ["apply_drop", "apply_502", "apply_timeout"])
    timeout_s: float = 35.0

    def update(self, changes: dict[str, Any]) -> None:
        if not isinstance(changes, dict):
            raise ValueError("fault settings are a JSON object")
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        changes = dict(changes)
        if not isinstance(changes.get("script", []), list):
            raise ValueError("script must be a list of fault kinds")
        for kind in changes.get("script", []):
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown scripted fault {kind!r}; known: {FAULT_KINDS}")
        if "rules" in changes:
            if not isinstance(changes["rules"], list):
                raise ValueError("rules must be a list of {method?, path, fault, times?} objects")
            changes["rules"] = [fault_rule(rule) for rule in changes["rules"]]
        if "apply_error_kinds" in changes:
            kinds = changes["apply_error_kinds"]
            if not isinstance(kinds, list) or not kinds or any(k not in APPLY_FAULTS for k in kinds):
                raise ValueError(f"apply_error_kinds must be a non-empty list of {APPLY_FAULTS}")
        for name in ("apply_error_rate", "timeout_s"):
            if name in changes and (isinstance(changes[name], bool) or not isinstance(changes[name], (int, float))
                                    or changes[name] < 0):
                raise ValueError(f"{name} must be a number of at least 0")
        for name, value in changes.items():
            setattr(self, name, value)


def fault_rule(raw: Any) -> dict[str, Any]:
    """A targeted fault rule, checked and completed: ``method`` (upper case, None = any),
    ``path`` (an ``fnmatch`` glob over the path without its query; ``*`` also crosses
    ``/``; a trailing ``/`` is ignored on both sides), ``fault`` (one of ``FAULT_KINDS``)
    and ``times`` (how many more requests it fires on, default 1)."""
    if not isinstance(raw, dict):
        raise ValueError(f"a fault rule is an object {{method?, path, fault, times?}}, not {raw!r}")
    unknown = set(raw) - {"method", "path", "fault", "times"}
    if unknown:
        raise ValueError(f"unknown fault rule keys {sorted(unknown)}; known: method, path, fault, times")
    method, path, kind, times = raw.get("method"), raw.get("path"), raw.get("fault"), raw.get("times", 1)
    if method is not None and (not isinstance(method, str) or not method.strip()):
        raise ValueError(f"a fault rule's method must be an HTTP method name or absent, not {method!r}")
    if not isinstance(path, str) or not path.startswith(("/", "*")):
        raise ValueError(f"a fault rule needs a path glob starting with / (or *), not {path!r}")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r} in a rule; known: {FAULT_KINDS}")
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError(f"a fault rule's times must be an integer of at least 1, not {times!r}")
    return {"method": method.strip().upper() if method else None, "path": path, "fault": kind, "times": times}


def rule_matches(rule: dict[str, Any], request: "Request") -> bool:
    if rule["method"] is not None and rule["method"] != request.method.upper():
        return False
    return fnmatch.fnmatchcase(request.path.rstrip("/") or "/", rule["path"].rstrip("/") or "/")


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

    # Optional: ``is_write(request) -> bool``, which requests ``apply_error_rate`` may hit
    # (without it: the methods in ``WRITE_METHODS``).


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
        self._stopping = threading.Event()  # wakes held answers when the server stops
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
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the emulated API -------------------------------------------------------------

    def pick_fault(self, request: Request | None = None) -> str | None:
        """The fault for the next API request (consumed); without ``request``, targeted
        rules and ``apply_error_rate`` are not considered."""
        return self._pick_fault(request)[0]

    def _pick_fault(self, request: Request | None) -> tuple[str | None, Callable[[], None]]:
        """The fault, and how to give it back (a rule's or the script's entry) when the
        request turns out never to reach the app."""
        with self.lock:
            f = self.faults
            if request is not None:
                for index, rule in enumerate(f.rules):
                    if rule_matches(rule, request):
                        rule["times"] -= 1
                        if rule["times"] <= 0:
                            f.rules.remove(rule)
                        return rule["fault"], self._give_back_rule(f.rules, rule, index)
            if f.script:
                kind = f.script.pop(0)
                script = f.script
                return kind, lambda: self._locked(lambda: script.insert(0, kind))
            if f.drop_rate and self._random.random() < f.drop_rate:
                return "drop", _nothing
            if f.error_rate and self._random.random() < f.error_rate:
                code = self._random.choice(f.error_codes)
                return (f"html{code}" if f.html_errors and code != "429" else code), _nothing
            if (request is not None and f.apply_error_rate and self._is_write(request)
                    and self._random.random() < f.apply_error_rate):
                return self._random.choice(f.apply_error_kinds), _nothing
        return None, _nothing

    def _give_back_rule(self, rules: list[dict[str, Any]], rule: dict[str, Any], index: int) -> Callable[[], None]:
        def give_back() -> None:
            with self.lock:
                rule["times"] += 1
                if not any(r is rule for r in rules):
                    rules.insert(min(index, len(rules)), rule)
        return give_back

    def _locked(self, action: Callable[[], None]) -> None:
        with self.lock:
            action()

    def _is_write(self, request: Request) -> bool:
        is_write = getattr(self.app, "is_write", None)
        return bool(is_write(request)) if is_write is not None else request.method.upper() in WRITE_METHODS

    def _hold(self, seconds: float) -> None:
        """Wait without blocking anyone else (one thread per connection); cut short when
        the server stops."""
        self._stopping.wait(max(0.0, seconds))

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

    def record(self, request: Request, status: int, received: float, key: str | None,
               fault: str | None = None, applied_status: int | None = None) -> None:
        """One request log entry. ``status`` is what went out on the wire (0: no answer);
        ``fault`` the fault the request got (None: none); ``applied_status`` what the app
        answered when an applied fault (``apply_*``) then lost or delayed that answer."""
        try:
            body = self.app.log_body(request)
        except ValueError:
            body = None
        with self.lock:
            self.requests.append({
                "ts": received, "method": request.method, "path": request.path,
                "query": request.query, "status": status,
                "key": key_fingerprint(key) if key else None, "body": body,
                "fault": fault, "applied_status": applied_status,
            })

    def _app_answer(self, request: Request) -> Response | None:
        try:
            return self.app.handle(request, self.faults)
        except Exception:  # a bug in the sandbox must show, as a 500, and in its log
            log.exception("sandbox %s failed on %s %s", self.app.name, request.method, request.path)
            return Response(500, {"message": "sandbox internal error"})

    def _rate_limited(self) -> Response:
        response = Response(429, {"message": "Too Many Requests: rate limit exceeded"})
        if self.faults.retry_after is not None:
            response.headers["Retry-After"] = str(self.faults.retry_after)
        return response

    def answer_api(self, request: Request) -> Response | None:
        """None means: drop the connection without an answer."""
        received = time.time()
        key = self.app.rate_key(request)
        fault, give_back = self._pick_fault(request)
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if fault == "slow":
            time.sleep(self.faults.slow_ms / 1000)
        if fault == "timeout":
            self.record(request, 0, received, key, fault)
            self._hold(self.faults.timeout_s)
            return None
        if fault == "drop":
            self.record(request, 0, received, key, fault)
            return None
        code = _answer_code(fault)
        if code is not None:
            response = fault_response(code, fault.startswith("html"))
            if code == 429 and self.faults.retry_after is not None:
                response.headers["Retry-After"] = str(self.faults.retry_after)
            self.record(request, response.status, received, key, fault)
            return response
        if self.over_rate_limit(key, received):
            if fault in APPLY_FAULTS:  # the app never sees it: nothing applied, the fault waits for the next
                give_back()
                fault = None
            self.record(request, 429, received, key, fault)
            return self._rate_limited()
        response = self._app_answer(request)
        status = response.status if response is not None else 0
        if fault not in APPLY_FAULTS:
            self.record(request, status, received, key, fault)
            return response
        if fault == "apply_drop" or response is None:
            self.record(request, 0, received, key, fault, status)
            return None
        if fault == "apply_timeout":
            self.record(request, status, received, key, fault, status)
            self._hold(self.faults.timeout_s)
            return response
        code = int(fault[-3:])
        lost = fault_response(code, "html" in fault or self.faults.html_errors)
        self.record(request, lost.status, received, key, fault, status)
        return lost

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


def _nothing() -> None:
    return None


def _answer_code(fault: str | None) -> int | None:
    """The HTTP code of a fault the server answers itself (``"503"``, ``"html502"``, or any
    code random ``error_codes`` name); None for the other kinds."""
    code = (fault or "").removeprefix("html")
    return int(code) if code.isdigit() else None


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
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up first (a held answer after its timeout)
                self.close_connection = True

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
    parser.add_argument("--apply-error-rate", type=float, default=0.0,
                        help="share of write requests applied and then answered with an apply_* fault")
    parser.add_argument("--apply-error-kinds", default="apply_drop,apply_502,apply_timeout",
                        help=f"the apply_* faults --apply-error-rate uses, of {','.join(APPLY_FAULTS)}")
    parser.add_argument("--timeout-s", type=float, default=35.0,
                        help="how long timeout and apply_timeout hold an answer")


def faults_from_arguments(args: argparse.Namespace, **overrides: Any) -> FaultSettings:
    faults = FaultSettings(
        error_rate=args.error_rate, error_codes=[c.strip() for c in args.error_codes.split(",") if c.strip()],
        html_errors=args.html_errors, drop_rate=args.drop_rate, latency_ms=args.latency_ms,
        retry_after=args.retry_after,
    )
    faults.update({"apply_error_rate": args.apply_error_rate, "timeout_s": args.timeout_s,
                   "apply_error_kinds": [k.strip() for k in args.apply_error_kinds.split(",") if k.strip()]})
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
