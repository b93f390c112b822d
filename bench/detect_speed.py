"""How fast the detectors are, against a baseline measured in the same run (issue 12's speed goals).

1. All detectors, one `detect` pass, over 10,000 daily series × 400 days (4M rows). Goal ≤ 1.5 s.
2. A 120-day backtest at 1-hour steps over 40 hourly series (149k rows, 2,880 steps). Goal ≤ 10 s.
Baseline for each: a plain `SELECT day, sum(cost_usd) FROM spend GROUP BY day` over the same store (a full
scan), timed next to the measurement (median of 3, interleaved), so the ratio means something on a shared,
loaded machine. The daily pass is timed 3 times (median). Prints wall time, the goal, the baseline, the
ratio, the 1-minute load average, and peak RSS. Data is generated in SQL (no network, no files besides a
temporary DuckDB store).

    .venv/bin/python bench/detect_speed.py [--series 10000] [--days 400] [--hourly-series 40] [--hourly-days 120]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spendwatch.app import parse_config  # noqa: E402
from spendwatch.attribution import refresh, stored_rules  # noqa: E402
from spendwatch.store import Store  # noqa: E402

UTC = UTC
START = datetime(2025, 10, 1, tzinfo=UTC)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(store: Store, series: int, steps: int, step: str) -> None:
    """Weekly pattern × per-series level × noise, a few injected spikes; money as DECIMAL(38,10)."""
    gran = "day" if step == "1 day" else "hour"
    store.conn.execute(f"""
        INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                             project_id, api_key_id, model, requests, input_tokens, output_tokens, cost_usd,
                             cost_basis, currency)
        SELECT 'bench', 'usage', 'usage', FALSE, ts, ts + INTERVAL {step}, '{gran}',
               ['openai', 'anthropic', 'openrouter'][s % 3 + 1], 'proj_' || (s % 200), 'key_' || s,
               'model_' || (s % 40), 10, 1000, 100,
               CAST(round((1 + s % 17) * (CASE WHEN isodow(ts) >= 6 THEN 0.4 ELSE 1.0 END)
                          * (0.85 + 0.3 * ((hash(s, i) % 1000) / 1000.0))
                          * (CASE WHEN hash(s * 7, i) % 5000 = 0 THEN 12 ELSE 1 END), 6) AS DECIMAL(38, 10)),
               'billed', 'USD'
        FROM range({series}) r(s), range({steps}) q(i),
             LATERAL (SELECT TIMESTAMPTZ '{START.isoformat()}' + i * INTERVAL {step} AS ts)
    """)
    # What every writer does after its insert: materialise the figures `spend` shows (docs/attribution.md).
    refresh(store.conn, None, None, stored_rules(store.conn))


DAILY_GOAL = 1.5     # s, one detect pass over 10k daily series × 400 days (issue 12)
BACKTEST_GOAL = 10   # s, 120-day hourly backtest of 40 series (issue 12)


def scan(store: Store) -> None:
    """The baseline: a plain full scan of `spend`, summed by UTC day."""
    store.conn.execute("SELECT CAST(timezone('UTC', ts) AS DATE) d, sum(cost_usd) FROM spend GROUP BY d").fetchall()


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--hourly-series", type=int, default=40)
    ap.add_argument("--hourly-days", type=int, default=120)
    a = ap.parse_args()
    from spendwatch.detect import backtest, run_detectors

    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(f"""
[store]
path = "{tmp}/d.duckdb"
[[budgets]]
name = "openai-month"
amount = "100000"
match = {{ provider = "openai" }}
[[budgets]]
name = "all-week"
period = "week"
amount = "50000"
""", "bench.toml")
        # ------------------------------------------------------------------ 1: daily detectors, 10k series
        with Store.open(f"{tmp}/d.duckdb") as store:
            t_fill, _ = timed(lambda: fill(store, a.series, a.days, "1 day"))
        now = START + timedelta(days=a.days)
        with Store.open(f"{tmp}/d.duckdb", read_only=True) as store:
            scan(store)  # warm the cache: the baseline and the pass read the same pages
            bases, dets = [], []
            for _ in range(3):
                bases.append(timed(lambda: scan(store))[0])
                t_det, found = timed(lambda: run_detectors(store, cfg, now))
                dets.append(t_det)
        t_base, t_det = statistics.median(bases), statistics.median(dets)
        kinds: dict[str, int] = {}
        for f in found:
            kinds[f.detector] = kinds.get(f.detector, 0) + 1
        print(f"daily: {a.series:,} series × {a.days} days = {a.series * a.days:,} rows (generated in {t_fill:.1f}s); "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"  all detectors, one pass: {t_det:.2f} s (median of {', '.join(f'{x:.2f}' for x in dets)}) — goal ≤ "
              f"{DAILY_GOAL} s: {'met' if t_det <= DAILY_GOAL else 'NOT met'}; baseline full scan {t_base:.3f} s; "
              f"ratio {t_det / t_base:.1f}×; findings {dict(sorted(kinds.items()))}")
        print(f"  peak RSS so far: {rss_mb():.0f} MB")
        # ------------------------------------------------------------------ 2: hourly backtest, 40 series
        hours = a.hourly_days * 24 + 35 * 24  # 5 weeks of history before the replayed range
        with Store.open(f"{tmp}/h.duckdb") as store:
            fill(store, a.hourly_series, hours, "1 hour")
        since = START + timedelta(days=35)
        until = since + timedelta(days=a.hourly_days)
        with Store.open(f"{tmp}/h.duckdb", read_only=True) as store:
            scan(store)
            b1 = [timed(lambda: scan(store))[0] for _ in range(3)]
            t_bt, res = timed(lambda: backtest(store, cfg, since, until, timedelta(hours=1)))
            b2 = [timed(lambda: scan(store))[0] for _ in range(3)]
        t_base2 = statistics.median(b1 + b2)
        print(f"hourly backtest: {a.hourly_series} series × {hours:,} hours, {a.hourly_days} days at 1 h steps "
              f"({a.hourly_days * 24:,} steps): {t_bt:.2f} s — goal ≤ {BACKTEST_GOAL} s: "
              f"{'met' if t_bt <= BACKTEST_GOAL else 'NOT met'}; baseline full scan {t_base2:.3f} s; "
              f"ratio {t_bt / t_base2:.0f}×; {len(res)} findings fired; load average {os.getloadavg()[0]:.1f}")
        print(f"peak RSS: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
