"""spike: exact findings on hand-made daily series, and the non-events it must stay quiet on."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

from .helpers import D, at, day_rows, load, replay, run, weekly

KEY_A, KEY_B = "sk-proj-aaaaaaaaabcd", "sk-proj-bbbbbbbb1234"
START = "2026-08-03"  # a Monday


def _two_keys(days: int) -> list[dict]:
    rows = day_rows(START, weekly(150, 40, days), model="gpt-4.1", project_id="search", api_key_id=KEY_A)
    rows += day_rows(START, weekly(50, 10, days), model="gpt-4.1", project_id="search", api_key_id=KEY_B)
    return rows


def test_spike_reported_once_with_drivers_and_exact_figures(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    rows = _two_keys(71)  # through Mon 2026-10-12
    rows += day_rows("2026-10-13", [1013], model="gpt-4.1", project_id="search", api_key_id=KEY_A)
    rows += day_rows("2026-10-13", [227], model="gpt-4.1", project_id="search", api_key_id=KEY_B)
    load(p, rows)
    (f,) = run("spike", p, at("2026-10-14T09:30"), live=True)
    assert f.to_json() == {
        "detector": "spike", "key": f.key, "severity": "critical",
        "scope": {"provider": "openai", "model": "gpt-4.1"},
        "period_start": "2026-10-13T00:00:00Z", "period_end": "2026-10-14T00:00:00Z",
        "observed": "1240.00", "expected": "200.00", "threshold": "400.00",
        "message": "OpenAI spend on gpt-4.1 was $1,240 on Tue 2026-10-13, 6.2× the usual $200 for a Tuesday; "
                   "83% from key sk-…abcd",
        "drivers": [
            {"dimension": "api_key_id", "value": "sk-…abcd", "observed": "1013.00", "expected": "150.00",
             "change": "863.00", "share": "0.83"},
            {"dimension": "api_key_id", "value": "sk-…1234", "observed": "227.00", "expected": "50.00",
             "change": "177.00", "share": "0.17"},
            {"dimension": "project_id", "value": "search", "observed": "1240.00", "expected": "200.00",
             "change": "1040.00", "share": "1.00"},
        ],
        "step": 0,
    }
    # Same day judged again later: the same key (one alert), identical content.
    (g,) = run("spike", p, at("2026-10-14T23:00"))
    assert g.to_json() == f.to_json()
    # The next day the spike is history: nothing new.
    assert run("spike", p, at("2026-10-15T01:00")) == []


def test_weekend_dips_and_noise_are_quiet(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    rnd = random.Random(7)
    vals = [D(v) * (D(90) + D(rnd.randint(0, 20))) / 100 for v in weekly(400, 60, 120)]
    load(p, day_rows(START, vals, model="gpt-4.1", api_key_id=KEY_A))
    assert replay("spike", p, at(START) + timedelta(days=20), at(START) + timedelta(days=121)) == []


def test_recurring_month_start_job_is_not_an_anomaly_again(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    days = 31 + 31 + 30 + 31 + 1  # 2026-07-01 .. 2026-10-31 and Nov 1
    vals = [100] * days
    for i in (31, 62, 92, 123):  # Aug 1, Sep 1, Oct 1, Nov 1
        vals[i] = 700
    load(p, day_rows("2026-07-01", vals, model="batch-embed", project_id="etl"))
    (first,) = run("spike", p, at("2026-08-02"))
    assert first.period_start == at("2026-08-01") and first.observed == D(700) and first.expected == D(100)
    for second_or_later in ("2026-09-02", "2026-10-02", "2026-11-02"):
        assert run("spike", p, at(second_or_later)) == [], second_or_later


def test_tiny_series_below_floor_never_fires(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    vals = [2] * 60 + [45]  # 22× the usual, but only $43 more
    load(p, day_rows(START, vals, model="gpt-4.1-nano"))
    assert run("spike", p, at(START) + timedelta(days=61)) == []
    # The floor is an option: lowered, the same day fires.
    (f,) = run("spike", p, at(START) + timedelta(days=61), min_increase_usd=D(20))
    assert f.observed == D(45) and f.expected == D(2)


def test_new_series_first_week_is_cold_start(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    rows = day_rows(START, weekly(200, 50, 70), model="gpt-4.1")
    rows += day_rows("2026-10-07", [10, 10, 10, 10, 10, 400], model="o3", project_id="new")
    load(p, rows)
    assert run("spike", p, at("2026-10-13")) == []


def test_second_day_of_a_step_is_not_another_spike(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    load(p, day_rows(START, weekly(200, 50, 63) + [600, 600, 600], model="gpt-4.1"))
    fired = [run("spike", p, at(START) + timedelta(days=64 + k)) for k in range(3)]
    assert [len(x) for x in fired] == [1, 0, 0]


def test_findings_are_json_serialisable_and_money_exact(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    load(p, day_rows(START, [D("10.0000000001")] * 40 + [D("500.1234567891")], model="m"))
    (f,) = run("spike", p, at(START) + timedelta(days=41))
    assert f.observed == D("500.1234567891")
    assert json.loads(json.dumps(f.to_json()))["observed"] == "500.1234567891"


def test_two_incidents_on_one_day_are_two_findings(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    rows = _two_keys(71)
    rows += day_rows(START, weekly(300, 80, 71), provider="anthropic", model="claude-sonnet", project_id="support",
                     api_key_id="sk-ant-cccccccc9876")
    rows += day_rows("2026-10-13", [1013], model="gpt-4.1", project_id="search", api_key_id=KEY_A)
    rows += day_rows("2026-10-13", [50], model="gpt-4.1", project_id="search", api_key_id=KEY_B)
    rows += day_rows("2026-10-13", [2100], provider="anthropic", model="claude-sonnet", project_id="support",
                     api_key_id="sk-ant-cccccccc9876")
    load(p, rows)
    found = run("spike", p, at("2026-10-14"))
    assert sorted((f.observed, f.expected) for f in found) == [(D(1013), D(150)), (D(2100), D(300))]
    scopes = {f.observed: f.scope for f in found}
    assert scopes[D(1013)] == {"api_key_id": KEY_A}  # the one key carries all of OpenAI's rise
    assert scopes[D(2100)]["provider"] == "anthropic" and len(scopes[D(2100)]) == 2


def test_sparse_bursty_series_is_judged_by_its_own_bursts(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    rnd = random.Random(3)
    vals = [80 + rnd.randint(-10, 10) if rnd.random() < 0.2 else 0 for _ in range(90)]
    vals[-1] = 95  # a burst like the others
    load(p, day_rows(START, vals, model="batch-eval"))
    assert run("spike", p, at(START) + timedelta(days=90)) == []
    vals[-1] = 900  # ten times a usual burst
    load(p, day_rows(START, vals, model="batch-eval"))
    (f,) = run("spike", p, at(START) + timedelta(days=90))
    assert f.observed == D(900)


def test_bad_options_are_one_clear_config_line() -> None:
    import pytest

    from spendwatch.errors import ConfigError

    from .helpers import config

    with pytest.raises(ConfigError) as exc:
        config('[detectors.spike]\nlevels = ["provider,bogus"]\nmin_increase_usd = 50.5\n')
    text = str(exc.value)
    assert "detectors.spike.min_increase_usd: write money as a decimal string" in text
    with pytest.raises(ConfigError) as exc:
        config('[detectors.spike]\nlevels = ["provider,bogus"]\n')
    assert "levels: 'provider,bogus' is not a comma-separated list of spend columns" in str(exc.value)
