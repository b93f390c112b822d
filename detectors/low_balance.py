"""low_balance: a prepaid balance (OpenRouter credits) under a floor, or running out within N days.

Reads the latest `balance_usd` metric per source observed before `now` (collectors record it with
`store.record_metric`). Burn rate: the source's spend over the last `burn_days` complete UTC days, per
day; where the source has no spend rows, the balance's own decline over that span. Below
`min_balance_usd` is critical (step 2); fewer than `min_days` of runway at the burn rate is a warning
(step 1). One identity per source: going from "runs out in 5 days" to "below $10" escalates one alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History

from . import DETECTORS
from ._data import add_days, date_lit, first_of_each_day, steps_seeing, str_lit, today, ts_lit
from ._text import money


@DETECTORS.register("low_balance")
class LowBalance(DetectorBase):
    resolution = "hour"

    @dataclass(frozen=True)
    class Options:
        min_balance_usd: Decimal = Decimal("10")
        min_days: int = 7
        burn_days: int = 7

    def horizon(self, o: LowBalance.Options) -> timedelta:
        return timedelta(days=o.burn_days + 2)

    def fire_times(self, history: History, config: Any, options: LowBalance.Options, times: list[datetime]) -> list[datetime]:
        """For backtests: a new balance observation, or a new day (the burn rate is per complete day)."""
        vis = [r[0] + timedelta(microseconds=1) for r in history.conn.execute(
            f"SELECT DISTINCT observed_at FROM source_metrics WHERE name = 'balance_usd' "
            f"AND observed_at < {ts_lit(max(times))}").fetchall()]
        if not vis:
            return []
        return sorted(set(steps_seeing(times, vis)) | set(t for t in first_of_each_day(times) if t > min(vis)))

    def run(self, history: History, config: Any, options: LowBalance.Options, now: datetime) -> list[Finding]:
        o = options
        rows = history.conn.execute(
            f"""SELECT source, arg_max(value, observed_at), max(observed_at) FROM source_metrics
                WHERE name = 'balance_usd' AND value IS NOT NULL AND observed_at < {ts_lit(now)}
                GROUP BY source ORDER BY source""").fetchall()
        out = []
        t = today(now)
        lo = add_days(t, -o.burn_days)
        for source, balance, seen in rows:  # one row per prepaid source: a handful
            spent = history.conn.execute(
                f"SELECT sum(cost_usd) FROM {history.spend_rel(now)} WHERE source = {str_lit(source)} "
                f"AND day >= {date_lit(lo)} AND day < {date_lit(t)}").fetchone()[0]
            if spent is None:
                old = history.conn.execute(
                    f"""SELECT arg_max(value, observed_at) FROM source_metrics WHERE source = {str_lit(source)}
                        AND name = 'balance_usd' AND observed_at <= {ts_lit(now - timedelta(days=o.burn_days))}""").fetchone()[0]
                spent = max(old - balance, Decimal(0)) if old is not None else None
            burn = (spent / o.burn_days) if spent else None
            days_left = (balance / burn) if burn else None
            scope = {"source": source}
            runway = f"; at {money(burn)}/day that lasts {days_left.quantize(Decimal('0.1'), ROUND_HALF_UP)} days" if days_left is not None else ""
            if balance < o.min_balance_usd:
                msg = f"Prepaid balance of {source} is {money(balance)}, under the {money(o.min_balance_usd)} floor{runway}"
                out.append(Finding("low_balance", "critical", scope, seen, now, msg, observed=balance, expected=burn,
                                   threshold=o.min_balance_usd, step=2, identity_period="balance"))
            elif days_left is not None and burn is not None and days_left < o.min_days:
                msg = (f"Prepaid balance of {source} is {money(balance)}{runway}, fewer than the {o.min_days} days "
                       f"wanted; top up soon")
                out.append(Finding("low_balance", "warning", scope, seen, now, msg, observed=balance, expected=burn,
                                   threshold=(burn * o.min_days).quantize(Decimal("0.01")), step=1,
                                   identity_period="balance"))
        return out
