"""runaway: hourly spend velocity far above normal, to catch an agent loop within 1–2 hours.

Reads hourly or finer rows (granularity request|minute|hour; daily data cannot show velocity) per series
at each level (default: per API key and per provider × model). The judged hour is the last complete hour
before `now`. An hour is elevated when its spend is at least `min_usd_per_hour` and at least `min_ratio` ×
the reference, where the reference is the larger of
  * the median of the same hour of the week over the previous `baseline_weeks` weeks, and
  * the 90th percentile of all hours in the `recent_days` that end a day before that hour (the day's gap
    keeps a loop of up to 24 hours out of its own reference),
so a nightly batch (same hour every day or every week) or a bursty key is not a runaway. Each hour is
judged on data before it only, so `run` (one hour) and `fire_times` (a whole backtest in one query) agree. Fires while the
last complete hour is elevated; the trailing run of elevated hours (within `lookback_hours`) dates the
onset, which is the finding's identity: one loop, one key, however many hours it lasts.
Cold start: series younger than `min_history_days` are skipped (a new key's first spend is new_spender's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import floor_to
from spendwatch.values import Ratio

from . import DETECTORS
from ._cells import Candidate, Cells
from ._data import level_dims, ts_lit
from ._text import WEEKDAYS, describe, driver_clause, money, ratio
from .spike import check_levels

HOUR = timedelta(hours=1)
FINE = "granularity IN ('request', 'minute', 'hour')"


@DETECTORS.register("runaway")
class Runaway(DetectorBase):
    resolution = "hour"

    @dataclass(frozen=True)
    class Options:
        levels: list[str] = field(default_factory=lambda: ["api_key_id", "provider,model"])
        min_usd_per_hour: Decimal = Decimal("10")
        min_ratio: Ratio = Ratio("4")
        baseline_weeks: int = 4
        recent_days: int = 7
        lookback_hours: int = 72       # how far back an ongoing run may date its onset
        min_history_days: int = 7

        def __post_init__(self) -> None:
            check_levels(self.levels)

    def horizon(self, o: Runaway.Options) -> timedelta:
        return timedelta(days=max(7 * o.baseline_weeks, o.recent_days + 1) + o.lookback_hours // 24 + 2)

    # ------------------------------------------------------------------------------------------ running
    def run(self, history: History, config: Any, options: Runaway.Options, now: datetime) -> list[Finding]:
        last = floor_to(now, HOUR) - HOUR          # the last complete hour
        rows = self._reused(history, options, now, last)
        if rows is None:
            rows = self._judged(history, options, now, last, last)
        return self._build(history, options, now, rows)

    def fire_times(self, history: History, config: Any, options: Runaway.Options, times: list[datetime]) -> list[datetime]:
        """For backtests: the steps at which a run could fire, i.e. whose last complete hour is elevated.
        One query judges every hour of the replay (the same SQL `run` uses for one hour). Its rows are kept
        for `run` at those steps when they are provably the rows `run` would compute (see `_reused`)."""
        if not times:
            return []
        lasts = {floor_to(t, HOUR) - HOUR: t for t in sorted(times, reverse=True)}
        h_lo, h_hi = min(lasts), max(lasts)
        rows = self._judged(history, options, max(times), h_lo, h_hi)
        rel = self._rel(history, options, max(times), h_lo, h_hi)
        # Every fine row visible by the end of its hour (period_end <= its hour's end): then the rows a step
        # at `now` reads (ts before its hour) are the same in the bulk relation and in the step's own.
        late = history.conn.execute(f"SELECT count(*) FROM {rel} WHERE period_end > date_trunc('hour', ts) + INTERVAL 1 HOUR").fetchone()[0]
        self._bulk = None
        if not late:
            hours = []  # per level: each series' hours with data (hour numbers since the epoch), ascending
            for level in options.levels:
                dims = level_dims(level)
                nn = " AND ".join(f"{d} IS NOT NULL" for d in dims)
                got = history.conn.execute(
                    f"SELECT {', '.join(dims)}, list(DISTINCT epoch_us(date_trunc('hour', ts)) // 3600000000 ORDER BY "
                    f"epoch_us(date_trunc('hour', ts)) // 3600000000) FROM {rel} WHERE {nn} GROUP BY ALL").fetchall()
                hours.append([r[-1] for r in got])
            self._bulk = (history, options, h_lo, h_hi, rows, hours)
        hot = {r[1] for r in rows}
        return sorted(t for last, t in lasts.items() if last in hot)

    def _reused(self, history: History, o: Runaway.Options, now: datetime, last: datetime) -> list[list[Any]] | None:
        """In a backtest, `run`'s rows for hour `last` taken from `fire_times`' bulk query, or None (compute).

        Per series the two queries read the same rows (checked in fire_times) and judge `last` from the same
        window rows (4 weeks + lookback before it), so they agree unless the series' first hour differs:
        the step's query starts the series at its first hour at or after the step's `lo`, the bulk one
        earlier. That changes nothing when the series has no data before `lo` in the bulk range, or has data
        in hour `lo` itself (its window rows then all exist in both); a series with neither (a gap across
        `lo`) falls back to the step's own query.
        """
        memo = getattr(self, "_bulk", None)
        if memo is None or memo[0] is not history or memo[1] is not o or not memo[2] <= last <= memo[3]:
            return None
        import bisect

        lo = self._lo(o, last)
        lo_h, last_h = int(lo.timestamp()) // 3600, int(last.timestamp()) // 3600
        for per_level in memo[5]:
            for hrs in per_level:
                i = bisect.bisect_left(hrs, lo_h)
                if i == len(hrs) or hrs[i] > last_h or i == 0 or hrs[i] == lo_h:
                    continue  # no data to judge, same first hour, or data in hour lo
                return None
        rel = self._rel(history, o, now, last, last)
        return [[*r[:-1], rel] for r in memo[4] if r[1] == last]

    def _lo(self, o: Runaway.Options, h_lo: datetime) -> datetime:
        """The first hour the judgement of hours from h_lo on reads."""
        return h_lo - timedelta(hours=o.lookback_hours) - max(timedelta(weeks=o.baseline_weeks),
                                                              timedelta(days=o.recent_days + 1))

    def _rel(self, history: History, o: Runaway.Options, now: datetime, h_lo: datetime, h_hi: datetime) -> str:
        return (f"(SELECT * FROM {history.spend_rel(now)} WHERE {FINE} AND cost_usd IS NOT NULL "
                f"AND ts >= {ts_lit(self._lo(o, h_lo))} AND ts < {ts_lit(h_hi + HOUR)})")

    def _judged(self, history: History, o: Runaway.Options, now: datetime, h_lo: datetime, h_hi: datetime) -> list[list[Any]]:
        lo = self._lo(o, h_lo)
        rel = self._rel(history, o, now, h_lo, h_hi)
        out = []
        for rank, level in enumerate(o.levels):
            dims = level_dims(level)
            for r in history.conn.execute(self._sql(rel, dims, lo, h_lo, h_hi, o)).fetchall():
                out.append([dict(zip(dims, r[: len(dims)], strict=False)), *r[len(dims):], rank, rel])
        return out

    def _build(self, history: History, o: Runaway.Options, now: datetime, rows: list[list[Any]]) -> list[Finding]:
        if not rows:
            return []
        cands = [Candidate(scope, float(v - ref), {"obs": v, "exp": ref, "thr": thr, "onset": onset, "total": total,
                                                   "last": hr}, rank)
                 for scope, hr, v, ref, thr, onset, total, rank, _ in rows]
        rel = rows[0][-1]
        last = cands[0].data["last"]
        end = last + HOUR
        # Drivers: the run's hours against the same hours in previous weeks. Candidates with different
        # onsets share one cells table over the longest run, which is what the folding compares.
        onset = min(c.data["onset"] for c in cands)
        base = " OR ".join(f"(ts >= {ts_lit(onset - timedelta(weeks=k))} AND ts < {ts_lit(end - timedelta(weeks=k))})"
                           for k in range(1, o.baseline_weeks + 1))
        cells = Cells(history.conn, rel, f"ts >= {ts_lit(onset)} AND ts < {ts_lit(end)}", base, 1, o.baseline_weeks)
        out = []
        for c in cells.fold(cands):
            d = c.data
            drivers = cells.drivers(c.scope)
            hours = int((end - d["onset"]) / HOUR)
            when = f"{WEEKDAYS[last.weekday()][:3]} {last:%H}:00"
            msg = (f"Runaway spend: {describe(c.scope, lead=False)} was {money(d['obs'])} in the hour from {last:%Y-%m-%d %H}:00 UTC, "
                   f"{ratio(d['obs'], d['exp'])} the usual {money(d['exp'])} for {when}; {money(d['total'])} in "
                   f"{hours} h since {d['onset']:%H}:00 UTC{driver_clause(drivers)}")
            out.append(Finding("runaway", "critical", c.scope, d["onset"], end, msg, observed=d["obs"],
                               expected=d["exp"], threshold=d["thr"], drivers=drivers,
                               identity_period=d["onset"].isoformat()))
        return out

    def _sql(self, rel: str, dims: list[str], lo: datetime, h_lo: datetime, h_hi: datetime, o: Runaway.Options) -> str:
        """Every elevated hour in [h_lo, h_hi] with its reference, threshold, run onset and run total.

        Each hour is judged against data before it only (same hour of week in earlier weeks; the
        `recent_days` ending a day before it), so judging one hour (`run`) and judging a whole replay at
        once (`fire_times`) agree.
        """
        L = ", ".join(dims)
        nn = " AND ".join(f"{d} IS NOT NULL" for d in dims)
        part = f"PARTITION BY {L}"
        look = o.lookback_hours
        return f"""
        WITH h AS (
            SELECT {L}, date_trunc('hour', ts) AS hr, sum(cost_usd) AS v FROM {rel} WHERE {nn} GROUP BY ALL
        ),
        s AS (SELECT {L}, min(hr) AS first_hr FROM h GROUP BY ALL
              HAVING max(v) FILTER (WHERE hr >= {ts_lit(h_lo)}) >= {o.min_usd_per_hour}),
        g AS (
            SELECT s.*, c.hr, (isodow(c.hr) - 1) * 24 + hour(c.hr) AS how, coalesce(h.v, 0) AS v
            FROM s CROSS JOIN (SELECT unnest(generate_series({ts_lit(lo)}, {ts_lit(h_hi)}, INTERVAL 1 HOUR)) AS hr) c
            LEFT JOIN h USING ({L}, hr)
            WHERE c.hr >= s.first_hr
        ),
        w AS (
            SELECT *,
                   median(v) OVER (PARTITION BY {L}, how ORDER BY hr ROWS BETWEEN {o.baseline_weeks} PRECEDING AND 1 PRECEDING) AS base,
                   quantile_cont(v, 0.9) OVER ({part} ORDER BY hr RANGE BETWEEN INTERVAL {24 * (o.recent_days + 1)} HOUR PRECEDING
                                                                      AND INTERVAL 24 HOUR PRECEDING) AS q90
            FROM g
        ),
        f AS (
            SELECT *, greatest(coalesce(base, 0), coalesce(q90, 0)) AS ref FROM w
            WHERE hr >= {ts_lit(h_lo - timedelta(hours=look))}
        ),
        up AS (
            SELECT *, greatest(CAST({o.min_usd_per_hour} AS DECIMAL(38, 10)), ref * {o.min_ratio}) AS thr FROM f
        ),
        isl AS (
            SELECT *, hr - to_hours(CAST(row_number() OVER ({part} ORDER BY hr) AS BIGINT)) AS grp FROM up
            WHERE v >= thr AND first_hr <= hr - INTERVAL {o.min_history_days} DAY
        ),
        r AS (
            SELECT *, min(hr) OVER ({part}, grp) AS island_start,
                   sum(v) OVER ({part}, grp ORDER BY hr ROWS BETWEEN {look - 1} PRECEDING AND CURRENT ROW) AS total
            FROM isl
        )
        SELECT {L}, hr, v, CAST(ref AS DECIMAL(38, 10)), CAST(thr AS DECIMAL(38, 2)),
               greatest(island_start, hr - INTERVAL {look - 1} HOUR) AS onset, CAST(total AS DECIMAL(38, 10))
        FROM r WHERE hr BETWEEN {ts_lit(h_lo)} AND {ts_lit(h_hi)}
        ORDER BY ALL
        """
