"""The one HTTP layer every API collector uses: timeouts, retries, fatal-vs-retryable, pagination guard.

Why one place: the providers differ in wire format but fail the same ways (429 with or without
Retry-After, 5xx, dropped connections, revoked keys), and each failure class must be handled once and
correctly for all of them:

    401 / 403                       FatalSourceError at once (no retry), naming the source and the env var
    429 without Retry-After         FatalSourceError at once when the provider says such a 429 needs a human
                                    (Anthropic spend cap, OpenAI quota), else retried like a 5xx
    429 / 5xx / connect / timeout   retried (tenacity) with exponential backoff and full jitter; a Retry-After
                                    (seconds or HTTP date) wins, capped at `max_wait`; after `attempts` tries
                                    RetryableSourceError
    other 4xx                       FatalSourceError with the provider's own message (redacted)

Every message and log line passes through `spendwatch.redact`, so a key in a URL, header or error body
never escapes. `SPENDWATCH_HTTP_WAIT_SCALE` (a float, default 1) scales every wait: tests and the demo
set it low so that a real Retry-After: 1 costs milliseconds, not seconds.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import tenacity

from .errors import FatalSourceError, RetryableSourceError
from .redact import redact

log = logging.getLogger("spendwatch.http")

Params = Mapping[str, Any] | Sequence[tuple[str, Any]]
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


def wait_scale() -> float:
    try:
        return max(0.0, float(os.environ.get("SPENDWATCH_HTTP_WAIT_SCALE", "1")))
    except ValueError:
        return 1.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: an integer of seconds or an HTTP date; None if absent/bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Retry(Exception):
    """A retryable outcome of one request (429, 5xx, transport error), with the server's Retry-After."""

    def __init__(self, where: str, reason: str, retry_after: float | None) -> None:
        super().__init__(reason)
        self.where, self.reason, self.retry_after = where, reason, retry_after


class HttpClient:
    """A JSON-over-HTTPS client for one configured source.

    `secret_hint` describes where the credential comes from (e.g. "environment variable OPENAI_ADMIN_KEY")
    so an auth failure tells the user exactly what to check. `fatal_429_without_retry_after` marks
    providers whose 429 without Retry-After does not clear by waiting.
    """

    def __init__(self, source: str, base_url: str, headers: Mapping[str, str], *, secret_hint: str,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0, attempts: int = 5,
                 backoff: float = 0.5, max_wait: float = 60.0, fatal_429_without_retry_after: bool = False,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.source = source
        self.secret_hint = secret_hint
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_wait = max_wait
        self.fatal_429_without_retry_after = fatal_429_without_retry_after
        self.sleep = sleep
        self.requests = 0  # every request sent, retries included (benchmarks and tests read it)
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=dict(headers),
                                    timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
                                    follow_redirects=False, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ requests
    def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET `path` (relative to base_url) and decode JSON with every non-integer number as Decimal.

        The retry loop is tenacity's: `_once` either answers, raises a FatalSourceError (no retry), or raises
        `_Retry` carrying the reason and any Retry-After, which `_wait` honours (capped) or replaces with
        full-jitter exponential backoff."""
        return self._exchange("GET", path, params, None)

    def send_json(self, method: str, path: str, body: Any | None = None, params: Params | None = None) -> Any:
        """A write (POST/PATCH) with a JSON body, under the same policy as `get_json`. Only for idempotent
        writes (set a field to a value): a retry after a lost answer repeats the same change, never a second
        one. Used by the guardrail actuators (spendwatch/actuators/). An empty answer is None."""
        return self._exchange(method, path, params, body)

    def _exchange(self, method: str, path: str, params: Params | None, body: Any | None) -> Any:
        where = f"{method} {redact(path.lstrip('/'))}"
        retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(self.attempts), wait=self._wait,
                                     retry=tenacity.retry_if_exception_type(_Retry), sleep=self.sleep,
                                     before_sleep=self._log_retry, reraise=True)
        try:
            return retrying(self._once, method, path, params, body, where)
        except _Retry as exc:
            raise RetryableSourceError(self.source, f"{where}: {exc.reason}; gave up after {self.attempts} "
                                                    "attempts") from None

    def _once(self, method: str, path: str, params: Params | None, body: Any | None, where: str) -> Any:
        """One request: the decoded body, FatalSourceError, or _Retry."""
        self.requests += 1
        try:
            # httpx's declared param types are narrower than the ints and strings we pass (a Sequence)
            resp = self._client.request(method, path.lstrip("/"), params=params,  # type: ignore[arg-type]
                                        json=body)
        except httpx.TransportError as exc:
            raise _Retry(where, f"{type(exc).__name__}: {redact(str(exc)) or 'no detail'}", None) from None
        status = resp.status_code
        log.debug("http source=%s %s status=%d", self.source, where, status)
        if status < 300:
            if method != "GET" and not resp.content.strip():
                return None
            try:
                return json.loads(resp.content, parse_float=Decimal)
            except ValueError:
                raise FatalSourceError(self.source, f"{where}: response is not JSON "
                                       f"({_snippet(resp.text)})") from None
        if status in (401, 403):
            raise FatalSourceError(self.source, f"{where}: HTTP {status} {_error_text(resp)}; the key was "
                                   f"rejected, check {self.secret_hint} (an admin/management key is needed)")
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        if status == 429 and retry_after is None and self.fatal_429_without_retry_after:
            raise FatalSourceError(self.source, f"{where}: HTTP 429 without Retry-After ({_error_text(resp)}): "
                                   "a spend cap or quota that waiting will not clear; raise it in the "
                                   "provider's console")
        if status in RETRY_STATUSES or status >= 500:
            raise _Retry(where, f"HTTP {status} {_error_text(resp)}", retry_after)
        raise FatalSourceError(self.source, f"{where}: HTTP {status} {_error_text(resp)}")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Retry-After (capped at max_wait) when the server gave one, else full jitter: spreads clients that
        failed together."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            wait = min(exc.retry_after, self.max_wait)
        else:
            wait = random.uniform(0, min(self.max_wait, self.backoff * 2 ** (state.attempt_number - 1)))
        return wait * wait_scale()

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry):
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning("http retry source=%s %s reason=%s attempt=%d wait=%.2fs", self.source, exc.where,
                        exc.reason, state.attempt_number, wait)

    # -------------------------------------------------------------------------------------- pagination
    def cursor_pages(self, path: str, params: list[tuple[str, Any]], *, cursor_param: str = "page",
                     next_key: str = "next_page", more_key: str = "has_more") -> Iterator[Any]:
        """Yield every page of a `has_more`/`next_page` cursor walk (OpenAI, Anthropic).

        The same query is repeated with `page=<next_page>`; a cursor seen twice, or has_more with no cursor,
        is a protocol error (FatalSourceError) rather than an endless loop.
        """
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self.get_json(path, params + ([(cursor_param, cursor)] if cursor else []))
            yield page
            if not isinstance(page, dict) or not page.get(more_key):
                return
            cursor = page.get(next_key)
            if not cursor:
                raise FatalSourceError(self.source, f"GET {path}: has_more without {next_key} (protocol error)")
            if cursor in seen:
                raise FatalSourceError(self.source, f"GET {path}: the server returned the same cursor twice "
                                       "(pagination loop)")
            seen.add(cursor)


def _error_text(resp: Any) -> str:
    """The provider's own error message, redacted and cut short (never headers)."""
    try:
        body = resp.json()
    except ValueError:
        return f"({_snippet(resp.text)})" if resp.text.strip() else ""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        msg = err.get("message") or err.get("type") or ""
    elif isinstance(body, dict):
        msg = body.get("detail") or body.get("message") or err or ""
    else:
        msg = ""
    return f"({_snippet(str(msg))})" if msg else ""


def _snippet(text: str, limit: int = 200) -> str:
    text = redact(" ".join(str(text).split()))
    return text if len(text) <= limit else text[:limit] + "…"
