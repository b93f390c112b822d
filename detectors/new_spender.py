"""new_spender: a key, model or project never seen before that already spends above a floor.

Per level (default: API key, provider × model, project), a series is new when its first spend in the
store is within the last `window_days` complete UTC days and it has spent at least `min_spend_usd` since.
"Never seen before" needs history to mean anything: the store's data must start at least
`min_store_history_days` before the series' first day (on a fresh install everything is new, and
nothing fires). Identity: the series and its first day, so the finding keeps one key while it is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import UTC

from . import DETECTORS
from ._cells import Candidate, Cells
from ._data import add_days, date_lit, days_judged, level_dims, today
from ._text import day_words, describe, driver_clause, money
from .spike import check_levels


@DETECTORS.register("new_spender")
class NewSpender(DetectorBase):
    resolution = "day"

    @dataclass(frozen=True)
    class Options:
        levels: list[str] = field(default_factory=lambda: ["api_key_id", "provider,model", "project_id"])
        min_spend_usd: Decimal = Decimal("20")
        window_days: int = 7
        min_store_history_days: int = 14
        critical_spend_usd: Decimal = Decimal("1000")

        def __post_init__(self) -> None:
            check_levels(self.levels)

    def horizon(self, o: NewSpender.Options) -> timedelta:
        return timedelta(days=o.window_days + 1)

    def fire_times(self, history: History, config: Any, options: NewSpender.Options, times: list[datetime]) -> list[datetime]:
        """For backtests: a series is new on day D only if its first day f is in [D - window_days + 1, D], and a
        series' first day is the first day of one of its cells, so only days within `window_days` after some
        cell's first day can fire (the first-seen table holds every cell; `run` judges those days)."""
        if not times:
            return []
        firsts = [r[0] for r in history.conn.execute(
            f"SELECT DISTINCT first_day FROM {history.first_rel(max(times))}").fetchall()]
        days = {add_days(f, k) for f in firsts for k in range(1, options.window_days + 1)}
        return days_judged(times, days)

    def run(self, history: History, config: Any, options: NewSpender.Options, now: datetime) -> list[Finding]:
        o = options
        day = add_days(today(now), -1)
        win_lo = add_days(day, -o.window_days + 1)
        rel, firsts = history.daily_rel(now, win_lo), history.first_rel(now)
        store_first = history.conn.execute(f"SELECT min(first_day) FROM {firsts}").fetchone()[0]
        if store_first is None:
            return []
        newest_allowed = add_days(store_first, o.min_store_history_days)
        cands: list[Candidate] = []
        for rank, level in enumerate(o.levels):
            dims = level_dims(level)
            L = ", ".join(dims)
            nn = " AND ".join(f"{d} IS NOT NULL" for d in dims)
            rows = history.conn.execute(
                f"""WITH f AS (SELECT {L}, min(first_day) AS first_day FROM {firsts} WHERE {nn} GROUP BY ALL
                                HAVING min(first_day) >= {date_lit(max(win_lo, newest_allowed))}),
                         s AS (SELECT {L}, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS spent FROM {rel} WHERE {nn}
                               GROUP BY ALL HAVING sum(cost_usd) >= {o.min_spend_usd})
                    SELECT {L}, first_day, spent FROM f JOIN s USING ({L}) ORDER BY ALL""").fetchall()
            for r in rows:
                scope = dict(zip(dims, r[: len(dims)], strict=False))
                cands.append(Candidate(scope, float(r[-1]), {"first": r[-2], "spent": r[-1]}, rank))
        if not cands:
            return []
        cells = Cells(history.conn, rel, "TRUE", "FALSE")
        out = []
        for c in cells.fold(cands):
            first, spent = c.data["first"], c.data["spent"]
            drivers = cells.drivers(c.scope)
            ndays = (day - first).days + 1
            msg = (f"New spender: {describe(c.scope, lead=False)} (first seen {day_words(first)}) has spent {money(spent)} in "
                   f"{ndays} day{'s' if ndays > 1 else ''}{driver_clause(drivers)}")
            sev = "critical" if spent >= o.critical_spend_usd else "warning"
            start = datetime.combine(first, datetime.min.time(), UTC)
            out.append(Finding("new_spender", sev, c.scope, start,
                               datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1), msg,
                               observed=spent, expected=Decimal(0), threshold=o.min_spend_usd, drivers=drivers,
                               identity_period=first.isoformat()))
        return out
