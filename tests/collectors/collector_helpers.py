"""Helpers shared by the collector tests (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from spendwatch.fakes import KEY_ENV, FakeProvider, Faults

DAYS = 7
TOKEN_COLS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
              "requests")
WAIT_SCALE = "0.001"   # Retry-After: 1 → 1 ms

def all_faults() -> Faults:
    """Acceptance 1: a 429 with Retry-After on each endpoint's first call, one 500 on a page 2, one slow reply."""
    return Faults(rate_limit_first=True, retry_after="1", page2_errors=1, slow_replies=1, slow_seconds=0.3)


def source_toml(server: FakeProvider, *, name: str | None = None, lookback: str = "7d", key_env: str | None = None,
                extra: str = "") -> str:
    return (f'[[sources]]\nname = "{name or server.name + "-test"}"\ntype = "{server.name}"\n'
            f'api_key_env = "{key_env or KEY_ENV[server.name]}"\nbase_url = "{server.base_url}"\n'
            f'lookback = "{lookback}"\n{extra}\n')


def write_config(tmp_path: Path, *sources: str, extra: str = "") -> Path:
    path = tmp_path / "spendwatch.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "store.duckdb"}"\nlock_timeout = "60s"\n\n' + "".join(sources) + extra)
    return path


def snapshot(store_path: Path | str) -> tuple[list[tuple[Any, ...]], int]:
    """Every record (sorted) and the row count: two stores are equal when these are."""
    from spendwatch.store import RECORD_COLUMNS, Store

    with Store.open(str(store_path), read_only=True) as st:
        cols = ", ".join(RECORD_COLUMNS)
        rows = st.conn.execute(f"SELECT {cols} FROM records ORDER BY ALL").fetchall()
    return rows, len(rows)


def totals(store_path: Path | str, provider: str) -> dict[str, Any]:
    from spendwatch.store import Store

    with Store.open(str(store_path), read_only=True) as st:
        toks = st.conn.execute(
            f"SELECT {', '.join(f'coalesce(sum({c}), 0)' for c in TOKEN_COLS)} FROM records "
            "WHERE provider = ? AND record_type = 'usage'", [provider]).fetchone()
        cost = st.conn.execute("SELECT coalesce(sum(cost_usd), 0) FROM spend WHERE provider = ?", [provider]).fetchone()[0]
    out = dict(zip(TOKEN_COLS, (int(v) for v in toks), strict=False))
    out["cost_usd"] = cost
    return out


def run_cli(config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "spendwatch", "--config", str(config), *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)
