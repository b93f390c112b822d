"""Example collector plugin: `type = "example-flat"` bills a flat amount per UTC day of the window.

This file, its test and docs/plugins.md are everything a new provider touches: it registers itself by
name, declares its Options (validated by the config loader, with file:line errors), and implements
`plan`/`fetch` of `spendwatch.contracts.Collector`; CollectorBase supplies every optional capability.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from collector import COLLECTORS
from spendwatch.contracts import CollectorBase
from spendwatch.store import Window
from spendwatch.timeutil import day_start


@COLLECTORS.register("example-flat")
class ExampleFlat(CollectorBase):
    @dataclass(frozen=True)
    class Options:
        per_day: Decimal            # USD billed for each UTC day
        model: str = "example-1"

    kinds = ("usage",)
    default_lookback = "2d"

    def plan(self, kind: str, window: Window, now: datetime) -> Window | None:
        """Whole UTC days only: the provider bills by day."""
        start, end = day_start(window.start), day_start(window.end)
        return Window(start, end) if end > start else None

    def fetch(self, kind: str, window: Window) -> list[dict[str, Any]]:
        o = self.source.options
        days = int((window.end - window.start) / timedelta(days=1))
        return [{"ts": window.start + timedelta(days=i), "granularity": "day", "provider": "example",
                 "model": o.model, "input_tokens": 1000, "output_tokens": 100, "requests": 10,
                 "cost_usd": o.per_day, "cost_basis": "billed"} for i in range(days)]
