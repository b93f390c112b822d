"""budget: `[[budgets]]` thresholds on actual spend, and a forecast of the period's end.

Periods are calendar-aligned in `[daemon] timezone` (day; ISO week from Monday; month). Spend is the
`spend` view's rows matching the budget's `match` whose ts falls in the period and that are visible at
`now` (see _data). Assumption (named): a daily row is attributed to its UTC day, so with a non-UTC zone
the period edges are exact only for hourly or finer data.

Thresholds: every crossed threshold is a step of ONE alert identity (detector, budget, period start), so
50% → 80% → 100% re-notifies as an escalation, never as three alerts. Severity: ≥ 100% critical,
≥ 80% warning, else info.

Forecast (week and month budgets, `forecast = true`): actual spend through the data horizon plus, for
every remaining UTC day of the period, the median spend of the same weekday over the trailing
`forecast_weeks` weeks. Using the weekday median keeps a quiet weekend from dragging the forecast and
a busy Monday from inflating it. Provider lag: the horizon is the end of the last UTC day with matching
data (at most `max_lag_days` before today), so days a provider has not reported yet are forecast at
their usual rate instead of being counted as $0. When the projection reaches the amount, one forecast
finding (its own identity per period) gives the projected total and the projected exhaustion date.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import UTC, day_start
from spendwatch.views import match_sql

from . import DETECTORS
from ._cells import Cells
from ._data import date_lit, first_of_each_day, str_lit, today, ts_lit
from ._text import driver_clause, money, pct

Q2 = Decimal("0.01")


def period_bounds(now: datetime, period: str, tz_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the calendar day/week/month (in `tz_name`) holding the instant before now."""
    tz = ZoneInfo(tz_name)
    local = (now - timedelta(microseconds=1)).astimezone(tz)
    d = local.date()
    if period == "day":
        a, b = d, d + timedelta(days=1)
    elif period == "week":
        a = d - timedelta(days=d.weekday())
        b = a + timedelta(days=7)
    else:
        a = d.replace(day=1)
        b = date(a.year + (a.month == 12), a.month % 12 + 1, 1)
    return (datetime.combine(a, time(0), tz).astimezone(UTC), datetime.combine(b, time(0), tz).astimezone(UTC))


def period_words(start: datetime, period: str, tz_name: str) -> str:
    local = start.astimezone(ZoneInfo(tz_name)).date()
    if period == "month":
        return f"{calendar.month_name[local.month]} {local.year}"
    if period == "week":
        return f"the week of {local.isoformat()}"
    return local.isoformat()


@DETECTORS.register("budget")
class Budget(DetectorBase):
    resolution = "hour"

    @dataclass(frozen=True)
    class Options:
        forecast_weeks: int = 4        # trailing weeks of weekday medians behind the forecast
        forecast_min_history_days: int = 7  # no forecast for a budget with less matching history
        max_lag_days: int = 3          # how far back a lagging provider may leave the data horizon
        warning_share: Decimal = Decimal("0.8")  # thresholds at or above this are warnings, ≥ 1 critical

    def horizon(self, o: Budget.Options) -> timedelta:
        return timedelta(days=32 + 7 * o.forecast_weeks + o.max_lag_days + 2)

    def fire_times(self, history: History, config: Any, options: Budget.Options, times: list[datetime]) -> list[datetime]:
        """For backtests: the steps where a budget's count of crossed thresholds changes (spend to date at
        every step, from one cumulative sum per period and an as-of join), plus the first step of each
        day for forecasts (their inputs are complete days)."""
        if not times or not config.budgets:
            return []
        tz = config.daemon.timezone
        chosen: set[datetime] = set()
        conn = history.conn
        for b in config.budgets:
            if b.forecast and b.period != "day":
                chosen |= self._forecast_days(history, b, tz, options, times)
        for b in config.budgets:
            starts = [period_bounds(t, b.period, tz)[0] for t in times]
            values = ", ".join(f"({ts_lit(t)}, {ts_lit(s)})" for t, s in zip(times, starts, strict=False))
            unit = {"day": "day", "week": "week", "month": "month"}[b.period]
            rows = conn.execute(
                f"""WITH r AS (
                        SELECT timezone({str_lit(tz)}, date_trunc('{unit}', timezone({str_lit(tz)}, ts))) AS ps,
                               greatest(period_end, ts + INTERVAL 1 MICROSECOND) AS vis, cost_usd
                        FROM {history.spend_rel(max(times))}
                        WHERE {match_sql(b.match)} AND cost_usd IS NOT NULL AND ts >= {ts_lit(min(starts))}),
                    c AS (SELECT ps, vis, sum(sum(cost_usd)) OVER (PARTITION BY ps ORDER BY vis) AS cs
                          FROM r GROUP BY ps, vis),
                    s AS (SELECT * FROM (VALUES {values}) v(step_at, ps))
                    SELECT s.step_at, s.ps, c.cs FROM s ASOF LEFT JOIN c ON s.ps = c.ps AND s.step_at >= c.vis
                    ORDER BY s.step_at""").fetchall()
            prev = None
            ths = sorted(set(b.thresholds))
            for at, ps, cs in rows:  # one row per step (not per data row)
                n = sum(1 for t in ths if cs is not None and cs >= t * b.amount)
                if n and (ps, n) != prev:
                    chosen.add(at)
                prev = (ps, n)
        return sorted(chosen)

    def _forecast_days(self, history: History, b: Any, tz: str, o: Budget.Options, times: list[datetime]) -> set[datetime]:
        """The first steps of the days on which budget `b`'s forecast could reach its amount: an upper bound
        of `_forecast`'s projection must. Per UTC day, PP = the sum of the positive costs of every matching
        row in the snapshot (visible or not at the step, so it bounds any visible sum). Spend known so far
        is at most PP over the days from the period's start to today; each weekday's rate (a median of
        daily spend over days in [today - max_lag_days - 7 * forecast_weeks, today)) is at most the largest
        PP of that weekday there; every remaining day of the period (from max(start, today - max_lag_days))
        counts whole. A day whose bound stays under the amount cannot fire, so `run` skips it."""
        firsts = first_of_each_day(times)
        if not firsts:
            return set()
        pp = dict(history.conn.execute(
            f"SELECT day, sum(greatest(cost_usd, 0)) FROM {history.spend_rel(max(times))} "
            f"WHERE {match_sql(b.match)} AND cost_usd IS NOT NULL GROUP BY day").fetchall())
        zero = Decimal(0)
        out: set[datetime] = set()
        fired: set[datetime] = set()
        for t in firsts:
            start, end = period_bounds(t, b.period, tz)
            td = today(t)
            lo = td - timedelta(days=o.max_lag_days + 7 * o.forecast_weeks)
            rate = {w: zero for w in range(7)}
            d = lo
            while d < td:
                rate[d.weekday()] = max(rate[d.weekday()], pp.get(d, zero))
                d += timedelta(days=1)
            d, bound = start.date(), zero  # the UTC day holding start (start is UTC)
            while d < td:
                bound += pp.get(d, zero)
                d += timedelta(days=1)
            c0 = max(start, datetime.combine(td - timedelta(days=o.max_lag_days), time(0), UTC))
            d = c0.date()
            while datetime.combine(d, time(0), UTC) < end:
                bound += rate[d.weekday()]
                d += timedelta(days=1)
            if bound >= b.amount and start not in fired and self._forecast_fires(history, b, tz, o, t):
                out.add(t)
                fired.add(start)  # one forecast finding per period (a fixed key and step): later days print nothing new
        return out

    def _forecast_fires(self, history: History, b: Any, tz: str, o: Budget.Options, now: datetime) -> bool:
        """Whether `run` at `now` would report `b`'s forecast: the same queries, without drivers or text."""
        start, end = period_bounds(now, b.period, tz)
        cond = match_sql(b.match)
        spent = history.conn.execute(
            f"SELECT CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) FROM {history.spend_rel(now)} "
            f"WHERE {cond} AND ts >= {ts_lit(start)} AND ts < {ts_lit(end)}").fetchone()[0]
        return spent < b.amount and self._forecast(history, b, cond, start, end, now, o, spent, "", list) is not None

    def run(self, history: History, config: Any, options: Budget.Options, now: datetime) -> list[Finding]:
        out: list[Finding] = []
        tz = config.daemon.timezone
        for b in config.budgets:
            start, end = period_bounds(now, b.period, tz)
            cond = match_sql(b.match)
            rel = history.spend_rel(now)
            spent = history.conn.execute(
                f"SELECT CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) FROM {rel} "
                f"WHERE {cond} AND ts >= {ts_lit(start)} AND ts < {ts_lit(end)}").fetchone()[0]
            ths = sorted(set(b.thresholds))
            crossed = [t for t in ths if spent >= t * b.amount]
            rel_b = f"(SELECT * FROM {rel} WHERE {cond})"
            span = f"ts >= {ts_lit(start)} AND ts < {ts_lit(end)}"

            def drivers(rel_b: str = rel_b, span: str = span) -> list[dict[str, Any]]:
                """Built only for a finding that is reported: the period's spend by contributor."""
                return Cells(history.conn, rel_b, span, "FALSE").drivers({})

            scope = {"budget": b.name}
            words = period_words(start, b.period, tz)
            if crossed:
                top = crossed[-1]
                sev = "critical" if top >= 1 else "warning" if top >= options.warning_share else "info"
                drv = drivers()
                msg = (f"Budget {b.name} for {words}: {money(spent)} spent, {pct(spent / b.amount)} of "
                       f"{money(b.amount)} (crossed {pct(top)}){driver_clause(drv)}")
                out.append(Finding("budget", sev, scope, start, end, msg, observed=spent, expected=None,
                                   threshold=(top * b.amount).quantize(Q2), drivers=drv, step=len(crossed)))
            if b.forecast and b.period != "day" and spent < b.amount:
                f = self._forecast(history, b, cond, start, end, now, options, spent, words, drivers)
                if f:
                    out.append(f)
        return out

    def _forecast(self, history: History, b: Any, cond: str, start: datetime, end: datetime, now: datetime,
                  o: Budget.Options, spent: Decimal, words: str, drivers: Any) -> Finding | None:
        t = today(now)
        rel = history.spend_rel(now)
        # One query (a backtest asks this at hundreds of steps): the matching data's first day and the data
        # horizon (the end of its last day, at most max_lag_days before today), the median spend of each
        # weekday over the forecast_weeks before the horizon, and what is known from the period's start to it.
        first, horizon, known, rates = history.conn.execute(
            f"""WITH r AS MATERIALIZED (SELECT ts, day, cost_usd FROM {rel} WHERE {cond}),
                     b AS (SELECT first, horizon, horizon - {7 * o.forecast_weeks} AS base_lo
                           FROM (SELECT first, greatest(least(last + 1, {date_lit(t)}),
                                                        {date_lit(t - timedelta(days=o.max_lag_days))}) AS horizon
                                 FROM (SELECT min(day) AS first, max(day) AS last FROM r WHERE cost_usd IS NOT NULL))),
                     d AS (SELECT day, sum(cost_usd) AS v FROM r, b WHERE day >= b.base_lo AND day < b.horizon GROUP BY day),
                     g AS (SELECT CAST(unnest(generate_series(CAST(greatest(base_lo, first) AS TIMESTAMP),
                                  CAST(horizon - 1 AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE) AS day FROM b),
                     m AS (SELECT isodow(g.day) AS dow, CAST(median(coalesce(d.v, 0)) AS DECIMAL(38, 10)) AS med
                           FROM g LEFT JOIN d USING (day) GROUP BY ALL)
                SELECT b.first, b.horizon,
                       (SELECT CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) FROM r
                        WHERE ts >= {ts_lit(start)} AND ts < greatest({ts_lit(start)}, timezone('UTC', CAST(b.horizon AS TIMESTAMP)))),
                       (SELECT list(struct_pack(dow := dow, med := med) ORDER BY dow) FROM m)
                FROM b""").fetchone()
        if first is None or (horizon - first).days < o.forecast_min_history_days:
            return None
        h_dt = datetime.combine(horizon, time(0), UTC)
        rate = {x["dow"]: x["med"] for x in rates or []}
        if not rate:
            return None
        total, cur, exhausted = known, max(start, h_dt), None
        while cur < end:  # at most 31 iterations: days of the period still to come
            nxt = min(day_start(cur) + timedelta(days=1), end)
            frac = Decimal((nxt - cur).total_seconds()) / Decimal(86400)
            total += rate.get(cur.isoweekday(), Decimal(0)) * frac
            if exhausted is None and total >= b.amount:
                exhausted = cur.date()
            cur = nxt
        total = max(total, spent).quantize(Decimal("0.0000000001"))
        if total < b.amount:
            return None
        drv = drivers()
        msg = (f"Budget {b.name} is projected to reach {money(total)} for {words}, {pct(total / b.amount)} of "
               f"{money(b.amount)}; at the usual pace per weekday it runs out on {exhausted.isoformat() if exhausted else '?'} "
               f"({money(spent)} spent so far){driver_clause(drv)}")
        scope = {"budget": b.name, "signal": "forecast"}
        return Finding("budget", "warning", scope, start, end, msg, observed=spent, expected=total,
                       threshold=b.amount, drivers=drv)
