"""Operational holes closed by issue 12 (item 7): notices for a removed sink expire with a visible reason; the
digest goes out once per day and sink, across restarts; a detector that raises becomes a finding of its own."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detectors import DETECTORS
from spendwatch.alerts import deliver
from spendwatch.app import load_config
from spendwatch.contracts import DetectorBase
from spendwatch.detect import backtest, run_detectors
from spendwatch.store import Store

from .conftest import WebhookServer
from .helpers import T0, WEBHOOK, budget, spike, write_config
from .test_digest import prepare


@pytest.mark.usefixtures("secrets_env")
def test_notices_for_a_removed_sink_expire_with_a_reason(tmp_path: Path, hook: WebhookServer, cli: Any) -> None:
    path, cfg = write_config(tmp_path, WEBHOOK)
    hook.fail = [(503, b"")] * 10
    problems = deliver(cfg, [budget(), spike()], T0)
    assert problems and "queued for the next run" in problems[0]
    text = Path(path).read_text().split("[[sinks]]")[0]  # the same config without its only sink
    Path(path).write_text(text)
    cfg = load_config(path)
    assert deliver(cfg, [budget(), spike()], T0) == []
    with Store.open(cfg.store.path, read_only=True) as s:
        assert s.conn.execute("SELECT sum(pending_deliveries), sum(expired_deliveries) FROM alerts").fetchone() \
            == (0, 2)
    status = json.loads(cli("--config", path, "status", "--format", "json").out)
    (row,) = status["sinks with undelivered alerts (error_kind permanent: fix the sink's config)"]
    assert (row["sink"], row["pending"], row["expired"], row["error_kind"]) == ("hook", 0, 2, "expired")
    assert row["last_error"] == "sink hook is no longer configured; notice expired undelivered"


def test_digest_once_per_day_and_sink_even_across_runs(tmp_path: Path, cli: Any, hook: WebhookServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SW_HOOK_URL", hook.url)
    monkeypatch.setenv("SW_HOOK_SECRET", "s" * 32)
    prepare(tmp_path, WEBHOOK)
    path = str(tmp_path / "spendwatch.toml")
    at = ("--at", "2026-11-26T08:00:00Z")
    assert cli("--config", path, "digest", "--send", *at).out == "digest sent to hook\n"
    r = cli("--config", path, "digest", "--send", "--at", "2026-11-26T20:00:00Z")  # same day, a restarted daemon
    assert (r.code, r.out) == (0, "digest for 2026-11-25 already sent to hook (--force sends it again)\n")
    assert len(hook.requests) == 1
    assert cli("--config", path, "digest", "--send", *at, "--force").out == "digest sent to hook\n"
    assert cli("--config", path, "digest", "--send", "--at", "2026-11-27T08:00:00Z").out == "digest sent to hook\n"
    assert len(hook.requests) == 3


class Broken(DetectorBase):
    def run(self, history: Any, config: Any, options: Any, now: datetime) -> list[Any]:
        raise ZeroDivisionError("division by zero in https://api.example.com/?key=sk-supersecret1234567890")


@contextlib.contextmanager
def broken() -> Iterator[None]:
    DETECTORS.register("test_broken")(Broken)
    try:
        yield
    finally:
        DETECTORS._items.pop("test_broken", None)


def test_a_detector_that_raises_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    from spendwatch.redact import register_secret

    register_secret("sk-supersecret1234567890")
    cfg = prepare(tmp_path, "")
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    with broken(), Store.open(cfg.store.path, read_only=True) as store:
        found = run_detectors(store, cfg, now)
        replayed = backtest(store, cfg, datetime(2026, 11, 25, tzinfo=UTC), now,
                            datetime(2026, 11, 25, 1, tzinfo=UTC) - datetime(2026, 11, 25, tzinfo=UTC))
    errors = [f for f in found if f.detector == "detector_error"]
    assert [(f.scope, f.severity) for f in errors] == [({"detector": "test_broken"}, "warning")]
    assert errors[0].message.startswith("Detector test_broken failed: ZeroDivisionError: division by zero in ")
    assert "sk-supersecret1234567890" not in errors[0].message
    assert any(f.detector == "budget" for f in found)  # the others' findings stand
    assert [f.scope for _, f in replayed if f.detector == "detector_error"] == [{"detector": "test_broken"}] * 2
