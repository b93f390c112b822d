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
        "service_tier", "line_item", "granularity", "cost_basis", "team", "via")
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
def snapshot(store: Any, until: datetime, since: Optional[datetime] = None,
             horizon: timedelta = timedelta(days=100), rules: Optional[list[Any]] = None,
             first_dims: Optional[list[str]] = None) -> Iterator[None]:
    """Materialise what is visible at `until` once; nested calls covering `until` reuse the outer one.

    Only rows from `horizon` before `since` (default `until`) are copied: detectors look back at most that
    far (each declares `horizon(options)`; run_detectors passes the largest). First-seen days, which need
    all history, are kept per cell in `_sw_first` (a min is monotone, so it cannot leak the future).
    """
    outer: Optional[datetime] = getattr(store, "_sw_until", None)
    if outer is not None and until <= outer:
        yield
        return
    conn = store.conn
    lo = day_start((since or until) - horizon)
    vis = f"ts < {ts_lit(until)} AND period_end <= {ts_lit(until)}"
    cols = ", ".join(DIMS)
    source = "spend"
    if rules is not None:
        # The spend view's own SQL over whole UTC days only: reconciliation works per (provider, project,
        # UTC day), so cutting at midnight changes nothing, and the view's full scan is avoided.
        from spendwatch.views import materialised_spend_sql

        source = "(" + materialised_spend_sql(rules).replace(
            "FROM records", f"FROM (SELECT * FROM records WHERE ts >= {ts_lit(lo)} AND ts < {ts_lit(until)})", 1) + ")"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sw_spend AS
            SELECT ts, period_end, {cols}, cost_usd, CAST(timezone('UTC', ts) AS DATE) AS day
            FROM {source} WHERE {vis} AND ts >= {ts_lit(lo)}""")
    dd = ", ".join(_DAILY_DIMS)
    # Daily series hold only rows of at most one day; monthly lines are not daily data. Rows need not be
    # unique per cell (every reader sums by its own columns), so daily rows are copied as they are and
    # only finer rows are rolled up.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _sw_daily AS
            SELECT day, {dd}, cost_usd FROM _sw_spend WHERE granularity = 'day' AND cost_usd IS NOT NULL
            UNION ALL
            SELECT day, {dd}, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd
            FROM _sw_spend WHERE granularity IN ('request', 'minute', 'hour') AND cost_usd IS NOT NULL GROUP BY ALL""")
    if rules is None or any("granularity" in r.match for r in rules):
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _sw_first AS
                SELECT {dd}, min(CAST(timezone('UTC', ts) AS DATE)) AS first_day
                FROM spend WHERE {vis} AND granularity <> 'month' AND cost_usd > 0 GROUP BY ALL""")
    else:
        # First-seen days over all history straight from records' spend rows (a min per cell; the team is a function
        # of the cell's columns, so allocation applies after grouping): no reconciliation pass needed.
        # Only the columns some level uses (and the allocation rules read) are kept.
        from spendwatch.attribution import spend_rows_sql
        from spendwatch.views import DIMENSIONS, TOKENS, team_sql

        spend_rows = spend_rows_sql(DIMENSIONS, TOKENS)  # spend's rows before allocation (money rules applied)
        wanted = set(first_dims or _DAILY_DIMS) | {c for r in rules for c in r.match}
        raw = ", ".join(d for d in _DAILY_DIMS if d != "team" and d in wanted)
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _sw_first AS
                SELECT {raw}, {team_sql(rules)} AS team, min(first_day) AS first_day
                FROM (SELECT {raw}, min(CAST(timezone('UTC', ts) AS DATE)) AS first_day FROM ({spend_rows}) r
                      WHERE {vis} AND granularity <> 'month' AND cost_usd > 0 GROUP BY ALL) b
                GROUP BY ALL""")
    store._sw_until = until
    try:
        yield
    finally:
        store._sw_until = outer
        for t in ("_sw_spend", "_sw_daily", "_sw_first"):
            conn.execute(f"DROP TABLE IF EXISTS {t}")


def first_rel(store: Any, now: datetime) -> str:
    """First day with spend (> 0, complete days before today(now)) per cell of every daily dimension."""
    if _snap(store, now):
        return f"(SELECT * FROM _sw_first WHERE first_day < {date_lit(today(now))})"
    dd = ", ".join(_DAILY_DIMS)
    return (f"(SELECT {dd}, min(day) AS first_day FROM {spend_rel(store, now)} WHERE granularity <> 'month' "
            f"AND cost_usd > 0 AND day < {date_lit(today(now))} GROUP BY ALL)")


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


def first_of_each_day(times: list[datetime]) -> list[datetime]:
    """The first step of every UTC day (where a day-resolution answer can change)."""
    out, seen = [], set()
    for t in sorted(times):
        if today(t) not in seen:
            seen.add(today(t))
            out.append(t)
    return out


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
    `only` names a relation of (lv, k) to restrict to before aggregating."""
    parts = []
    for i, level in enumerate(levels):
        dims = level_dims(level)
        nn = " AND ".join(f"{d} IS NOT NULL" for d in dims)
        if only:  # restrict to the series listed in relation `only` (lv, k) before aggregating
            nn += f" AND [{', '.join(dims)}] IN (SELECT k FROM {only} WHERE lv = {i})"
        parts.append(f"SELECT {i} AS lv, [{', '.join(dims)}] AS k{', ' + cols if cols else ''}, {aggs} "
                     f"FROM {rel} WHERE {nn} GROUP BY ALL")
    return "(" + " UNION ALL ".join(parts) + ")"


def unkey(levels: list[str], lv: int, k: list[Any]) -> dict[str, Any]:
    return dict(zip(level_dims(levels[lv]), k))
