"""`spendwatch detect --json` and `backtest` through the real CLI on a canonical import: byte-identical
output, stable keys across runs, and no peeking ahead."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from ..conftest import run_cli, write

HEADER = "ts,provider,model,project_id,api_key_id,cost_usd\n"


def _csv(path: Path, days: int, spike_day: int | None = None, extra_after: int | None = None) -> Path:
    """90 days of two keys with a weekly pattern; optionally a spike, and data after day `extra_after`."""
    lines = [HEADER]
    d0 = date(2026, 8, 3)
    for i in range(days):
        d = d0 + timedelta(days=i)
        wk = d.weekday() < 5
        a = 150 if wk else 40
        b = 50 if wk else 10
        if i == spike_day:
            a, b = 1013, 227
        if extra_after is not None and i > extra_after:
            a = 5000  # a huge "future" day that must not influence the past
        lines.append(f"{d}T00:00:00Z,openai,gpt-4.1,search,sk-proj-aaaaaaaaabcd,{a}.00\n")
        lines.append(f"{d}T00:00:00Z,openai,gpt-4.1,search,sk-proj-bbbbbbbb1234,{b}.00\n")
    return write(path, "".join(lines))


def _setup(tmp_path: Path, name: str, csv: Path) -> Path:
    cfg = write(tmp_path / f"{name}.toml", f'[store]\npath = "{tmp_path / name}.duckdb"\n'
                '[[budgets]]\nname = "openai-monthly"\namount = "4000"\nmatch = { provider = "openai" }\n')
    r = run_cli("--config", str(cfg), "import", str(csv), "--format", "canonical")
    assert r.code == 0, r
    return cfg


def test_detect_json_is_byte_identical_and_keys_stable(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, "a", _csv(tmp_path / "a.csv", 72, spike_day=71))  # spike on Tue 2026-10-13
    args = ("--config", str(cfg), "detect", "--at", "2026-10-14T09:00:00Z", "--json", "--no-send")
    one, two = run_cli(*args), run_cli(*args)
    assert one.code == 0 and one.out == two.out
    found = json.loads(one.out)
    assert [(f["detector"], f["severity"]) for f in found] == [("budget", "info"), ("budget", "warning"),
                                                                ("spike", "critical")]
    spike = found[2]
    assert spike["message"] == ("OpenAI spend on gpt-4.1 was $1,240 on Tue 2026-10-13, 6.2× the usual $200 for a "
                                "Tuesday; 83% from key sk-…abcd")
    later = json.loads(run_cli("--config", str(cfg), "detect", "--at", "2026-10-14T20:00:00Z", "--json", "--no-send").out)
    assert {f["key"] for f in later} == {f["key"] for f in found}


def test_backtest_does_not_peek_ahead(tmp_path: Path) -> None:
    past = _setup(tmp_path, "past", _csv(tmp_path / "p.csv", 73, spike_day=71))  # through Oct 14
    more = _setup(tmp_path, "more", _csv(tmp_path / "m.csv", 90, spike_day=71, extra_after=72))
    args = ("backtest", "--since", "2026-09-20", "--until", "2026-10-15", "--json")
    a, b = run_cli("--config", str(past), *args), run_cli("--config", str(more), *args)
    assert a.code == 0 and a.out == b.out  # data after --until changes nothing before it
    fired = json.loads(a.out)
    spikes = [f for f in fired if f["detector"] == "spike"]
    assert [(f["at"], f["period_start"]) for f in spikes] == [("2026-10-14T00:00:00Z", "2026-10-13T00:00:00Z")]
    # What the backtest printed at a step is what `detect --at` that step says.
    now = json.loads(run_cli("--config", str(more), "detect", "--at", "2026-10-14T00:00:00Z", "--json", "--no-send").out)
    assert {k: v for k, v in spikes[0].items() if k != "at"} in now
    # Budget: one identity per month escalating 50% → 80% → 100%, each step printed once; the forecast
    # (its own identity) warned on the second of October, before any threshold was crossed.
    budget = [(f["at"][:10], f["scope"].get("signal"), f["step"], f["key"]) for f in fired if f["detector"] == "budget"]
    sept = [b for b in budget if b[0] < "2026-10" and b[1] is None]
    assert [(d, s) for d, _, s, _ in sept] == [("2026-09-21", 1), ("2026-09-22", 2), ("2026-09-26", 3)]
    assert len({k for *_, k in sept}) == 1
    octo = [b for b in budget if b[0] >= "2026-10"]
    assert [(d, sig, s) for d, sig, s, _ in octo] == [("2026-10-02", "forecast", 0), ("2026-10-14", None, 1),
                                                      ("2026-10-15", None, 2)]
    assert octo[1][3] == octo[2][3] != sept[0][3]
