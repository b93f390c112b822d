"""budget: thresholds escalate one alert; the forecast is weekday-aware, lag-aware and dated."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from .helpers import D, at, config, day_rows, hour_rows, load, run, weekly

START = "2026-08-03"  # Monday; data through Oct 31
BUDGET = '[[budgets]]\nname = "openai-monthly"\namount = "4000"\nmatch = { provider = "openai" }\n'


def _store(tmp_path: Path, skip: tuple[str, ...] = ()) -> Path:
    p = tmp_path / "b.duckdb"
    rows = day_rows(START, weekly(150, 40, 90), model="gpt-4.1") + day_rows(START, weekly(50, 10, 90), model="o3")
    rows += day_rows(START, [999] * 90, provider="anthropic", model="claude")  # not matched
    rows = [r for r in rows if r["ts"].date().isoformat() not in skip]
    load(p, rows)
    return p


def test_thresholds_escalate_one_alert(tmp_path: Path) -> None:
    p, cfg = _store(tmp_path), config(BUDGET + "forecast = false\n")
    seen = []
    for now in ("2026-10-14", "2026-10-21", "2026-10-23", "2026-10-27"):
        (f,) = run("budget", p, at(now), cfg)
        seen.append((f.key, f.step, f.severity, f.observed, f.threshold))
    keys = {k for k, *_ in seen}
    assert len(keys) == 1  # one alert identity for the whole month
    assert [s[1:] for s in seen] == [
        (1, "info", D(2000), D(2000)), (1, "info", D(3100), D(2000)),
        (2, "warning", D(3500), D(3200)), (3, "critical", D(4000), D(4000))]
    (f,) = run("budget", p, at("2026-10-14"), cfg)
    assert f.message == "Budget openai-monthly for October 2026: $2,000 spent, 50% of $4,000 (crossed 50%); 76% from model gpt-4.1"
    assert f.scope == {"budget": "openai-monthly"} and f.period_start == at("2026-10-01") and f.period_end == at("2026-11-01")
    # Nothing crossed at the start of the month: no finding.
    assert run("budget", p, at("2026-10-02"), cfg) == []


def test_forecast_uses_weekday_medians_and_dates_exhaustion(tmp_path: Path) -> None:
    p = _store(tmp_path)
    (f,) = run("budget", p, at("2026-10-05T07:00"), config(BUDGET))
    # Oct 1–4 spent $500; 20 weekdays × $200 + 7 weekend days × $50 remain: $4,850. A flat run rate
    # ($500 / 4 days × 31 = $3,875) would have missed the breach.
    assert (f.observed, f.expected, f.threshold, f.step) == (D(500), D(4850), D(4000), 0)
    assert f.scope == {"budget": "openai-monthly", "signal": "forecast"}
    assert f.message.startswith("Budget openai-monthly is projected to reach $4,850 for October 2026, 121% of $4,000; "
                                "at the usual pace per weekday it runs out on 2026-10-26 ($500 spent so far)")
    # Same forecast later the same month: same key (one alert per period).
    (g,) = [x for x in run("budget", p, at("2026-10-12"), config(BUDGET)) if x.scope.get("signal")]
    assert g.key == f.key


def test_forecast_is_robust_to_provider_lag(tmp_path: Path) -> None:
    p = _store(tmp_path, skip=("2026-10-03", "2026-10-04"))  # the provider has not reported two days yet
    (f,) = run("budget", p, at("2026-10-05T07:00"), config(BUDGET))
    assert (f.observed, f.expected) == (D(400), D(4850))  # missing days forecast at their usual rate, not $0


def test_forecast_under_budget_is_quiet(tmp_path: Path) -> None:
    p = _store(tmp_path)
    assert run("budget", p, at("2026-10-05"), config(BUDGET.replace('"4000"', '"5000"'))) == []


def test_period_is_calendar_aligned_in_the_configured_timezone(tmp_path: Path) -> None:
    p = tmp_path / "tz.duckdb"
    load(p, hour_rows("2026-10-01T02:00", [100, None, None, 100]))  # 22:00 Sep 30 and 01:00 Oct 1 in New York
    text = '[[budgets]]\nname = "m"\namount = "150"\nthresholds = [1.0]\nforecast = false\n'
    assert run("budget", p, at("2026-10-01T06:00"), config(text + '[daemon]\ntimezone = "America/New_York"\n')) == []
    (f,) = run("budget", p, at("2026-10-01T06:00"), config(text))
    assert f.observed == D(200) and f.period_start == at("2026-10-01")
    (g,) = run("budget", p, at("2026-10-01T06:00"),
               config(text.replace('"150"', '"100"') + '[daemon]\ntimezone = "America/New_York"\n'))
    assert g.observed == D(100) and g.period_start == at("2026-10-01T04:00")  # midnight in New York


def test_week_budget_starts_monday(tmp_path: Path) -> None:
    p = _store(tmp_path)
    text = '[[budgets]]\nname = "w"\nperiod = "week"\namount = "1000"\nmatch = { provider = "openai" }\nforecast = false\n'
    (f,) = run("budget", p, at("2026-10-15"), config(text))  # Mon 12 .. Wed 14 = $600
    assert f.period_start == at("2026-10-12") and f.observed == Decimal(600) and f.step == 1
