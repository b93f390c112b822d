"""The read-only rule of `spendwatch sql`, shared with the Python API (`spendwatch.open(...).sql`), and
what `sql` accepts before it runs a query (one-line answers instead of DuckDB's or Python's errors).

Two fences, both needed: only SELECT and EXPLAIN statements pass the parser check (so no DDL, COPY, ATTACH,
PRAGMA, SET), and the connection itself refuses file access and further configuration changes (so a
SELECT cannot read or write files with `read_csv`/`COPY` tricks). The store is opened read-only anyway.

  * the query must be valid UTF-8: a shell passes undecodable bytes through as lone surrogates, which
    DuckDB's binding cannot encode (an internal error before issue 12);
  * one PIVOT without an IN list is one statement to the user, but DuckDB parses it as a MULTI statement
    (it first reads the distinct values): it is allowed when it is the only statement and begins like a
    query, so `select 1; delete …` stays refused as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .errors import ReadOnlyViolation, SpendwatchError

ALLOWED_SQL = {"SELECT", "EXPLAIN"}
_COMMENTS = re.compile(r"(--[^\n]*(\n|$)|/\*.*?\*/|\s)+", re.S)
_QUERY_START = re.compile(r"(select|with|from|pivot|unpivot|\()\b|\(", re.I)


def check_text(query: str) -> None:
    """Raise a one-line error when the query holds bytes that are not UTF-8 (surrogate escapes)."""
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SpendwatchError(f"the query is not valid UTF-8 (undecodable byte at character {exc.start + 1})") from None


def is_single_pivot(statements: Sequence[Any], query: str) -> bool:
    """True for the one case where a MULTI statement is still one read-only query: a lone PIVOT."""
    if len(statements) != 1 or statements[0].type.name != "MULTI":
        return False
    text = _COMMENTS.sub(" ", query).strip()
    return bool(_QUERY_START.match(text)) and re.search(r"\bpivot\b", text, re.I) is not None


def check_read_only(query: str, conn: Any = None) -> None:
    """Raise ReadOnlyViolation (or SpendwatchError for a parse error) unless every statement is a read.
    `conn`: parse with this connection (a separate default DuckDB instance costs ~60 ms of start-up)."""
    from .engine import duckdb_module

    duckdb = duckdb_module(lean=conn is not None)  # the connection's own engine: no second import

    check_text(query)
    try:
        statements = (conn or duckdb).extract_statements(query)
    except duckdb.Error as exc:
        raise SpendwatchError(f"SQL error: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise SpendwatchError("empty query")
    if is_single_pivot(statements, query):
        return
    for st in statements:
        kind = st.type.name
        if kind not in ALLOWED_SQL:
            raise ReadOnlyViolation(f"refused: {kind} statements are not allowed; `spendwatch sql` is read-only "
                                    "(SELECT and EXPLAIN only)")


def fence(conn: Any) -> None:
    """No file access and no more SET on this connection (after our own setup is done)."""
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
