"""OpenRouter management API: `/activity` (daily spend per model/endpoint), `/credits`, `/key`.

Wire format (docs/provider-apis.md §4): `/activity?date=YYYY-MM-DD` serves only the last 30 *completed* UTC
days (no today, no pagination); money is USD as JSON numbers (read as Decimal). True spend of a row =
`usage` (OpenRouter credits) + `byok_usage_inference` (bring-your-own-key inference) [assumption, §4.1].

Store semantics: kind "usage", one row per (day, model, endpoint[, workspace]) with record_type 'usage'
and cost_basis 'billed' (the money is OpenRouter's own). OpenRouter reports no cache split, so
cached_input_tokens / cache_write_tokens stay NULL (unknown), and reasoning_tokens is part of output.
After each collect the credit balance (total_credits − total_usage) is kept as the source metric
`balance_usd` (with `total_credits`, `total_usage`), which the low-balance detector reads.

A backfill older than 30 days cannot be served: the collector says so in `notes` (printed by
`spendwatch collect`) and in the log; it never pretends those days were empty.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from collector import COLLECTORS
from collector._api import DAY, ApiCollector, HttpOptions, clean_tags, int_or_none
from spendwatch.errors import FatalSourceError
from spendwatch.store import Window
from spendwatch.timeutil import day_start

log = logging.getLogger("spendwatch.collector.openrouter")
ACTIVITY_DAYS = 30


@COLLECTORS.register("openrouter")
class OpenRouterCollector(ApiCollector):
    provider = "openrouter"
    kinds = ("usage",)
    default_lookback = "3d"

    @dataclass(frozen=True)
    class Options(HttpOptions):
        base_url: str = "https://openrouter.ai/api/v1"
        group_by_workspace: bool = False   # adds workspace_id (and project_id) to every row

    def plan(self, kind: str, window: Window, now: datetime) -> Window | None:
        """Only completed UTC days within the last 30 are served."""
        self._now = now
        today = day_start(now)
        oldest = today - timedelta(days=ACTIVITY_DAYS)
        start, end = day_start(window.start), min(day_start(window.end), today)
        if start < oldest:
            note = (f"/activity serves only the last {ACTIVITY_DAYS} completed UTC days: "
                    f"{start.date()}..{(min(oldest, end) - DAY).date()} cannot be collected from OpenRouter "
                    "(import them from an export instead)")
            self.notes.append(note)
            log.warning("source=%s %s", self.name, note)
            start = oldest
        return Window(start, end) if end > start else None

    def fetch_rows(self, kind: str, window: Window) -> Iterator[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        day = day_start(window.start)
        while day < window.end:
            params: list[tuple[str, Any]] = [("date", day.date().isoformat())]
            if self.options.group_by_workspace:
                params.append(("group_by", "workspace"))
            body = self.client.get_json("activity", params)
            for r in _data(self.name, body, list):
                rows.append(self._row(day, r))
            day += DAY
        return iter(rows)

    def _row(self, day: datetime, r: dict[str, Any]) -> dict[str, Any]:
        if r.get("date") and r["date"][:10] != day.date().isoformat():
            raise FatalSourceError(self.name, f"/activity?date={day.date()} returned a row dated {r['date']}")
        usage = r.get("usage")
        byok = r.get("byok_usage_inference")
        cost = None if usage is None and byok is None else Decimal(usage or 0) + Decimal(byok or 0)
        ws = r.get("workspace_id")
        return {
            "record_type": "usage", "ts": day, "period_end": day + DAY, "granularity": "day",
            "provider": "openrouter", "project_id": ws, "workspace_id": ws, "model": r.get("model"),
            "input_tokens": int_or_none(r.get("prompt_tokens")), "cached_input_tokens": None,
            "cache_write_tokens": None, "output_tokens": int_or_none(r.get("completion_tokens")),
            "reasoning_tokens": int_or_none(r.get("reasoning_tokens")), "requests": int_or_none(r.get("requests")),
            "cost_usd": cost, "cost_basis": "billed",
            "tags": clean_tags({"endpoint_id": r.get("endpoint_id"), "provider_name": r.get("provider_name"),
                                "model_permaslug": r.get("model_permaslug"),
                                "byok_usage_inference": str(byok) if byok else None}),
        }

    def after_collect(self, store: Any, now: datetime) -> None:
        """Point-in-time facts: the prepaid balance (for the low-balance detector) and the key's limit."""
        credits = _data(self.name, self.client.get_json("credits"), dict)
        total, used = credits.get("total_credits"), credits.get("total_usage")
        if total is not None and used is not None:
            store.record_metric(self.name, "balance_usd", now, Decimal(total) - Decimal(used), "USD")
            store.record_metric(self.name, "total_credits", now, Decimal(total), "USD")
            store.record_metric(self.name, "total_usage", now, Decimal(used), "USD")
        key = _data(self.name, self.client.get_json("key"), dict)
        if key.get("limit_remaining") is not None:
            store.record_metric(self.name, "key_limit_remaining_usd", now, Decimal(key["limit_remaining"]), "USD",
                                f"limit={key.get('limit')} reset={key.get('limit_reset')}")


def _data(source: str, body: Any, kind: type) -> Any:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, kind):
        raise FatalSourceError(source, f"unexpected response shape (no `data` {kind.__name__})")
    return data
