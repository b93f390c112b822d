"""One conformance suite, run over every registered HTTP collector against its loopback fake.

Adding a provider means adding a collector (registered) and a fake (spendwatch.fakes.PROVIDERS); the
first test fails until both exist, and then the provider inherits every check below.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import TOKEN_COLS, all_faults, run_cli, snapshot, source_toml, totals, write_config

from collector import COLLECTORS
from collector._api import ApiCollector
from spendwatch.app import load_config
from spendwatch.collect import collect_source
from spendwatch.fakes import FAKE_KEYS, PROVIDERS, Faults, generate
from spendwatch.store import Store

HTTP_COLLECTORS = sorted(name for name, cls in COLLECTORS.items() if issubclass(cls, ApiCollector))


def test_every_http_collector_has_a_fake_server() -> None:
    assert HTTP_COLLECTORS == sorted(PROVIDERS), "each HTTP collector needs a fake in spendwatch.fakes.PROVIDERS"


def _collect(config_path: Path, now: Any) -> Any:
    cfg = load_config(str(config_path))
    return collect_source(cfg, cfg.sources[0], now=now)


def _dump_text(store_path: Path) -> str:
    with Store.open(str(store_path), read_only=True) as st:
        parts = []
        for table in ("records", "sync_state", "source_metrics"):
            parts += [repr(r) for r in st.conn.execute(f"SELECT * FROM {table}").fetchall()]
    return "\n".join(parts)


@pytest.mark.parametrize("provider", HTTP_COLLECTORS)
def test_collect_equals_truth_with_faults_then_rerun_changes_nothing(provider: str, tmp_path: Path, dataset: Any,
                                                                    period: Any, serve: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    start, end = period
    server = serve(provider, dataset, faults=all_faults())
    cfg = write_config(tmp_path, source_toml(server))
    outcome = _collect(cfg, end)
    assert outcome.ok, outcome.error

    truth = server.truth(start, end)
    got = totals(tmp_path / "store.duckdb", provider)
    for col in TOKEN_COLS:
        assert got[col] == truth[col], col
    assert abs(got["cost_usd"] - truth["cost_usd"]) <= Decimal("0.000001")
    assert truth["input_tokens"] > 0 and truth["cost_usd"] > 0
    # the faults really fired, were survived, and no documented limit was broken
    assert server.faults.page2_errors == 0 and server.faults.slow_replies == 0
    assert len(server._limited) >= 1
    assert server.violations == []

    before = snapshot(tmp_path / "store.duckdb")
    again = _collect(cfg, end)
    assert again.ok, again.error
    assert snapshot(tmp_path / "store.duckdb") == before
    assert totals(tmp_path / "store.duckdb", provider) == got

    key = FAKE_KEYS[provider]
    assert key not in caplog.text
    assert key not in _dump_text(tmp_path / "store.duckdb")


@pytest.mark.parametrize("provider", HTTP_COLLECTORS)
def test_failure_mid_pagination_leaves_store_as_it_was(provider: str, tmp_path: Path, dataset: Any, period: Any,
                                                       serve: Any) -> None:
    start, end = period
    good = serve(provider, dataset)
    cfg = write_config(tmp_path, source_toml(good))
    assert _collect(cfg, end).ok
    before = snapshot(tmp_path / "store.duckdb")

    # The provider revised its data, but page 2 keeps failing: nothing of the new data may land.
    revised = generate(start, 7, seed=99, density=0.6)
    broken = serve(provider, revised, faults=Faults(page2_errors=10**6))
    cfg = write_config(tmp_path, source_toml(broken))
    outcome = _collect(cfg, end)
    assert not outcome.ok
    assert "gave up after" in (outcome.error or "")
    assert snapshot(tmp_path / "store.duckdb") == before
    assert broken.violations == []
    with Store.open(str(tmp_path / "store.duckdb"), read_only=True) as st:
        errors = st.conn.execute("SELECT last_error FROM sync_state WHERE last_error IS NOT NULL").fetchall()
    assert errors and "HTTP 500" in errors[0][0]


@pytest.mark.parametrize("provider", HTTP_COLLECTORS)
def test_wrong_key_is_one_line_exit_1_one_request_and_others_still_collect(provider: str, tmp_path: Path,
                                                                          period: Any, serve: Any) -> None:
    start, end = period
    small = generate(end - (end - start) / 7, 1, seed=3)
    servers = {name: serve(name, small) for name in HTTP_COLLECTORS}
    sources = [source_toml(s, lookback="1d", key_env="WRONG_KEY_ENV" if name == provider else None)
               for name, s in servers.items()]
    cfg = write_config(tmp_path, *sources)
    result = run_cli(cfg, "collect", env={"WRONG_KEY_ENV": "sk-wrong-0000000000", "SPENDWATCH_HTTP_WAIT_SCALE": "0.001"})

    assert result.returncode == 1, result.stderr
    err_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(err_lines) == 1, result.stderr
    assert f"{provider}-test" in err_lines[0] and "WRONG_KEY_ENV" in err_lines[0]
    assert "sk-wrong" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert len(servers[provider].requests) == 1
    for name, s in servers.items():
        if name != provider:
            assert f"{name}-test: ok" in result.stdout
            assert len(s.requests) >= 1

