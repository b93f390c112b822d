"""Token counts → estimated USD, for providers whose usage endpoints carry no money (OpenAI, Anthropic).

Prices come from `genai-prices` (offline, dated, with cached-input and cache-write prices and per-tier /
batch variants), unless a `[[prices]]` entry of the config (a negotiated rate) matches first. An unknown
model prices to None, which the store keeps as NULL ("unpriced", listed by `spendwatch status`), never $0.

We price aggregates (one bucket row of many requests), so two choices are deliberate:
  * tiered prices (e.g. Claude's >200k-token-prompt tier) use the base tier: the tier is decided per
    request, and a bucket's token total says nothing about single prompts. The billed cost lines, when the
    provider has them, correct this in the `spend` view (reconciliation);
  * arithmetic is done on our own token semantics: `input_tokens` includes cache reads and writes, so
    uncached = input − cached − cache writes, each part at its own rate (falling back to the input rate
    when the table has no separate cache price, which is how providers without cache pricing bill).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

MILLION = Decimal(1_000_000)


class Rates:
    """USD per million tokens for one model at one time; None means 'not priced'."""

    __slots__ = ("input", "output", "cached", "cache_write", "cache_write_1h")

    def __init__(self, input: Decimal, output: Decimal | None, cached: Decimal | None = None,
                 cache_write: Decimal | None = None, cache_write_1h: Decimal | None = None) -> None:
        self.input = input
        self.output = output
        self.cached = cached if cached is not None else input
        self.cache_write = cache_write if cache_write is not None else input
        self.cache_write_1h = cache_write_1h if cache_write_1h is not None else self.cache_write

    def cost(self, input_tokens: int, cached: int, cache_write: int, output_tokens: int,
             cache_write_1h: int = 0) -> Decimal | None:
        if output_tokens and self.output is None:
            return None
        uncached = max(0, input_tokens - cached - cache_write)
        total = (uncached * self.input + cached * self.cached + (cache_write - cache_write_1h) * self.cache_write
                 + cache_write_1h * self.cache_write_1h + output_tokens * (self.output or 0))
        return Decimal(total) / MILLION


class Pricer:
    """Prices bucket rows; `overrides` are the config's [[prices]] entries (first match wins)."""

    def __init__(self, overrides: Iterable[Any] = ()) -> None:
        self.overrides = list(overrides)

    def rates(self, provider: str, model: str | None, at: datetime, *, service_tier: str | None = None,
              batch: bool = False) -> Rates | None:
        if not model:
            return None
        day = at.date()
        for o in self.overrides:
            if (fnmatch.fnmatchcase(provider, o.provider) and fnmatch.fnmatchcase(model, o.model)
                    and (o.since is None or day >= date.fromisoformat(o.since))
                    and (o.until is None or day < date.fromisoformat(o.until))):
                return Rates(o.input_per_mtok, o.output_per_mtok, o.cached_input_per_mtok, o.cache_write_per_mtok)
        return _table_rates(provider, model, day, service_tier, batch)

    def price(self, provider: str, model: str | None, at: datetime, *, input_tokens: int = 0,
              cached_input_tokens: int = 0, cache_write_tokens: int = 0, output_tokens: int = 0,
              cache_write_1h_tokens: int = 0, service_tier: str | None = None,
              batch: bool = False) -> Decimal | None:
        """Estimated USD for an aggregate, or None when the model has no known price."""
        r = self.rates(provider, model, at, service_tier=service_tier, batch=batch)
        if r is None:
            return None
        return r.cost(input_tokens or 0, cached_input_tokens or 0, cache_write_tokens or 0, output_tokens or 0,
                      cache_write_1h_tokens or 0)


def _base(value: Any) -> Decimal | None:
    """A flat price, or the base tier of a tiered one (see module docstring)."""
    if value is None:
        return None
    return getattr(value, "base", value)


@lru_cache(maxsize=4096)
def _table_rates(provider: str, model: str, day: date, service_tier: str | None,
                 batch: bool) -> Rates | None:
    from datetime import time

    from genai_prices.data_snapshot import get_snapshot

    try:
        _prov, info = get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    context: dict[str, str] = {}
    if batch:
        context["processing"] = "batch"
    if service_tier and service_tier not in ("standard", "default"):
        context["service_tier"] = service_tier
    mp = info.get_prices(datetime.combine(day, time(12), UTC), context or None)
    inp = _base(mp.input_mtok)
    if inp is None:
        return None
    return Rates(inp, _base(mp.output_mtok), _base(mp.cache_read_mtok), _base(mp.cache_write_mtok),
                 _base(getattr(mp, "cache_write_1h_mtok", None)))
