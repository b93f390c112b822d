"""new_spender, stale_data, unpriced_model, reconciliation, low_balance: exact findings and non-events."""

from __future__ import annotations

from pathlib import Path

import tests.plugins.keyed  # noqa: F401  (registers the test-keyed source type)
from spendwatch.store import Store, Window

from .helpers import D, at, config, day_rows, load, run

KEY_A, KEY_B = "sk-proj-aaaaaaaaabcd", "sk-proj-bbbbbbbb1234"


# ------------------------------------------------------------------------------------------ new_spender
def test_new_key_in_new_project_is_one_finding_once_above_floor(tmp_path: Path) -> None:
    p = tmp_path / "n.duckdb"
    rows = day_rows("2026-09-01", [100] * 40, model="gpt-4.1", project_id="search", api_key_id=KEY_A)
    rows += day_rows("2026-10-07", [15, 15, 30, 2], model="gpt-4.1", project_id="labs", api_key_id=KEY_B)
    load(p, rows)
    assert run("new_spender", p, at("2026-10-08")) == []  # $15: under the $20 floor
    (f,) = run("new_spender", p, at("2026-10-09T10:00"))  # key and project are both new: reported once
    assert f.scope == {"api_key_id": KEY_B} and (f.observed, f.threshold) == (D(30), D(20))
    assert f.message == ("New spender: spend via key sk-…1234 (first seen Wed 2026-10-07) has spent $30.00 in 2 days; "
                         "100% from model gpt-4.1")
    assert [d["dimension"] for d in f.drivers] == ["model", "project_id", "provider"]
    (g,) = run("new_spender", p, at("2026-10-10"))
    assert g.key == f.key and g.observed == D(60)
    assert run("new_spender", p, at("2026-10-15")) == []  # a week later it is not new any more


def test_fresh_store_has_no_new_spenders(tmp_path: Path) -> None:
    p = tmp_path / "n.duckdb"
    load(p, day_rows("2026-10-01", [500] * 10, model="gpt-4.1", api_key_id=KEY_A))
    assert run("new_spender", p, at("2026-10-11")) == []


# ------------------------------------------------------------------------------------------- stale_data
SOURCE = '[[sources]]\nname = "openai-prod"\ntype = "test-keyed"\napi_key_env = "K"\ninterval = "1h"\n'


def test_stale_and_failing_sources(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    with Store.open(str(p)) as store:
        store.replace_window("openai-prod", "usage", Window(at("2026-10-01"), at("2026-10-05")), [],
                             advance_to=at("2026-10-05"))
        for _i in range(3):
            store.mark_attempt("openai-prod", "usage", ok=False, error="HTTP 503 from api.openai.com", at=at("2026-10-06"))
        store.replace_window("other", "usage", Window(at("2026-10-01"), at("2026-10-02")), [], advance_to=at("2026-10-02"))
    cfg = config(SOURCE)
    assert run("stale_data", p, at("2026-10-06T02:00"), cfg)[0].scope["problem"] == "failing"  # 26 h lag: fine
    found = run("stale_data", p, at("2026-10-06T04:00"), cfg)
    by = {f.scope["problem"]: f for f in found}
    assert set(by) == {"behind", "failing"}  # the unconfigured source "other" is not judged
    assert by["behind"].message == ("Source openai-prod (usage) has data only through 2026-10-05T00:00:00Z, 1d 4h behind; "
                                    "expected within 27h (interval 1h + max_delay 26h)")
    assert by["behind"].severity == "warning" and by["behind"].step == 0
    assert by["failing"].message == ("Source openai-prod (usage) failed 3 collects in a row and has never succeeded: "
                                     "HTTP 503 from api.openai.com")
    later = {f.scope["problem"]: f for f in run("stale_data", p, at("2026-10-10"), cfg)}
    assert later["behind"].key == by["behind"].key and later["behind"].step == 1 and later["behind"].severity == "critical"


# --------------------------------------------------------------------------------------- unpriced_model
def test_unpriced_tokens_are_flagged_not_zero(tmp_path: Path) -> None:
    p = tmp_path / "u.duckdb"
    base = {"granularity": "hour", "provider": "openai", "model": "gpt-9-preview", "cost_usd": None,
            "cost_basis": "estimated", "requests": 10}
    rows = [dict(base, ts=at("2026-10-05T10:00"), period_end=at("2026-10-05T11:00"), input_tokens=120000,
                 output_tokens=3000, api_key_id=KEY_A),
            dict(base, ts=at("2026-10-05T11:00"), period_end=at("2026-10-05T12:00"), input_tokens=40000,
                 output_tokens=1000, api_key_id=KEY_B),
            dict(base, ts=at("2026-10-05T11:00"), period_end=at("2026-10-05T12:00"), model="gpt-4.1",
                 cost_usd=D("1.50"), input_tokens=10, output_tokens=1)]
    load(p, rows)
    assert run("unpriced_model", p, at("2026-10-05T10:59")) == []  # the first hour is not over yet
    (f,) = run("unpriced_model", p, at("2026-10-05T13:00"))
    assert f.scope == {"provider": "openai", "model": "gpt-9-preview"} and f.observed is None
    assert f.message == ("OpenAI model gpt-9-preview used 164,000 tokens in 20 requests since 2026-10-05 10:00 UTC with "
                         "no known price, so their cost is missing from every total; add a price override or update "
                         "genai-prices")
    assert f.to_json()["drivers"] == [{"dimension": "api_key_id", "value": "sk-…abcd", "tokens": 123000, "share": "0.75"},
                                      {"dimension": "api_key_id", "value": "sk-…1234", "tokens": 41000, "share": "0.25"}]
    assert run("unpriced_model", p, at("2026-10-20")) == []  # out of the 7-day window


# --------------------------------------------------------------------------------------- reconciliation
def test_estimate_far_from_bill(tmp_path: Path) -> None:
    p = tmp_path / "r.duckdb"
    est = day_rows("2026-10-01", [D("800"), D("100")], model="gpt-4.1", project_id="search", cost_basis="estimated")
    est += day_rows("2026-10-01", [D("320"), D("1")], model="gpt-4.1-mini", project_id="search", cost_basis="estimated")
    bill = day_rows("2026-10-01", [D("1000"), D("100")], project_id="search", record_type="cost", covers_usage=True,
                    line_item="completions")
    load(p, est, kind="usage")
    load(p, bill, kind="cost")
    (f,) = run("reconciliation", p, at("2026-10-03"))  # day 2: $101 vs $100 is within 10%
    assert (f.observed, f.expected, f.threshold) == (D(1120), D(1000), D("100.00"))
    assert f.message == ("OpenAI usage for project search on Thu 2026-10-01 prices at $1,120 but the bill says $1,000 "
                         "(12% over); check price overrides (negotiated rates, batch or flex tiers)")
    assert [(d["value"], d["share"]) for d in f.to_json()["drivers"]] == [("gpt-4.1", "0.71"), ("gpt-4.1-mini", "0.29")]


# ------------------------------------------------------------------------------------------ low_balance
def test_low_balance_runway_then_floor_escalates(tmp_path: Path) -> None:
    p = tmp_path / "b.duckdb"
    load(p, day_rows("2026-10-01", [20] * 14, provider="openrouter", model="x"), source="openrouter")
    with Store.open(str(p)) as store:
        store.record_metric("openrouter", "balance_usd", at("2026-10-14T06:00"), D("500"))
        store.record_metric("openrouter", "balance_usd", at("2026-10-14T12:00"), D("100"))
        store.record_metric("openrouter", "balance_usd", at("2026-10-15T12:00"), D("8.5"))
    assert run("low_balance", p, at("2026-10-14T07:00")) == []  # $500 at $20/day: 25 days
    (f,) = run("low_balance", p, at("2026-10-14T13:00"))
    assert (f.severity, f.step, f.observed, f.expected) == ("warning", 1, D(100), D(20))
    assert f.message == ("Prepaid balance of openrouter is $100; at $20.00/day that lasts 5.0 days, fewer than the 7 "
                         "days wanted; top up soon")
    (g,) = run("low_balance", p, at("2026-10-15T13:00"))
    assert (g.key, g.severity, g.step) == (f.key, "critical", 2)
    assert g.message == "Prepaid balance of openrouter is $8.50, under the $10.00 floor; at $20.00/day that lasts 0.4 days"


def test_low_balance_without_spend_rows_uses_the_balance_decline(tmp_path: Path) -> None:
    p = tmp_path / "b.duckdb"
    with Store.open(str(p)) as store:
        store.record_metric("openrouter", "balance_usd", at("2026-10-01T00:00"), D("300"))
        store.record_metric("openrouter", "balance_usd", at("2026-10-08T00:00"), D("90"))
    (f,) = run("low_balance", p, at("2026-10-08T01:00"))  # $210 in 7 days = $30/day: 3 days left
    assert (f.step, f.expected) == (1, D(30))
    assert "at $30.00/day that lasts 3.0 days" in f.message


def test_estimate_matching_bill_is_quiet(tmp_path: Path) -> None:
    p = tmp_path / "r.duckdb"
    load(p, day_rows("2026-10-01", [D("1049.99")], project_id="x", cost_basis="estimated"), kind="usage")
    load(p, day_rows("2026-10-01", [D("1000")], project_id="x", record_type="cost", covers_usage=True), kind="cost")
    assert run("reconciliation", p, at("2026-10-03")) == []  # 5% apart: within max_share
