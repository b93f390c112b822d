"""Example detector plugin: `example_daily_cap` fires when a provider's spend on one UTC day exceeds a cap.

One file: registered by name, Options from `[detectors.example_daily_cap]`, `run` reads only what the
History lets it see as of `now` (so `detect --at` and `backtest` work unchanged) and returns Findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from detectors import DETECTORS
from spendwatch.config import Config
from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding, dollars
from spendwatch.history import History
from spendwatch.timeutil import UTC


@DETECTORS.register("example_daily_cap")
class ExampleDailyCap(DetectorBase):
    resolution = "day"  # its answer depends only on the UTC day of `now`

    @dataclass(frozen=True)
    class Options:
        cap_usd: Decimal = Decimal("100")
        days: int = 7

    def horizon(self, options: ExampleDailyCap.Options) -> timedelta:
        return timedelta(days=options.days + 1)

    def run(self, history: History, config: Config, options: ExampleDailyCap.Options,
            now: datetime) -> list[Finding]:
        since = (now - timedelta(days=options.days)).date()
        rows = history.conn.execute(
            f"SELECT provider, day, sum(cost_usd) FROM {history.daily_rel(now, since)} "
            "GROUP BY provider, day HAVING sum(cost_usd) > ? ORDER BY provider, day", [options.cap_usd]).fetchall()
        out = []
        for provider, day, spent in rows:
            start = datetime.combine(day, time(0), UTC)
            out.append(Finding(detector="example_daily_cap", severity="critical", scope={"provider": provider},
                               period_start=start, period_end=start + timedelta(days=1), observed=spent,
                               threshold=options.cap_usd,
                               message=f"{provider} spent {dollars(spent)} on {day}, over the daily cap of "
                                       f"{dollars(options.cap_usd)}"))
        return out
