"""runaway: an agent loop is caught within an hour or two, once; nightly batches and daily data are not loops."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from .helpers import D, at, day_rows, hour_rows, load, replay, run

KEY_A, KEY_B = "sk-proj-aaaaaaaaabcd", "sk-proj-bbbbbbbb1234"
T0 = "2026-09-01T00:00"  # a Tuesday


def _usual(hours: int) -> list:
    """$2/hour, plus a nightly batch of $50 at 02:00 every day."""
    return [50 if i % 24 == 2 else 2 for i in range(hours)]


def test_loop_detected_in_first_hour_and_keeps_one_key(tmp_path: Path) -> None:
    p = tmp_path / "r.duckdb"
    hours = 36 * 24
    vals = _usual(hours)
    onset = hours - 10  # Tue 2026-10-06 14:00
    for i in range(onset, onset + 4):
        vals[i] = 60
    rows = hour_rows(T0, vals, model="gpt-4.1", api_key_id=KEY_A)
    rows += hour_rows(T0, [1] * hours, model="gpt-4.1", api_key_id=KEY_B)
    load(p, rows)
    t_on = at(T0) + timedelta(hours=onset)
    assert t_on == at("2026-10-06T14:00")
    assert run("runaway", p, t_on + timedelta(minutes=59)) == []  # the hour is not complete yet
    (f,) = run("runaway", p, t_on + timedelta(hours=1))
    assert f.to_json()["message"] == (
        "Runaway spend: spend via key sk-…abcd was $60.00 in the hour from 2026-10-06 14:00 UTC, 30.0× the "
        "usual $2.00 for Tue 14:00; $60.00 in 1 h since 14:00 UTC; 100% from model gpt-4.1")
    assert (f.observed, f.expected, f.threshold, f.severity) == (D(60), D(2), D(10), "critical")
    assert f.scope == {"api_key_id": KEY_A}
    later = [run("runaway", p, t_on + timedelta(hours=h)) for h in (2, 3, 4)]
    assert [g.key for (g,) in later] == [f.key] * 3
    assert later[-1][0].message.endswith("$240 in 4 h since 14:00 UTC; 100% from model gpt-4.1")
    assert run("runaway", p, t_on + timedelta(hours=5)) == []  # the loop stopped
    # Backtest at hourly steps: printed once, one hour after onset (no peeking at later hours).
    fired = replay("runaway", p, t_on - timedelta(days=2), t_on + timedelta(hours=8), timedelta(hours=1))
    assert [(t, g.key) for t, g in fired] == [(t_on + timedelta(hours=1), f.key)]


def test_nightly_batch_and_daily_rows_are_not_runaways(tmp_path: Path) -> None:
    p = tmp_path / "r.duckdb"
    hours = 35 * 24
    rows = hour_rows(T0, _usual(hours), model="gpt-4.1", api_key_id=KEY_A)
    rows += day_rows("2026-09-01", [5000] * 35, model="batch", api_key_id=KEY_B)  # daily data: no velocity
    load(p, rows)
    assert replay("runaway", p, at("2026-09-20"), at("2026-10-05"), timedelta(hours=1)) == []


def test_new_key_first_week_is_cold_start(tmp_path: Path) -> None:
    p = tmp_path / "r.duckdb"
    rows = hour_rows(T0, _usual(35 * 24), model="gpt-4.1", api_key_id=KEY_A)
    rows += hour_rows("2026-10-03T00:00", [1] * 60 + [80, 80], model="o3-new", provider="anthropic", api_key_id=KEY_B)
    load(p, rows)
    assert run("runaway", p, at("2026-10-05T14:00")) == []
