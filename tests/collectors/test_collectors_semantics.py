"""Store semantics of the collected data: reconciliation in `spend`, unpriced models, OpenRouter's 30-day
horizon, and a kill -9 in the middle of a backfill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from collector_helpers import run_cli, snapshot, source_toml, write_config
from spendwatch.collect import collect_source
from spendwatch.app import load_config
from spendwatch.fakes import Faults
from spendwatch.store import Store


def _collect(cfg_path: Path, now: Any) -> Any:
    cfg = load_config(str(cfg_path))
    return collect_source(cfg, cfg.sources[0], now=now)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_spend_per_day_equals_billed_and_key_model_split_sums_back(provider: str, tmp_path: Path, dataset: Any,
                                                                   period: Any, serve: Any) -> None:
    start, end = period
    server = serve(provider, dataset)
    cfg = write_config(tmp_path, source_toml(server))
    assert _collect(cfg, end).ok

    billed = dataset.billed_by_day(provider)
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        per_day = dict(st.conn.execute(
            "SELECT CAST(timezone('UTC', ts) AS DATE), sum(cost_usd) FROM spend WHERE provider = ? GROUP BY 1",
            [provider]).fetchall())
        split = st.conn.execute(
            "SELECT api_key_id, model, sum(cost_usd) FROM spend WHERE provider = ? AND cost_basis = 'reconciled' "
            "GROUP BY ALL", [provider]).fetchall()
        bases = dict(st.conn.execute("SELECT cost_basis, count(*) FROM spend WHERE provider = ? GROUP BY 1",
                                     [provider]).fetchall())
        billed_only = st.conn.execute(
            "SELECT line_item, sum(cost_usd) FROM spend WHERE provider = ? AND cost_basis = 'billed' GROUP BY 1",
            [provider]).fetchall()
        covered = st.conn.execute(
            "SELECT sum(cost_usd) FROM records WHERE provider = ? AND record_type = 'cost' AND covers_usage",
            [provider]).fetchone()[0]
    assert {d: per_day[d] for d in per_day} == {day.date(): amount for day, amount in billed.items()}
    # the per api_key × model split of the reconciled usage sums back to the billed token charges exactly
    assert sum(r[2] for r in split if r[2] is not None) == covered
    assert len({(r[0], r[1]) for r in split}) >= 3
    assert bases.get("reconciled", 0) > 0 and "estimated" not in bases
    lines = {r[0] for r in billed_only}
    expected_lines = {b.line_item for b in dataset.lines if b.provider == provider}
    assert expected_lines <= lines   # billed-only lines (tools, storage, code execution) stand on their own


def test_anthropic_default_workspace_is_the_literal_default_in_both_kinds(tmp_path: Path, dataset: Any, period: Any,
                                                                          serve: Any) -> None:
    server = serve("anthropic", dataset)
    cfg = write_config(tmp_path, source_toml(server))
    assert _collect(cfg, period[1]).ok
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        rows = st.conn.execute("SELECT DISTINCT kind, project_id, workspace_id FROM records ORDER BY ALL").fetchall()
    assert ("usage", "default", "default") in rows and ("cost", "default", "default") in rows
    assert all(r[1] is not None and r[1] == r[2] for r in rows)


def test_unpriced_model_is_listed_by_status_with_its_tokens(tmp_path: Path, dataset: Any, period: Any,
                                                            serve: Any) -> None:
    server = serve("openai", dataset)
    cfg = write_config(tmp_path, source_toml(server))
    assert _collect(cfg, period[1]).ok
    unknown = [c for c in dataset.cells if c.provider == "openai" and c.model == "acme-private-llm-1"]
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        n = st.conn.execute("SELECT count(*) FROM records WHERE model = 'acme-private-llm-1' AND cost_usd IS NULL "
                            "AND record_type = 'usage'").fetchone()[0]
        zero = st.conn.execute("SELECT count(*) FROM records WHERE record_type = 'usage' AND cost_usd = 0").fetchone()[0]
    assert n > 0 and zero == 0
    # the bill names the model: in `spend` its usage rows carry exactly those bill lines' money
    # (docs/attribution.md), so status does not call its cost unknown
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        billed = st.conn.execute("SELECT sum(cost_usd) FROM records WHERE record_type = 'cost' "
                                 "AND model = 'acme-private-llm-1'").fetchone()[0]
        got = st.conn.execute("SELECT sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL), list(DISTINCT cost_basis) "
                              "FROM spend WHERE model = 'acme-private-llm-1' AND record_type = 'usage'").fetchone()
    assert billed > 0 and got == (billed, 0, ["reconciled"])
    result = run_cli(cfg, "status", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "acme-private-llm-1" not in result.stdout
    # without the bill (usage only), its cost is unknown: listed with its tokens
    with Store.open(str(tmp_path / "store.duckdb")) as st:
        st.conn.execute("BEGIN")
        st.conn.execute("DELETE FROM records WHERE record_type = 'cost'")
        from spendwatch.attribution import refresh, stored_rules

        refresh(st.conn, None, None, stored_rules(st.conn))
        st.conn.execute("COMMIT")
    result = run_cli(cfg, "status", "--format", "csv")
    line = next(line for line in result.stdout.splitlines() if "acme-private-llm-1" in line)
    assert str(sum(c.input_tokens for c in unknown)) in line
    assert str(sum(c.output_tokens for c in unknown)) in line


def test_price_override_from_config_changes_the_estimate(tmp_path: Path, dataset: Any, period: Any, serve: Any) -> None:
    server = serve("openai", dataset)
    prices = ('[[prices]]\nprovider = "openai"\nmodel = "acme-private-*"\ninput_per_mtok = "1.00"\n'
              'output_per_mtok = "4.00"\ncached_input_per_mtok = "0.50"\n')
    cfg = write_config(tmp_path, source_toml(server), extra=prices)
    assert _collect(cfg, period[1]).ok
    cells = [c for c in dataset.cells if c.provider == "openai" and c.model == "acme-private-llm-1"]
    expected = sum((c.input_cost + c.output_cost for c in cells), Decimal(0))  # the fake bills at those rates
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        got = st.conn.execute("SELECT sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL) FROM records "
                              "WHERE model = 'acme-private-llm-1' AND record_type = 'usage'").fetchone()
    assert got == (expected, 0)


def test_openrouter_backfill_beyond_30_days_is_said_not_skipped(tmp_path: Path, dataset: Any, period: Any,
                                                                serve: Any) -> None:
    start, end = period
    server = serve("openrouter", dataset, now=end + timedelta(hours=5))
    cfg_path = write_config(tmp_path, source_toml(server))
    cfg = load_config(str(cfg_path))
    outcome = collect_source(cfg, cfg.sources[0], since=end - timedelta(days=40), until=end,
                             now=end + timedelta(hours=5))
    assert outcome.ok, outcome.error
    assert any("last 30 completed UTC days" in n and str((end - timedelta(days=40)).date()) in n
               for n in outcome.notes)
    assert server.violations == []          # never asked for a day the API cannot serve
    result = run_cli(cfg_path, "collect", "--since", str((end - timedelta(days=35)).date()),
                     "--until", str(end.date()))
    assert result.returncode == 0, result.stderr
    assert "openrouter-test: note: /activity serves only the last 30 completed UTC days" in result.stdout
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        metrics = dict(st.conn.execute("SELECT name, value FROM source_metrics").fetchall())
    assert metrics["balance_usd"] == dataset.credits - metrics["total_usage"]
    assert metrics["balance_usd"] < dataset.credits


def test_kill_9_mid_backfill_then_rerun_equals_an_uninterrupted_run(tmp_path: Path, dataset: Any, period: Any,
                                                                    serve: Any) -> None:
    start, end = period
    args = ("collect", "--since", str(start.date()), "--until", str(end.date()))
    env = dict(os.environ)

    calm = serve("openai", dataset)
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref_cfg = write_config(ref_dir, source_toml(calm))
    assert run_cli(ref_cfg, *args).returncode == 0
    reference = snapshot(ref_dir / "store.duckdb")

    slow = serve("openai", dataset, faults=Faults(slow_replies=10**6, slow_seconds=0.15))
    cfg = write_config(tmp_path, source_toml(slow))
    # batches of about 0.5 s of fetching (a few days): the kill lands after some batches are committed
    batched = dict(env, SPENDWATCH_BACKFILL_BATCH_SECONDS="0.5")
    proc = subprocess.Popen([sys.executable, "-m", "spendwatch", "--config", str(cfg), *args], env=batched,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(slow.requests) < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "collect finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = snapshot(tmp_path / "store.duckdb")
    assert 0 < partial[1] < reference[1]   # it really died mid-way, with some days committed

    slow.faults.slow_replies = 0
    result = run_cli(cfg, *args)
    assert result.returncode == 0, result.stderr
    assert snapshot(tmp_path / "store.duckdb") == reference


def test_hourly_backfill_chunks_and_daily_old_chunks(tmp_path: Path, dataset: Any, period: Any, serve: Any) -> None:
    """Chunks older than hourly_within use daily buckets: same totals, fewer rows, day granularity."""
    start, end = period
    server = serve("openai", dataset)
    cfg_path = write_config(tmp_path, source_toml(server, extra='hourly_within = "2d"'))
    cfg = load_config(str(cfg_path))
    assert collect_source(cfg, cfg.sources[0], since=start, until=end, now=end).ok
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        grans = dict(st.conn.execute("SELECT granularity, count(DISTINCT CAST(ts AS DATE)) FROM records "
                                     "WHERE kind = 'usage' GROUP BY 1").fetchall())
        tokens = st.conn.execute("SELECT sum(input_tokens) FROM records WHERE kind = 'usage'").fetchone()[0]
    assert grans == {"day": 5, "hour": 2}
    assert tokens == server.truth(start, end)["input_tokens"]
    assert server.violations == []


def test_anthropic_spend_cap_fails_at_once_without_a_retry_storm(tmp_path: Path, dataset: Any, period: Any,
                                                                 serve: Any) -> None:
    server = serve("anthropic", dataset, faults=Faults(spend_cap=True))
    cfg = write_config(tmp_path, source_toml(server))
    outcome = _collect(cfg, period[1])
    assert not outcome.ok and "429 without Retry-After" in (outcome.error or "")
    assert len(server.requests) == 1


def test_a_malformed_response_is_one_fatal_line_not_a_traceback(tmp_path: Path, dataset: Any, period: Any) -> None:
    from spendwatch.fakes import FAKE_KEYS, FakeOpenAI

    class Broken(FakeOpenAI):
        def route(self, path: str, query: Any, headers: Any) -> Any:
            return 200, {}, {"object": "page", "has_more": False, "next_page": None,
                             "data": [{"object": "bucket", "start_time": "yesterday", "end_time": 0, "results": []}]}

    with Broken(dataset, api_key=FAKE_KEYS["openai"]) as server:
        outcome = _collect(write_config(tmp_path, source_toml(server)), period[1])
    assert not outcome.ok
    assert outcome.error.startswith("openai-test: usage: unexpected response from the provider (ValueError")
    assert snapshot(tmp_path / "store.duckdb")[1] == 0
