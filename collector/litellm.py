"""LiteLLM proxy (self-hosted) spend logs over its API: `GET /spend/logs/v2`, paged.

Wire format (docs/provider-apis.md §5.2): `start_date`/`end_date` as "YYYY-MM-DD HH:MM:SS" in UTC (RFC 3339 is
rejected); `page` from 1, `page_size` ≤ 100 (422 above); newest first; `total` is capped at 10,000 with
`total_is_capped`, so when capped we page until `data` is empty. One row per request, `spend` in USD as
a JSON float (read as Decimal), `api_key` is the SHA-256 hash of the virtual key.

Store semantics: requests are summed into hourly rows per (key, user, team, model, end user) — price
aggregates, not requests — with record_type 'usage' and cost_basis 'billed' (LiteLLM's own price map is
the money this source reports). `team_id` goes to `project_id` (so allocation rules can match teams),
the upstream `custom_llm_provider` and `call_type` to `line_item` as "<provider>/<call_type>" (as the
SpendLogs importer writes it; [[gateways]] reads the upstream from there),
`organization_id` to `account_id`, the end user to tags. `end_date` is treated as inclusive by the
server, so rows at or after the window end are dropped here; rows are de-duplicated by request_id (a new
request arriving mid-walk shifts the newest-first pages by one).
Cache tokens come from `metadata.additional_usage_values` when the proxy records them, else stay NULL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from collector import COLLECTORS
from collector._api import HOUR, ApiCollector, HttpOptions, int_or_none
from spendwatch.errors import FatalSourceError
from spendwatch.store import Window
from spendwatch.timeutil import UTC, floor_to

PAGE_SIZE_MAX = 100
FMT = "%Y-%m-%d %H:%M:%S"
SUMS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "requests")


@COLLECTORS.register("litellm")
class LiteLLMCollector(ApiCollector):
    provider = "litellm"
    kinds = ("usage",)
    default_lookback = "1d"

    @dataclass(frozen=True)
    class Options(HttpOptions):
        base_url: str = "http://localhost:4000"
        page_size: int = 100

        def __post_init__(self) -> None:
            if not 1 <= self.page_size <= PAGE_SIZE_MAX:
                raise ValueError(f"page_size: must be 1..{PAGE_SIZE_MAX} (the proxy answers 422 above)")

    def fetch_rows(self, kind: str, window: Window) -> Iterator[dict[str, Any]]:
        groups: dict[tuple[Any, ...], dict[str, Any]] = {}
        seen: set[str] = set()
        base = [("start_date", window.start.strftime(FMT)), ("end_date", window.end.strftime(FMT)),
                ("page_size", self.options.page_size)]
        page = 1
        while True:
            body = self.client.get_json("spend/logs/v2", base + [("page", page)])
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise FatalSourceError(self.name, "spend/logs/v2: unexpected response shape (no `data` list)")
            for r in data:
                rid = r.get("request_id")
                if rid in seen:
                    continue
                seen.add(rid)
                self._add(groups, window, r)
            capped = bool(body.get("total_is_capped"))
            total_pages = int(body.get("total_pages") or 0)
            if not data or (not capped and page >= total_pages):
                break
            page += 1
            if page > 1_000_000:
                raise FatalSourceError(self.name, "spend/logs/v2: pagination does not end (loop guard)")
        return iter(groups.values())

    def _add(self, groups: dict[tuple[Any, ...], dict[str, Any]], window: Window, r: dict[str, Any]) -> None:
        ts = _parse_time(r.get("startTime"))
        if ts is None or not (window.start <= ts < window.end):
            return
        hour = floor_to(ts, HOUR)
        meta: dict[str, Any] = r["metadata"] if isinstance(r.get("metadata"), dict) else {}
        extra: dict[str, Any] = (meta["additional_usage_values"] if isinstance(meta.get("additional_usage_values"), dict)
                                 else {})
        key = (hour, r.get("api_key"), r.get("user"), r.get("team_id"), r.get("organization_id"),
               r.get("model_group") or r.get("model"), r.get("end_user"), r.get("custom_llm_provider"),
               r.get("call_type"))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                "record_type": "usage", "ts": hour, "period_end": hour + HOUR, "granularity": "hour",
                "provider": "litellm", "api_key_id": key[1], "user_id": key[2], "project_id": key[3],
                "account_id": key[4], "model": key[5],
                "line_item": "/".join(str(p) for p in key[7:] if p) or None, "input_tokens": None, "cached_input_tokens": None,
                "cache_write_tokens": None, "output_tokens": None, "reasoning_tokens": None, "requests": 0,
                "cost_usd": None, "cost_basis": "billed",
                "tags": {"end_user": key[6]} if key[6] else None,
            }
        values = {"input_tokens": r.get("prompt_tokens"), "output_tokens": r.get("completion_tokens"),
                  "cached_input_tokens": extra.get("cache_read_input_tokens"),
                  "cache_write_tokens": extra.get("cache_creation_input_tokens"), "requests": 1}
        for col in SUMS:
            v = int_or_none(values[col])
            if v is not None:
                g[col] = (g[col] or 0) + v
        spend = r.get("spend")
        if spend is not None:
            g["cost_usd"] = (g["cost_usd"] or Decimal(0)) + Decimal(spend)


def _parse_time(value: Any) -> Any:
    """ISO 8601 (`2024-01-18T18:07:54.071000Z`) or the proxy's "YYYY-MM-DD HH:MM:SS" (UTC)."""
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00").replace(" ", "T", 1))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
