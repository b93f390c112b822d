"""Fake Anthropic Admin API usage and cost reports (docs/provider-apis.md §3), served from a Dataset.

Speaks: `x-api-key` + required `anthropic-version`; `GET /v1/organizations/usage_report/messages` and
`/v1/organizations/cost_report`; RFC 3339 `starting_at` (snapped to the bucket start) and `ending_at`
(buckets that end before it); per-width `limit` maxima (1h ≤ 168, 1d ≤ 31; cost 1d only, ≤ 31), 400
above; bracketed `group_by[]` (plain `group_by` is a violation); cache writes in `cache_creation`;
`workspace_id` null for the default workspace even when grouped; cost `amount` a decimal string in cents.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..timeutil import floor_to
from ._server import ApiError, FakeProvider, Query, Reply, int_param, one
from .admin import AnthropicAdmin
from .dataset import ANTHROPIC_DISPLAY
from .openai import WIDTH, bucket_bounds, page_of

LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
GROUPS = {"api_key_id": "api_key_id", "model": "model", "service_tier": "service_tier", "workspace_id": "project_id"}
ALLOWED = ("account_id", "api_key_id", "context_window", "inference_geo", "model", "service_account_id",
           "service_tier", "speed", "workspace_id")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str | None, name: str) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name}: not RFC 3339 ({text!r})") from None


class FakeAnthropic(AnthropicAdmin, FakeProvider):
    name = "anthropic"
    sdk_prefix = ""

    def authorized(self, headers: Any) -> bool:
        return headers.get("x-api-key") == self.api_key

    def auth_error(self) -> Reply:
        return 401, {}, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}

    def error_body(self, status: int, message: str) -> Any:
        kind = {400: "invalid_request_error", 429: "rate_limit_error", 500: "api_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}

    def index(self) -> None:
        self.by_hour: dict[datetime, list[Any]] = defaultdict(list)
        self.cost_by_day: dict[datetime, list[tuple[str | None, str, str | None, str | None, str, Decimal]]] = defaultdict(list)
        for c in self.dataset.cells:
            self.by_hour[c.hour].append(c)
            day = c.hour.replace(hour=0)
            name = ANTHROPIC_DISPLAY.get(c.model, c.model)
            tier = "batch" if c.service_tier == "batch" else "standard"
            self.cost_by_day[day].append((c.project_id, f"{name} Usage - Input Tokens", c.model,
                                          "uncached_input_tokens", tier, c.input_cost))
            self.cost_by_day[day].append((c.project_id, f"{name} Usage - Output Tokens", c.model,
                                          "output_tokens", tier, c.output_cost))
        for b in self.dataset.lines:
            self.cost_by_day[b.day].append((b.project_id, b.line_item, None, None, b.cost_type, b.amount))

    def route(self, path: str, query: Query, headers: Any) -> Reply:
        if not headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version header is required")
        if "group_by" in query:
            raise ApiError(400, "use group_by[] (bracket form)")
        if path == "/v1/organizations/usage_report/messages":
            return self._usage(query)
        if path == "/v1/organizations/cost_report":
            return self._costs(query)
        raise ApiError(404, f"no route {path}")

    def _page(self, query: Query, width_name: str, limit_hi: int, default: int) -> tuple[list, str | None, datetime]:
        width = WIDTH[width_name]
        limit = int_param(query, "limit", default, 1, limit_hi)
        start = _parse(one(query, "starting_at", required=True), "starting_at")
        end_raw = one(query, "ending_at")
        end = _parse(end_raw, "ending_at") if end_raw else self.clock()
        bounds = [b for b in bucket_bounds(start, end, width, False) if b[1] <= end]   # buckets that end before
        buckets, nxt = page_of(bounds, one(query, "page"), min(limit, self.page_buckets or limit))
        return buckets, nxt, end

    def _usage(self, query: Query) -> Reply:
        width_name = one(query, "bucket_width", "1d") or "1d"
        if width_name not in WIDTH:
            raise ApiError(400, f"bucket_width {width_name!r} invalid")
        groups = query.get("group_by[]", [])
        bad = [g for g in groups if g not in ALLOWED]
        if bad:
            raise ApiError(400, f"group_by[] {bad[0]!r} not allowed")
        default, hi = LIMITS[width_name]
        buckets, nxt, _end = self._page(query, width_name, hi, default)
        data = []
        for b0, b1 in buckets:
            agg: dict[tuple, dict[str, Any]] = {}
            h = floor_to(b0, timedelta(hours=1))
            while h < b1:
                for c in self.by_hour.get(h, ()):
                    key = tuple(getattr(c, GROUPS[g]) if g in GROUPS else None for g in groups)
                    r = agg.get(key)
                    if r is None:
                        r = agg[key] = self._result(dict(zip(groups, key, strict=False)))
                    r["uncached_input_tokens"] += c.input_tokens - c.cached_input_tokens - c.cache_write_tokens
                    r["cache_read_input_tokens"] += c.cached_input_tokens
                    r["cache_creation"]["ephemeral_5m_input_tokens"] += c.cache_write_tokens - c.cache_write_1h_tokens
                    r["cache_creation"]["ephemeral_1h_input_tokens"] += c.cache_write_1h_tokens
                    r["output_tokens"] += c.output_tokens
                h += timedelta(hours=1)
            data.append({"starting_at": _iso(b0), "ending_at": _iso(b1), "results": list(agg.values())})
        return 200, {}, {"data": data, "has_more": nxt is not None, "next_page": nxt}

    def _result(self, dims: dict[str, Any]) -> dict[str, Any]:
        r: dict[str, Any] = {"uncached_input_tokens": 0, "cache_read_input_tokens": 0,
                             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                             "output_tokens": 0, "server_tool_use": {"web_search_requests": 0}}
        for g in ALLOWED:
            r[g] = dims.get(g)
        if "context_window" in dims:
            r["context_window"] = "0-200k"
        return r

    def _costs(self, query: Query) -> Reply:
        if (one(query, "bucket_width", "1d") or "1d") != "1d":
            raise ApiError(400, "cost_report: bucket_width must be 1d")
        groups = query.get("group_by[]", [])
        bad = [g for g in groups if g not in ("workspace_id", "description")]
        if bad:
            raise ApiError(400, f"group_by[] {bad[0]!r} not allowed for cost_report")
        buckets, nxt, _end = self._page(query, "1d", 31, 7)
        by_desc = "description" in groups
        data = []
        for b0, b1 in buckets:
            agg: dict[tuple, Decimal] = defaultdict(Decimal)
            meta: dict[tuple, tuple] = {}
            for ws, desc, model, token_type, kind, amount in self.cost_by_day.get(b0, ()):
                key = (ws if "workspace_id" in groups else None, desc if by_desc else None)
                agg[key] += amount
                meta[key] = (model, token_type, kind)
            results = []
            for (ws, desc), dollars in agg.items():
                model, token_type, kind = meta[(ws, desc)]
                tier = kind if kind in ("standard", "batch") else None
                results.append({
                    "amount": format(dollars * 100, "f"), "currency": "USD", "workspace_id": ws,
                    "description": desc, "model": model if by_desc else None,
                    "token_type": token_type if by_desc else None,
                    "cost_type": ("tokens" if tier else kind) if by_desc else None,
                    "service_tier": tier if by_desc else None, "context_window": "0-200k" if by_desc and tier else None,
                    "inference_geo": "global" if by_desc else None})
            data.append({"starting_at": _iso(b0), "ending_at": _iso(b1), "results": results})
        return 200, {}, {"data": data, "has_more": nxt is not None, "next_page": nxt}
