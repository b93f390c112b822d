"""SQL text for config `match` tables and allocation rules: the one place a user's glob becomes SQL.

Kept apart from `views.py` so that the write-time money rules (`attribution.py`) and the views can both use
it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def match_sql(match: dict[str, Any], alias: str = "") -> str:
    """SQL condition for a config `match` table: every column must match one of its glob patterns."""
    if not match:
        return "TRUE"
    parts = []
    for col, pats in sorted(match.items()):
        pats = [pats] if isinstance(pats, str) else list(pats)
        ors = " OR ".join(f"{alias}{col} GLOB {quote(p)}" for p in pats)
        parts.append(f"coalesce({ors}, FALSE)")
    return " AND ".join(f"({p})" for p in parts)


def team_sql(rules: Iterable[Any]) -> str:
    """First matching [[allocation]] rule wins; NULL when none matches."""
    whens = [f"WHEN {match_sql(r.match, 'b.')} THEN {quote(r.team)}" for r in rules]
    return f"CASE {' '.join(whens)} ELSE NULL END" if whens else "CAST(NULL AS VARCHAR)"
