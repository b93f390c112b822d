"""The shared HTTP layer against a scripted loopback server: retries, fatal classes, cursor guard, redaction."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from spendwatch.errors import FatalSourceError, RetryableSourceError
from spendwatch.http import HttpClient, parse_retry_after
from spendwatch.redact import register_secret

SECRET = "sk-admin-secret-abcdef123456"


class Scripted:
    """A server replying from a queue of (status, headers, body); records what it was asked."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, str], Any]] = []
        self.seen: list[tuple[str, dict[str, str]]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, dict(self.headers)))
                status, headers, body = outer.replies.pop(0) if outer.replies else (200, {}, {"ok": True})
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.stop()


def client(server: Scripted, waits: list[float], **kw: Any) -> HttpClient:
    register_secret(SECRET)
    return HttpClient("acme-openai", server.url, {"Authorization": f"Bearer {SECRET}"},
                      secret_hint="environment variable OPENAI_ADMIN_KEY", sleep=waits.append, **kw)


def test_money_is_decimal_and_the_base_url_path_is_kept(server: Scripted) -> None:
    server.replies = [(200, {}, '{"amount": 0.1, "n": 3}')]
    with client(server, []) as c:
        body = c.get_json("organization/costs", [("group_by", "a"), ("group_by", "b")])
    assert body == {"amount": Decimal("0.1"), "n": 3} and isinstance(body["amount"], Decimal)
    assert server.seen[0][0] == "/v1/organization/costs?group_by=a&group_by=b"


def test_retry_after_seconds_and_http_date_are_honoured_but_capped(server: Scripted, monkeypatch: Any) -> None:
    monkeypatch.setenv("SPENDWATCH_HTTP_WAIT_SCALE", "1")
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.replies = [(429, {"Retry-After": "7"}, {}), (503, {"Retry-After": later}, {}), (200, {}, {"x": 1})]
    waits: list[float] = []
    with client(server, waits, max_wait=10) as c:
        assert c.get_json("x") == {"x": 1}
        assert c.requests == 3
    assert waits[0] == 7 and waits[1] == 10      # an HTTP date 30 s ahead, capped at max_wait


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("2", now) == 2
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:05 GMT", now) == 5
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:05 GMT", now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


def test_5xx_exhaustion_is_retryable_and_backoff_grows_with_jitter(server: Scripted, monkeypatch: Any) -> None:
    monkeypatch.setenv("SPENDWATCH_HTTP_WAIT_SCALE", "1")
    server.replies = [(500, {}, {"error": {"message": "boom"}})] * 4
    waits: list[float] = []
    with client(server, waits, attempts=4, backoff=1.0) as c, pytest.raises(RetryableSourceError) as exc:
        c.get_json("x")
    assert len(server.seen) == 4 and len(waits) == 3
    assert all(0 <= w <= cap for w, cap in zip(waits, (1, 2, 4), strict=False))
    assert str(exc.value).startswith("acme-openai: GET x: HTTP 500 (boom); gave up after 4 attempts")


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_fatal_at_once_naming_source_and_env_var(server: Scripted, status: int) -> None:
    server.replies = [(status, {}, {"error": {"message": f"bad key {SECRET}"}})]
    with client(server, []) as c, pytest.raises(FatalSourceError) as exc:
        c.get_json("organization/usage/completions")
    msg = str(exc.value)
    assert len(server.seen) == 1
    assert msg.startswith(f"acme-openai: GET organization/usage/completions: HTTP {status}")
    assert "OPENAI_ADMIN_KEY" in msg and SECRET not in msg and "\n" not in msg


def test_spend_cap_429_without_retry_after_is_fatal_at_once(server: Scripted) -> None:
    server.replies = [(429, {}, {"type": "error", "error": {"type": "rate_limit_error", "message": "spend cap"}})]
    with client(server, [], fatal_429_without_retry_after=True) as c, pytest.raises(FatalSourceError) as exc:
        c.get_json("v1/organizations/cost_report")
    assert len(server.seen) == 1 and "spend cap" in str(exc.value)


def test_other_4xx_is_fatal_with_the_provider_message(server: Scripted) -> None:
    server.replies = [(400, {}, {"error": {"message": "limit must be <= 31"}})]
    with client(server, []) as c, pytest.raises(FatalSourceError, match="HTTP 400 \\(limit must be <= 31\\)"):
        c.get_json("x")
    assert len(server.seen) == 1


def test_connection_refused_is_retried_then_retryable() -> None:
    waits: list[float] = []
    c = HttpClient("acme", "http://127.0.0.1:9", {}, secret_hint="x", sleep=waits.append, attempts=2)
    with c, pytest.raises(RetryableSourceError, match="ConnectError"):
        c.get_json("x")
    assert c.requests == 2 and len(waits) == 1


def test_cursor_seen_twice_is_a_protocol_error_not_a_loop(server: Scripted) -> None:
    page = {"data": [], "has_more": True, "next_page": "page_A"}
    server.replies = [(200, {}, page), (200, {}, page), (200, {}, page)]
    with client(server, []) as c, pytest.raises(FatalSourceError, match="same cursor twice"):
        list(c.cursor_pages("x", [("limit", 1)]))
    assert len(server.seen) == 2


def test_has_more_without_cursor_is_a_protocol_error(server: Scripted) -> None:
    server.replies = [(200, {}, {"data": [], "has_more": True, "next_page": None})]
    with client(server, []) as c, pytest.raises(FatalSourceError, match="has_more without next_page"):
        list(c.cursor_pages("x", []))


def test_secret_in_url_and_error_body_is_redacted(server: Scripted) -> None:
    server.replies = [(404, {}, f"no such thing for key={SECRET}")]
    with client(server, []) as c, pytest.raises(FatalSourceError) as exc:
        c.get_json(f"x?api_key={SECRET}")
    assert SECRET not in str(exc.value) and "[REDACTED]" in str(exc.value)
