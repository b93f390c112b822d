"""gateway_gap: a gateway's own cost and the bill lines attributed to it disagree by more than a share.

Per [[gateways]] entry, upstream provider and UTC day over the last `days` complete days: the gateway's
own cost (the money its request logs carry, e.g. LiteLLM's price map) against the upstream bill's token
lines that `spend` attributed to the gateway (records hidden as `gateway:<source>`, see
spendwatch/attribution.py). Only days where the upstream has a bill are judged (the bill lags a day; then
the gateway rows are `estimated` and there is nothing to compare). A gap means lost proxy logs (the bill
is larger), wrong proxy prices, or gateway models the bill does not name that day (the gateway is
larger). Fires when |gateway − bill| > max(`max_share` × bill, `min_diff_usd`). Drivers: the models with
the largest gaps, with their share of the total gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from spendwatch.attribution import MODEL_KEY
from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import UTC
from spendwatch.values import Ratio

from . import DETECTORS
from ._data import add_days, date_lit, str_lit, today, ts_lit
from ._text import day_words, money, pct, provider_name

Q2 = Decimal("0.01")


@DETECTORS.register("gateway_gap")
class GatewayGap(DetectorBase):
    resolution = "day"

    @dataclass(frozen=True)
    class Options:
        days: int = 7
        max_share: Ratio = Ratio("0.1")
        min_diff_usd: Decimal = Decimal("5")

    def run(self, history: History, config: Any, options: GatewayGap.Options, now: datetime) -> list[Finding]:
        gateways = list(getattr(config, "gateways", []) or [])
        if not gateways:
            return []
        o = options
        t = today(now)
        lo = datetime.combine(add_days(t, -o.days), datetime.min.time(), UTC)
        hi = datetime.combine(t, datetime.min.time(), UTC)
        out = []
        for g in gateways:
            src = str_lit(g.source)
            rel = (f"(SELECT *, CAST(timezone('UTC', ts) AS DATE) AS day, coalesce({MODEL_KEY}, '') AS mk FROM records "
                   f"WHERE ts >= {ts_lit(lo)} AND ts < {ts_lit(min(hi, now))} AND period_end <= {ts_lit(now)})")
            ups = ", ".join(str_lit(u) for u in g.upstreams)
            rows = history.conn.execute(f"""
                WITH gw AS (SELECT split_part(line_item, '/', 1) AS provider, day, mk, sum(coalesce(cost_usd, 0)) AS c
                            FROM {rel} WHERE source = {src} AND record_type = 'usage'
                              AND split_part(line_item, '/', 1) IN ({ups}) GROUP BY ALL),
                     bill AS (SELECT provider, day, mk, sum(coalesce(cost_usd, 0)) AS c FROM {rel}
                              WHERE record_type = 'cost' AND hidden_by = {str_lit('gateway:' + g.source)} GROUP BY ALL),
                     billed_days AS (SELECT DISTINCT provider, day FROM {rel} WHERE record_type = 'cost'
                                     AND provider IN ({ups}) AND coalesce(hidden_by, '') NOT LIKE 'duplicate:%')
                SELECT provider, day, mk, CAST(coalesce(gw.c, 0) AS DECIMAL(38, 10)), CAST(coalesce(bill.c, 0) AS DECIMAL(38, 10))
                FROM gw FULL OUTER JOIN bill USING (provider, day, mk) JOIN billed_days USING (provider, day)
                WHERE day < {date_lit(t)} ORDER BY ALL""").fetchall()
            per_day: dict[tuple[str, Any], list[tuple[str, Decimal, Decimal]]] = {}
            for provider, day, mk, gc, bc in rows:
                per_day.setdefault((provider, day), []).append((mk, gc, bc))
            for (provider, day), models in sorted(per_day.items()):
                gw_total = sum((m[1] for m in models), Decimal(0))
                bill_total = sum((m[2] for m in models), Decimal(0))
                diff = gw_total - bill_total
                limit = max(bill_total * o.max_share, o.min_diff_usd)
                if abs(diff) <= limit:
                    continue
                gaps = sorted(((m, g_ - b_) for m, g_, b_ in models if g_ != b_), key=lambda x: (-abs(x[1]), x[0]))
                total_gap = sum((abs(x[1]) for x in gaps), Decimal(0))
                drivers = [{"dimension": "model", "value": m or "(unknown)", "observed": d.quantize(Q2),
                            "share": (abs(d) / total_gap).quantize(Q2)} for m, d in gaps[:5] if total_gap]
                why = ("the bill is larger: proxy logs missing?" if diff < 0
                       else "the gateway is larger: wrong proxy prices, or models the bill does not name?")
                msg = (f"Gateway {g.source} logged {money(gw_total)} of {provider_name(provider)} traffic on "
                       f"{day_words(day)} but the bill lines attributed to it say {money(bill_total)} "
                       f"({pct(abs(diff) / bill_total) if bill_total else 'all'} {'over' if diff > 0 else 'under'}; "
                       f"{why})")
                start = datetime.combine(day, datetime.min.time(), UTC)
                out.append(Finding("gateway_gap", "warning", {"source": g.source, "provider": provider}, start,
                                   start + timedelta(days=1), msg, observed=gw_total, expected=bill_total,
                                   threshold=limit.quantize(Q2), drivers=drivers))
        return out
