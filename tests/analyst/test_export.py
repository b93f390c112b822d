"""`spendwatch export`: FOCUS 1.2 (demo store), incremental Hive Parquet, CSV; extra spend columns ride along."""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ..conftest import run_cli, write

FOCUS_MANDATORY = (  # FOCUS 1.2 CostAndUsage columns with feature level Mandatory (focus-validator model 1.2.0.1)
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity",
    "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName")
FOCUS_CLAIMED = ("ConsumedQuantity", "ConsumedUnit", "SubAccountId", "SubAccountName", "Tags", "ServiceSubcategory",
                 "ChargeFrequency", "SkuId", "SkuMeter")


def spend_cols(con: Any) -> str:
    return ", ".join(f'"{r[0]}"' for r in con.execute("DESCRIBE spend").fetchall())


def test_focus_export_of_demo_store(demo_dir: Path, tmp_path: Path) -> None:
    cfg = str(demo_dir / "spendwatch.toml")
    r = run_cli("--config", cfg, "export", "--format", "focus", "--out", str(tmp_path / "f.parquet"))
    assert r.code == 0, r
    # the demo's unpriced model gets its billed money (issue 11), so no row is left out for an unknown price
    assert "no known price" not in r.err
    con = duckdb.connect()
    cols = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM '{tmp_path}/f.parquet'").fetchall()}
    for c in FOCUS_MANDATORY + FOCUS_CLAIMED:
        assert c in cols, c
    assert cols["BilledCost"] == "DECIMAL(38,10)" and cols["ChargePeriodStart"] == "TIMESTAMP WITH TIME ZONE"
    for c in ("x_InputTokens", "x_OutputTokens", "x_Model", "x_Team", "x_CostBasis"):
        assert c in cols, c
    f = f"'{tmp_path}/f.parquet'"
    assert con.execute(f"SELECT DISTINCT ChargeCategory FROM {f}").fetchall() == [("Usage",)]
    assert con.execute(f"SELECT DISTINCT ServiceCategory, ServiceSubcategory, BillingCurrency FROM {f}").fetchall() \
        == [("AI and Machine Learning", "Generative AI", "USD")]
    assert con.execute(f"SELECT count(*) FROM {f} WHERE ChargeClass IS NOT NULL OR BilledCost IS NULL "
                       "OR BillingAccountId IS NULL OR ProviderName IS NULL OR PublisherName IS NULL "
                       "OR ChargePeriodEnd <= ChargePeriodStart OR BillingPeriodStart > ChargePeriodStart "
                       "OR BillingPeriodEnd < ChargePeriodEnd OR PricingQuantity IS NULL OR PricingUnit IS NULL "
                       "OR NOT json_valid(Tags)").fetchone()[0] == 0
    billed = con.execute(f"SELECT sum(BilledCost), count(*) FROM {f}").fetchone()
    spend = json.loads(run_cli("--config", cfg, "sql", "select sum(cost_usd) s, count(cost_usd) n from spend",
                               "--format", "json").out)[0]
    assert billed[0] == Decimal(spend["s"]) and billed[1] == spend["n"]
    # the CSV flavour carries the same exact money
    assert run_cli("--config", cfg, "export", "--format", "focus", "--out", str(tmp_path / "f.csv")).code == 0
    with open(tmp_path / "f.csv", newline="") as fh:
        total = sum(Decimal(row["BilledCost"]) for row in csv.DictReader(fh))
    assert total == billed[0]


def test_parquet_roundtrip_and_incremental(small: Any, tmp_path: Path) -> None:
    assert small("--config", "sw.toml", "export", "--format", "parquet", "--out", "lake").code == 0
    lake = tmp_path / "lake"
    files = sorted(str(p.relative_to(lake)) for p in lake.rglob("*.parquet"))
    assert files == ["month=2026-10/provider=anthropic/data_0.parquet", "month=2026-10/provider=openai/data_0.parquet",
                     "month=2026-11/provider=anthropic/data_0.parquet", "month=2026-11/provider=openai/data_0.parquet",
                     "month=2026-11/provider=openrouter/data_0.parquet"]
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    read = f"read_parquet('{lake}/**/*.parquet', hive_partitioning=1)"
    cols = spend_cols(con)
    assert con.execute(f"SELECT count(*) FROM {read}").fetchone()[0] == con.execute(
        "SELECT count(*) FROM spend").fetchone()[0] == 7
    lake_rows, spend_rows = f"SELECT {cols} FROM {read}", "SELECT * FROM spend"
    for a, b in ((lake_rows, spend_rows), (spend_rows, lake_rows)):
        assert con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0] == 0
    assert con.execute(f"SELECT sum(cost_usd)::VARCHAR FROM {read}").fetchone()[0] == "119.2983333334"
    con.close()
    before = {p: os.stat(lake / p).st_ino for p in files}
    # the same export again rewrites nothing
    r = small("--config", "sw.toml", "export", "--format", "parquet", "--out", "lake")
    assert "rewritten 0, unchanged 5" in r.out, r
    # one new day of openai usage in November: only that partition is rewritten
    write(tmp_path / "day.csv", "ts,provider,project_id,model,input_tokens,output_tokens,requests,cost_usd\n"
                                "2026-11-20T08:00:00Z,openai,proj_search_1,gpt-4.1,7,7,1,2.50\n")
    assert small("--config", "sw.toml", "import", "day.csv", "--format", "canonical", "--source", "extra").code == 0
    r = small("--config", "sw.toml", "export", "--format", "parquet", "--out", "lake")
    assert r.out.splitlines() == ["lake: 8 rows in 5 partition(s); rewritten 1, unchanged 4, removed 0",
                                  "  wrote month=2026-11/provider=openai"]
    after = {p: os.stat(lake / p).st_ino for p in files}
    assert [p for p in files if before[p] != after[p]] == ["month=2026-11/provider=openai/data_0.parquet"]
    assert not [p for p in lake.rglob("*") if p.name.startswith(".")]  # no staging or temp files left
    manifest = json.loads((lake / "_spendwatch_manifest.json").read_text())
    assert manifest["partitions"]["month=2026-11/provider=openai"]["rows"] == 3


def test_parquet_refuses_foreign_directory(small: Any, tmp_path: Path) -> None:
    write(tmp_path / "mine" / "notes.txt", "hello")
    r = small("--config", "sw.toml", "export", "--format", "parquet", "--out", "mine")
    assert r.code == 1 and "not empty and not a spendwatch parquet export" in r.err


def test_csv_export_exact(small: Any, tmp_path: Path) -> None:
    r = small("--config", "sw.toml", "export", "--format", "csv", "--since", "2026-11-01", "--out", "nov.csv")
    assert r.out == "nov.csv: 4 rows\n"
    with open(tmp_path / "nov.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cost_usd"] for r in rows] == ["99.9900000000", "0.0000000001", "1.1000000000", "0.3333333333"]
    assert rows[0]["ts"] == "2026-11-02T00:00:00.000000Z" and rows[0]["team"] == "search"


def test_exports_carry_extra_spend_columns(small: Any, tmp_path: Path) -> None:
    """A `spend` with one more column (as `via` will be) is exported with it: CSV/Parquet as is, FOCUS as x_Via."""
    from spendwatch.export import export

    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 's.duckdb'}' AS st (READ_ONLY)")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE VIEW spend AS SELECT *, CASE WHEN provider = 'openrouter' THEN 'openrouter' END AS via "
                "FROM st.spend")
    export(con, "csv", str(tmp_path / "x.csv"))
    assert open(tmp_path / "x.csv").readline().rstrip().endswith(",via")
    res = export(con, "parquet", str(tmp_path / "xl"))
    assert len(res.written) == 5
    assert con.execute(f"SELECT via, count(*) FROM read_parquet('{tmp_path}/xl/**/*.parquet', hive_partitioning=1) "
                       "GROUP BY ALL ORDER BY 1").fetchall() == [("openrouter", 1), (None, 6)]
    export(con, "focus", str(tmp_path / "x.parquet"))
    via = con.execute(f"SELECT x_Via FROM '{tmp_path}/x.parquet' WHERE x_Via IS NOT NULL").fetchall()
    assert via == [("openrouter",)]
