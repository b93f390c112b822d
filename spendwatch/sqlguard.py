"""What `spendwatch sql` accepts before it runs a query (the read-only connection is the real guard; this
gives one-line answers instead of DuckDB's or Python's errors).

  * the query must be valid UTF-8: a shell passes undecodable bytes through as lone surrogates, which
    DuckDB's binding cannot encode (an internal error before issue 12);
  * one PIVOT without an IN list is one statement to the user, but DuckDB parses it as a MULTI statement
    (it first reads the distinct values): it is allowed when it is the only statement and begins like a
    query, so `select 1; delete …` stays refused as before.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from .errors import SpendwatchError

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
