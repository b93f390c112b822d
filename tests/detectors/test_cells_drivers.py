"""Cells.drivers sums few cells in Python and many in SQL: both must name the same drivers with the same
figures (exact Decimals), for every scope, with NULL dimensions, falling and rising cells, ties and near-ties."""

from __future__ import annotations

import random
from decimal import Decimal

import duckdb
import pytest

import detectors._cells as cells_mod
from detectors._cells import Cells


def _conn() -> duckdb.DuckDBPyConnection:
    rnd = random.Random(7)
    conn = duckdb.connect()
    conn.execute("CREATE TABLE r (provider VARCHAR, model VARCHAR, project_id VARCHAR, api_key_id VARCHAR, team VARCHAR,"
                 " user_id VARCHAR, day INTEGER, cost_usd DECIMAL(38, 10))")
    rows = []
    for k in range(60):
        dims = (["openai", "anthropic", None][k % 3], f"m{k % 4}", f"p{k % 5}" if k % 7 else None, f"key_{k:04d}aaaaaaaa",
                ["t1", None][k % 2], None)
        for day in range(4):
            cents = rnd.choice([0, 100, 100, 250, 999, 123456789, 1])  # repeated values: ties in change and share
            rows.append((*dims, day, Decimal(cents) / 100 + Decimal("0.0000000001") * rnd.randint(0, 3)))
    conn.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return conn


@pytest.mark.parametrize("obs_div,base_div", [(1, 3), (1, 5)])
def test_python_and_sql_drivers_agree(monkeypatch: pytest.MonkeyPatch, obs_div: int, base_div: int) -> None:
    conn = _conn()
    scopes = [{}, {"provider": "openai"}, {"provider": "anthropic", "model": "m1"}, {"project_id": "p2"},
              {"team": "t1"}, {"api_key_id": "key_0003aaaaaaaa"}, {"provider": "nope"}]
    got = {}
    for path, small in (("python", 10_000), ("sql", 0)):
        monkeypatch.setattr(cells_mod, "SMALL", small)
        c = Cells(conn, "r", "day = 3", "day IN (0, 1, 2)", obs_div, base_div)
        got[path] = [c.drivers(s, top=top) for s in scopes for top in (1, 5, 50)]
    for a, b in zip(got["python"], got["sql"], strict=True):
        assert a == b
    assert any(len(d) >= 5 for d in got["sql"]) and any(d == [] for d in got["sql"])
