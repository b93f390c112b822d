"""Shared plumbing for file imports: recognising the container (CSV/JSONL/Parquet, gzip), hashing, the
DuckDB reader expression, and the imported-files ledger. Import formats stay SQL-first: they stage the
file with DuckDB's own readers and transform with INSERT … SELECT, never row by row in Python."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from spendwatch.errors import InputFileError
from spendwatch.timeutil import utcnow


def container(path: str) -> str:
    """'csv', 'jsonl' or 'parquet' from the file name (a trailing .gz is allowed on text formats)."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ext, kind in ((".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv"), (".tsv", "csv"),
                      (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl")):
        if name.endswith(ext):
            return kind
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    except OSError:
        pass
    return "csv"


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def reader_sql(path: str, *, all_varchar: bool = True) -> str:
    """A DuckDB table function reading `path` whole; text formats as VARCHAR so we validate ourselves."""
    kind = container(path)
    p = sql_literal(path)
    if kind == "parquet":
        return f"read_parquet({p})"
    if kind == "jsonl":
        return f"read_json({p}, format='newline_delimited'" + (", columns_as_varchar=true" if False else "") + ")"
    opts = ", all_varchar=true" if all_varchar else ""
    return f"read_csv({p}, header=true{opts}, auto_detect=true)"


def check_readable(path: str) -> None:
    if not os.path.isfile(path):
        raise InputFileError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{path}: not readable")


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record_import(conn, path: str, fmt: str, source: str, rows: int, window, error: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Ledger of imports (path, size, mtime, hash); a repeat import of the same content replaces its line."""
    st = Path(path).stat()
    digest = sha256_of(path)
    absolute = str(Path(path).resolve())
    conn.execute("DELETE FROM imported_files WHERE path = ? AND sha256 = ? AND source = ?", [absolute, digest, source])
    conn.execute(
        "INSERT INTO imported_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [absolute, st.st_size, st.st_mtime, digest, fmt, source, rows,
         window.start if window else None, window.end if window else None, utcnow(), error])
