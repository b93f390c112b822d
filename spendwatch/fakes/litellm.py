"""Fake LiteLLM proxy spend API (docs/provider-apis.md §5.2): `GET /spend/logs/v2`.

Each dataset cell becomes `requests` SpendLogs rows spread over its hour (tokens and spend split so they
sum back exactly). Speaks: Bearer proxy key; `start_date`/`end_date` as "YYYY-MM-DD HH:MM:SS" UTC,
inclusive (anything else → 400, a violation); `page` ≥ 1, `page_size` 1..100 (422 above, a violation);
newest first; `total` capped at 10,000 with `total_is_capped`.
"""

from __future__ import annotations

import bisect
import hashlib
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ..timeutil import UTC
from ._server import ApiError, FakeProvider, Query, Reply, int_param, one

TOTAL_CAP = 10_000
UPSTREAMS = ("openai", "anthropic", "azure", "bedrock", "vertex_ai", "gemini", "mistral")  # Cell.endpoint → custom_llm_provider
FMT = "%Y-%m-%d %H:%M:%S"


class FakeLiteLLM(FakeProvider):
    name = "litellm"
    sdk_prefix = ""

    def index(self) -> None:
        rows = []
        for c in self.dataset.cells:
            n = max(1, c.requests)
            share = (c.cost / n).quantize(Decimal("0.0000000001"), rounding=ROUND_DOWN)
            for i in range(n):
                first = i == 0
                pt = c.input_tokens // n + (c.input_tokens % n if first else 0)
                ct = c.output_tokens // n + (c.output_tokens % n if first else 0)
                spend = share + (c.cost - share * n if first else 0)
                seed = hashlib.sha256(f"{c.hour}{c.model}{c.api_key_id}{c.user_id}{i}".encode()).hexdigest()
                start = c.hour + timedelta(seconds=int(seed[:8], 16) % 3600, microseconds=int(seed[8:12], 16) % 1000 * 1000)
                rows.append((start, {
                    "request_id": f"chatcmpl-{seed[:24]}", "call_type": "acompletion", "api_key": c.api_key_id,
                    "spend": spend, "total_tokens": pt + ct, "prompt_tokens": pt, "completion_tokens": ct,
                    "startTime": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "endTime": (start + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "model": c.model, "model_group": c.model, "custom_llm_provider": c.endpoint if c.endpoint in UPSTREAMS else "openai",
                    "user": c.user_id, "team_id": c.project_id, "organization_id": None, "end_user": None,
                    "metadata": {"user_api_key_team_id": c.project_id, "status": "success"},
                    "cache_hit": "False", "status": "success"}))
        rows.sort(key=lambda r: (r[0], r[1]["request_id"]))
        self.times = [r[0] for r in rows]
        self.rows = [r[1] for r in rows]

    def route(self, path: str, query: Query, headers: Any) -> Reply:
        if path != "/spend/logs/v2":
            raise ApiError(404, f"no route {path}")
        try:
            start = datetime.strptime(one(query, "start_date", required=True) or "", FMT).replace(tzinfo=UTC)
            end = datetime.strptime(one(query, "end_date", required=True) or "", FMT).replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(400, "start_date/end_date must be 'YYYY-MM-DD HH:MM:SS' (UTC)") from None
        page = int_param(query, "page", 1, 1, 10**9)
        raw_size = one(query, "page_size")
        if raw_size is not None and not 1 <= int(raw_size) <= 100:
            raise ApiError(422, f"page_size={raw_size}: must be between 1 and 100")
        size = int(raw_size or 50)
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_right(self.times, end + timedelta(microseconds=999_999))
        total = hi - lo
        newest_first = range(hi - 1 - (page - 1) * size, max(lo, hi - page * size) - 1, -1)
        data = [self.rows[i] for i in newest_first if i >= lo]
        capped = total > TOTAL_CAP
        shown = min(total, TOTAL_CAP)
        return 200, {}, {"data": data, "total": shown, "page": page, "page_size": size,
                         "total_pages": -(-shown // size), "total_is_capped": capped}

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "bad_request", "code": str(status)}}
