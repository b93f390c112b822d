"""Fixtures for the import-format tests: a fresh store per test, and writers that build export files to
the documented columns (CSV, gzip CSV, JSONL, Parquet) from Python rows."""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from spendwatch.store import Store


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:  # type: ignore[operator]
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt") as fh:  # type: ignore[operator]
        for r in rows:
            fh.write(json.dumps(r, default=str) + "\n")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Through DuckDB's JSON reader, so nested objects become STRUCTs and lists LISTs, as in real exports."""
    import duckdb

    tmp = path.with_suffix(".tmp.jsonl")
    write_jsonl(tmp, rows)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_json('{tmp}', format='newline_delimited')) TO '{path}' (FORMAT parquet)")
    con.close()
    os.remove(tmp)
    return path


class Importer:
    """Runs import formats against one store file, opening it per call as the CLI does."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, fmt: str, file: Any, source: str | None = None) -> list[Any]:
        from collector import FORMATS

        with Store.open(self.path) as st:
            return FORMATS.get(fmt)().import_file(st, str(file), source=source)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with Store.open(self.path) as st:
            return st.conn.execute(sql, params or []).fetchall()

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        return self.query(sql, params)[0]

    def snapshot(self) -> list[tuple[Any, ...]]:
        """Everything a user can see in records (import_id is lineage, not content)."""
        return self.query("SELECT * EXCLUDE (import_id) FROM records ORDER BY ALL")

    def totals(self, where: str = "TRUE") -> tuple[Any, ...]:
        return self.one(f"""SELECT count(*), coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens), 0),
                                   coalesce(sum(cached_input_tokens), 0), coalesce(sum(cache_write_tokens), 0),
                                   coalesce(sum(output_tokens), 0) FROM records WHERE {where}""")


@pytest.fixture
def imp(tmp_path: Path) -> Importer:
    return Importer(str(tmp_path / "spend.duckdb"))


def dsum(values: Iterable[Any]) -> Decimal:
    return sum((Decimal(str(v)) for v in values), Decimal(0))
