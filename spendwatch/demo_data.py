"""The demo's bundled dataset: ~60 days of realistic multi-provider usage, generated deterministically.

Why generated rather than a static file: the demo must look "current" (detectors judge the last days
relative to now), so the same seeded generator lays the same shape of data onto the 60 days before
`end`. The shape: a weekly pattern (weekends at ~35%), gentle growth, noise, one spend spike (support's
gpt-4.1 on day −9), one runaway loop (a batch key hammering claude-sonnet-4 for five hours on day −2)
and an OpenAI month-to-date that breaches the demo budget.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from .timeutil import day_start, utcnow

M = Decimal(1_000_000)


@dataclass(frozen=True)
class Series:
    provider: str
    project_id: str
    api_key_id: str
    model: str
    daily_input: int  # typical weekday input tokens
    in_price: Decimal  # USD per 1M input tokens
    out_price: Decimal  # USD per 1M output tokens
    out_ratio: float = 0.25
    cached_share: float = 0.3
    user_id: str | None = None


SERIES = (
    Series("openai", "proj_search_prod", "key_search_a1", "gpt-4.1", 9_000_000, Decimal("2.00"), Decimal("8.00")),
    Series("openai", "proj_search_prod", "key_search_a1", "text-embedding-3-small", 40_000_000, Decimal("0.02"), Decimal("0"), 0.0, 0.0),
    Series("openai", "proj_support", "key_support_b2", "gpt-4.1-mini", 30_000_000, Decimal("0.40"), Decimal("1.60")),
    Series("openai", "proj_support", "key_support_b2", "gpt-4.1", 2_500_000, Decimal("2.00"), Decimal("8.00")),
    Series("openai", "proj_internal", "key_tools_c3", "o4-mini", 3_000_000, Decimal("1.10"), Decimal("4.40"), 0.6),
    Series("anthropic", "wrk_research", "key_research_d4", "claude-sonnet-4", 6_000_000, Decimal("3.00"), Decimal("15.00")),
    Series("anthropic", "wrk_research", "key_batch_e5", "claude-sonnet-4", 1_000_000, Decimal("3.00"), Decimal("15.00")),
    Series("anthropic", "default", "key_support_f6", "claude-haiku-3.5", 12_000_000, Decimal("0.80"), Decimal("4.00")),
    Series("openrouter", "or_default", "or_key_g7", "meta-llama/llama-3.3-70b-instruct", 8_000_000, Decimal("0.13"), Decimal("0.40")),
    Series("openrouter", "or_default", "or_key_g7", "google/gemini-2.5-flash", 5_000_000, Decimal("0.30"), Decimal("2.50")),
    Series("litellm", "team_growth", "sk-litellm-h8", "gpt-4.1-mini", 10_000_000, Decimal("0.40"), Decimal("1.60"), user_id="alice"),
    Series("litellm", "team_data", "sk-litellm-i9", "claude-haiku-3.5", 4_000_000, Decimal("0.80"), Decimal("4.00"), user_id="bob"),
)
HOUR_SHAPE = [0.2, 0.15, 0.12, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.4, 1.6, 1.7, 1.5, 1.6, 1.7, 1.6, 1.4, 1.2,
              0.9, 0.7, 0.5, 0.4, 0.3, 0.25]
_SHAPE_SUM = sum(HOUR_SHAPE)


def demo_rows(end: datetime | None = None, days: int = 60, seed: int = 7) -> Iterator[dict]:
    """Hourly rows in canonical (spend-column) shape for the `days` UTC days before `end`'s day."""
    end_day = day_start(end or utcnow())
    start = end_day - timedelta(days=days)
    rng = random.Random(seed)
    for d in range(days):
        day = start + timedelta(days=d)
        weekday = day.weekday()
        growth = 1 + 0.004 * d
        for s in SERIES:
            weekly = 0.35 if weekday >= 5 else 1.0
            for h in range(24):
                factor = weekly * growth * HOUR_SHAPE[h] / _SHAPE_SUM * rng.uniform(0.85, 1.15)
                if s.model == "gpt-4.1" and s.project_id == "proj_support" and d == days - 9:
                    factor *= 6.0  # the spike
                if s.api_key_id == "key_batch_e5" and d == days - 2 and 13 <= h < 18:
                    factor *= 40.0  # the runaway loop
                inp = int(s.daily_input * factor)
                if inp == 0:
                    continue
                out = int(inp * s.out_ratio)
                cached = int(inp * s.cached_share)
                cost = ((Decimal(inp - cached) * s.in_price + Decimal(cached) * s.in_price / 4
                         + Decimal(out) * s.out_price) / M).quantize(Decimal("0.0000001"))
                ts = day + timedelta(hours=h)
                yield {
                    "ts": ts, "granularity": "hour", "provider": s.provider, "source": f"demo-{s.provider}",
                    "project_id": s.project_id, "workspace_id": s.project_id if s.provider == "anthropic" else None,
                    "api_key_id": s.api_key_id, "user_id": s.user_id, "model": s.model,
                    "input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
                    "requests": max(1, inp // 2500), "cost_usd": cost,
                }


def write_canonical_csv(path: str, rows: Iterator[dict]) -> int:
    import csv

    cols = ["ts", "granularity", "provider", "source", "project_id", "workspace_id", "api_key_id", "user_id",
            "model", "input_tokens", "cached_input_tokens", "output_tokens", "requests", "cost_usd"]
    n = 0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in rows:
            w.writerow([r["ts"].isoformat() if c == "ts" else ("" if r.get(c) is None else r[c]) for c in cols])
            n += 1
    return n


def demo_config(store_path: str, openai_budget: str = "2500.00") -> str:
    """The demo's config: allocation rules, a budget the data breaches, a console sink."""
    return f'''# Written by `spendwatch demo`. Query the store with:
#   spendwatch --config {{this file}} sql "select provider, sum(cost_usd) from spend group by 1"
[store]
path = "{store_path}"

[[budgets]]
name = "openai-monthly"
period = "month"
amount = "{openai_budget}"
match = {{ provider = "openai" }}
thresholds = [0.5, 0.8, 1.0]

[[budgets]]
name = "all-llm-monthly"
period = "month"
amount = "20000.00"
thresholds = [0.8, 1.0]

[[allocation]]
match = {{ project_id = "proj_search*" }}
team = "search"

[[allocation]]
match = {{ project_id = ["proj_support", "default"] }}
team = "support"

[[allocation]]
match = {{ provider = "anthropic", workspace_id = "wrk_research" }}
team = "research"

[[allocation]]
match = {{ via = "demo-litellm", project_id = "team_growth" }}
team = "growth"

[[allocation]]
match = {{ via = "demo-litellm", project_id = "team_data" }}
team = "data"

# A LiteLLM proxy in front of OpenAI and Anthropic, whose bills are collected too: the bills are the money,
# the proxy's logs say which team spent it.
[[gateways]]
source = "demo-litellm"
upstreams = ["openai", "anthropic"]
upstream_match = {{ project_id = ["proj_gateway", "wrk_gateway"] }}

[[sinks]]
name = "console"
type = "console"
min_severity = "info"

[daemon]
timezone = "UTC"
digest_at = "08:00"
'''
