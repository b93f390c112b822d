"""Detection quality on a labelled synthetic history: recall per kind, precision, runaway delay.

The generator (seeded, no network) builds realistic spend:
  * daily series (provider × model × project × key) with a weekday/weekend pattern, a slow trend and
    log-normal noise, plus injected events: one-day spikes (3–8×), level shifts (1.8–3× for good), a
    month-start batch job (benign, recurring), tiny series with big relative jumps (benign, below the
    dollar floor), brand-new series (new_spender events; benign for spike: cold start), and a monthly
    budget that a busy month crosses;
  * hourly series (per API key) with office hours, nightly batches at 02:00 (benign), a weekday 10:00
    job (benign), and injected runaway loops (3–6 hours at 10–30× the usual rate).
Then `backtest` replays every detector (daily steps over the daily store, hourly steps over the hourly
store) and each finding is matched to the labels: same series (the finding's scope agrees with it) and
same time. Precision counts every finding; one that matches no label is a false alarm.

    .venv/bin/python bench/detect_quality.py [--seed 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spendwatch.app import parse_config  # noqa: E402
from spendwatch.detect import backtest  # noqa: E402
from spendwatch.store import Store, Window  # noqa: E402

UTC = UTC
D0 = date(2026, 3, 2)  # a Monday
DAYS = 200
EVAL_FROM = 70         # replay from this day (the detectors need history first)
HOURS_DAYS = 70
H0 = datetime(2026, 7, 6, tzinfo=UTC)  # a Monday, hourly history
H_EVAL_FROM = 35


@dataclass
class Event:
    kind: str
    series: dict[str, Any]
    start: datetime
    found: bool = False
    delay: timedelta | None = None


def money(x: float) -> Decimal:
    return Decimal(str(round(max(x, 0.0), 4)))


def dt(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


def daily(rng: Any) -> tuple[list[dict[str, Any]], list[Event]]:
    import numpy as np

    rows: list[dict[str, Any]] = []
    events: list[Event] = []
    providers = [("openai", ["gpt-4.1", "gpt-4.1-mini", "o3"]), ("anthropic", ["claude-sonnet", "claude-haiku"]),
                 ("openrouter", ["llama-70b", "qwen-72b"])]
    series = []
    for i in range(60):
        prov, models = providers[i % 3]
        s = {"provider": prov, "model": models[i % len(models)], "project_id": f"proj-{i % 12}",
             "api_key_id": f"sk-{prov[:3]}-key{i:04d}abcd"}
        series.append(s)
    days = np.arange(DAYS)
    dates = [D0 + timedelta(days=int(k)) for k in days]
    weekend = np.array([d.weekday() >= 5 for d in dates])
    spike_series = rng.choice(len(series), 16, replace=False)
    rest = [k for k in range(len(series)) if k not in set(spike_series)]
    shift_series = rng.choice(rest, 8, replace=False)
    monthly_series = [k for k in rest if k not in set(shift_series)][:4]
    for k, s in enumerate(series):
        level = float(rng.uniform(40, 600))
        trend = float(rng.uniform(-0.001, 0.003))
        vals = level * np.where(weekend, rng.uniform(0.25, 0.6), 1.0) * (1 + trend) ** days
        vals = vals * rng.lognormal(0, 0.12, DAYS)
        if k in spike_series:
            d = int(rng.integers(EVAL_FROM + 5, DAYS - 2))
            vals[d] = level * rng.uniform(3, 8)
            events.append(Event("spike", s, dt(dates[d])))
        if k in shift_series:
            d = int(rng.integers(EVAL_FROM + 10, DAYS - 15))
            vals[d:] *= rng.uniform(1.8, 3.0)
            events.append(Event("level_shift", s, dt(dates[d])))
        if k in monthly_series:  # benign: a batch job on the 1st of every month
            for j, d in enumerate(dates):
                if d.day == 1:
                    vals[j] += level * 4
        for j, v in enumerate(vals):
            rows.append({"ts": dt(dates[j]), "period_end": dt(dates[j]) + timedelta(days=1), "granularity": "day",
                         "cost_usd": money(v), **s})
    # Benign: tiny series with 10× jumps that stay under the $50 floor.
    for t in range(5):
        s = {"provider": "openai", "model": "gpt-4.1-nano", "project_id": "tiny", "api_key_id": f"sk-tin-key{t:04d}wxyz"}
        v = rng.uniform(0.5, 3, DAYS)
        v[rng.integers(EVAL_FROM, DAYS, 3)] *= 10
        rows += [{"ts": dt(dates[j]), "period_end": dt(dates[j]) + timedelta(days=1), "granularity": "day",
                  "cost_usd": money(x), **s} for j, x in enumerate(v)]
    # New series: a new key on a new model (a new_spender event; its ramp-up week is not a spike).
    for t in range(4):
        start = int(rng.integers(EVAL_FROM + 10, DAYS - 10))
        s = {"provider": "anthropic", "model": f"claude-new-{t}", "project_id": f"newproj-{t}",
             "api_key_id": f"sk-ant-new{t:04d}efgh"}
        ramp = [20, 40, 80, 160, 300, 300, 320] + [300] * DAYS
        rows += [{"ts": dt(dates[j]), "period_end": dt(dates[j]) + timedelta(days=1), "granularity": "day",
                  "cost_usd": money(ramp[j - start] * float(rng.lognormal(0, 0.1))), **s} for j in range(start, DAYS)]
        events.append(Event("new_spender", s, dt(dates[start])))
    return rows, events


def hourly(rng: Any) -> tuple[list[dict[str, Any]], list[Event]]:
    import numpy as np

    rows: list[dict[str, Any]] = []
    events: list[Event] = []
    n = HOURS_DAYS * 24
    hrs = [H0 + timedelta(hours=i) for i in range(n)]
    hod = np.array([h.hour for h in hrs])
    wkend = np.array([h.weekday() >= 5 for h in hrs])
    office = (hod >= 9) & (hod < 18) & ~wkend
    runaway_keys = set(rng.choice(30, 12, replace=False).tolist())
    for k in range(30):
        s = {"provider": ["openai", "anthropic"][k % 2], "model": ["gpt-4.1", "claude-sonnet"][k % 2],
             "project_id": f"proj-{k % 5}", "api_key_id": f"sk-agt-key{k:04d}ijkl"}
        level = float(rng.uniform(0.5, 3))
        v = level * np.where(office, 1.0, 0.25) * rng.lognormal(0, 0.2, n)
        if k % 5 == 0:
            v[hod == 2] += 40          # benign: nightly batch at 02:00
        if k % 7 == 3:
            v[(hod == 10) & ~wkend] += 25  # benign: a weekday 10:00 job
        if k in runaway_keys:
            on = int(rng.integers(H_EVAL_FROM * 24, n - 12))
            length = int(rng.integers(3, 7))
            v[on:on + length] = np.maximum(15, level * rng.uniform(10, 30))
            events.append(Event("runaway", s, hrs[on]))
        rows += [{"ts": hrs[i], "period_end": hrs[i] + timedelta(hours=1), "granularity": "hour",
                  "cost_usd": money(x), **s} for i, x in enumerate(v)]
    return rows, events


def compatible(scope: dict[str, Any], series: dict[str, Any]) -> bool:
    return all(series.get(k) == v for k, v in scope.items())


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    drows, devents = daily(rng)
    hrows, hevents = hourly(rng)
    # A monthly budget on OpenAI that its busiest month crosses: 97% of the largest full month's spend.
    months: dict[tuple[int, int], Decimal] = {}
    for r in drows:
        if r["provider"] == "openai" and r["ts"].date() >= D0 + timedelta(days=EVAL_FROM):
            key = (r["ts"].year, r["ts"].month)
            months[key] = months.get(key, Decimal(0)) + r["cost_usd"]
    full = {k: v for k, v in months.items() if k not in ((D0 + timedelta(days=DAYS)).year, (D0 + timedelta(days=DAYS)).month)}
    top = max(full, key=full.get)  # type: ignore[arg-type]
    amount = (full[top] * Decimal("0.97")).quantize(Decimal("1"))
    budget_events = [Event("budget", {"budget": "openai-monthly"}, datetime(y, m, 1, tzinfo=UTC))
                     for (y, m), v in sorted(full.items()) if v >= amount]  # every month that really crossed
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(f'[store]\npath = "{tmp}/d.duckdb"\n[[budgets]]\nname = "openai-monthly"\n'
                           f'amount = "{amount}"\nmatch = {{ provider = "openai" }}\nthresholds = [1.0]\n'
                           'forecast = false\n', "quality.toml")
        for name, rows in (("d", drows), ("h", hrows)):
            with Store.open(f"{tmp}/{name}.duckdb") as store:
                lo = min(r["ts"] for r in rows)
                hi = max(r["ts"] for r in rows) + timedelta(hours=1)
                store.replace_window("gen", "usage", Window(lo, hi), rows)
        with Store.open(f"{tmp}/d.duckdb", read_only=True) as store:
            dfound = backtest(store, cfg, dt(D0 + timedelta(days=EVAL_FROM)), dt(D0 + timedelta(days=DAYS)),
                              timedelta(days=1))
        with Store.open(f"{tmp}/h.duckdb", read_only=True) as store:
            hfound = backtest(store, cfg, H0 + timedelta(days=H_EVAL_FROM), H0 + timedelta(days=HOURS_DAYS),
                              timedelta(hours=1))
    events = devents + hevents + budget_events
    tp = fp = 0
    false_alarms = []
    for at, f in dfound + hfound:
        hit = False
        for e in events:
            if f.detector == "budget" and e.kind == "budget":
                ok = f.period_start.month == e.start.month and f.step >= 1
            elif not compatible(f.scope, e.series):
                continue
            elif f.detector == "spike" and e.kind == "spike":
                ok = f.period_start == e.start
            elif f.detector == "spike" and e.kind == "level_shift":
                ok = e.start <= f.period_start <= e.start + timedelta(days=1)  # the first day of a step
            elif f.detector == "level_shift" and e.kind == "level_shift":
                ok = abs(f.period_start - e.start) <= timedelta(days=2)
            elif f.detector == "new_spender" and e.kind == "new_spender":
                ok = f.period_start == e.start
            elif f.detector == "spike" and e.kind == "runaway":
                ok = f.period_start.date() in (e.start.date(), (e.start + timedelta(hours=6)).date())  # its day
            elif f.detector == "runaway" and e.kind == "runaway":
                ok = e.start <= at <= e.start + timedelta(hours=8)
            else:
                continue
            if ok:
                hit = True
                if e.kind == f.detector and not e.found:
                    e.found = True
                    e.delay = at - e.start
        if hit:
            tp += 1
        else:
            fp += 1
            false_alarms.append(f"{at:%Y-%m-%d %H:%M} {f.detector}: {f.message}")
    print(f"labelled events: {len(events)}; findings: {tp + fp}")
    for kind in ("spike", "level_shift", "runaway", "new_spender", "budget"):
        ev = [e for e in events if e.kind == kind]
        got = sum(e.found for e in ev)
        print(f"  recall {kind:<12} {got}/{len(ev)} = {got / len(ev):.2f}")
    print(f"  precision {tp}/{tp + fp} = {tp / max(tp + fp, 1):.2f}")
    delays = [e.delay.total_seconds() / 3600 for e in events if e.kind == "runaway" and e.delay is not None]
    if delays:
        print(f"  runaway detection delay: median {statistics.median(delays):.1f} h, max {max(delays):.1f} h")
    for line in false_alarms[:10]:
        print("  false alarm:", line)
    missed = [e for e in events if not e.found]
    for e in missed[:10]:
        print(f"  missed: {e.kind} {e.start:%Y-%m-%d %H:%M} {e.series}")


if __name__ == "__main__":
    main()
