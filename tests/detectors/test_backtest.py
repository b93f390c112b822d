"""The backtest's shortcuts (day-resolution detectors once a day, hourly ones only where they can fire)
print exactly what stepping through every hour with `run_detectors` prints."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from spendwatch.detect import backtest, run_detectors
from spendwatch.store import Store

from .helpers import D, at, config, hour_rows, load, put


def test_backtest_equals_naive_replay(tmp_path: Path) -> None:
    p = tmp_path / "bt.duckdb"
    hours = 30 * 24  # 2026-09-07 .. 2026-10-06
    vals = [2 if 8 <= i % 24 < 20 else 1 for i in range(hours)]
    for i in range(hours - 14, hours - 10):  # a loop on Tue 2026-10-06, 10:00–13:59
        vals[i] = 40
    rows = hour_rows("2026-09-07T00:00", vals, model="gpt-4.1", api_key_id="sk-proj-aaaaaaaaabcd")
    rows += hour_rows("2026-09-07T00:00", [3] * hours, provider="openrouter", model="llama", source="or",
                      api_key_id="sk-or-bbbbbbbb1234")
    load(p, rows)
    with Store.open(str(p)) as store:
        put(store, [{"ts": at("2026-10-06T11:00"), "period_end": at("2026-10-06T12:00"), "granularity": "hour",
                     "provider": "openai", "model": "gpt-9", "cost_usd": None, "input_tokens": 500,
                     "output_tokens": 10, "cost_basis": "estimated"}], kind="priced-later")
        store.record_metric("or", "balance_usd", at("2026-10-06T09:30"), D("150"))
        store.record_metric("or", "balance_usd", at("2026-10-06T12:30"), D("9"))
    cfg = config('[[budgets]]\nname = "openai"\namount = "300"\nmatch = { provider = "openai" }\n'
                 '[[budgets]]\nname = "day"\nperiod = "day"\namount = "60"\n'
                 '[detectors.stale_data]\nenabled = false\n')
    since, until, step = at("2026-10-06T06:00"), at("2026-10-07T02:00"), timedelta(hours=1)
    with Store.open(str(p), read_only=True) as store:
        fast = backtest(store, cfg, since, until, step)
        seen: dict[str, int] = {}
        naive = []
        t = since + step
        while t <= until:
            for f in run_detectors(store, cfg, t):
                if seen.get(f.key, -1) < f.step:
                    seen[f.key] = f.step
                    naive.append((t, f))
            t += step
    assert [(t, f.to_json()) for t, f in fast] == [(t, f.to_json()) for t, f in naive]
    assert {f.detector for _, f in fast} >= {"runaway", "budget", "unpriced_model", "low_balance", "spike"}
