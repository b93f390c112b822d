"""level_shift: a sustained step is reported once, under one key; a one-day spike or a weekend is not a shift."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from .helpers import D, at, day_rows, load, replay, run, weekly

START = "2026-08-03"  # Monday


def test_step_up_reported_once_with_onset(tmp_path: Path) -> None:
    p = tmp_path / "l.duckdb"
    vals = weekly(200, 50, 60) + weekly(500, 120, 20, "2026-10-02")  # new normal from Fri 2026-10-02
    load(p, day_rows(START, vals, model="gpt-4.1", api_key_id="sk-proj-zzzzzzzzabcd"))
    assert run("level_shift", p, at("2026-10-05")) == []  # three days are not yet a shift
    (f,) = run("level_shift", p, at("2026-10-06T08:00"))
    assert f.message == ("OpenAI spend on gpt-4.1 has stepped up to $310/day since Fri 2026-10-02 (4 days), "
                         "2.5× the usual $125/day; 100% from key sk-…abcd")
    assert (f.observed, f.expected, f.threshold) == (D(310), D(125), D("175.00"))
    assert f.scope == {"provider": "openai", "model": "gpt-4.1"} and f.period_start == at("2026-10-02")
    # Later days: the same shift, the same key; then it is the new normal and stops being reported.
    keys = {g.key for i in range(1, 7) for g in run("level_shift", p, at("2026-10-06") + timedelta(days=i))}
    assert keys == {f.key}
    assert run("level_shift", p, at("2026-10-13")) == []
    # A backtest prints it once, on the day it was confirmed; spike fired once on the first day.
    fired = replay("level_shift", p, at("2026-09-20"), at("2026-10-21"))
    assert [(t, g.key) for t, g in fired] == [(at("2026-10-06"), f.key)]
    spikes = replay("spike", p, at("2026-09-20"), at("2026-10-21"))
    assert [(t, g.period_start) for t, g in spikes] == [(at("2026-10-03"), at("2026-10-02"))]


def test_one_day_spike_and_weekends_are_not_shifts(tmp_path: Path) -> None:
    p = tmp_path / "l.duckdb"
    vals = weekly(200, 50, 80)
    vals[60] = 900  # a single day
    vals[70] = vals[71] = 450  # two days
    load(p, day_rows(START, vals, model="gpt-4.1"))
    assert replay("level_shift", p, at(START) + timedelta(days=40), at(START) + timedelta(days=80)) == []


def test_small_series_below_floor_is_quiet(tmp_path: Path) -> None:
    p = tmp_path / "l.duckdb"
    load(p, day_rows(START, weekly(10, 3, 60) + weekly(30, 9, 20, "2026-10-02"), model="gpt-4.1-nano"))
    assert replay("level_shift", p, at("2026-09-25"), at("2026-10-22")) == []
