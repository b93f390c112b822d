"""Migration 0002 keeps 0001's delivery rows; the console sink renders alerts and the digest."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb

from sinks.console import ConsoleSink, render_text
from spendwatch.app import parse_config
from spendwatch.migrations.m0001_initial import initial
from spendwatch.migrations.m0002_alerts import alerts as m0002

from .helpers import budget, spike


def test_0002_copies_existing_deliveries(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "old.duckdb"))
    initial(conn)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    conn.execute("INSERT INTO alert_log (alert_id, detector, key, severity, step, state, first_seen, last_seen) "
                 "VALUES ('a1', 'budget', 'a1', 'critical', 3, 'open', ?, ?)", [t, t])
    conn.execute("INSERT INTO alert_deliveries VALUES ('a1', 'slack', 3, 2, NULL, ?, ?), "
                 "('a1', 'mail', 3, 1, 'down', ?, NULL)", [t, t, t])
    m0002(conn)
    rows = conn.execute("SELECT alert_id, sink, episode, notice, step, severity, attempts, last_error, delivered_at "
                        "FROM alert_deliveries ORDER BY sink").fetchall()
    assert rows == [("a1", "mail", 1, "firing", 3, "critical", 1, "down", None),
                    ("a1", "slack", 1, "firing", 3, "critical", 2, None, t)]
    assert conn.execute("SELECT episode FROM alert_log").fetchall() == [(1,)]


def test_console_sink_alerts_and_digest() -> None:
    cfg = parse_config('[[sinks]]\nname = "c"\ntype = "console"\nmax_alerts = 1\n'
                       '[[budgets]]\nname = "prod"\namount = "5000"\nmatch = { provider = "openai" }\n')
    out = io.StringIO()
    sink = ConsoleSink(cfg.sinks[0], out=out)
    sink.send([budget(), spike()])
    assert out.getvalue() == (
        "[WARNING] budget 'prod': $4,121 spent (threshold $4,000)\n"
        "    Budget prod for November 2026: $4120.50 spent\n"
        "    observed $4,120.50, threshold $4,000.00\n"
        "    period: 2026-11-01 00:00 – 2026-12-01 00:00 UTC\n"
        "    driver: model gpt-4.1: +$2,200 (83% of the change)\n"
        "and 1 more\n")
    # With the config at hand (as `detect` prints), the budget's amount and provider are known.
    assert render_text([budget()], cfg).splitlines()[0] == "[WARNING] OpenAI budget 'prod' at 82% ($4,121 of $5,000)"
    out = io.StringIO()
    ConsoleSink(cfg.sinks[0], out=out).send_digest(SimpleNamespace(text="digest text"))
    assert out.getvalue() == "digest text\n"
