"""The read-only rule of `spendwatch sql`, shared with the Python API (`spendwatch.open(...).sql`).

Two fences, both needed: only SELECT and EXPLAIN statements pass the parser check (so no DDL, COPY, ATTACH,
PRAGMA, SET), and the connection itself refuses file access and further configuration changes (so a
SELECT cannot read or write files with `read_csv`/`COPY` tricks). The store is opened read-only anyway.
"""

from __future__ import annotations

from typing import Any

from .errors import ReadOnlyViolation, SpendwatchError

ALLOWED_SQL = {"SELECT", "EXPLAIN"}


def check_read_only(query: str) -> None:
    """Raise ReadOnlyViolation (or SpendwatchError for a parse error) unless every statement is a read."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise SpendwatchError(f"SQL error: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise SpendwatchError("empty query")
    for st in statements:
        kind = st.type.name
        if kind not in ALLOWED_SQL:
            raise ReadOnlyViolation(f"refused: {kind} statements are not allowed; `spendwatch sql` is read-only "
                                    "(SELECT and EXPLAIN only)")


def fence(conn: Any) -> None:
    """No file access and no more SET on this connection (after our own setup is done)."""
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
