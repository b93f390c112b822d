"""OpenAI organization Usage and Costs APIs (admin key): tokens per model/key/project/user, billed lines.

Wire format (docs/provider-apis.md §1–2): unix-second times, end exclusive; `limit` counts buckets (1h ≤ 168,
1d ≤ 31; costs 1d only, ≤ 180); arrays as repeated keys (`group_by=a&group_by=b`); cursor pages via
`next_page`/`has_more`; dimensions not grouped by come back null; money is a JSON number in dollars.

Store semantics (docs/design.md invariant 3):
  * kind "usage": one row per (bucket, endpoint, project, user, key, model, batch, tier) with
    record_type 'usage', cost_basis 'estimated' (priced by spendwatch.pricing; NULL when unknown);
  * kind "cost": one row per (day, project, line_item), record_type 'cost', cost_basis 'billed';
    covers_usage is true for token charges (the lines the usage rows detail), false for tools, storage,
    fine-tuning, images… Both kinds carry OpenAI's project id in `project_id`, so `spend` reconciles them.
Assumption: `line_item` text is "<model>, <charge>" (e.g. "gpt-4o-2024-08-06, input"); it is a token charge
when `quantity_unit` says tokens or, on older data without it, when the charge is input/output/cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from collector import COLLECTORS
from collector._api import (
    GRANULARITY,
    ApiCollector,
    HttpOptions,
    bucket_width_for,
    clean_tags,
    from_unix,
    int_or_none,
    n_buckets,
    to_unix,
)
from spendwatch.errors import FatalSourceError
from spendwatch.store import Window

LIMIT_MAX = {"1m": 1440, "1h": 168, "1d": 31}
COSTS_LIMIT_MAX = 180
GROUP_BY = {
    "completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "moderations": ("project_id", "user_id", "api_key_id", "model"),
}
TOKEN_CHARGE = re.compile(r"(?i)(^|, )(cached |uncached )?(input|output|cache write|cache read)( tokens)?( \(batch\))?$")


@COLLECTORS.register("openai")
class OpenAICollector(ApiCollector):
    provider = "openai"
    kinds: tuple[str, ...] = ("usage", "cost")
    default_lookback = "3d"
    fatal_429_without_retry_after = True  # "may be omitted for 429 responses that require user action"

    @dataclass(frozen=True)
    class Options(HttpOptions):
        base_url: str = "https://api.openai.com/v1"
        usage_endpoints: list[str] = field(default_factory=lambda: ["completions", "embeddings"])
        bucket_width: Literal["1h", "1d"] = "1h"           # recent window
        backfill_bucket_width: Literal["1h", "1d"] = "1d"  # chunks older than hourly_within
        hourly_within: timedelta = timedelta(days=7)
        costs: bool = True                                 # also pull /organization/costs (billed lines)

        def __post_init__(self) -> None:
            bad = [e for e in self.usage_endpoints if e not in GROUP_BY]
            if bad:
                raise ValueError(f"usage_endpoints: unknown {', '.join(bad)} (token endpoints: "
                                 f"{', '.join(GROUP_BY)}; the others are billed via /organization/costs)")

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        if not self.options.costs:
            self.kinds = ("usage",)

    def fetch_rows(self, kind: str, window: Window) -> Iterator[dict[str, Any]]:
        rows = self._costs(window) if kind == "cost" else self._usage(window)
        return iter(rows)

    # ----------------------------------------------------------------------------------------- usage
    def _usage(self, window: Window) -> list[dict[str, Any]]:
        width = bucket_width_for(self.options, window, self._now)
        rows: list[dict[str, Any]] = []
        for endpoint in self.options.usage_endpoints:
            params: list[tuple[str, Any]] = [
                ("start_time", to_unix(window.start)), ("end_time", to_unix(window.end)),
                ("bucket_width", width), ("limit", min(LIMIT_MAX[width], n_buckets(window, width)))]
            params += [("group_by", g) for g in GROUP_BY[endpoint]]
            for page in self.client.cursor_pages(f"organization/usage/{endpoint}", params):
                for bucket in page.get("data") or []:
                    start, end = from_unix(bucket["start_time"]), from_unix(bucket["end_time"])
                    for r in bucket.get("results") or []:
                        rows.append(self._usage_row(endpoint, width, start, end, r))
        return rows

    def _usage_row(self, endpoint: str, width: str, start: Any, end: Any, r: dict[str, Any]) -> dict[str, Any]:
        inp = int_or_none(r.get("input_tokens"))
        cached = int_or_none(r.get("input_cached_tokens"))
        write = int_or_none(r.get("input_cache_write_tokens"))
        out = int_or_none(r.get("output_tokens"))
        batch = bool(r.get("batch"))
        tier = r.get("service_tier")
        cost = self.pricer.price("openai", r.get("model"), start, input_tokens=inp or 0,
                                 cached_input_tokens=cached or 0, cache_write_tokens=write or 0,
                                 output_tokens=out or 0, service_tier=tier, batch=batch)
        return {
            "record_type": "usage", "ts": start, "period_end": end, "granularity": GRANULARITY[width],
            "provider": "openai", "project_id": r.get("project_id"), "api_key_id": r.get("api_key_id"),
            "user_id": r.get("user_id"), "model": r.get("model"), "service_tier": tier,
            "input_tokens": inp, "cached_input_tokens": cached, "cache_write_tokens": write,
            "output_tokens": out, "reasoning_tokens": None, "requests": int_or_none(r.get("num_model_requests")),
            "cost_usd": cost, "cost_basis": "estimated",
            "tags": clean_tags({"endpoint": endpoint, "batch": True if batch else None}),
        }

    # ----------------------------------------------------------------------------------------- costs
    def _costs(self, window: Window) -> list[dict[str, Any]]:
        params: list[tuple[str, Any]] = [
            ("start_time", to_unix(window.start)), ("end_time", to_unix(window.end)), ("bucket_width", "1d"),
            ("limit", min(COSTS_LIMIT_MAX, n_buckets(window, "1d"))),
            ("group_by", "project_id"), ("group_by", "line_item")]
        rows = []
        for page in self.client.cursor_pages("organization/costs", params):
            for bucket in page.get("data") or []:
                start, end = from_unix(bucket["start_time"]), from_unix(bucket["end_time"])
                for r in bucket.get("results") or []:
                    rows.append(self._cost_row(start, end, r))
        return rows

    def _cost_row(self, start: Any, end: Any, r: dict[str, Any]) -> dict[str, Any]:
        amount = r.get("amount") or {}
        value, currency = amount.get("value"), str(amount.get("currency") or "usd").upper()
        if currency != "USD":
            raise FatalSourceError(self.name, f"organization/costs: currency {currency} is not supported (USD only)")
        line = r.get("line_item")
        model = line.rsplit(", ", 1)[0] if line and ", " in line else None
        unit = r.get("quantity_unit")
        covers = (unit in ("tokens", "1000_tokens")) if unit else bool(line and TOKEN_CHARGE.search(line))
        return {
            "record_type": "cost", "covers_usage": covers, "ts": start, "period_end": end, "granularity": "day",
            "provider": "openai", "project_id": r.get("project_id"), "api_key_id": r.get("api_key_id"),
            "model": model, "line_item": line, "cost_usd": Decimal(value) if value is not None else None,
            "cost_basis": "billed", "currency": "USD",
            "tags": clean_tags({"quantity": str(r["quantity"]) if r.get("quantity") is not None else None,
                                "quantity_unit": unit}),
        }

