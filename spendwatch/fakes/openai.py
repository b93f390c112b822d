"""Fake OpenAI organization Usage + Costs API (docs/provider-apis.md §1–2), served from a Dataset.

Speaks: Bearer admin key; `GET /v1/organization/usage/{completions,embeddings}` and
`GET /v1/organization/costs`; unix-second `start_time` (inclusive) / `end_time` (exclusive); buckets of
1m/1h/1d with the documented per-width `limit` maxima (400 above, recorded as a violation); repeated-key
`group_by` (a bracketed `group_by[]` is a violation); ungrouped dimensions null; empty buckets present;
an unaligned start gives a partial first bucket, as the real API does (and is recorded as a violation,
because it breaks idempotent re-pulls); opaque `page_…` cursors.
Token cost lines are "<model>, input" / "<model>, output"; billed-only lines keep their text.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..timeutil import UTC, floor_to
from ._server import ApiError, FakeProvider, Query, Reply, int_param, one
from .admin import OpenAIAdmin

WIDTH = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}   # (default, max) buckets per page
GROUPS = {"completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
          "embeddings": ("project_id", "user_id", "api_key_id", "model")}
COST_GROUPS = ("project_id", "line_item", "api_key_id")


def encode_cursor(t: datetime) -> str:
    return "page_" + base64.b64encode(t.strftime("%Y-%m-%dT%H:%M:%SZ").encode()).decode()


def decode_cursor(cursor: str) -> datetime:
    try:
        raw = base64.b64decode(cursor.removeprefix("page_")).decode()
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except Exception:
        raise ApiError(400, f"invalid page cursor {cursor!r}") from None


def bucket_bounds(start: datetime, end: datetime, width: timedelta, partial_first: bool) -> list[tuple[datetime, datetime]]:
    """Bucket [start, end) list; OpenAI starts the first bucket at start_time (partial), Anthropic snaps."""
    first = start if partial_first else floor_to(start, width)
    out, cur = [], first
    while cur < end:
        nxt = floor_to(cur, width) + width
        out.append((cur, nxt))
        cur = nxt
    return out


def page_of(buckets: list[tuple[datetime, datetime]], cursor: str | None, per_page: int
            ) -> tuple[list[tuple[datetime, datetime]], str | None]:
    i = 0
    if cursor:
        at = decode_cursor(cursor)
        i = next((k for k, b in enumerate(buckets) if b[0] >= at), len(buckets))
    chunk = buckets[i:i + per_page]
    nxt = encode_cursor(buckets[i + per_page][0]) if i + per_page < len(buckets) else None
    return chunk, nxt


class FakeOpenAI(OpenAIAdmin, FakeProvider):
    name = "openai"
    sdk_prefix = "/v1"

    def index(self) -> None:
        self.by_hour: dict[tuple[str, datetime], list[Any]] = defaultdict(list)
        for c in self.dataset.cells:
            self.by_hour[(c.endpoint, c.hour)].append(c)
        self.cost_by_day: dict[datetime, list[tuple[str | None, str | None, str, Decimal]]] = defaultdict(list)
        for c in self.dataset.cells:
            day = c.hour.replace(hour=0)
            self.cost_by_day[day].append((c.project_id, c.api_key_id, f"{c.model}, input", c.input_cost))
            if c.output_cost:
                self.cost_by_day[day].append((c.project_id, c.api_key_id, f"{c.model}, output", c.output_cost))
        for b in self.dataset.lines:
            self.cost_by_day[b.day].append((b.project_id, None, b.line_item, b.amount))

    def route(self, path: str, query: Query, headers: Any) -> Reply:
        if path.startswith("/v1/organization/usage/"):
            endpoint = path.rsplit("/", 1)[1]
            if endpoint not in GROUPS:
                raise ApiError(404, f"unknown usage endpoint {endpoint}", violation=False)
            return self._usage(endpoint, query)
        if path == "/v1/organization/costs":
            return self._costs(query)
        raise ApiError(404, f"no route {path}")

    def _window(self, query: Query, width: timedelta) -> tuple[datetime, datetime]:
        if "group_by[]" in query:
            raise ApiError(400, "group_by[] is not an OpenAI parameter (use repeated group_by=)")
        start = datetime.fromtimestamp(int(one(query, "start_time", required=True) or 0), UTC)
        end_raw = one(query, "end_time")
        end = datetime.fromtimestamp(int(end_raw), UTC) if end_raw else self.clock()
        if floor_to(start, width) != start:
            self.violations.append(f"start_time {start.isoformat()} not aligned to the bucket width: partial first bucket")
        return start, end

    def _groups(self, query: Query, allowed: tuple[str, ...]) -> list[str]:
        groups = query.get("group_by", [])
        bad = [g for g in groups if g not in allowed]
        if bad:
            raise ApiError(400, f"group_by {bad[0]!r} not allowed here (allowed: {', '.join(allowed)})")
        return groups

    def _usage(self, endpoint: str, query: Query) -> Reply:
        width_name = one(query, "bucket_width", "1d") or "1d"
        if width_name not in WIDTH:
            raise ApiError(400, f"bucket_width {width_name!r} invalid")
        width = WIDTH[width_name]
        default, hi = LIMITS[width_name]
        limit = int_param(query, "limit", default, 1, hi)
        groups = self._groups(query, GROUPS[endpoint])
        start, end = self._window(query, width)
        buckets, nxt = page_of(bucket_bounds(start, end, width, True), one(query, "page"),
                               min(limit, self.page_buckets or limit))
        data = []
        for b0, b1 in buckets:
            agg: dict[tuple, dict[str, Any]] = {}
            h = floor_to(b0, timedelta(hours=1))
            while h < b1:
                if b0 <= h < end:
                    for c in self.by_hour.get((endpoint, h), ()):
                        key = tuple(getattr(c, g) for g in groups)
                        r = agg.get(key)
                        if r is None:
                            r = agg[key] = self._result(endpoint, dict(zip(groups, key, strict=False)))
                        r["input_tokens"] += c.input_tokens
                        r["num_model_requests"] += c.requests
                        if endpoint == "completions":
                            r["output_tokens"] += c.output_tokens
                            r["input_cached_tokens"] += c.cached_input_tokens
                            r["input_cache_write_tokens"] += c.cache_write_tokens
                            r["input_uncached_tokens"] += c.input_tokens - c.cached_input_tokens - c.cache_write_tokens
                h += timedelta(hours=1)
            data.append({"object": "bucket", "start_time": int(b0.timestamp()), "end_time": int(b1.timestamp()),
                         "results": list(agg.values())})
        return 200, {}, {"object": "page", "data": data, "has_more": nxt is not None, "next_page": nxt}

    def _result(self, endpoint: str, dims: dict[str, Any]) -> dict[str, Any]:
        r: dict[str, Any] = {"object": f"organization.usage.{endpoint}.result", "input_tokens": 0,
                             "num_model_requests": 0}
        if endpoint == "completions":
            r.update(output_tokens=0, input_cached_tokens=0, input_cache_write_tokens=0, input_uncached_tokens=0)
        for g in GROUPS[endpoint]:
            r[g] = dims.get(g)
        return r

    def _costs(self, query: Query) -> Reply:
        width_name = one(query, "bucket_width", "1d")
        if width_name != "1d":
            raise ApiError(400, "costs: bucket_width must be 1d")
        limit = int_param(query, "limit", 7, 1, 180)
        groups = self._groups(query, COST_GROUPS)
        start, end = self._window(query, WIDTH["1d"])
        buckets, nxt = page_of(bucket_bounds(start, end, WIDTH["1d"], True), one(query, "page"),
                               min(limit, self.page_buckets or limit))
        data = []
        for b0, b1 in buckets:
            agg: dict[tuple, Decimal] = defaultdict(Decimal)
            if b0.hour == 0 and b0 < end:   # daily amounts: only whole days are billed in this fake
                for project, key, line, amount in self.cost_by_day.get(b0, ()):
                    dims = {"project_id": project, "api_key_id": key, "line_item": line}
                    agg[tuple(dims[g] if g in groups else None for g in COST_GROUPS)] += amount
            results = [{"object": "organization.costs.result", "amount": {"value": v, "currency": "usd"},
                        "project_id": k[0], "line_item": k[1], "api_key_id": k[2]} for k, v in agg.items()]
            data.append({"object": "bucket", "start_time": int(b0.timestamp()), "end_time": int(b1.timestamp()),
                         "results": results})
        return 200, {}, {"object": "page", "data": data, "has_more": nxt is not None, "next_page": nxt}
