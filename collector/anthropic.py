"""Anthropic Admin API usage and cost reports (admin key `sk-ant-admin01-…`).

Wire format (docs/provider-apis.md §3): RFC 3339 times, `ending_at` = buckets that end before it; `limit`
counts buckets (1h ≤ 168, 1d ≤ 31; cost report 1d only, ≤ 31); arrays in bracket form
(`group_by[]=model`); cursor pages; cost `amount` is a decimal STRING in CENTS; cache writes only in the
nested `cache_creation` object; `uncached_input_tokens` excludes cache reads and writes.

Store semantics:
  * kind "usage": input_tokens = uncached + cache reads + cache writes (5m + 1h), cached_input_tokens =
    cache reads, cache_write_tokens = 5m + 1h (our contract's token semantics); priced estimates
    (record_type 'usage', cost_basis 'estimated'); the report has no request count (requests NULL);
  * kind "cost": one billed line per (day, workspace, description); covers_usage only for
    cost_type "tokens" (web search, code execution, session usage stand on their own).
  * The workspace goes into both `workspace_id` and `project_id` (the reconciliation key of `spend`), and the
    default workspace, which the API reports as null, is stored as the literal "default" in both kinds.
Assumption: Priority Tier is not in the cost report (documented); its usage estimates are reconciled into
the day's billed token total of the same workspace, so enable priority only knowing that.
"""

from __future__ import annotations

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
    add,
    bucket_width_for,
    clean_tags,
    int_or_none,
    n_buckets,
    parse_rfc3339,
    rfc3339,
)
from spendwatch.errors import FatalSourceError
from spendwatch.store import Window

LIMIT_MAX = {"1m": 1440, "1h": 168, "1d": 31}
COST_LIMIT_MAX = 31
DEFAULT_WORKSPACE = "default"
USAGE_GROUPS = ("account_id", "api_key_id", "context_window", "inference_geo", "model", "service_account_id",
                "service_tier", "workspace_id")


@COLLECTORS.register("anthropic")
class AnthropicCollector(ApiCollector):
    provider = "anthropic"
    kinds: tuple[str, ...] = ("usage", "cost")
    default_lookback = "3d"
    fatal_429_without_retry_after = True  # a tier spend-cap 429 has no retry-after and keeps failing

    @dataclass(frozen=True)
    class Options(HttpOptions):
        base_url: str = "https://api.anthropic.com"
        group_by: list[str] = field(default_factory=lambda: ["model", "api_key_id", "workspace_id", "service_tier"])
        bucket_width: Literal["1h", "1d"] = "1h"
        backfill_bucket_width: Literal["1h", "1d"] = "1d"
        hourly_within: timedelta = timedelta(days=7)
        costs: bool = True
        anthropic_version: str = "2023-06-01"

        def __post_init__(self) -> None:
            bad = [g for g in self.group_by if g not in USAGE_GROUPS]
            if bad:
                raise ValueError(f"group_by: unknown {', '.join(bad)} (allowed: {', '.join(USAGE_GROUPS)})")

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        if not self.options.costs:
            self.kinds = ("usage",)

    def headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": self.options.anthropic_version}

    def fetch_rows(self, kind: str, window: Window) -> Iterator[dict[str, Any]]:
        return iter(self._costs(window) if kind == "cost" else self._usage(window))

    def _usage(self, window: Window) -> list[dict[str, Any]]:
        width = bucket_width_for(self.options, window, self._now)
        params: list[tuple[str, Any]] = [
            ("starting_at", rfc3339(window.start)), ("ending_at", rfc3339(window.end)), ("bucket_width", width),
            ("limit", min(LIMIT_MAX[width], n_buckets(window, width)))]
        params += [("group_by[]", g) for g in self.options.group_by]
        rows = []
        for page in self.client.cursor_pages("v1/organizations/usage_report/messages", params):
            for bucket in page.get("data") or []:
                start, end = parse_rfc3339(bucket["starting_at"]), parse_rfc3339(bucket["ending_at"])
                for r in bucket.get("results") or []:
                    rows.append(self._usage_row(width, start, end, r))
        return rows

    def _usage_row(self, width: str, start: Any, end: Any, r: dict[str, Any]) -> dict[str, Any]:
        creation = r.get("cache_creation") or {}
        w5 = int_or_none(creation.get("ephemeral_5m_input_tokens"))
        w1h = int_or_none(creation.get("ephemeral_1h_input_tokens"))
        writes = add(w5, w1h)
        cached = int_or_none(r.get("cache_read_input_tokens"))
        inp = add(int_or_none(r.get("uncached_input_tokens")), cached, writes)
        out = int_or_none(r.get("output_tokens"))
        tier = r.get("service_tier")
        cost = self.pricer.price("anthropic", r.get("model"), start, input_tokens=inp or 0,
                                 cached_input_tokens=cached or 0, cache_write_tokens=writes or 0,
                                 cache_write_1h_tokens=w1h or 0, output_tokens=out or 0,
                                 service_tier=None if tier in ("batch", "standard") else tier,
                                 batch=tier == "batch")
        ws = self._workspace(r)
        tool_use = r.get("server_tool_use") or {}
        return {
            "record_type": "usage", "ts": start, "period_end": end, "granularity": GRANULARITY[width],
            "provider": "anthropic", "account_id": r.get("account_id"), "project_id": ws, "workspace_id": ws,
            "api_key_id": r.get("api_key_id"), "model": r.get("model"), "service_tier": tier,
            "input_tokens": inp, "cached_input_tokens": cached, "cache_write_tokens": writes,
            "output_tokens": out, "reasoning_tokens": None, "requests": None,
            "cost_usd": cost, "cost_basis": "estimated",
            "tags": clean_tags({"context_window": r.get("context_window"), "inference_geo": r.get("inference_geo"),
                                "cache_write_1h_tokens": w1h or None,
                                "web_search_requests": tool_use.get("web_search_requests") or None}),
        }

    def _workspace(self, r: dict[str, Any]) -> Any:
        if "workspace_id" not in self.options.group_by:
            return None
        return r.get("workspace_id") or DEFAULT_WORKSPACE

    def _costs(self, window: Window) -> list[dict[str, Any]]:
        params: list[tuple[str, Any]] = [
            ("starting_at", rfc3339(window.start)), ("ending_at", rfc3339(window.end)), ("bucket_width", "1d"),
            ("limit", min(COST_LIMIT_MAX, n_buckets(window, "1d"))),
            ("group_by[]", "workspace_id"), ("group_by[]", "description")]
        rows = []
        for page in self.client.cursor_pages("v1/organizations/cost_report", params):
            for bucket in page.get("data") or []:
                start, end = parse_rfc3339(bucket["starting_at"]), parse_rfc3339(bucket["ending_at"])
                for r in bucket.get("results") or []:
                    rows.append(self._cost_row(start, end, r))
        return rows

    def _cost_row(self, start: Any, end: Any, r: dict[str, Any]) -> dict[str, Any]:
        if str(r.get("currency") or "USD").upper() != "USD":
            raise FatalSourceError(self.name, f"cost_report: currency {r.get('currency')} is not supported (USD only)")
        cents = r.get("amount")
        ws = r.get("workspace_id") or DEFAULT_WORKSPACE
        return {
            "record_type": "cost", "covers_usage": r.get("cost_type") == "tokens", "ts": start, "period_end": end,
            "granularity": "day", "provider": "anthropic", "project_id": ws, "workspace_id": ws,
            "model": r.get("model"), "service_tier": r.get("service_tier"), "line_item": r.get("description"),
            "cost_usd": Decimal(str(cents)) / 100 if cents is not None else None, "cost_basis": "billed",
            "currency": "USD",
            "tags": clean_tags({"cost_type": r.get("cost_type"), "token_type": r.get("token_type"),
                                "context_window": r.get("context_window"), "inference_geo": r.get("inference_geo")}),
        }
