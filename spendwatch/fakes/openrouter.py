"""Fake OpenRouter management API (docs/provider-apis.md §4): `/api/v1/activity`, `/credits`, `/key`.

`/activity?date=` answers only for the last 30 *completed* UTC days (today or older → 400, recorded as a
violation); rows aggregate a day per (model, endpoint) with `usage` (credits) and `byok_usage_inference`
(half of the cost of `anthropic/` models here, to exercise the sum); no pagination.
`/credits` reports lifetime credits and usage (credits spent, BYOK excluded).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..timeutil import day_start
from ._server import ApiError, FakeProvider, Query, Reply, one
from .admin import OpenRouterAdmin


class FakeOpenRouter(OpenRouterAdmin, FakeProvider):
    name = "openrouter"
    sdk_prefix = "/api/v1"

    def is_later_page(self, path: str, query: Query) -> bool:
        """No pagination here: the second and later `/activity` calls of a walk stand in for page 2."""
        return path.endswith("/activity") and sum(1 for _m, t in self.requests if "/activity" in t) >= 2

    def index(self) -> None:
        self.days: dict[date, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
        self.spent = Decimal(0)
        for c in self.dataset.cells:
            d = c.hour.date()
            endpoint_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{c.model}@{c.endpoint}"))
            row = self.days[d].get((c.model, endpoint_id))
            if row is None:
                row = self.days[d][(c.model, endpoint_id)] = {
                    "date": d.isoformat(), "model": c.model, "model_permaslug": c.model + "-2025",
                    "endpoint_id": endpoint_id, "provider_name": c.endpoint, "usage": Decimal(0),
                    "byok_usage_inference": Decimal(0), "requests": 0, "prompt_tokens": 0,
                    "completion_tokens": 0, "reasoning_tokens": 0}
            byok = c.cost / 2 if c.model.startswith("anthropic/") else Decimal(0)
            row["usage"] += c.cost - byok
            row["byok_usage_inference"] += byok
            self.spent += c.cost - byok
            row["requests"] += c.requests
            row["prompt_tokens"] += c.input_tokens
            row["completion_tokens"] += c.output_tokens
            row["reasoning_tokens"] += c.reasoning_tokens

    def route(self, path: str, query: Query, headers: Any) -> Reply:
        if path == "/api/v1/activity":
            return self._activity(query)
        if path == "/api/v1/credits":
            return 200, {}, {"data": {"total_credits": self.dataset.credits, "total_usage": self.spent}}
        if path == "/api/v1/key":
            return 200, {}, {"data": {"label": "sk-or-v1-mgmt...", "limit": None, "limit_remaining": None,
                                      "limit_reset": None, "usage": self.spent, "is_free_tier": False,
                                      "is_management_key": True, "is_provisioning_key": True}}
        raise ApiError(404, f"no route {path}")

    def _activity(self, query: Query) -> Reply:
        today = day_start(self.clock()).date()
        raw = one(query, "date")
        if raw is None:
            days = [today - timedelta(days=i) for i in range(30, 0, -1)]
        else:
            try:
                d = datetime.strptime(raw, "%Y-%m-%d").date()
            except ValueError:
                raise ApiError(400, f"date: not YYYY-MM-DD ({raw!r})") from None
            if not today - timedelta(days=30) <= d < today:
                raise ApiError(400, f"date {d} is not one of the last 30 completed UTC days")
            days = [d]
        return 200, {}, {"data": [dict(r) for d in days for r in self.days.get(d, {}).values()]}
