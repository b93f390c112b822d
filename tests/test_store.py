"""Store: migrations, window replace, version refusal, and the reconciliation rule of `spend` (invariant 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from spendwatch.errors import StoreError, StoreVersionError
from spendwatch.store import Store, Window

UTC = UTC
D1 = datetime(2026, 10, 5, tzinfo=UTC)


def usage(hour: int, key: str, model: str, cost: str | None, project: str = "p1", tokens: int = 1000) -> dict:
    return {"ts": D1 + timedelta(hours=hour), "granularity": "hour", "provider": "openai", "project_id": project,
            "api_key_id": key, "model": model, "input_tokens": tokens, "output_tokens": tokens // 10,
            "record_type": "usage", "cost_basis": "estimated", "cost_usd": None if cost is None else Decimal(cost)}


def billed(line: str, cost: str, covers: bool, project: str = "p1") -> dict:
    return {"ts": D1, "granularity": "day", "provider": "openai", "project_id": project, "line_item": line,
            "record_type": "cost", "cost_basis": "billed", "covers_usage": covers, "cost_usd": Decimal(cost)}


def test_reconciled_usage_sums_exactly_to_billed(tmp_path: Path) -> None:
    path = str(tmp_path / "s.duckdb")
    day = Window(D1, D1 + timedelta(days=1))
    with Store.open(path) as st:
        st.replace_window("oa", "usage", day, [
            usage(1, "k1", "gpt-4.1", "1.00"), usage(2, "k2", "gpt-4.1", "2.00"),
            usage(3, "k2", "gpt-4.1-mini", "0.3333333333"),
            usage(4, "k9", "mystery-model", None),                    # unpriced: stays NULL, never $0
            usage(5, "k3", "gpt-4.1", "5.00", project="p2"),          # p2 has no bill yet: estimated
        ], advance_to=day.end)
        st.replace_window("oa", "cost", day, [
            billed("gpt-4.1, input", "3.10", True), billed("gpt-4.1-mini, input", "0.2000000001", True),
            billed("web search tool calls", "0.75", False),         # billed-only line: stands alone
        ], advance_to=day.end)
        rows = st.query("SELECT project_id, api_key_id, model, line_item, cost_usd, cost_basis FROM spend ORDER BY ALL")[1]
        per_project = dict(st.query("SELECT project_id, sum(cost_usd) FROM spend GROUP BY 1")[1])
    assert per_project == {"p1": Decimal("4.0500000001"), "p2": Decimal("5.00")}
    by_basis = {}
    for _proj, _key, _model, _line, cost, basis in rows:
        by_basis.setdefault(basis, []).append(cost)
    assert sum(by_basis["reconciled"]) == Decimal("3.3000000001")  # the billed token total
    assert by_basis["billed"] == [Decimal("0.75")]
    assert by_basis["estimated"] == [Decimal("5.00")]
    # the unpriced row (no bill line names its model) takes its token share of the bill: 1100 of 4400 tokens
    assert {m: c for _p, _k, m, _l, c, _b in rows}["mystery-model"] == Decimal("0.825")
    # the split keeps proportions: k2's gpt-4.1 row is twice k1's
    scaled = {(k, m): c for _p, k, m, _l, c, b in rows if b == "reconciled"}
    assert scaled[("k2", "gpt-4.1")] - 2 * scaled[("k1", "gpt-4.1")] < Decimal("0.000000001")
    assert sum(c for (k, m), c in scaled.items() if m != "mystery-model") == Decimal("2.4750000001")


def test_replace_window_is_idempotent_and_refuses_floats_and_strays(tmp_path: Path) -> None:
    path = str(tmp_path / "s.duckdb")
    day = Window(D1, D1 + timedelta(days=1))
    with Store.open(path) as st:
        for _ in range(2):
            st.replace_window("oa", "usage", day, [usage(1, "k1", "m", "1.5")], advance_to=day.end)
        assert st.query("SELECT count(*), sum(cost_usd) FROM records")[1] == [(1, Decimal("1.5"))]
        assert st.complete_through("oa", "usage") == day.end
        with pytest.raises(TypeError, match="money must be Decimal"):
            st.replace_window("oa", "usage", day, [dict(usage(1, "k1", "m", None), cost_usd=1.5)])
        with pytest.raises(StoreError, match="outside the window"):
            st.replace_window("oa", "usage", day, [usage(30, "k1", "m", "1")])
        assert st.query("SELECT count(*), sum(cost_usd) FROM records")[1] == [(1, Decimal("1.5"))]


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "s.duckdb")
    with Store.open(path):
        pass
    con = duckdb.connect(path)
    con.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', now())")
    con.close()
    with pytest.raises(StoreVersionError, match="written by a newer spendwatch"):
        with Store.open(path, read_only=True):
            pass


def test_migration_names_from_files_match_the_registered_ones() -> None:
    """A read-only open compares names listed from the files without importing them."""
    from spendwatch import migrations

    assert migrations.known_names() == [name for name, _ in migrations.all_migrations()]
