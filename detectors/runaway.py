"""runaway: hourly spend velocity far above normal, to catch an agent loop within 1–2 hours.

Reads hourly or finer rows (granularity request|minute|hour; daily data cannot show velocity) per series
at each level (default: per API key and per provider × model). The judged hour is the last complete hour
before `now`. An hour is elevated when its spend is at least `min_usd_per_hour` and at least `min_ratio` ×
the reference, where the reference is the larger of
  * the median of the same hour of the week over the previous `baseline_weeks` weeks, and
  * the 90th percentile of all hours of the `recent_days` before the evaluation window,
so a nightly batch (same hour every day or every week) or a bursty key is not a runaway. Fires while the
last complete hour is elevated; the trailing run of elevated hours (within `lookback_hours`) dates the
onset, which is the finding's identity: one loop, one key, however many hours it lasts.
Cold start: series younger than `min_history_days` are skipped (a new key's first spend is new_spender's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from spendwatch.config import Ratio
from spendwatch.findings import Finding
from spendwatch.timeutil import floor_to

from . import DETECTORS
from ._cells import Candidate, Cells
from ._data import level_dims, spend_rel, ts_lit
from ._text import WEEKDAYS, describe, driver_clause, money, ratio
from .spike import check_levels

HOUR = timedelta(hours=1)
FINE = "granularity IN ('request', 'minute', 'hour')"


@DETECTORS.register("runaway")
class Runaway:
    resolution = "hour"

    @dataclass(frozen=True)
    class Options:
        levels: list[str] = field(default_factory=lambda: ["api_key_id", "provider,model"])
        min_usd_per_hour: Decimal = Decimal("10")
        min_ratio: Ratio = Ratio("4")
        baseline_weeks: int = 4
        recent_days: int = 7
        lookback_hours: int = 24
        min_history_days: int = 7

        def __post_init__(self) -> None:
            check_levels(self.levels)

    def run(self, store: Any, config: Any, options: "Runaway.Options", now: datetime) -> list[Finding]:
        o = options
        last = floor_to(now, HOUR) - HOUR          # last complete hour
        ev_lo = last - (o.lookback_hours - 1) * HOUR
        lo = min(ev_lo - timedelta(weeks=o.baseline_weeks), ev_lo - timedelta(days=o.recent_days))
        rel = f"(SELECT * FROM {spend_rel(store, now)} WHERE {FINE} AND cost_usd IS NOT NULL AND ts >= {ts_lit(lo)})"
        cands: list[Candidate] = []
        for rank, level in enumerate(o.levels):
            for scope, *vals in self._level(store.conn, rel, level_dims(level), last, ev_lo, lo, o):
                cands.append(Candidate(scope, float(vals[0] - vals[1]), dict(zip(("obs", "exp", "thr", "run", "total"), vals)), rank))
        if not cands:
            return []
        out = []
        for c in cands:
            c.data["onset"] = last - (c.data["run"] - 1) * HOUR
        # Drivers: the run's hours against the same hours in previous weeks. Candidates with different
        # onsets share one cells table over the longest run, which is what the folding compares.
        onset = min(c.data["onset"] for c in cands)
        end = last + HOUR
        base = " OR ".join(f"(ts >= {ts_lit(onset - timedelta(weeks=k))} AND ts < {ts_lit(end - timedelta(weeks=k))})"
                           for k in range(1, o.baseline_weeks + 1))
        cells = Cells(store.conn, rel, f"ts >= {ts_lit(onset)} AND ts < {ts_lit(end)}", base, 1, o.baseline_weeks)
        for c in cells.fold(cands):
            d = c.data
            drivers = cells.drivers(c.scope)
            when = f"{WEEKDAYS[last.weekday()][:3]} {last:%H}:00"
            msg = (f"Runaway spend: {describe(c.scope)} was {money(d['obs'])} in the hour from {last:%Y-%m-%d %H}:00 UTC, "
                   f"{ratio(d['obs'], d['exp'])} the usual {money(d['exp'])} for {when}; {money(d['total'])} in "
                   f"{d['run']} h since {d['onset']:%H}:00 UTC{driver_clause(drivers)}")
            out.append(Finding("runaway", "critical", c.scope, d["onset"], end, msg, observed=d["obs"],
                               expected=d["exp"], threshold=d["thr"], drivers=drivers,
                               identity_period=d["onset"].isoformat()))
        return out

    def _level(self, conn: Any, rel: str, dims: list[str], last: datetime, ev_lo: datetime, lo: datetime,
               o: "Runaway.Options") -> list[list[Any]]:
        L = ", ".join(dims)
        nn = " AND ".join(f"{d} IS NOT NULL" for d in dims)
        LAST, EV = ts_lit(last), ts_lit(ev_lo)
        how = "((isodow(hr) - 1) * 24 + hour(hr))"
        sql = f"""
        WITH h AS (
            SELECT {L}, date_trunc('hour', ts) AS hr, sum(cost_usd) AS v FROM {rel}
            WHERE {nn} AND ts < {ts_lit(last + HOUR)} GROUP BY ALL
        ),
        cand AS (SELECT {L} FROM h WHERE hr = {LAST} AND v >= {o.min_usd_per_hour}),
        s AS (SELECT {L}, min(hr) AS first_hr FROM h SEMI JOIN cand USING ({L}) GROUP BY ALL
              HAVING min(hr) <= {ts_lit(ev_lo - timedelta(days=o.min_history_days))}),
        g AS (
            SELECT s.*, c.hr, {how} AS how, coalesce(h.v, 0) AS v
            FROM s CROSS JOIN (SELECT unnest(generate_series({ts_lit(lo)}, {LAST}, INTERVAL 1 HOUR)) AS hr) c
            LEFT JOIN h USING ({L}, hr)
            WHERE c.hr >= s.first_hr
        ),
        base AS (SELECT {L}, how, median(v) AS med FROM g WHERE hr < {EV} AND hr >= {ts_lit(ev_lo - timedelta(weeks=o.baseline_weeks))} GROUP BY ALL),
        recent AS (SELECT {L}, quantile_cont(v, 0.9) AS q90 FROM g
                   WHERE hr < {EV} AND hr >= {ts_lit(ev_lo - timedelta(days=o.recent_days))} GROUP BY ALL),
        ev AS (
            SELECT g.{', g.'.join(dims)}, g.hr, g.v,
                   greatest(coalesce(b.med, 0), coalesce(r.q90, 0)) AS ref
            FROM g LEFT JOIN base b USING ({L}, how) LEFT JOIN recent r USING ({L})
            WHERE g.hr >= {EV}
        ),
        ev2 AS (
            SELECT *, greatest(CAST({o.min_usd_per_hour} AS DECIMAL(38, 10)), ref * {o.min_ratio}) AS thr FROM ev
        ),
        runs AS (
            SELECT {L}, CAST(coalesce(min(epoch({LAST} - hr)) FILTER (WHERE v < thr), {o.lookback_hours} * 3600) / 3600 AS INTEGER) AS run
            FROM ev2 GROUP BY ALL
        )
        SELECT {', '.join('e.' + x for x in dims)}, e.v, e.ref, CAST(e.thr AS DECIMAL(38, 2)), r.run,
               (SELECT CAST(sum(x.v) AS DECIMAL(38, 10)) FROM ev2 x
                 WHERE {' AND '.join(f'x.{d} = e.{d}' for d in dims)} AND x.hr > {LAST} - to_hours(r.run)) AS total
        FROM ev2 e JOIN runs r USING ({L})
        WHERE e.hr = {LAST} AND r.run >= 1
        ORDER BY ALL
        """
        out = []
        for r in conn.execute(sql).fetchall():
            out.append([dict(zip(dims, r[: len(dims)])), *r[len(dims):]])
        return out
