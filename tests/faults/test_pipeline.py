"""Every sink at once through `spendwatch detect` (the CLI, the real alert pipeline, a real DuckDB store),
each meeting a different fault in the same run, then all recovering; and the console sink on a broken
stream (issue 12, acceptance 2)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from spendwatch.alerts import deliver
from tests.sinks.fixed_detector import registered
from tests.sinks.helpers import EMAIL_PLAIN, FAST, SLACK_BOT, SLACK_HOOK, T0, WEBHOOK, findings_file, write_config

from .conftest import FaultySlack, FaultyWebhook
from .test_http_sinks import FINDINGS, KEYS, accepted, alerts_view

SINKS = ["hook", "mail", "slack-bot", "slack-hook"]


def delivered(cfg: Any) -> list[tuple[str, str, bool, Any]]:
    from spendwatch.store import Store

    with Store.open(cfg.store.path, read_only=True) as s:
        return s.conn.execute("SELECT sink, alert_id, delivered_at IS NOT NULL, error_kind FROM alert_deliveries "
                              "ORDER BY sink, alert_id").fetchall()


@pytest.mark.usefixtures("secrets_env")
def test_every_sink_faulty_in_one_detect_run_then_recovered(tmp_path: Path, slack: FaultySlack, hook: FaultyWebhook,
                                                             smtp: Any, cli: Any) -> None:
    sinks = SLACK_HOOK + SLACK_BOT.format(api=slack.api_url) + EMAIL_PLAIN.format(port=smtp.port) + WEBHOOK
    path, cfg = write_config(tmp_path, sinks)
    env = {"SW_TEST_FINDINGS": str(findings_file(tmp_path, FINDINGS))}
    hook_route, bot_route = f"/{slack.hook_url.rsplit('/', 1)[1]}", "/chat.postMessage"
    # One fault per sink, in the same run: a redirect to an "ok" page, an HTML 200, a reset, a dropped SMTP session.
    slack.routes = (hook_route,)  # the scripted fault is the incoming webhook's; the bot's comes from fail_on
    slack.faults = ["redirect-ok"]
    slack.fail_on = {bot_route: [(200, b"<html>portal</html>", {"Content-Type": "text/html"})]}
    hook.faults = ["reset"]
    smtp.faults = ["drop"]
    with registered():
        r = cli("--config", path, "detect", "--at", "2026-11-20T09:00:00Z", env=env)
        assert r.code == 1, r
        lines = sorted(r.err.splitlines())
        assert [ln.split(":")[1].strip() for ln in lines] == [f"sink {s}" for s in SINKS], lines
        assert all(ln.endswith("2 alert(s) queued for the next run") for ln in lines), lines
        assert (slack.faults, slack.fail_on[bot_route], hook.faults, smtp.faults) == ([], [], [], [])
        assert delivered(cfg) == [(s, k, False, "retryable") for s in SINKS for k in KEYS]
        assert alerts_view(cfg) == [(k, [], 4) for k in KEYS]
        assert slack.requests == [] and hook.requests == [] and smtp.mails == []

        for at in ("2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"):
            r = cli("--config", path, "detect", "--at", at, env=env)
            assert r.code == 0, r
    for sink in ("slack-hook", "slack-bot", "hook"):
        (message,) = accepted(sink, slack, hook)
        assert "budget 'prod'" in message and "gpt-4o" in message, sink
    (mail,) = smtp.mails
    assert sorted(mail.rcpt_tos) == ["cto@example.com", "finops@example.com"]
    assert delivered(cfg) == [(s, k, True, None) for s in SINKS for k in KEYS]
    assert alerts_view(cfg) == [(k, SINKS, 0) for k in KEYS]
    assert slack.landing == [] and hook.landing == []
    status = json.loads(cli("--config", path, "status", "--format", "json").out)
    assert not any("undelivered" in k and v for k, v in status.items())


class _BrokenPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_console_on_a_broken_stream_is_not_delivered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout closed under us (a pipe whose reader died): the alerts stay queued; on a working stream they
    are printed once."""
    _, cfg = write_config(tmp_path, f'[[sinks]]\nname = "term"\ntype = "console"\nmin_severity = "info"\n{FAST}')
    monkeypatch.setattr(sys, "stdout", _BrokenPipe())
    (line,) = deliver(cfg, FINDINGS, T0)
    assert line.startswith("sink term: unexpected BrokenPipeError"), line
    assert delivered(cfg) == [("term", k, False, "retryable") for k in KEYS]
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert deliver(cfg, FINDINGS, T0) == []
    assert deliver(cfg, FINDINGS, T0) == []
    printed = out.getvalue()
    assert printed.count("[WARNING]") == 2 and printed.count("Budget prod for November 2026") == 1
    assert printed.count("OpenAI spend on gpt-4o was $812.40") == 1
    assert delivered(cfg) == [("term", k, True, None) for k in KEYS]
