"""The backtest's bulk paths (each detector's `fire_times`: spike, level_shift, new_spender, budget forecasts,
runaway, import_errors …) print exactly what a naive replay prints: `run_detectors` at every step, keeping a
finding when it first fires or escalates. Hourly series with a weekly pattern, a one-day spike (also a
runaway), a sustained step up, a key that appears mid-way, budgets that cross thresholds and forecast,
and a broken import; replayed at daily steps over five weeks and at hourly steps over the spike's day."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spendwatch.detect import backtest, run_detectors
from spendwatch.findings import Finding
from spendwatch.store import Store

from .helpers import D, at, config, hour_rows, load

DAYS = 70
START = "2026-01-05T00:00"  # a Monday


def _store(p: Path) -> None:
    rows = []
    for s in range(6):
        vals = []
        for i in range(DAYS * 24):
            day, hour = divmod(i, 24)
            v = D(2 + s) * (D("0.4") if day % 7 >= 5 else D(1)) * (D("1.5") if 8 <= hour < 20 else D(1))
            v += D((i * 7 + s * 13) % 10) / 10  # a little deterministic noise
            if s == 2 and day == 60:  # one day's loop on one key: a spike and a runaway
                v *= 12
            if s == 4 and day >= 56:  # a new normal from day 56 on: a level shift
                v *= 3
            vals.append(v)
        rows += hour_rows(START, vals, provider=["openai", "anthropic"][s % 2], model=f"m{s % 3}",
                          project_id=f"p{s % 2}", api_key_id=f"key_test_{s:04d}aaaaaaaa")
    # a key first seen on day 58 that spends enough to be a new spender
    rows += hour_rows(START, [None] * (58 * 24) + [D(3)] * (12 * 24), model="m9", api_key_id="key_test_newbbbbbbbb")
    load(p, rows)
    with Store.open(str(p)) as store:
        store.conn.execute(
            "INSERT INTO imported_files (path, size, mtime, sha256, format, source, imported_at, error) "
            "VALUES ('/x/bad.csv', 10, 0, 'ab' || repeat('0', 62), 'canonical', 'files', ?, 'bad.csv:3: not a number')",
            [at("2026-03-01T10:30")])


CFG = ('[[budgets]]\nname = "openai-month"\namount = "9000"\nmatch = { provider = "openai" }\n'
       '[[budgets]]\nname = "all-week"\nperiod = "week"\namount = "3500"\n'
       '[detectors.stale_data]\nenabled = false\n')


def _naive(store: Store, cfg: object, since: datetime, until: datetime, step: timedelta) -> list[tuple[datetime, Finding]]:
    seen: dict[str, int] = {}
    out = []
    t = since + step
    while t <= until:
        for f in run_detectors(store, cfg, t):  # type: ignore[arg-type]
            if seen.get(f.key, -1) < f.step:
                seen[f.key] = f.step
                out.append((t, f))
        t += step
    return out


@pytest.fixture(scope="module")
def bulk_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("bulk") / "bulk.duckdb"
    _store(p)
    return p


# Two test items (not one loop) so pytest-xdist can run the daily and the hourly replay on different workers.
REPLAYS = {"daily": ("2026-02-06", "2026-03-16", timedelta(days=1)),
           "hourly": ("2026-03-06T00:00", "2026-03-07T06:00", timedelta(hours=1))}


@pytest.mark.parametrize("replay", sorted(REPLAYS))
def test_bulk_backtest_equals_naive_replay(bulk_store: Path, replay: str) -> None:
    since, until, step = at(REPLAYS[replay][0]), at(REPLAYS[replay][1]), REPLAYS[replay][2]
    cfg = config(CFG)
    with Store.open(str(bulk_store), read_only=True) as store:
        fast = backtest(store, cfg, since, until, step)
        naive = _naive(store, cfg, since, until, step)
    assert [(t, f.to_json()) for t, f in fast] == [(t, f.to_json()) for t, f in naive]
    fired = {f.detector for _, f in fast}
    if replay == "daily":
        assert fired >= {"spike", "level_shift", "new_spender", "budget", "runaway", "import_errors"}, fired
        assert any(f.scope.get("signal") == "forecast" for _, f in fast)
    else:
        assert "runaway" in fired, fired


def test_runaway_reuses_bulk_rows_only_where_they_are_its_own(tmp_path: Path) -> None:
    """A key with a gap across the start of a step's window (data on days 0-20, then business hours from
    day 46): the step's own query starts it on day 46 (too young on day 52: no runaway), the bulk query
    on day 20 (old enough). `run` must not take the bulk rows there; the dense key's loop fires either way."""
    p = tmp_path / "gap.duckdb"
    dense, gap = [], []
    for i in range(54 * 24):
        day, hour = divmod(i, 24)
        loop = day == 52 and 10 <= hour < 15
        dense.append(D(3 + (i * 7) % 5) * (20 if loop else 1))
        busy = day <= 20 or (day >= 46 and 8 <= hour < 20)
        gap.append(D(4 + (i * 3) % 4) * (20 if loop else 1) if busy else None)
    load(p, hour_rows(START, dense, model="m1", api_key_id="key_test_dense0000aaaa")
         + hour_rows(START, gap, model="m2", api_key_id="key_test_gap00000bbbb"))
    off = "".join(f"[detectors.{d}]\nenabled = false\n" for d in (
        "spike", "level_shift", "new_spender", "budget", "duplicate_bill", "gateway_gap", "import_errors",
        "low_balance", "reconciliation", "stale_data", "unpriced_model"))
    cfg = config(off)
    since, until, step = at("2026-02-25T00:00"), at("2026-02-27T00:00"), timedelta(hours=1)  # days 51-53
    with Store.open(str(p), read_only=True) as store:
        fast = backtest(store, cfg, since, until, step)
        naive = _naive(store, cfg, since, until, step)
    assert [(t, f.to_json()) for t, f in fast] == [(t, f.to_json()) for t, f in naive]
    assert [(t.isoformat(), f.detector, f.scope) for t, f in fast if f.detector == "runaway"] == [
        ("2026-02-26T11:00:00+00:00", "runaway", {"provider": "openai", "model": "m1"})]  # the dense key's loop only
