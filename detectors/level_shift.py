"""level_shift: a sustained step up (a new normal), reported once per shift.

Per series at each level, each of the last days is compared with the median of its own weekday over
`baseline_weeks` weeks that end `min_days + grace_days` days before the judged day, so the baseline never
contains the shift it is judging. A day is elevated when it is at least `min_ratio` × that weekday's
baseline (or, where the baseline is $0, at least `min_increase_usd`). The trailing run of elevated days
ending yesterday must be at least `min_days` long and its mean daily rise at least `min_increase_usd`,
and the week before the run must look normal (at most one elevated day): a long shift whose baseline is
still half old, half new is not reported again with a later onset.
The finding's identity is the series and the shift's first day, so consecutive runs keep one key; it
stops being reported `grace_days` after confirmation (by then it is the new normal, and the baseline
catches up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import UTC
from spendwatch.values import Ratio

from . import DETECTORS
from ._cells import Candidate, Cells
from ._data import add_days, date_lit, days_judged, first_of_each_day, keyed, today, unkey
from ._text import day_words, describe, driver_clause, money, ratio
from .spike import DEFAULT_LEVELS, check_levels

Q = Decimal("0.0000000001")


@DETECTORS.register("level_shift")
class LevelShift(DetectorBase):
    resolution = "day"

    @dataclass(frozen=True)
    class Options:
        levels: list[str] = field(default_factory=lambda: list(DEFAULT_LEVELS))
        min_days: int = 4              # consecutive elevated days that make a shift
        grace_days: int = 7            # keep reporting the same shift this many days after confirmation
        baseline_weeks: int = 4
        min_ratio: Ratio = Ratio("1.4")
        min_increase_usd: Decimal = Decimal("30")  # mean rise per day
        critical_increase_usd: Decimal = Decimal("500")

        def __post_init__(self) -> None:
            check_levels(self.levels)
            if self.min_days < 2:
                raise ValueError("min_days: a shift needs at least 2 days")

    def horizon(self, o: LevelShift.Options) -> timedelta:
        return timedelta(days=o.min_days + o.grace_days + 7 * o.baseline_weeks + 2)

    def fire_times(self, history: History, config: Any, options: LevelShift.Options,
                   times: list[datetime]) -> list[datetime]:
        """For backtests: the days on which some series could fire, for every day of the replay in one query;
        `run` judges only those. Necessary condition of `run`'s (a superset of its days): each of the last
        `min_days` days ending on the judged day D is elevated against the weekday median of D's baseline
        weeks. Day D - j has its weekday's baseline days at D - j - 7k for the k whose day falls in D's
        baseline, i.e. a fixed window of earlier same-weekday rows per j, so each j is one window median
        and a lag. Compared in DOUBLE with a margin, so rounding can only add days."""
        firsts = first_of_each_day(times)
        if not firsts:
            return []
        o = options
        span = o.min_days + o.grace_days
        judged = {add_days(today(t), -1) for t in firsts}
        d_lo, d_hi = min(judged), max(judged)
        lo = add_days(d_lo, -span - 7 * o.baseline_weeks + 1)
        now = max(times)
        L = "lv, k"
        floor, mr = o.min_increase_usd, o.min_ratio  # exact decimal literals in the SQL below
        eps = "1e-6 * (1 + abs(v) + abs(m{j}))"
        meds, ups = [], []
        for j in range(o.min_days):
            k_lo, k_hi = -(-(span - j) // 7), (span + 7 * o.baseline_weeks - 1 - j) // 7
            meds.append(f"median(v) OVER (PARTITION BY {L}, dow ORDER BY day ROWS BETWEEN {k_hi} PRECEDING AND {k_lo} PRECEDING) AS m{j}")
            ups.append(f"(v >= coalesce(m{j}, 0) * {mr} - {eps.format(j=j)} OR "
                       f"(coalesce(m{j}, 0) <= 1e-9 AND v >= {floor} - 1e-6 * (1 + abs(v)))) AS up{j}")
        lags = " AND ".join(f"coalesce(lag(up{j}, {j}) OVER (PARTITION BY {L} ORDER BY day), FALSE)" if j else "up0"
                            for j in range(o.min_days))
        sql = f"""
        WITH d AS MATERIALIZED ({keyed(history.daily_rel(now, lo), o.levels, "day", "sum(cost_usd) AS v")}),
        s AS (SELECT DISTINCT {L} FROM d),
        grid AS (
            SELECT s.*, g.day, CAST(coalesce(d.v, 0) AS DOUBLE) AS v, isodow(g.day) AS dow
            FROM s CROSS JOIN (SELECT CAST(unnest(generate_series(CAST({date_lit(lo)} AS TIMESTAMP),
                                                                    CAST({date_lit(d_hi)} AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE) AS day) g
            LEFT JOIN d USING ({L}, day)
        ),
        w AS (SELECT *, {", ".join(meds)} FROM grid),
        u AS (SELECT {L}, day, {", ".join(ups)} FROM w)
        SELECT DISTINCT day FROM (SELECT day, {lags} AS shift FROM u) WHERE shift AND day >= {date_lit(d_lo)}
        """
        days = {r[0] for r in history.conn.execute(sql).fetchall()}
        return days_judged(times, {add_days(d, 1) for d in days})

    def run(self, history: History, config: Any, options: LevelShift.Options, now: datetime) -> list[Finding]:
        o = options
        day = add_days(today(now), -1)
        span = o.min_days + o.grace_days
        base_hi = add_days(day, -span)                     # baseline: days <= base_hi
        base_lo = add_days(base_hi, -7 * o.baseline_weeks + 1)
        rel = history.daily_rel(now, base_lo)
        cands: list[Candidate] = []
        for lv, k, run_len, obs, exp in self._judge(history.conn, rel, o.levels, day, span, base_lo, base_hi, o):
            onset = add_days(day, -run_len + 1)
            cands.append(Candidate(unkey(o.levels, lv, k), float(obs - exp),
                                   {"obs": obs.quantize(Q), "exp": exp.quantize(Q), "onset": onset, "n": run_len}, lv))
        if not cands:
            return []
        recent = add_days(day, -o.min_days + 1)
        cells = Cells(history.conn, rel, f"day >= {date_lit(recent)}",
                      f"day BETWEEN {date_lit(base_lo)} AND {date_lit(base_hi)}", o.min_days, 7 * o.baseline_weeks)
        out = []
        for c in cells.fold(cands):
            d = c.data
            onset = d["onset"]
            drivers = cells.drivers(c.scope)
            msg = (f"{describe(c.scope)} has stepped up to {money(d['obs'])}/day since {day_words(onset)} "
                   f"({d['n']} days), {ratio(d['obs'], d['exp'])} the usual {money(d['exp'])}/day"
                   f"{driver_clause(drivers)}")
            sev = "critical" if d["obs"] - d["exp"] >= o.critical_increase_usd else "warning"
            start = datetime.combine(onset, datetime.min.time(), UTC)
            out.append(Finding("level_shift", sev, c.scope, start,
                               datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1), msg,
                               observed=d["obs"], expected=d["exp"],
                               threshold=(d["exp"] * o.min_ratio).quantize(Decimal("0.01")), drivers=drivers,
                               identity_period=onset.isoformat()))
        return out

    def _judge(self, conn: Any, rel: str, levels: list[str], day: date, span: int, base_lo: date, base_hi: date,
               o: LevelShift.Options) -> list[tuple[int, list[str], int, Decimal, Decimal]]:
        """Every level in one query: rows (level index, values, run length, observed/day, expected/day)."""
        L = "lv, k"
        D, ev_lo = date_lit(day), date_lit(add_days(day, -span + 1))
        floor, mr = o.min_increase_usd, o.min_ratio
        recent = date_lit(add_days(day, -o.min_days + 1))  # the days whose sum decides which series are judged
        sql = f"""
        WITH s AS MATERIALIZED (  -- series alive before the baseline starts and spending enough lately to matter
            SELECT {L} FROM {keyed(f"(SELECT * FROM {rel} WHERE day = {date_lit(base_lo)} OR day >= {recent})", levels,
                                   "", f"sum(cost_usd) FILTER (WHERE day >= {recent}) AS recent, min(day) AS first")}
            WHERE first <= {date_lit(base_lo)} AND recent >= {floor} * {o.min_days}
        ),
        d AS MATERIALIZED ({keyed(rel, levels, "day", "CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS v", only="s")}),
        g AS MATERIALIZED (
            SELECT s.*, c.day, isodow(c.day) AS dow, coalesce(d.v, 0) AS v
            FROM s CROSS JOIN (SELECT CAST(unnest(generate_series(CAST({date_lit(base_lo)} AS TIMESTAMP),
                                    CAST({D} AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE) AS day) c
            LEFT JOIN d USING ({L}, day)
        ),
        base AS (SELECT {L}, dow, median(v) AS med FROM g WHERE day <= {date_lit(base_hi)} GROUP BY ALL),
        ev AS MATERIALIZED (
            SELECT g.lv, g.k, g.day, g.v, b.med,
                   (CASE WHEN b.med > 0 THEN g.v >= b.med * {mr} ELSE g.v >= {floor} END) AS up
            FROM g JOIN base b USING ({L}, dow) WHERE g.day >= {ev_lo}
        ),
        runs0 AS (
            SELECT {L}, CAST(coalesce(min({D} - day) FILTER (WHERE NOT up), {span}) AS INTEGER) AS run_len
            FROM ev GROUP BY ALL
        ),
        runs AS (  -- a step needs a normal week before it; otherwise the baseline is still catching up
            SELECT r.lv, r.k, r.run_len FROM runs0 r JOIN g USING ({L}) JOIN base b USING ({L}, dow)
            WHERE g.day BETWEEN {D} - r.run_len - 7 + 1 AND {D} - r.run_len
            GROUP BY ALL
            HAVING count(*) FILTER (WHERE CASE WHEN b.med > 0 THEN g.v >= b.med * {mr} ELSE g.v >= {floor} END) <= 1
        )
        SELECT r.lv, r.k, r.run_len,
               CAST(sum(e.v) / r.run_len AS DECIMAL(38, 10)) AS obs, CAST(sum(e.med) / r.run_len AS DECIMAL(38, 10)) AS exp
        FROM runs r JOIN ev e USING ({L})
        WHERE r.run_len >= {o.min_days} AND r.run_len < {span} AND e.day > {D} - r.run_len
        GROUP BY r.lv, r.k, r.run_len
        HAVING sum(e.v - e.med) / r.run_len >= {floor}
        ORDER BY r.lv, r.k
        """
        return [tuple(r) for r in conn.execute(sql).fetchall()]
