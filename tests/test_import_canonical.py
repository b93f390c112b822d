"""Canonical import: idempotent, atomic on a bad row, exact decimal totals."""

from __future__ import annotations

import hashlib
import random
from decimal import Decimal
from pathlib import Path

import duckdb

from spendwatch.findings import money_str

from .conftest import write

HEADER = "ts,provider,model,project_id,api_key_id,input_tokens,output_tokens,cost_usd\n"


def store_digest(path: Path) -> tuple[int, Decimal, str]:
    """count, sum and a hash over every row of `spend`, ordered: equal digests = equal content."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        n, total = con.execute("SELECT count(*), sum(cost_usd) FROM records").fetchone()
        rows = con.execute("SELECT * FROM records ORDER BY ALL").fetchall()
    finally:
        con.close()
    return n, total, hashlib.sha256(repr(rows).encode()).hexdigest()


def make_rows(n: int, seed: int = 1) -> tuple[str, Decimal, int]:
    rng = random.Random(seed)
    lines, total, tokens = [], Decimal(0), 0
    for i in range(n):
        cost = Decimal(rng.randrange(0, 10**9)) / Decimal(10**7)  # up to 7 decimal places
        total += cost
        inp = rng.randrange(0, 10**6)
        tokens += inp
        day = 1 + i % 28
        lines.append(f"2026-10-{day:02d}T{i % 24:02d}:00:00Z,openai,gpt-4.1,proj_{i % 7},key_{i % 13},{inp},{inp // 4},{cost}\n")
    return HEADER + "".join(lines), total, tokens


def test_import_twice_is_identical(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    text, total, _ = make_rows(500)
    write(tmp_path / "a.csv", text)
    r = cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical")
    assert r.code == 0, r
    assert r.out == f"a.csv: 500 rows, ${money_str(total)} into source canonical 2026-10-01..2026-10-29\n"
    first = store_digest(tmp_path / "s.duckdb")
    assert cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical").code == 0
    assert store_digest(tmp_path / "s.duckdb") == first
    assert first[:2] == (500, total)
    sql = cli("--store", "s.duckdb", "sql", "select count(*) as n, sum(cost_usd) as total from spend", "--format", "csv")
    assert sql.out == f"n,total\n500,{money_str(total)}\n"


def test_overlapping_reissued_file_replaces_the_days_it_covers(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "oct.csv", HEADER + "".join(
        f"2026-10-{d:02d},openai,gpt-4.1,p,k,10,1,1.00\n" for d in range(1, 11)))  # Oct 1-10, $1/day
    write(tmp_path / "reissue.csv", HEADER + "".join(
        f"2026-10-{d:02d},openai,gpt-4.1,p,k,10,1,2.50\n" for d in range(6, 16)))  # Oct 6-15, $2.50/day
    assert cli("--store", "s.duckdb", "import", "oct.csv", "--format", "canonical").code == 0
    assert cli("--store", "s.duckdb", "import", "reissue.csv", "--format", "canonical").code == 0
    r = cli("--store", "s.duckdb", "sql", "select count(*) n, sum(cost_usd) c from spend", "--format", "csv")
    assert r.out == "n,c\n15,30.00\n"  # 5 × 1.00 (Oct 1-5) + 10 × 2.50 (Oct 6-15), nothing counted twice


def test_bad_row_on_line_1000_leaves_store_exactly_as_before(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    good, _, _ = make_rows(300, seed=2)
    write(tmp_path / "good.csv", good)
    assert cli("--store", "s.duckdb", "import", "good.csv", "--format", "canonical").code == 0
    before = store_digest(tmp_path / "s.duckdb")
    text, _, _ = make_rows(1500, seed=3)
    lines = text.splitlines(keepends=True)
    lines[999] = lines[999].rsplit(",", 1)[0] + ",abc\n"  # line 1,000 of the file (header is line 1)
    write(tmp_path / "bad.csv", "".join(lines))
    r = cli("--store", "s.duckdb", "import", "bad.csv", "--format", "canonical")
    assert r.code == 1
    assert r.err == 'spendwatch: bad.csv:1000: column cost_usd: not a number ("abc")\n'
    assert store_digest(tmp_path / "s.duckdb") == before


def test_bad_timestamp_and_tokens_are_named(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "t.csv", HEADER + "2026-10-01,openai,m,p,k,1,1,1\nyesterday,openai,m,p,k,1,1,1\n")
    assert cli("--store", "s.duckdb", "import", "t.csv", "--format", "canonical").err == \
        'spendwatch: t.csv:3: column ts: not a timestamp ("yesterday")\n'
    write(tmp_path / "k.csv", HEADER + "2026-10-01,openai,m,p,k,-5,1,1\n")
    assert cli("--store", "s.duckdb", "import", "k.csv", "--format", "canonical").err == \
        'spendwatch: k.csv:2: column input_tokens: not a non-negative whole number ("-5")\n'
    write(tmp_path / "m.csv", "ts,provider\n2026-10-01,openai\n")
    assert cli("--store", "s.duckdb", "import", "m.csv", "--format", "canonical").err == \
        "spendwatch: m.csv: missing required column 'cost_usd' (required: ts, provider, cost_usd)\n"
    write(tmp_path / "u.csv", "ts,provider,cost_usd,colour\n2026-10-01,openai,1,red\n")
    assert cli("--store", "s.duckdb", "import", "u.csv", "--format", "canonical").err == \
        "spendwatch: u.csv: unknown column 'colour'; canonical columns are the spend view's\n"
    assert cli("--store", "s.duckdb", "import", "nope.csv", "--format", "canonical").err == \
        "spendwatch: nope.csv: no such file\n"
    r = cli("--store", "s.duckdb", "import", "t.csv", "--format", "nope")
    assert r.code == 2 and "unknown import format 'nope'" in r.err


def test_100k_rows_exact_decimal_totals(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    text, total, tokens = make_rows(100_000, seed=4)
    write(tmp_path / "big.csv", text)
    r = cli("--store", "s.duckdb", "import", "big.csv", "--format", "canonical")
    assert r.code == 0, r
    got = cli("--store", "s.duckdb", "sql", "select sum(cost_usd) c, sum(input_tokens) t from spend", "--format", "json")
    import json

    [row] = json.loads(got.out)
    assert Decimal(row["c"]) == total and row["t"] == tokens


def test_parquet_and_source_override(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", HEADER + "2026-10-01T10:00:00Z,anthropic,claude,w,k,100,10,0.123456789\n")
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{tmp_path / 'a.csv'}')) TO '{tmp_path / 'a.parquet'}' (FORMAT parquet)")
    r = cli("--store", "s.duckdb", "import", "a.parquet", "--format", "canonical", "--source", "finance-upload")
    assert r.code == 0, r
    out = cli("--store", "s.duckdb", "sql", "select source, provider, cost_usd, granularity, period_end from spend",
              "--format", "csv").out
    assert out == ("source,provider,cost_usd,granularity,period_end\n"
                   "finance-upload,anthropic,0.123456789,day,2026-10-02T10:00:00Z\n")
