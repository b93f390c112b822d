"""reconciliation: our usage-derived estimate and the provider's bill disagree by more than a share.

Per (provider, project, UTC day) over the last `days` complete days: estimated = usage rows we priced
ourselves (record_type 'usage', cost_basis 'estimated'); billed = the provider's cost lines for the same
token charges (record_type 'cost', covers_usage). Only groups with both are judged. `spend` already
scales estimates to the bill, so the money totals are right either way; a gap means our prices are off
(negotiated rates, batch or flex tiers, a price change) and per-key/model attribution is skewed. Fires
when |estimated − billed| ≥ `min_diff_usd` and ≥ `max_share` × billed. Drivers: the models of the
estimate, by share of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import UTC
from spendwatch.values import Ratio

from . import DETECTORS
from ._data import add_days, date_lit, days_judged, today, ts_lit
from ._text import day_words, money, pct, provider_name

Q2 = Decimal("0.01")
# Rows another source accounts for (spendwatch/attribution.py): a duplicate bill, bill lines a gateway's
# logs took, the provider's usage rows a gateway's logs superseded.
NOT_TAKEN = ("coalesce(split_part(hidden_by, ':', 1), '') NOT IN ('duplicate', 'gateway', 'superseded')")


@DETECTORS.register("reconciliation")
class Reconciliation(DetectorBase):
    resolution = "day"

    @dataclass(frozen=True)
    class Options:
        days: int = 7
        max_share: Ratio = Ratio("0.1")
        min_diff_usd: Decimal = Decimal("5")

    def fire_times(self, history: History, config: Any, options: Reconciliation.Options,
                   times: list[datetime]) -> list[datetime]:
        """For backtests: a day can fire only if one of the `days` before it holds both an estimate and a bill
        for the same (provider, project, UTC day); those days are found in one query, `run` judges them."""
        if not times:
            return []
        lo = datetime.combine(add_days(today(min(times)), -options.days), datetime.min.time(), UTC)
        rel = (f"(SELECT provider, coalesce(project_id, '') AS pk, CAST(timezone('UTC', ts) AS DATE) AS day, record_type, "
               f"cost_basis, covers_usage, cost_usd FROM records WHERE ts >= {ts_lit(lo)} AND ts < {ts_lit(max(times))} "
               f"AND {NOT_TAKEN})")
        both = [r[0] for r in history.conn.execute(
            f"""SELECT DISTINCT day FROM {rel} GROUP BY provider, pk, day
                HAVING bool_or(record_type = 'usage' AND cost_basis = 'estimated' AND cost_usd IS NOT NULL)
                   AND bool_or(record_type = 'cost' AND covers_usage)""").fetchall()]
        return days_judged(times, {add_days(d, k) for d in both for k in range(1, options.days + 1)})

    def run(self, history: History, config: Any, options: Reconciliation.Options, now: datetime) -> list[Finding]:
        o = options
        t = today(now)
        lo = add_days(t, -o.days)
        rel = (f"(SELECT *, CAST(timezone('UTC', ts) AS DATE) AS day, coalesce(project_id, '') AS pk FROM records "
               f"WHERE ts >= {ts_lit(datetime.combine(lo, datetime.min.time(), UTC))} AND ts < {ts_lit(now)} "
               f"AND period_end <= {ts_lit(now)} AND {NOT_TAKEN})")
        rows = history.conn.execute(
            f"""WITH e AS (SELECT provider, pk, day, sum(cost_usd) AS est FROM {rel}
                           WHERE record_type = 'usage' AND cost_basis = 'estimated' AND cost_usd IS NOT NULL
                             AND day < {date_lit(t)} GROUP BY ALL),
                     b AS (SELECT provider, pk, day, sum(cost_usd) AS billed FROM {rel}
                           WHERE record_type = 'cost' AND covers_usage AND day < {date_lit(t)} GROUP BY ALL)
                SELECT provider, pk, day, CAST(est AS DECIMAL(38, 10)), CAST(billed AS DECIMAL(38, 10))
                FROM e JOIN b USING (provider, pk, day)
                WHERE billed > 0 AND abs(est - billed) >= {o.min_diff_usd} AND abs(est - billed) >= billed * {o.max_share}
                ORDER BY ALL""").fetchall()
        if not rows:
            return []
        models = history.conn.execute(
            f"""SELECT provider, pk, day, coalesce(model, '(unknown)') AS model, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS c
                FROM {rel} WHERE record_type = 'usage' AND cost_basis = 'estimated' AND cost_usd IS NOT NULL
                GROUP BY ALL ORDER BY 1, 2, 3, c DESC, 4""").fetchall()
        out = []
        for provider, pk, day, est, billed in rows:
            diff = est - billed
            drivers = [{"dimension": "model", "value": m, "observed": c.quantize(Q2), "share": (c / est).quantize(Q2)}
                       for p, k, d, m, c in models if (p, k, d) == (provider, pk, day) and est > 0][:5]
            proj = f" for project {pk}" if pk else ""
            msg = (f"{provider_name(provider)} usage{proj} on {day_words(day)} prices at {money(est)} but the bill says "
                   f"{money(billed)} ({pct(abs(diff) / billed)} {'over' if diff > 0 else 'under'}); check price "
                   f"overrides (negotiated rates, batch or flex tiers)")
            start = datetime.combine(day, datetime.min.time(), UTC)
            out.append(Finding("reconciliation", "warning", {"provider": provider, "project_id": pk or None}, start,
                               start + timedelta(days=1), msg, observed=est, expected=billed,
                               threshold=(billed * o.max_share).quantize(Q2), drivers=drivers))
        return out
