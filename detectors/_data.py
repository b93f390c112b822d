"""What a detector may see at `now`, and one shared copy of it per run.

Visibility ("no peeking"): a `spend` row is visible at `now` when its whole period has ended, i.e.
`ts < now AND period_end <= now`. A daily row for today is therefore not visible until midnight, an hourly
row at the end of its hour, a request row at once. `detect --at T` and a backtest step at T see exactly
the rows the daemon could have had at T (given the data it later collected).

Speed: the `spend` view reconciles estimates to billed totals at query time, which costs a full scan. A
run (or a whole backtest) therefore materialises it once into a temp table `_sw_spend` (ordered by ts,
so DuckDB's zone maps skip old blocks) plus a UTC-daily rollup `_sw_daily`; detectors read those through
`spend_rel` / `daily_rel`, which fall back to the live view when no snapshot is open (a detector called
on its own, as the tests do).
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from typing import Any, Iterator, Optional

from spendwatch.timeutil import UTC, day_start

# Text dimensions a detector can group or match on (the spend view's, as in config.MATCH_COLUMNS).
DIMS = ("provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id", "model",
        "service_tier", "line_item", "granularity", "cost_basis", "team")
_DAILY_DIMS = tuple(d for d in DIMS if d != "granularity")


def ts_lit(dt: datetime) -> str:
    """A TIMESTAMPTZ literal (UTC): SQL text is part of the output's determinism, so no locale games."""
    return f"TIMESTAMPTZ '{dt.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}+00'"


def date_lit(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def str_lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def today(now: datetime) -> date:
    """The UTC day holding `now`; the last complete day is the one before it."""
    return day_start(now).date()


@contextlib.contextmanager
def snapshot(store: Any, until: datetime) -> Iterator[None]:
    """Materialise what is visible at `until` once; nested calls covering `until` reuse the outer one."""
    outer: Optional[datetime] = getattr(store, "_sw_until", None)
    if outer is not None and until <= outer:
        yield
        return
    conn = store.conn
    cols = ", ".join(DIMS)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sw_spend AS
            SELECT ts, period_end, {cols}, cost_usd, CAST(timezone('UTC', ts) AS DATE) AS day
            FROM spend WHERE ts < {ts_lit(until)} AND period_end <= {ts_lit(until)}
            ORDER BY ts""")
    dd = ", ".join(_DAILY_DIMS)
    # Daily series hold only rows of at most one day; monthly lines are not daily data.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sw_daily AS
            SELECT day, {dd}, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd
            FROM _sw_spend WHERE granularity <> 'month' AND cost_usd IS NOT NULL
            GROUP BY ALL ORDER BY day""")
    store._sw_until = until
    try:
        yield
    finally:
        store._sw_until = outer
        conn.execute("DROP TABLE IF EXISTS _sw_spend")
        conn.execute("DROP TABLE IF EXISTS _sw_daily")


def _snap(store: Any, now: datetime) -> bool:
    until = getattr(store, "_sw_until", None)
    return until is not None and now <= until


def spend_rel(store: Any, now: datetime) -> str:
    """SQL relation of spend rows visible at `now` (with a `day` column, the UTC date of ts)."""
    vis = f"ts < {ts_lit(now)} AND period_end <= {ts_lit(now)}"
    if _snap(store, now):
        return f"(SELECT * FROM _sw_spend WHERE {vis})"
    return (f"(SELECT ts, period_end, {', '.join(DIMS)}, cost_usd, CAST(timezone('UTC', ts) AS DATE) AS day "
            f"FROM spend WHERE {vis})")


def daily_rel(store: Any, now: datetime, since: Optional[date] = None) -> str:
    """UTC-daily spend per every dimension, complete days before today(now) only (from `since` on)."""
    lo = f" AND day >= {date_lit(since)}" if since else ""
    if _snap(store, now):
        return f"(SELECT * FROM _sw_daily WHERE day < {date_lit(today(now))}{lo})"
    dd = ", ".join(_DAILY_DIMS)
    return (f"(SELECT day, {dd}, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd "
            f"FROM {spend_rel(store, now)} WHERE granularity <> 'month' AND cost_usd IS NOT NULL "
            f"AND day < {date_lit(today(now))}{lo} GROUP BY ALL)")


def level_dims(level: str) -> list[str]:
    """'provider,model' -> ['provider', 'model'] (config spells a level as comma-separated columns)."""
    return [d.strip() for d in level.split(",") if d.strip()]


def days_between(a: date, b: date) -> int:
    return (b - a).days


def add_days(d: date, n: int) -> date:
    return d + timedelta(days=n)
