"""spendwatch.open(...): read-only pandas handle; money exact (decimal128(38, 10)), timestamps UTC."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import spendwatch
from spendwatch.errors import ReadOnlyViolation, SpendwatchError

MONEY = pd.ArrowDtype(pa.decimal128(38, 10))


def no_floats(df: Any) -> None:
    floats = [c for c, t in df.dtypes.items() if pd.api.types.is_float_dtype(t)]
    assert not floats, f"float columns: {floats}"


def test_chargeback_equals_cli_json_exactly(small: Any, tmp_path: Path) -> None:
    df = spendwatch.open(tmp_path / "sw.toml").chargeback("2026-11", by=["team", "model"])
    cli = json.loads(small("--config", "sw.toml", "report", "chargeback", "--month", "2026-11", "--by", "team",
                           "--by", "model", "--format", "json").out)
    no_floats(df)
    assert df["cost_usd"].dtype == MONEY
    assert list(df.columns) == list(cli[0])
    assert len(df) == len(cli) == 4
    for got, want in zip(df.to_dict("records"), cli, strict=True):
        assert Decimal(want["cost_usd"]) == got["cost_usd"]
        assert {k: (str(v) if k != "cost_usd" else None) for k, v in got.items()} == \
               {k: (str(v) if k != "cost_usd" else None) for k, v in want.items()}
    # the tiniest amount survives (a float64 would still hold it, but 1e-10 + 99.99 would not)
    assert df["cost_usd"].sum() == Decimal("101.4233333334")


def test_spend_by_where_and_rows(small: Any, tmp_path: Path) -> None:
    sw = spendwatch.open(tmp_path / "sw.toml")
    by = sw.spend(since="2026-11-01", until="2026-12-01", by=["provider"], where={"provider": ["openai", "anth*"]})
    no_floats(by)
    assert by[["provider", "cost_usd", "input_tokens"]].values.tolist() == [
        ["anthropic", Decimal("1.1"), 5], ["openai", Decimal("99.9900000001"), 1009]]
    assert by["cost_usd"].dtype == MONEY
    rows = sw.spend(since="2026-10-01", until="2026-11-01", where={"team": "search"})
    no_floats(rows)
    assert str(rows["ts"].dtype) == "datetime64[us, UTC]"
    assert rows["ts"].tolist() == [pd.Timestamp("2026-10-03T10:00:00Z"), pd.Timestamp("2026-10-04T10:00:00Z")]
    assert rows["cost_usd"].tolist() == [Decimal("10.5"), Decimal("0.25")]
    with pytest.raises(SpendwatchError, match="by: 'colour' is not a column of spend"):
        sw.spend(by=["colour"])


def test_sql_is_read_only_and_exact(small: Any, tmp_path: Path) -> None:
    sw = spendwatch.open(tmp_path / "s.duckdb")  # a bare store path works too (no allocation: team NULL)
    df = sw.sql("select provider, sum(cost_usd) as usd, count(*) n from spend group by 1 order by 1")
    assert df["usd"].dtype == MONEY and df["usd"].tolist()[0] == Decimal("8.225")
    no_floats(df)
    for bad in ("delete from records", "select 1; drop view spend", "copy (select 1) to 'x.csv'"):
        with pytest.raises(ReadOnlyViolation):
            sw.sql(bad)
    with pytest.raises(SpendwatchError, match="file system operations are disabled"):
        sw.sql("select * from read_csv('rows.csv')")
    assert not (tmp_path / "x.csv").exists()
    # the handle holds no connection between calls: a writer can open the store right away
    assert small("--config", "sw.toml", "import", "rows.csv", "--format", "canonical").code == 0


def test_findings_frame(demo_dir: Path) -> None:
    sw = spendwatch.open(demo_dir / "spendwatch.toml")
    at = sw.sql("select max(ts) + interval 1 hour as t from spend")["t"][0]
    df = sw.findings(at=at.to_pydatetime())
    assert len(df) > 0
    no_floats(df)
    assert df["observed"].dtype == MONEY and str(df["period_start"].dtype) == "datetime64[us, UTC]"
    assert set(df["severity"]) <= {"info", "warning", "critical"}


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(SpendwatchError, match="no such config file"):
        spendwatch.open(tmp_path / "missing.toml")
    with pytest.raises(SpendwatchError, match="store does not exist yet"):
        spendwatch.open(tmp_path / "missing.duckdb").sql("select 1")
