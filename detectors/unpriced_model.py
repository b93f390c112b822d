"""unpriced_model: usage rows with tokens but no price (cost_usd NULL), i.e. money we cannot see.

Invariant 5 says a model with no known price is flagged, never priced at $0. Per provider × model with
unpriced token rows visible in the last `window` before `now`, one finding with the token and request
counts and the keys that used it (drivers, by share of tokens). Identity: the provider and model, so it
stays one alert until a price is configured.

It reads `spend`, not `records`: an unpriced usage row whose (provider, project, day) has a bill gets its
share of that bill there (spendwatch/attribution.py), so its money is known; only rows still without
money in `spend` (no bill, or not yet) are truly unknown.
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
from ._data import steps_seeing, ts_lit
from ._text import mask_key, provider_name

TOKENS = "coalesce(input_tokens, 0) + coalesce(output_tokens, 0)"


@DETECTORS.register("unpriced_model")
class UnpricedModel(DetectorBase):
    resolution = "hour"

    @dataclass(frozen=True)
    class Options:
        window: timedelta = timedelta(days=7)

    def fire_times(self, history: History, config: Any, options: UnpricedModel.Options, times: list[datetime]) -> list[datetime]:
        """For backtests: only steps at which new unpriced rows become visible can bring a new finding."""
        vis = [r[0] for r in history.conn.execute(
            f"""SELECT DISTINCT greatest(period_end, ts + INTERVAL 1 MICROSECOND) FROM spend
                WHERE record_type = 'usage' AND cost_usd IS NULL AND {TOKENS} > 0
                  AND ts < {ts_lit(max(times))} AND ts >= {ts_lit(min(times) - options.window)}""").fetchall()]
        return steps_seeing(times, vis)

    def run(self, history: History, config: Any, options: UnpricedModel.Options, now: datetime) -> list[Finding]:
        lo, hi = now - options.window, now
        base = (f"FROM spend WHERE record_type = 'usage' AND cost_usd IS NULL AND {TOKENS} > 0 "
                f"AND ts >= {ts_lit(lo)} AND ts < {ts_lit(hi)} AND period_end <= {ts_lit(hi)}")
        rows = history.conn.execute(
            f"""SELECT provider, coalesce(model, '(unknown model)') AS model, sum({TOKENS}), sum(coalesce(requests, 0)),
                       min(ts), max(period_end), count(DISTINCT source)
                {base} GROUP BY ALL ORDER BY ALL""").fetchall()
        keys = history.conn.execute(
            f"""SELECT provider, coalesce(model, '(unknown model)'), api_key_id, sum({TOKENS}) AS t
                {base} AND api_key_id IS NOT NULL GROUP BY ALL ORDER BY 1, 2, t DESC, 3""").fetchall()
        out = []
        for provider, model, tokens, requests, first, last, _nsrc in rows:
            drivers = [{"dimension": "api_key_id", "value": mask_key(k), "tokens": int(t),
                        "share": (Decimal(int(t)) / Decimal(int(tokens))).quantize(Decimal("0.01"), ROUND_HALF_UP)}
                       for p, m, k, t in keys if p == provider and m == model][:5]
            reqs = f" in {int(requests):,} requests" if requests else ""
            msg = (f"{provider_name(provider)} model {model} used {int(tokens):,} tokens{reqs} "
                   f"since {first:%Y-%m-%d %H:%M} UTC with no known price, so their cost is missing from every "
                   f"total; add a price override or update genai-prices")
            out.append(Finding("unpriced_model", "warning", {"provider": provider, "model": model}, first, last, msg,
                               drivers=drivers, identity_period="unpriced"))
        return out
