"""SQL helpers the detectors share (literals, level keys, step arithmetic for backtests).

What a detector may read, and as of when, is `spendwatch.history.History`: detectors ask it for
`spend_rel(now)`, `daily_rel(now, since)` and `first_rel(now)`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from spendwatch.history import DAILY_DIMS, DIMS, date_lit, today, ts_lit

__all__ = ["DAILY_DIMS", "DIMS", "date_lit", "today", "ts_lit", "str_lit", "level_dims", "days_between",
           "add_days", "first_of_each_day", "days_judged", "steps_seeing", "keyed", "unkey"]


def str_lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def level_dims(level: str) -> list[str]:
    """'provider,model' -> ['provider', 'model'] (config spells a level as comma-separated columns)."""
    return [d.strip() for d in level.split(",") if d.strip()]


def days_between(a: date, b: date) -> int:
    return (b - a).days


def add_days(d: date, n: int) -> date:
    return d + timedelta(days=n)


def first_of_each_day(times: list[datetime]) -> list[datetime]:
    """The first step of every UTC day (where a day-resolution answer can change)."""
    out, seen = [], set()
    for t in sorted(times):
        if today(t) not in seen:
            seen.add(today(t))
            out.append(t)
    return out


def days_judged(times: list[datetime], days: set[date]) -> list[datetime]:
    """For a detector whose answer depends only on the UTC day (`resolution = "day"`): the first step of
    each day whose today() is in `days` (the days where it could fire, found in bulk)."""
    return [t for t in first_of_each_day(times) if today(t) in days]


def steps_seeing(times: list[datetime], visible_from: list[datetime]) -> list[datetime]:
    """Steps t_i with some instant v in (t_{i-1}, t_i]: where newly visible data can change an answer."""
    import numpy as np

    if not times or not visible_from:
        return []
    ts = np.array(sorted(t.timestamp() for t in times))
    vs = np.array(sorted({v.timestamp() for v in visible_from}))
    idx = np.searchsorted(ts, vs, side="left")  # first step at or after each visibility instant
    hit = sorted(set(int(i) for i in idx[idx < len(ts)]))
    ordered = sorted(times)
    return [ordered[i] for i in hit]


def keyed(rel: str, levels: list[str], cols: str, aggs: str, only: str = "") -> str:
    """All levels in one relation: `lv` (index into `levels`), `k` (the list of the level's values),
    then `cols` and `aggs` grouped by them. Judging every level in one query instead of one per level
    saves the planning cost that dominates on small data (a backtest runs thousands of passes).
    `only` names a relation of (lv, k) to restrict to before aggregating.

    Rows are grouped by the level's own (scalar) columns and only then packed into the list `k`: hashing
    and joining on list values cost most of a detect pass over 10k series (the groups are the same, as
    every column of a level is non-NULL here)."""
    parts = []
    for i, level in enumerate(levels):
        dims = level_dims(level)
        nn = " AND ".join(f"{d} IS NOT NULL" for d in dims)
        src = rel
        if only:  # restrict to the series listed in relation `only` (lv, k) before aggregating
            sel = ", ".join(f"k[{j + 1}] AS {d}" for j, d in enumerate(dims))
            src = f"(SELECT * FROM {rel} _r SEMI JOIN (SELECT {sel} FROM {only} WHERE lv = {i}) _o USING ({', '.join(dims)}))"
        inner = (f"SELECT {', '.join(dims)}{', ' + cols if cols else ''}, {aggs} "
                 f"FROM {src} WHERE {nn} GROUP BY ALL")
        parts.append(f"SELECT {i} AS lv, [{', '.join(dims)}] AS k, * EXCLUDE ({', '.join(dims)}) FROM ({inner})")
    return "(" + " UNION ALL ".join(parts) + ")"


def unkey(levels: list[str], lv: int, k: list[Any]) -> dict[str, Any]:
    return dict(zip(level_dims(levels[lv]), k, strict=False))
