"""spike: one day's spend far above the usual for that weekday, per series at each configured level.

Judged day: the last complete UTC day before `now` (yesterday). For every series (e.g. provider × model)
the baseline is the median of the same weekday over the trailing `baseline_weeks` weeks; the scale of
normal variation is the larger of the residuals' MAD (value minus its weekday median, ×1.4826) and the
spread of all days ((q90 − q50) / 1.2816, so bursty sparse series are not judged by a zero MAD). A day
fires only when all hold:
  * the rise over the baseline is at least `min_increase_usd` (a dollar floor: tiny series never fire);
  * the day is at least `min_ratio` × the baseline (a relative jump);
  * the rise is at least `z_threshold` scales (statistically unusual);
  * the series has `min_history_days` of history (cold start: a new series is new_spender's job);
  * none of the three days before was already running high (half the ratio, a fifth of the dollar
    floor): the later days of a step (a weekend included) are a level shift, not new spikes;
  * it is not a recurring job: on the same day of the month (±1 day) in one of the previous
    `recurring_months` months, the series spent at least `recurring_share` of today's amount.
Candidates found at several levels for the same money are reported once (see _cells.fold).
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
from ._data import DIMS, add_days, date_lit, days_judged, first_of_each_day, keyed, level_dims, today, unkey
from ._text import WEEKDAYS, day_words, describe, driver_clause, money, ratio

DEFAULT_LEVELS = ["provider", "provider,model", "project_id", "api_key_id", "team"]
Q2 = Decimal("0.01")


def check_levels(levels: list[str]) -> None:
    for lv in levels:
        bad = [d for d in level_dims(lv) if d not in DIMS]
        if bad or not level_dims(lv):
            raise ValueError(f"levels: {lv!r} is not a comma-separated list of spend columns ({', '.join(DIMS)})")


def months_back(d: date, k: int) -> date:
    """Same day of month k months earlier, clamped to the month's end (Mar 31 → Feb 28)."""
    import calendar

    y, m = divmod(d.month - 1 - k, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@DETECTORS.register("spike")
class Spike(DetectorBase):
    resolution = "day"  # output depends only on the UTC day of `now` (backtests evaluate it once a day)

    @dataclass(frozen=True)
    class Options:
        levels: list[str] = field(default_factory=lambda: list(DEFAULT_LEVELS))
        min_increase_usd: Decimal = Decimal("50")
        min_ratio: Ratio = Ratio("2")
        z_threshold: Ratio = Ratio("4")
        baseline_weeks: int = 8
        min_history_days: int = 21
        recurring_months: int = 2
        recurring_share: Ratio = Ratio("0.5")
        critical_increase_usd: Decimal = Decimal("1000")

        def __post_init__(self) -> None:
            check_levels(self.levels)
            if self.baseline_weeks < 2:
                raise ValueError("baseline_weeks: need at least 2 weeks")

    def horizon(self, o: Spike.Options) -> timedelta:
        return timedelta(days=max(7 * o.baseline_weeks, 31 * o.recurring_months) + 4)

    def fire_times(self, history: History, config: Any, options: Spike.Options, times: list[datetime]) -> list[datetime]:
        """For backtests: the days on which some series could fire, judged for every day of the replay in one
        query, and `run` only there. The test is a necessary condition of `run`'s (a superset of its days):
        the day's spend reaches the dollar floor, the series is old enough, and the rise over the same
        weekday's median (the same weeks, from the same daily series and first-seen days) meets the floor
        and the ratio, compared in DOUBLE with a margin so rounding can only add days, never drop one. The
        other tests (z-score, earlier high days, recurring jobs) are left to `run`."""
        firsts = first_of_each_day(times)
        if not firsts:
            return []
        o = options
        judged = {add_days(today(t), -1) for t in firsts}
        d_lo, d_hi = min(judged), max(judged)
        lo = add_days(d_lo, -7 * o.baseline_weeks)
        now = max(times)
        L = "lv, k"
        floor, mr = o.min_increase_usd, o.min_ratio  # exact decimal literals in the SQL below
        sql = f"""
        WITH d AS MATERIALIZED ({keyed(history.daily_rel(now, lo), o.levels, "day", "sum(cost_usd) AS v")}),
        cand AS MATERIALIZED (
            SELECT DISTINCT {L} FROM d WHERE day BETWEEN {date_lit(d_lo)} AND {date_lit(d_hi)} AND v >= {o.min_increase_usd}
        ),
        s AS MATERIALIZED (
            SELECT {L}, first_day FROM {keyed(history.first_rel(now), o.levels, "", "min(first_day) AS first_day")} f
            SEMI JOIN cand USING ({L})
        ),
        grid AS (
            SELECT s.*, g.day, CAST(coalesce(d.v, 0) AS DOUBLE) AS v, isodow(g.day) AS dow
            FROM s CROSS JOIN (SELECT CAST(unnest(generate_series(CAST({date_lit(lo)} AS TIMESTAMP),
                                                                    CAST({date_lit(d_hi)} AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE) AS day) g
            LEFT JOIN d USING ({L}, day)
            WHERE g.day >= s.first_day
        ),
        w AS (
            SELECT *, coalesce(median(v) OVER (PARTITION BY {L}, dow ORDER BY day
                                               ROWS BETWEEN {o.baseline_weeks} PRECEDING AND 1 PRECEDING), 0) AS exp
            FROM grid
        )
        SELECT DISTINCT day FROM w
        WHERE day >= {date_lit(d_lo)} AND first_day <= day - {o.min_history_days}
          AND v >= {floor} * (1 - 1e-9) - 1e-9
          AND v - exp >= {floor} - 1e-6 * (1 + abs(v) + abs(exp))
          AND v >= exp * {mr} - 1e-6 * (1 + abs(v) + abs(exp))
        """
        days = {r[0] for r in history.conn.execute(sql).fetchall()}
        return days_judged(times, {add_days(d, 1) for d in days})

    def run(self, history: History, config: Any, options: Spike.Options, now: datetime) -> list[Finding]:
        o = options
        day = add_days(today(now), -1)
        recur = [add_days(months_back(day, k), s) for k in range(1, o.recurring_months + 1) for s in (-1, 0, 1)]
        since = min([add_days(day, -7 * o.baseline_weeks)] + recur)
        rel = history.daily_rel(now, since)
        cands: list[Candidate] = []
        for lv, k, obs, exp, thr in self._judge(history.conn, rel, history.first_rel(now), o.levels, day, recur, o):
            cands.append(Candidate(unkey(o.levels, lv, k), float(obs - exp), {"obs": obs, "exp": exp, "thr": thr}, lv))
        if not cands:
            return []
        weeks = [add_days(day, -7 * k) for k in range(1, o.baseline_weeks + 1)]
        cells = Cells(history.conn, history.daily_rel(now, weeks[-1]), f"day = {date_lit(day)}",
                      f"day IN ({', '.join(date_lit(w) for w in weeks)})", 1, len(weeks))
        out = []
        start = datetime.combine(day, datetime.min.time(), UTC)
        for c in cells.fold(cands):
            obs, exp = c.data["obs"], c.data["exp"]
            drivers = cells.drivers(c.scope)
            msg = (f"{describe(c.scope)} was {money(obs)} on {day_words(day)}, {ratio(obs, exp)} the usual "
                   f"{money(exp)} for a {WEEKDAYS[day.weekday()]}{driver_clause(drivers)}")
            sev = "critical" if obs - exp >= o.critical_increase_usd else "warning"
            out.append(Finding("spike", sev, c.scope, start, start + timedelta(days=1), msg, observed=obs,
                               expected=exp, threshold=c.data["thr"], drivers=drivers))
        return out

    def _judge(self, conn: Any, rel: str, firsts: str, levels: list[str], day: date, recur: list[date],
               o: Spike.Options) -> list[tuple[int, list[str], Decimal, Decimal, Decimal]]:
        """Every level in one query: rows (level index, level values, observed, expected, threshold)."""
        L = "lv, k"
        D = date_lit(day)
        hist_lo = date_lit(add_days(day, -7 * o.baseline_weeks))
        floor, mr = o.min_increase_usd, o.min_ratio
        sql = f"""
        WITH cand AS MATERIALIZED (
            SELECT {L} FROM {keyed(f"(SELECT * FROM {rel} WHERE day = {D})", levels, "", "sum(cost_usd) AS v")}
            WHERE v >= {floor}
        ),
        d AS MATERIALIZED ({keyed(rel, levels, "day", "CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS v", only="cand")}),
        s AS MATERIALIZED (  -- first day ever (cold start), over all history but only for candidate series
            SELECT {L}, first_day FROM {keyed(firsts, levels, "", "min(first_day) AS first_day")} f SEMI JOIN cand USING ({L})
        ),
        grid AS MATERIALIZED (
            SELECT s.*, g.day, coalesce(d.v, 0) AS v, isodow(g.day) AS dow
            FROM s CROSS JOIN (SELECT CAST(unnest(generate_series(CAST({date_lit(min([add_days(day, -7 * o.baseline_weeks)] + recur))} AS TIMESTAMP),
                                                                    CAST({D} AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE) AS day) g
            LEFT JOIN d USING ({L}, day)
            WHERE g.day >= s.first_day
        ),
        hist AS (SELECT * FROM grid WHERE day < {D} AND day >= {hist_lo}),
        dowmed AS MATERIALIZED (SELECT {L}, dow, median(v) AS med FROM hist GROUP BY ALL),
        spread AS (
            SELECT {L}, mad(h.v - m.med) AS mad_r, quantile_cont(h.v, 0.5) AS q50, quantile_cont(h.v, 0.9) AS q90
            FROM hist h JOIN dowmed m USING ({L}, dow) GROUP BY ALL
        ),
        prev AS (  -- were the days before already running high (half the ratio)? then this is a step
            SELECT {L}, bool_or(g.v - m.med >= {floor} / 5 AND g.v >= m.med * (1 + ({mr} - 1) / 2)) AS high
            FROM grid g JOIN dowmed m USING ({L}, dow)
            WHERE g.day BETWEEN {date_lit(add_days(day, -3))} AND {date_lit(add_days(day, -1))} GROUP BY ALL
        ),
        rec AS (
            SELECT {L}, max(v) AS rv FROM grid WHERE day IN ({', '.join(date_lit(r) for r in recur) or 'NULL'}) GROUP BY ALL
        ),
        judged AS (
            SELECT g.*, coalesce(m.med, 0) AS exp, sp.mad_r, sp.q50, sp.q90, p.high, r.rv,
                   greatest(1.4826 * CAST(coalesce(sp.mad_r, 0) AS DOUBLE),
                            CAST(coalesce(sp.q90 - sp.q50, 0) AS DOUBLE) / 1.2816,
                            0.05 * CAST(coalesce(m.med, 0) AS DOUBLE), 0.01) AS scale
            FROM grid g
            LEFT JOIN dowmed m USING ({L}, dow) LEFT JOIN spread sp USING ({L})
            LEFT JOIN prev p USING ({L}) LEFT JOIN rec r USING ({L})
            WHERE g.day = {D}
        )
        SELECT lv, k, v, exp,
               CAST(greatest(exp + {floor}, exp * {mr}, exp + CAST({o.z_threshold} * scale AS DECIMAL(38, 10))) AS DECIMAL(38, 2))
        FROM judged
        WHERE first_day <= {date_lit(add_days(day, -o.min_history_days))}
          AND v - exp >= {floor} AND v >= exp * {mr}
          AND CAST(v - exp AS DOUBLE) >= {o.z_threshold} * scale
          AND NOT coalesce(high, FALSE)
          AND NOT coalesce(rv >= v * {o.recurring_share}, FALSE)
        ORDER BY lv, k
        """
        return [tuple(r) for r in conn.execute(sql).fetchall()]
