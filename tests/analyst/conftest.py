"""Stores for the analysis and export tests: a small exact one (canonical import) and the demo's."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ..conftest import demo_with_alerts, write

CONFIG = """[store]
path = "s.duckdb"
[[allocation]]
match = { provider = "openai", project_id = "proj_search*" }
team = "search"
[[allocation]]
match = { provider = ["anthropic", "litellm"] }
team = "research"
"""

ROWS = """ts,provider,project_id,api_key_id,model,input_tokens,output_tokens,requests,cost_usd
2026-10-03T10:00:00Z,openai,proj_search_1,k1,gpt-4.1,1000,100,3,10.50
2026-10-04T10:00:00Z,openai,proj_search_2,k1,gpt-4.1-mini,2000,200,4,0.25
2026-10-05,anthropic,wrk_research,k2,claude-sonnet-4,500,50,1,7.125
2026-11-02T00:00:00Z,openai,proj_search_1,k1,gpt-4.1,999,99,9,99.99
2026-11-03T05:00:00Z,openai,proj_other,k3,gpt-4.1,10,1,1,0.0000000001
2026-11-04,anthropic,wrk_research,k2,claude-sonnet-4,5,5,1,1.10
2026-11-05,openrouter,or,k4,llama-3-70b,100,10,1,0.3333333333
"""


@pytest.fixture
def small(tmp_path: Path, cli: Any) -> Any:
    """A config + store (in tmp_path, the cli fixture's cwd) with ROWS imported; returns the cli runner."""
    write(tmp_path / "sw.toml", CONFIG)
    write(tmp_path / "rows.csv", ROWS)
    r = cli("--config", "sw.toml", "import", "rows.csv", "--format", "canonical")
    assert r.code == 0, r
    return cli


def request_rows(n: int, seed: int = 7) -> str:
    """n request-granularity rows over three UTC days, several keys, users, models and tags (exact money)."""
    rng = random.Random(seed)
    lines = ["ts,granularity,provider,source,project_id,api_key_id,user_id,model,input_tokens,output_tokens,"
             "requests,cost_usd,tags"]
    for i in range(n):
        sec = rng.randrange(3 * 86400)
        ts = f"2026-10-{1 + sec // 86400:02d}T{sec % 86400 // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}Z"
        cost = Decimal(rng.randrange(1, 10 ** 8)) / Decimal(10 ** 10)
        tags = f'"{{""end_user"": ""c{i % 3}""}}"' if i % 4 else ""
        lines.append(f"{ts},request,litellm,gw,team_{i % 3},key{i % 5},user{i % 7},"
                     f"{('gpt-4.1', 'claude-sonnet-4')[i % 2]},{rng.randrange(10, 5000)},{rng.randrange(1, 900)},1,"
                     f"{cost},{tags}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`spendwatch demo`'s store (with its alerts), built once per run and shared read-only: the FOCUS
    acceptance test exports it, the findings frame reads it."""
    return demo_with_alerts(tmp_path_factory)
