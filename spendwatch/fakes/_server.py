"""The loopback HTTP server under every fake provider: a thread, request log, faults, limit violations.

A provider module subclasses `FakeProvider` and implements `route(path, query, headers)`; this base
handles what is common: binding 127.0.0.1 on port 0, the auth check (`authorized`), the switchable
faults (429 + Retry-After on each endpoint's first call, 500s on page-2 requests, a slow reply, a spend
cap), and bookkeeping tests assert on (`requests`, `violations`: every documented limit a client broke).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from spendwatch.timeutil import utcnow

from .dataset import Dataset

Query = dict[str, list[str]]
Reply = tuple[int, dict[str, str], Any]


@dataclass
class Faults:
    """Switchable misbehaviour; counters count down as faults fire."""

    rate_limit_first: bool = False    # 429 + Retry-After on the first call of every endpoint path
    retry_after: str = "1"            # the Retry-After value sent with those 429s
    page2_errors: int = 0             # this many 500s on requests for a second page (or later)
    slow_replies: int = 0             # this many replies delayed by `slow_seconds`
    slow_seconds: float = 0.3
    spend_cap: bool = False           # every call: 429 without Retry-After (Anthropic's spend cap)
    write_errors: int = 0             # this many 500s on admin writes (POST/PATCH), echoing the credential


class ApiError(Exception):
    """Raised inside a route: becomes an error reply; `violation` marks a client breaking a documented rule."""

    def __init__(self, status: int, message: str, violation: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.violation = violation


def dumps(obj: Any) -> bytes:
    """JSON with Decimals written as exact JSON numbers (json.dumps cannot)."""
    def enc(o: Any) -> str:
        if isinstance(o, Decimal):
            text = format(o, "f")
            return text if "." not in text else (text.rstrip("0").rstrip(".") or "0")
        if isinstance(o, dict):
            return "{" + ",".join(json.dumps(str(k)) + ":" + enc(v) for k, v in o.items()) + "}"
        if isinstance(o, (list, tuple)):
            return "[" + ",".join(enc(v) for v in o) + "]"
        return json.dumps(o)

    return enc(obj).encode()


class FakeProvider:
    """Base class of the fake provider servers; use as a context manager or call start()/stop()."""

    name = ""
    sdk_prefix = ""   # path the official SDK's base_url ends with (OpenAI "/v1", OpenRouter "/api/v1")

    def __init__(self, dataset: Dataset, *, api_key: str = "test-key-0123456789", now: datetime | None = None,
                 page_buckets: int | None = None, faults: Faults | None = None) -> None:
        self.dataset = dataset.for_provider(self.name)
        self.api_key = api_key
        self.now = now                      # None: the real clock
        self.page_buckets = page_buckets    # serve at most this many buckets per page (≤ the client's limit)
        self.faults = faults or Faults()
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self._limited: set[str] = set()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.index()

    # --------------------------------------------------------------------------------------- lifecycle
    def start(self) -> FakeProvider:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The base_url to configure, written as the provider's official SDK writes it."""
        return f"http://127.0.0.1:{self.port}{self.sdk_prefix}"

    def clock(self) -> datetime:

        return self.now or utcnow()

    def truth(self, start: datetime | None = None, end: datetime | None = None) -> dict:
        return self.dataset.truth(self.name, start, end)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._limited.clear()

    # ------------------------------------------------------------------------------- for subclasses
    def index(self) -> None:
        """Precompute lookups from self.dataset (called once at construction)."""

    def authorized(self, headers: Any) -> bool:
        return headers.get("Authorization") == f"Bearer {self.api_key}"

    def auth_error(self) -> Reply:
        return 401, {}, {"error": {"message": "invalid api key", "type": "authentication_error"}}

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "invalid_request_error", "code": None, "param": None}}

    def is_later_page(self, path: str, query: Query) -> bool:
        return bool(query.get("page")) and query["page"][0] not in ("", "1")

    def route(self, path: str, query: Query, headers: Any) -> Reply:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ dispatch
    def admin_route(self, method: str, path: str, query: Query, body: Any) -> Reply | None:
        """Admin endpoints (fakes/admin.py mixins: disable keys, block teams, rate limits); None: not one."""
        return None

    def writes(self) -> list[tuple[str, str]]:
        """Every admin write received (POST/PATCH), failed ones included: what guardrail tests count."""
        with self._lock:
            return [r for r in self.requests if r[0] in ("POST", "PATCH")]

    def handle(self, method: str, target: str, headers: Any, body: Any = None) -> Reply:
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append((method, target))
            if not self.authorized(headers):
                return self.auth_error()
            f = self.faults
            if f.spend_cap:
                return 429, {}, self.error_body(429, "spend limit reached")
            if f.rate_limit_first and path not in self._limited:
                self._limited.add(path)
                return 429, {"Retry-After": f.retry_after}, self.error_body(429, "rate limited")
            if f.page2_errors > 0 and self.is_later_page(path, query):
                f.page2_errors -= 1
                return 500, {}, self.error_body(500, "internal error")
            if f.write_errors > 0 and method in ("POST", "PATCH"):
                f.write_errors -= 1
                # A careless server echoing the request's credential: clients must redact what they report.
                auth = headers.get("Authorization") or headers.get("x-api-key") or ""
                return 500, {}, self.error_body(500, f"internal error handling request with {auth}")
            delay = 0.0
            if f.slow_replies > 0:
                f.slow_replies -= 1
                delay = f.slow_seconds
        if delay:
            time.sleep(delay)
        try:
            admin = self.admin_route(method, path, query, body)
        except ApiError as exc:
            return exc.status, {}, self.error_body(exc.status, str(exc))
        if admin is not None:
            return admin
        if method != "GET":
            return 405, {}, self.error_body(405, "method not allowed")
        try:
            return self.route(path, query, headers)
        except ApiError as exc:
            if exc.violation:
                with self._lock:
                    self.violations.append(f"{path}: {exc}")
            return exc.status, {}, self.error_body(exc.status, str(exc))


def one(query: Query, name: str, default: str | None = None, *, required: bool = False) -> str | None:
    values = query.get(name)
    if not values:
        if required:
            raise ApiError(400, f"{name} is required")
        return default
    if len(values) > 1:
        raise ApiError(400, f"{name} given {len(values)} times")
    return values[0]


def int_param(query: Query, name: str, default: int, lo: int, hi: int) -> int:
    raw = one(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: not an integer ({raw!r})") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name}={value} outside the documented range {lo}..{hi}")
    return value


def _make_handler(provider: FakeProvider) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid 40 ms stalls

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw.strip() else None
            except ValueError:
                parsed = ApiError  # marks a body that is not JSON (admin routes answer 400)
            status, headers, body = provider.handle(method, self.path, self.headers, parsed)
            data = dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler
