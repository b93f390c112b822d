"""stale_data replays from sync_history: a backtest fires it at the hour the daemon would have, never from the
present state (issue: stale_data could not be backtested)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import tests.plugins.keyed  # noqa: F401  (registers the test-keyed source type)
from spendwatch.store import Store, Window

from .helpers import at, config, replay, run

SOURCE = '[[sources]]\nname = "openai-prod"\ntype = "test-keyed"\napi_key_env = "K"\ninterval = "1h"\n'
HOUR = timedelta(hours=1)


def _history(p: Path) -> None:
    """Healthy hourly collects until 06:00 on Oct 5 (data complete through 06:00), then every hour fails."""
    with Store.open(str(p)) as store:
        t = at("2026-10-05T01:00")
        while t <= at("2026-10-05T06:00"):
            store.replace_window("openai-prod", "usage", Window(t - HOUR, t), [], advance_to=t)
            store.mark_attempt("openai-prod", "usage", ok=True, at=t)
            t += HOUR
        while t <= at("2026-10-07T00:00"):
            store.mark_attempt("openai-prod", "usage", ok=False, error="HTTP 503", at=t)
            t += HOUR


def test_backtest_fires_failing_and_behind_at_the_hours_they_became_true(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    _history(p)
    fired = replay("stale_data", p, at("2026-10-05T00:00"), at("2026-10-07T00:00"), HOUR, extra=SOURCE)
    got = [(t, f.scope["problem"], f.severity) for t, f in fired]
    # third failure in a row at 09:00; 06:00 + 27 h allowed lag is passed at 10:00 the next day
    assert got == [(at("2026-10-05T09:00"), "failing", "warning"), (at("2026-10-06T10:00"), "behind", "warning")]


def test_detect_at_a_past_moment_sees_that_moments_state(tmp_path: Path) -> None:
    p = tmp_path / "s.duckdb"
    _history(p)
    cfg = config(SOURCE)
    assert run("stale_data", p, at("2026-10-05T05:30"), cfg) == []  # healthy then, though failing now
    (f,) = run("stale_data", p, at("2026-10-05T12:00"), cfg)
    assert f.message == ("Source openai-prod (usage) failed 6 collects in a row since its last success at "
                         "2026-10-05T06:00:00Z: HTTP 503")
