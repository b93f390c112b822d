"""The daemon over the real parts: the OpenAI and Anthropic collectors against their loopback fakes
(spendwatch.fakes), the alert log with dedup (spendwatch.alerts) and the console sink; the real budget
detector when it is installed, else the test detector of sw_daemon_plugin."""

from __future__ import annotations

import importlib.util
from datetime import timedelta

import duckdb
import pytest
from conftest import sql, wait_for

fakes = pytest.importorskip("spendwatch.fakes", reason="spendwatch.fakes (the provider fakes) not merged yet")
pytest.importorskip("spendwatch.alerts", reason="the alert log not merged yet")
HAVE_BUDGET = importlib.util.find_spec("detectors.budget") is not None


def test_daemon_collects_real_providers_and_delivers_an_alert_once(tmp_path, daemon_factory):
    from spendwatch.timeutil import utcnow

    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    dataset = fakes.generate(today - timedelta(days=3), 4, providers=("openai", "anthropic"))
    with fakes.Fleet.start(dataset, providers=["openai", "anthropic"]) as fleet:
        store = tmp_path / "spend.duckdb"
        config = (fleet.config_toml(str(store), lookback="2d", extra='interval = "3s"\n')
                  + '\n[[budgets]]\nname = "openai-tiny"\nperiod = "month"\namount = "0.01"\n'
                    'match = { provider = "openai" }\n'
                  + '\n[[sinks]]\nname = "console"\ntype = "console"\nmin_severity = "info"\n'
                  + '\n[daemon]\nlog_level = "info"\n')
        d = daemon_factory(config, **fleet.env()).start()
        wait_for(lambda: {"openai-fake", "anthropic-fake"} <= {
            x.split("source=")[1].split()[0] for x in d.log_events("collect_done")}, 60, "both providers collected")
        wait_for(lambda: sum(1 for x in d.log_events("collect_done") if "source=openai-fake" in x) >= 2, 60,
                 "repeated collects of openai")
        detector = "budget" if HAVE_BUDGET else "test_spend_seen"
        alerts = sql(d.config, f"SELECT detector, severity, state, scope, delivered_to FROM alerts "
                               f"WHERE detector = '{detector}'")
        rc, _ = d.terminate()
        assert rc == 0, d.stderr()

        assert alerts and all(a["state"] == "open" for a in alerts), alerts
        assert all("console" in (a["delivered_to"] or []) for a in alerts), alerts
        # detectors ran after every collect (>= 3 runs), but the alert log sent each alert once
        out = d.stdout()
        assert sum("event=detect_done" in line for line in d.stderr().splitlines()) >= 3
        if HAVE_BUDGET:
            assert out.count("[CRITICAL] OpenAI budget 'openai-tiny'") == 1, out
        else:
            assert {a["scope"] for a in alerts} == {'{"provider": "anthropic"}', '{"provider": "openai"}'}
            for provider in ("openai", "anthropic"):
                assert out.count(f"{provider} has usage in the store") == 1, out
        # exact tokens for the fully past hours the daemon re-pulled (lookback 2d covers them)
        start, end = today - timedelta(days=1), now.replace(minute=0, second=0, microsecond=0)
        with duckdb.connect(str(store), read_only=True) as con:
            for provider in ("openai", "anthropic"):
                got = con.execute("SELECT sum(input_tokens), sum(output_tokens) FROM records WHERE provider = ? "
                                  "AND record_type = 'usage' AND ts >= ? AND ts < ?", [provider, start, end]).fetchone()
                truth = fleet.servers[provider].truth(start, end)
                assert (got[0], got[1]) == (truth["input_tokens"], truth["output_tokens"]), provider
        assert fleet.openai.violations == [] and fleet.anthropic.violations == []
        secrets = fleet.env().values()
        assert not any(s in d.stderr() or s in d.stdout() for s in secrets)
