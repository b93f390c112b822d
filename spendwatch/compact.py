"""Request-level retention: `[store] keep_requests` rolls old request rows into exact hourly cells.

Why: a gateway (LiteLLM SpendLogs) writes one row per request, tens of millions a day for a large
organisation, while every report, budget and detector works on hours or days. Rows with granularity
'request' older than `keep_requests` are replaced, in one transaction, by one row per UTC hour and per
combination of *every other column of `records`* (read from the table at run time, so a column added by a
later migration, e.g. `via`, is kept as a dimension without changes here). Money and tokens are summed
exactly (DECIMAL and BIGINT sums), so every figure per any dimension and any hour or day is unchanged.
`spend`'s figures computed at write time (spendwatch/attribution.py: spend_cost, spend_usd, hidden_by, ...)
are not dimensions: they are recomputed for the cells' days in the same transaction, as every writer does
(a gateway's bill split over cells instead of requests: each pool still sums exactly to its bill).

Exactness guards:
  * a cell never mixes priced and unpriced requests (`cost_usd IS NULL` is part of the key), so "price
    unknown" stays visible in `status`;
  * estimated usage rows in a (provider, project, UTC day) that `spend` reconciles against a billed total
    stay as requests: `spend` spreads the billed total over its rows with integer rounding per row, and
    fewer, larger rows would move sub-1e-10 remainders between dimensions.

DuckDB never gives deleted space back to the file system (it reuses it for later inserts). So the daemon's
hourly housekeeping only rolls up (the file then stops growing), and `spendwatch compact` also rewrites the
file (`COPY FROM DATABASE` into a new file, then an atomic rename while the old one is still locked) so it
actually shrinks.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .attribution import MATERIALISED, SPEND_MONEY, refresh_window
from .timeutil import floor_to

MEASURES = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
            "requests", "cost_usd")
HOUR = timedelta(hours=1)


@dataclass
class CompactResult:
    cutoff: datetime
    requests_rolled: int
    cells_written: int
    bytes_before: int | None = None
    bytes_after: int | None = None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rollup_requests(conn: Any, keep: timedelta, now: datetime) -> CompactResult:
    """Roll request rows older than `now - keep` (floored to the hour) into hourly cells; one transaction."""
    cutoff = floor_to(now - keep, HOUR)
    cols = [r[0] for r in conn.execute("DESCRIBE records").fetchall()]
    # `spend`'s figures (spendwatch/attribution.py) are derived, not dimensions: the cells get them recomputed
    derived = set(MATERIALISED + SPEND_MONEY)
    keys = [c for c in cols if c not in MEASURES and c not in ("ts", "period_end", "granularity") and c not in derived]
    sel = """
        r.granularity = 'request' AND r.ts < $cutoff
        AND NOT (r.record_type = 'usage' AND r.cost_basis = 'estimated' AND EXISTS (
            SELECT 1 FROM records b
            WHERE b.record_type = 'cost' AND b.covers_usage AND b.provider = r.provider
              AND coalesce(b.project_id, '') = coalesce(r.project_id, '')
              AND CAST(timezone('UTC', b.ts) AS DATE) = CAST(timezone('UTC', r.ts) AS DATE)))
    """
    key_list = ", ".join(f"r.{_ident(k)}" for k in keys)
    sums = ", ".join(f"sum(r.{m})" if m != "cost_usd" else "CAST(sum(r.cost_usd) AS DECIMAL(38, 10))"
                     for m in MEASURES)
    insert_cols = ", ".join(_ident(c) for c in keys + ["ts", "period_end", "granularity"] + list(MEASURES))
    conn.execute("BEGIN TRANSACTION")
    try:
        n, first = conn.execute(f"SELECT count(*), min(ts) FROM records r WHERE {sel}", {"cutoff": cutoff}).fetchone()
        cells = 0
        if n:
            cells = conn.execute(f"""
                INSERT INTO records ({insert_cols})
                SELECT {key_list}, date_trunc('hour', r.ts), date_trunc('hour', r.ts) + INTERVAL 1 HOUR,
                       'hour', {sums}
                FROM records r WHERE {sel}
                GROUP BY {key_list}, date_trunc('hour', r.ts), (r.cost_usd IS NULL)
            """, {"cutoff": cutoff}).fetchone()[0]
            conn.execute(f"DELETE FROM records r WHERE {sel}", {"cutoff": cutoff})
            refresh_window(conn, first, cutoff)  # `spend`'s figures of the cells' days, as every writer does
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return CompactResult(cutoff, int(n), int(cells))


def rewrite_file(store: Any) -> None:
    """Copy the whole database into a new file and rename it over the old one (so the file shrinks).

    The old file stays open and locked until the rename is done, so no writer can slip in between; a
    reader that had the old file open keeps reading the old (identical) contents. A crash before the rename
    leaves the old file untouched and a stray `*.compact-tmp` beside it, which the next run replaces.
    """
    path = store.path
    tmp = f"{path}.compact-tmp"
    for leftover in (tmp, tmp + ".wal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(leftover)
    conn = store.conn
    conn.execute("CHECKPOINT")
    name = conn.execute("SELECT current_database()").fetchone()[0]
    conn.execute(f"ATTACH '{tmp}' AS sw_compact_target")
    try:
        conn.execute(f'COPY FROM DATABASE "{name}" TO sw_compact_target')
    finally:
        conn.execute("DETACH sw_compact_target")
    os.replace(tmp, path)


def compact(store: Any, keep: timedelta, now: datetime, *, rewrite: bool) -> CompactResult:
    """Roll up old request rows, CHECKPOINT, and (if `rewrite`) shrink the file. Store must be writable."""
    before = _size(store.path)
    result = rollup_requests(store.conn, keep, now)
    store.conn.execute("CHECKPOINT")
    if rewrite:
        rewrite_file(store)
    result.bytes_before, result.bytes_after = before, _size(store.path)
    return result


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path) + (os.path.getsize(path + ".wal") if os.path.exists(path + ".wal") else 0)
    except OSError:
        return None
