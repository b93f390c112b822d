"""The ground truth the fake provider servers serve: hourly usage cells and billed-only cost lines.

A `Cell` is what one provider saw in one UTC hour for one combination of dimensions (model, key, project,
user, tier…), with the money the provider bills for it split into input and output parts (so the fakes
can emit per-charge cost lines). `BilledLine`s are charges with no usage counterpart (tools, storage,
fine-tuning). Everything is exact: integers and `Decimal`s with at most 8 decimal places.

`generate()` builds a deterministic dataset (a seed, a start, a number of days); `truth()` sums what a
correct collector must end up with.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MILLION = Decimal(1_000_000)
TOKEN_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
                 "reasoning_tokens", "requests")


@dataclass(frozen=True)
class Cell:
    provider: str                 # openai | anthropic | openrouter | litellm
    hour: datetime                # UTC hour start
    model: str
    project_id: str | None = None     # OpenAI project, Anthropic workspace (None = default), LiteLLM team
    api_key_id: str | None = None
    user_id: str | None = None
    service_tier: str | None = None
    batch: bool = False
    endpoint: str = "completions"        # OpenAI usage endpoint; OpenRouter upstream provider name
    input_tokens: int = 0                # every prompt token, cache reads and writes included
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0       # Anthropic: the 1h-TTL part of cache_write_tokens
    output_tokens: int = 0               # reasoning included
    reasoning_tokens: int = 0
    requests: int = 0
    input_cost: Decimal = Decimal(0)
    output_cost: Decimal = Decimal(0)

    @property
    def cost(self) -> Decimal:
        return self.input_cost + self.output_cost


@dataclass(frozen=True)
class BilledLine:
    provider: str
    day: datetime                 # UTC midnight
    project_id: str | None
    line_item: str
    amount: Decimal
    cost_type: str = "other"      # Anthropic cost_type (web_search, code_execution, …)


@dataclass
class Dataset:
    cells: list[Cell] = field(default_factory=list)
    lines: list[BilledLine] = field(default_factory=list)
    credits: Decimal = Decimal("1000")   # OpenRouter lifetime credits bought

    def for_provider(self, provider: str) -> Dataset:
        return Dataset([c for c in self.cells if c.provider == provider],
                       [b for b in self.lines if b.provider == provider], self.credits)

    def truth(self, provider: str, start: datetime | None = None, end: datetime | None = None) -> dict:
        """Token sums of the usage and the billed money (usage cost + billed-only lines) in [start, end)."""
        def inside(t: datetime) -> bool:
            return (start is None or t >= start) and (end is None or t < end)

        cells = [c for c in self.cells if c.provider == provider and inside(c.hour)]
        out: dict = {col: sum(getattr(c, col) for c in cells) for col in TOKEN_COLUMNS}
        if provider == "anthropic":
            out["requests"] = 0   # the usage report carries no request count
        if provider in ("openrouter", "litellm"):
            out["cached_input_tokens"] = out["cache_write_tokens"] = 0
        if provider in ("openai", "anthropic", "litellm"):
            out["reasoning_tokens"] = 0    # not reported by these endpoints
        lines = [b for b in self.lines if b.provider == provider and inside(b.day)]
        out["cost_usd"] = sum((c.cost for c in cells), Decimal(0)) + sum((b.amount for b in lines), Decimal(0))
        return out

    def billed_by_day(self, provider: str) -> dict[datetime, Decimal]:
        days: dict[datetime, Decimal] = defaultdict(Decimal)
        for c in self.cells:
            if c.provider == provider:
                days[c.hour.replace(hour=0)] += c.cost
        for b in self.lines:
            if b.provider == provider:
                days[b.day] += b.amount
        return dict(days)

    def shifted(self, delta: timedelta) -> Dataset:
        return Dataset([replace(c, hour=c.hour + delta) for c in self.cells],
                       [replace(b, day=b.day + delta) for b in self.lines], self.credits)


# ------------------------------------------------------------------------------------------- generator
# The providers' *billed* rates (USD per million tokens: input, cached input, cache write, output). They
# differ on purpose from genai-prices' list prices, so reconciliation in `spend` has real work to do.
RATES = {
    "gpt-4o-2024-08-06": ("2.4", "1.2", "2.4", "9.6"),
    "gpt-4o-mini-2024-07-18": ("0.15", "0.075", "0.15", "0.6"),
    "acme-private-llm-1": ("1", "0.5", "1", "4"),          # unknown to genai-prices: stays unpriced
    "text-embedding-3-small": ("0.02", "0.02", "0.02", "0"),
    "claude-sonnet-4-5-20250929": ("3", "0.3", "3.75", "15"),
    "claude-haiku-4-5-20251001": ("1", "0.1", "1.25", "5"),
    "openai/gpt-4.1": ("2", "0.5", "2", "8"),
    "anthropic/claude-sonnet-4.5": ("3", "0.3", "3.75", "15"),
    "meta-llama/llama-3.3-70b-instruct": ("0.13", "0.13", "0.13", "0.4"),
    "gpt-4.1-mini": ("0.4", "0.1", "0.4", "1.6"),
    "claude-3-5-haiku": ("0.8", "0.08", "1", "4"),
}
ANTHROPIC_DISPLAY = {"claude-sonnet-4-5-20250929": "Claude Sonnet 4.5", "claude-haiku-4-5-20251001": "Claude Haiku 4.5"}


def _costs(model: str, inp: int, cached: int, write: int, out: int) -> tuple[Decimal, Decimal]:
    ri, rc, rw, ro = (Decimal(x) for x in RATES[model])
    uncached = inp - cached - write
    return (uncached * ri + cached * rc + write * rw) / MILLION, out * ro / MILLION


def generate(start: datetime, days: int, *, seed: int = 7, density: float = 0.5,
             providers: Iterable[str] = ("openai", "anthropic", "openrouter", "litellm")) -> Dataset:
    """A deterministic dataset of `days` UTC days from `start` (a midnight) for the given providers.

    `density` is the chance that a dimension combination is active in an hour (empty hours happen).
    """
    rng = random.Random(seed)
    ds = Dataset()
    providers = tuple(providers)
    combos: dict[str, list[tuple[Any, ...]]] = {
        "openai": [("gpt-4o-2024-08-06", "proj_search", "key_search1", "user-ann", "default", False, "completions"),
                   ("gpt-4o-mini-2024-07-18", "proj_search", "key_search2", None, "default", False, "completions"),
                   ("gpt-4o-mini-2024-07-18", "proj_chat", "key_chat1", "user-bob", "default", True, "completions"),
                   ("acme-private-llm-1", "proj_chat", "key_chat1", "user-bob", "default", False, "completions"),
                   ("text-embedding-3-small", "proj_search", "key_search1", None, None, False, "embeddings")],
        "anthropic": [("claude-sonnet-4-5-20250929", "wrkspc_research", "apikey_r1", None, "standard", False, ""),
                      ("claude-haiku-4-5-20251001", None, "apikey_d1", None, "standard", False, ""),
                      ("claude-sonnet-4-5-20250929", None, None, None, "batch", False, "")],
        "openrouter": [("openai/gpt-4.1", None, None, None, None, False, "OpenAI"),
                       ("anthropic/claude-sonnet-4.5", None, None, None, None, False, "Anthropic"),
                       ("meta-llama/llama-3.3-70b-instruct", None, None, None, None, False, "Together")],
        "litellm": [("gpt-4.1-mini", "team-search", "hash_k1", "alice", None, False, ""),
                    ("gpt-4.1-mini", "team-chat", "hash_k2", "bob", None, False, ""),
                    ("claude-3-5-haiku", "team-chat", "hash_k2", None, None, False, "")],
    }
    for h in range(days * 24):
        hour = start + h * HOUR
        weekday_factor = 0.4 if hour.weekday() >= 5 else 1.0
        for provider in providers:
            for model, project, key, user, tier, batch, endpoint in combos[provider]:
                if rng.random() > density:
                    continue
                req = max(1, int(rng.randint(1, 12) * weekday_factor))
                inp = req * rng.randint(200, 4000)
                out = 0 if endpoint == "embeddings" else req * rng.randint(50, 900)
                cached = write = w1h = reasoning = 0
                if provider in ("openai", "anthropic") and endpoint != "embeddings":
                    cached = inp * rng.randint(0, 40) // 100
                if provider == "anthropic":
                    write = inp * rng.randint(0, 20) // 100
                    w1h = write * rng.randint(0, 50) // 100
                if provider == "openrouter" and model.startswith("openai/"):
                    reasoning = out * rng.randint(0, 60) // 100
                ic, oc = _costs(model, inp, cached, write, out)
                if provider == "anthropic" and w1h:   # 1h writes bill at 2x input instead of 1.25x
                    ic += w1h * (Decimal(RATES[model][0]) * 2 - Decimal(RATES[model][2])) / MILLION
                if tier == "batch":
                    ic, oc = ic / 2, oc / 2
                ds.cells.append(Cell(provider, hour, model, project, key, user, tier, batch, endpoint, inp, cached,
                                     write, w1h, out, reasoning, req, ic, oc))
    for d in range(days):
        day = start + d * DAY
        if "openai" in providers:
            ds.lines.append(BilledLine("openai", day, "proj_search", "web search tool calls",
                                       Decimal(rng.randint(1, 400)) / 100))
            if d % 3 == 0:
                ds.lines.append(BilledLine("openai", day, "proj_chat", "vector store storage",
                                           Decimal(rng.randint(1, 900)) / 1000))
        if "anthropic" in providers:
            ds.lines.append(BilledLine("anthropic", day, "wrkspc_research", "Code Execution Usage",
                                       Decimal(rng.randint(1, 5000)) / 10000, "code_execution"))
            ds.lines.append(BilledLine("anthropic", day, None, "Web Search", Decimal(rng.randint(1, 300)) / 100,
                                       "web_search"))
    return ds
