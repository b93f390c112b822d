"""Issue 12, defects 2, 3, 5 and 6 at the import boundary: values every view can compute, one-line errors
with FILE:LINE instead of a poisoned store or exit 70, paths read literally (docs/input-limits.md)."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ..conftest import write

CONFIG = """[store]
path = "s.duckdb"
[[budgets]]
name = "all"
period = "month"
amount = "999999999999999.99"
"""
CANON = "ts,provider,cost_usd,cost_basis,record_type,input_tokens,output_tokens\n"
LITELLM = "request_id,startTime,spend,prompt_tokens,completion_tokens,model\n"


def records(tmp_path: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    try:
        return con.execute("SELECT * EXCLUDE (import_id) FROM records ORDER BY ALL").fetchall()
    finally:
        con.close()


# --------------------------------------------------------------------------------- defect 2: money, tokens
@pytest.mark.parametrize("cost", ["1000000000000000", "-1000000000000000", "1e18", "1234567890123456789012345678",
                                  "99999999999999999999999999999999"])
def test_canonical_cost_beyond_the_bound_is_refused_with_its_line(tmp_path: Path, cli, cost: str) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", CANON + f"2026-01-01,openai,1.00,billed,usage,1,1\n2026-01-02,openai,{cost},estimated,usage,1,1\n")
    r = cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical")
    assert r.code == 1, r
    assert r.err == f'spendwatch: a.csv:3: column cost_usd: out of range (|value| must be below 1e15) ("{cost}")\n'


@pytest.mark.parametrize("fmt,name", [("csv", "a.csv"), ("jsonl", "a.jsonl")])
def test_litellm_spend_beyond_the_bound_is_refused_with_its_line(tmp_path: Path, cli, fmt: str, name: str) -> None:  # type: ignore[no-untyped-def]
    if fmt == "csv":
        write(tmp_path / name, LITELLM + "r1,2026-01-01T00:00:00Z,0.5,1,1,m\nr2,2026-01-01T01:00:00Z,1e18,1,1,m\n")
        line, shown = 3, "1e18"
    else:
        write(tmp_path / name, '{"request_id": "r1", "startTime": "2026-01-01T00:00:00Z", "spend": 0.5}\n'
                               '{"request_id": "r2", "startTime": "2026-01-01T01:00:00Z", "spend": 1e18}\n')
        line, shown = 2, "1e+18"  # a JSON number, as DuckDB reads it
    r = cli("--store", "s.duckdb", "import", name, "--format", "litellm")
    assert r.code == 1, r
    assert r.err == f'spendwatch: {name}:{line}: column spend: out of range (|value| must be below 1e15) ("{shown}")\n'


def test_tokens_beyond_the_bound_are_refused(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", CANON + "2026-01-01,openai,1,billed,usage,1000000000000000,1\n")
    r = cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical")
    assert (r.code, r.err) == (1, 'spendwatch: a.csv:2: column input_tokens: out of range (a count must be below '
                                  '1e15) ("1000000000000000")\n')
    write(tmp_path / "l.csv", LITELLM + "r1,2026-01-01T00:00:00Z,0.5,1,9223372036854775807,m\n")
    r = cli("--store", "s.duckdb", "import", "l.csv", "--format", "litellm")
    assert (r.code, r.err) == (1, 'spendwatch: l.csv:2: column completion_tokens: out of range (a count must be '
                                  'below 1e15) ("9223372036854775807")\n')
    assert not (tmp_path / "s.duckdb").exists() or records(tmp_path) == []


def test_rows_at_the_bound_keep_every_reader_working(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The largest accepted values: estimates reconciled against a bill of the same (provider, project, day)
    (the scaling multiplies two 1e25-unit figures), and every command that reads the store still works."""
    big = "999999999999999.9999999999"
    tok = "999999999999999"
    write(tmp_path / "sw.toml", CONFIG)
    write(tmp_path / "est.csv", "ts,provider,project_id,cost_usd,cost_basis,input_tokens,output_tokens\n" + "".join(
        f"2026-01-0{d},openai,p,{big},estimated,{tok},{tok}\n" for d in range(1, 4)))
    write(tmp_path / "bill.csv", "start_time,end_time,amount_value,line_item,project_id\n" + "".join(
        f"2026-01-0{d}T00:00:00Z,2026-01-0{d + 1}T00:00:00Z,{big},\"gpt-4.1, input\",p\n" for d in range(1, 4)))
    assert cli("--config", "sw.toml", "import", "est.csv", "--format", "canonical").code == 0
    r = cli("--config", "sw.toml", "import", "bill.csv", "--format", "openai-costs-csv")
    assert r.code == 0, r
    r = cli("--config", "sw.toml", "sql", "select cost_basis, count(*) n, sum(cost_usd) c, sum(input_tokens) t "
            "from spend group by 1 order by 1", "--format", "csv")
    assert (r.code, r.out) == (0, "cost_basis,n,c,t\nreconciled,3,2999999999999999.9999999997,2999999999999997\n")
    for args in (["report", "chargeback", "--month", "2026-01"], ["status"], ["detect", "--at", "2026-01-04", "--no-send"],
                 ["digest", "--at", "2026-01-04"], ["sql", "select * from daily_spend"],
                 ["sql", "select * from chargeback"]):
        r = cli("--config", "sw.toml", *args)
        assert r.code == 0 and "internal error" not in r.err, (args, r)


def test_views_survive_rows_an_older_version_let_in(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A store written before the bound may hold a 1e18 estimate and a 28-digit bill: the views show those
    rows' cost as unknown (NULL) instead of failing every reader."""
    write(tmp_path / "ok.csv", CANON + "2026-01-01,openai,2.50,billed,usage,1,1\n")
    assert cli("--store", "s.duckdb", "import", "ok.csv", "--format", "canonical").code == 0
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute("""INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                       cost_usd, cost_basis, currency)
                   VALUES ('old', 'canonical', 'usage', FALSE, '2026-01-01', '2026-01-02', 'day', 'openai',
                           1e18, 'estimated', 'USD'),
                          ('old', 'canonical', 'cost', TRUE, '2026-01-01', '2026-01-02', 'day', 'openai',
                           9999999999999999999999999999.9999999999, 'billed', 'USD'),
                          ('old', 'canonical', 'cost', FALSE, '2026-01-01', '2026-01-02', 'day', 'openai',
                           9999999999999999999999999999.9999999999, 'billed', 'USD')""")
    con.close()
    r = cli("--store", "s.duckdb", "sql", "select count(*) n, count(cost_usd) priced, sum(cost_usd) c from spend",
            "--format", "csv")
    assert (r.code, r.out) == (0, "n,priced,c\n4,1,2.50\n")
    r = cli("--store", "s.duckdb", "sql", "select sum(cost_usd) c from daily_spend", "--format", "csv")
    assert (r.code, r.out) == (0, "c\n2.50\n")


# ------------------------------------------------------------------------------------- defect 3: timestamps
@pytest.mark.parametrize("ts", ["infinity", "-infinity", "0001-01-01", "9999-12-31", "1999-12-31T23:59:59Z",
                                "2100-01-01"])
def test_canonical_timestamps_outside_the_range(tmp_path: Path, cli, ts: str) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", CANON + f"2026-01-01,openai,1,billed,usage,1,1\n{ts},openai,1,billed,usage,1,1\n")
    r = cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical")
    assert (r.code, r.err) == (1, f'spendwatch: a.csv:3: column ts: outside the supported time range '
                                  f'(2000-01-01 to 2100-01-01) ("{ts}")\n')


def test_canonical_period_end_outside_the_range(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", "ts,provider,cost_usd,period_end\n2026-01-01,openai,1,infinity\n")
    r = cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical")
    assert (r.code, r.err) == (1, 'spendwatch: a.csv:2: column period_end: outside the supported time range '
                                  '(2000-01-01 to 2100-01-01) ("infinity")\n')


@pytest.mark.parametrize("ts", ["infinity", "-infinity", "0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_litellm_timestamps_outside_the_range(tmp_path: Path, cli, ts: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    if kind == "csv":
        write(tmp_path / "l.csv", LITELLM + f"r1,2026-01-01T00:00:00Z,0.5,1,1,m\nr2,{ts},0.5,1,1,m\n")
        where = "l.csv:3"
    else:
        write(tmp_path / "l.jsonl", '{"request_id": "r1", "startTime": "2026-01-01T00:00:00Z", "spend": 0.5}\n'
                                    f'{{"request_id": "r2", "startTime": "{ts}", "spend": 0.5}}\n')
        where = "l.jsonl:2"
    r = cli("--store", "s.duckdb", "import", f"l.{kind}", "--format", "litellm")
    assert (r.code, r.err) == (1, f'spendwatch: {where}: column startTime: outside the supported time range '
                                  f'(2000-01-01 to 2100-01-01) ("{ts}")\n')


# ----------------------------------------------------------------------------------- defect 5: glob paths
@pytest.mark.parametrize("fmt", ["canonical", "litellm"])
def test_a_path_with_glob_characters_is_read_literally(tmp_path: Path, cli, fmt: str) -> None:  # type: ignore[no-untyped-def]
    if fmt == "canonical":
        write(tmp_path / "a*.csv", CANON + "2026-01-01,openai,1.25,billed,usage,1,1\n")
        write(tmp_path / "ab.csv", CANON + "2026-01-01,openai,100,billed,usage,1,1\n")
    else:
        write(tmp_path / "a*.csv", LITELLM + "r1,2026-01-01T00:00:00Z,1.25,1,1,m\n")
        write(tmp_path / "ab.csv", LITELLM + "r2,2026-01-01T00:00:00Z,100,1,1,m\n")
    r = cli("--store", "s.duckdb", "import", "a*.csv", "--format", fmt)
    assert r.code == 0, r
    assert r.out.startswith("a*.csv: 1 rows, $1.25 into source ")
    r = cli("--store", "s.duckdb", "sql", "select count(*) n, sum(cost_usd) c from spend", "--format", "csv")
    assert r.out == "n,c\n1,1.25\n"


def test_a_glob_path_that_names_no_file_is_not_expanded(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "ab.csv", CANON + "2026-01-01,openai,100,billed,usage,1,1\n")
    r = cli("--store", "s.duckdb", "import", "a?.csv", "--format", "canonical")
    assert (r.code, r.err) == (1, "spendwatch: a?.csv: no such file\n")


# ------------------------------------------------------------------------------ defect 6: import messages
def test_tags_must_be_a_json_object(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", 'ts,provider,cost_usd,tags\n2026-01-01,openai,1,"{""team"": ""x""}"\n'
                              '2026-01-01,openai,1,"[1, 2]"\n')
    r = cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical")
    assert (r.code, r.err) == (1, 'spendwatch: a.csv:3: column tags: not a JSON object ("[1, 2]")\n')


@pytest.mark.parametrize("fmt", ["canonical", "litellm", "aws-cur", "focus", "gcp-billing", "azure-costs",
                                 "openai-costs-csv", "anthropic-costs-csv", "auto"])
@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "empty.csv.gz"])
def test_an_empty_file_says_so(tmp_path: Path, cli, fmt: str, name: str) -> None:  # type: ignore[no-untyped-def]
    if name.endswith(".gz"):
        with gzip.open(tmp_path / name, "wb"):
            pass
    else:
        write(tmp_path / name, "")
    r = cli("--store", "s.duckdb", "import", name, "--format", fmt)
    assert (r.code, r.err) == (1, f"spendwatch: {name}: empty file (expected a header row)\n")


@pytest.mark.parametrize("fmt,header,good", [
    ("canonical", "ts,provider,cost_usd", "2026-01-01,openai,1"),
    ("litellm", "request_id,startTime,spend", "r1,2026-01-01T00:00:00Z,1"),
])
def test_a_ragged_csv_names_the_malformed_line(tmp_path: Path, cli, fmt: str, header: str, good: str) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "rag.csv", f"{header}\n{good}\n{good},5,6\n{good}\n")
    r = cli("--store", "s.duckdb", "import", "rag.csv", "--format", fmt)
    assert (r.code, r.err) == (1, "spendwatch: rag.csv:3: malformed CSV line (expected 3 fields, found 5)\n")


def test_a_ragged_csv_with_only_long_rows(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "rag.csv", "ts,provider,cost_usd\n2026-01-01,openai,1,x\n2026-01-02,openai,1,x\n")
    r = cli("--store", "s.duckdb", "import", "rag.csv", "--format", "canonical")
    assert (r.code, r.err) == (1, "spendwatch: rag.csv:2: malformed CSV line (expected 3 fields, found 4)\n")


@pytest.mark.parametrize("text,line", [
    ('{"request_id": "a", "startTime": "2026-01-01", "spend": 1', 1),
    ('{"request_id": "a", "startTime": "2026-01-01", "spend": 1\n', 1),
    ('{"request_id": "a", "startTime": "2026-01-01", "spend": 1}\n{"request_id": x}\n', 2),
    ('{"request_id": "a", "startTime": "2026-01-01", "spend": 1}\n\n{"request_id": x}\n', 3),
])
def test_a_jsonl_error_names_the_right_line(tmp_path: Path, cli, text: str, line: int) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "l.jsonl", text)
    r = cli("--store", "s.duckdb", "import", "l.jsonl", "--format", "litellm")
    assert r.code == 1
    assert r.err.startswith(f"spendwatch: l.jsonl:{line}: not valid JSON lines ("), r.err


@pytest.mark.parametrize("fmt", ["canonical", "litellm", "aws-cur", "focus", "gcp-billing", "azure-costs",
                                 "openai-costs-csv", "anthropic-costs-csv", "auto"])
@pytest.mark.parametrize("name", ["bad.csv.gz", "bad.jsonl.gz"])
def test_a_corrupt_gzip_is_one_line_and_changes_nothing(tmp_path: Path, cli, fmt: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """A gzip whose deflate stream is damaged: Python's gzip raises zlib.error (not an OSError) from the
    passes that read the text themselves, which was exit 70; the reader's own error is the one line."""
    good = gzip.compress(("ts,provider,cost_usd\n" + "2026-01-01,openai,1\n" * 200).encode(), mtime=0)
    (tmp_path / name).write_bytes(good[:12] + bytes(b ^ 0x55 for b in good[12:40]) + good[40:])
    r = cli("--store", "s.duckdb", "import", name, "--format", fmt)
    assert r.code == 1, r.err
    assert r.err.startswith(f"spendwatch: {name}: ") and r.err.count("\n") == 1, r.err
    if (tmp_path / "s.duckdb").exists():
        assert records(tmp_path) == []


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_a_csv_with_any_usual_delimiter_imports(tmp_path: Path, cli, delim: str) -> None:  # type: ignore[no-untyped-def]
    """The reader takes the delimiter from the header line (collector/_files.py, header_delimiter) instead
    of DuckDB's sniffer searching for it; a quoted value may hold another delimiter."""
    lines = [["ts", "provider", "cost_usd", "model"], ["2026-01-01", "openai", "1.5", '"a,b;c|d"'],
             ["2026-01-02", "openai", "2.25", "m"]]
    write(tmp_path / "d.csv", "".join(delim.join(line) + "\n" for line in lines))
    r = cli("--store", "s.duckdb", "import", "d.csv", "--format", "canonical")
    assert r.code == 0, r.err
    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        got = con.execute("SELECT CAST(ts AS DATE)::VARCHAR, cost_usd, model FROM records ORDER BY ts").fetchall()
    assert got == [("2026-01-01", Decimal("1.5"), "a,b;c|d"), ("2026-01-02", Decimal("2.25"), "m")]


@pytest.mark.parametrize("fmt", ["canonical", "litellm", "auto"])
def test_a_file_the_hinted_sniffer_cannot_read_is_sniffed_in_full(tmp_path: Path, cli, fmt: str) -> None:  # type: ignore[no-untyped-def]
    """A ragged last line that is also not UTF-8 leaves DuckDB's sniffer with no dialect for the header's
    delimiter; read again with the full search (read_with), the error names the line and its encoding."""
    header = "ts,provider,cost_usd" if fmt != "litellm" else "request_id,startTime,spend"
    (tmp_path / "l1.csv").write_bytes(f"{header}\n2026-01-01,openai,1\n2026-01-02,openai,2\n".encode() + b"\xe9,\xe9\n")
    r = cli("--store", "s.duckdb", "import", "l1.csv", "--format", fmt)
    assert (r.code, r.err) == (1, "spendwatch: l1.csv:4: malformed CSV line (Invalid unicode (byte sequence mismatch) "
                                  "detected. This file is not utf-8 encoded.)\n")


@pytest.mark.parametrize("fmt", ["canonical", "litellm", "auto"])
@pytest.mark.parametrize("damage,why", [("crc", "CRC check failed"), ("cut", "truncated"),
                                        ("tail", "not gzip data")])
def test_a_damaged_gzip_that_duckdb_reads_is_refused(tmp_path: Path, cli, fmt: str, damage: str, why: str) -> None:  # type: ignore[no-untyped-def]
    """DuckDB's gzip reader does not check the CRC: a `.csv.gz` whose trailer does not match its bytes (or
    that lacks it, or has garbage after it) read as a good file. spendwatch proves the stream whole
    (collector/_files.py, GzipCheck) and refuses the file, leaving the store as it was."""
    text = "ts,provider,cost_usd\n2026-01-01,openai,1\n" if fmt != "litellm" else \
        "request_id,startTime,spend\nr1,2026-01-01T00:00:00Z,1\n"
    good = gzip.compress(text.encode(), mtime=0)
    bad = {"crc": good[:-8] + bytes([good[-8] ^ 1]) + good[-7:], "cut": good[:-8], "tail": good + b"junk"}[damage]
    (tmp_path / "d.csv.gz").write_bytes(good)
    assert cli("--store", "s.duckdb", "import", "d.csv.gz", "--format", fmt, "--source", "good").code == 0
    before = records(tmp_path)
    (tmp_path / "d.csv.gz").write_bytes(bad)
    r = cli("--store", "s.duckdb", "import", "d.csv.gz", "--format", fmt)
    assert (r.code, r.err) == (1, f"spendwatch: d.csv.gz: damaged gzip file ({why}); nothing imported\n")
    assert records(tmp_path) == before
