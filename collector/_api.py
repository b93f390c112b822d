"""What the HTTP API collectors share: common config keys, the lazily built client, window alignment.

Not a registered plugin (leading underscore): `openai`, `anthropic`, `openrouter` and `litellm` subclass
`ApiCollector` and add only their wire format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spendwatch.contracts import CollectorBase
from spendwatch.errors import FatalSourceError
from spendwatch.http import HttpClient
from spendwatch.pricing import Pricer
from spendwatch.redact import redact
from spendwatch.store import Window
from spendwatch.timeutil import UTC, day_start, floor_to
from spendwatch.values import Secret

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WIDTHS = {"1h": HOUR, "1d": DAY}
GRANULARITY = {"1h": "hour", "1d": "day"}


@dataclass(frozen=True)
class HttpOptions:
    """Keys every HTTP source accepts (besides name/type/interval/lookback/enabled)."""

    api_key: Secret
    base_url: str = ""
    connect_timeout: timedelta = timedelta(seconds=10)
    read_timeout: timedelta = timedelta(seconds=60)
    max_attempts: int = 5                        # tries per request on 429/5xx/connection errors
    max_retry_wait: timedelta = timedelta(seconds=60)   # cap on Retry-After and backoff waits


class ApiCollector(CollectorBase):
    """Base of the API collectors: `fetch` materialises a whole window or raises (never partial data)."""

    provider = ""
    kinds: tuple[str, ...] = ("usage",)
    default_lookback = "3d"
    fatal_429_without_retry_after = False

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        self.name: str = source.name
        self.options: Any = source.options
        self.pricer = Pricer()
        self._client: Any = None
        self._now: datetime | None = None

    def use_prices(self, prices: Iterable[Any]) -> None:
        """Negotiated rates from the config's [[prices]] (see spendwatch.pricing)."""
        self.pricer = Pricer(prices)

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    @property
    def client(self) -> Any:
        if self._client is None:

            o = self.options
            key = o.api_key.get()
            self._client = HttpClient(
                self.name, o.base_url, {"User-Agent": "spendwatch/0.1", **self.headers(key)},
                secret_hint=o.api_key.describe(), connect_timeout=o.connect_timeout.total_seconds(),
                read_timeout=o.read_timeout.total_seconds(), attempts=o.max_attempts,
                max_wait=o.max_retry_wait.total_seconds(),
                fatal_429_without_retry_after=self.fatal_429_without_retry_after)
        return self._client

    @property
    def requests_made(self) -> int:
        return self._client.requests if self._client is not None else 0

    def fetch(self, kind: str, window: Window) -> list[dict[str, Any]]:
        """The whole window's rows, or an exception: a response we cannot read is a FatalSourceError
        naming the source (never a traceback, never a partial window)."""
        from decimal import InvalidOperation

        try:
            return list(self.fetch_rows(kind, window))
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:

            detail = redact(str(exc))[:200]
            raise FatalSourceError(self.name, f"{kind}: unexpected response from the provider "
                                   f"({type(exc).__name__}: {detail})") from exc

    def fetch_rows(self, kind: str, window: Window) -> Iterable[dict[str, Any]]:
        raise NotImplementedError

    def plan(self, kind: str, window: Window, now: datetime) -> Window | None:
        """Start on a UTC day boundary so every bucket (hourly or daily) has the same key on every re-pull."""
        self._now = now
        start = day_start(window.start)
        end = min(window.end, now)
        return Window(start, end) if end > start else None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def bucket_width_for(options: Any, window: Window, now: datetime | None) -> str:
    """Hourly for the recent window, `backfill_bucket_width` for chunks older than `hourly_within`."""
    if now is not None and window.end <= now - options.hourly_within and _aligned(window, DAY):
        return options.backfill_bucket_width
    return options.bucket_width


def _aligned(window: Window, step: timedelta) -> bool:
    return floor_to(window.start, step) == window.start


def n_buckets(window: Window, width: str) -> int:
    step = WIDTHS[width]
    return max(1, -(-(window.end - floor_to(window.start, step)) // step))


def from_unix(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def to_unix(dt: datetime) -> int:
    return int(dt.timestamp())


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def int_or_none(value: Any) -> int | None:
    """Token counts: absent stays None (unknown), never coerced to 0."""
    return None if value is None else int(value)


def add(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def clean_tags(tags: Mapping[str, Any]) -> dict[str, Any] | None:
    out = {k: v for k, v in tags.items() if v is not None and v != ""}
    return out or None
