"""Slack (incoming webhook and bot) and the generic webhook against a server that redirects, answers HTML,
times out, resets the connection or answers an error code, through the real alert pipeline
(`spendwatch.alerts.deliver`) and a real DuckDB store (issue 12, defect 1 and acceptance 2).

Each case: one run meets the fault (retries = 0, so one request per run), then the server recovers.
Nothing may be recorded as delivered while the server has not accepted; after recovery each alert goes out
exactly once, counted by what the server itself accepted; a redirect is never followed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from spendwatch.alerts import deliver
from spendwatch.store import Store
from tests.sinks.helpers import SLACK_BOT, SLACK_HOOK, T0, WEBHOOK, budget, spike, write_config

from .conftest import HTTP_FAULTS, FaultySlack, FaultyWebhook

FINDINGS = [budget(), spike()]
KEYS = sorted(f.key for f in FINDINGS)


def sink_config(sink: str, slack: FaultySlack) -> str:
    return {"slack-hook": SLACK_HOOK, "slack-bot": SLACK_BOT.format(api=slack.api_url), "hook": WEBHOOK}[sink]


def server_for(sink: str, slack: FaultySlack, hook: FaultyWebhook) -> Any:
    return hook if sink == "hook" else slack


def accepted(sink: str, slack: FaultySlack, hook: Any) -> list[str]:
    """The text of every message the server answered with acceptance, for this sink's route."""
    if sink == "slack-hook":
        return [r.body.decode() for r in slack.routed("/" + slack.hook_url.rsplit("/", 1)[1])]
    if sink == "slack-bot":
        return [json.dumps(r.form()) for r in slack.routed("/chat.postMessage")]
    return [r.body.decode() for r in hook.requests]


def deliveries(cfg: Any) -> list[tuple[Any, ...]]:
    """Per delivery row: alert, delivered?, error kind, attempts."""
    return snapshot(cfg)[0]


def alerts_view(cfg: Any) -> list[tuple[Any, ...]]:
    """The public `alerts` view: alert, the sinks it was delivered to, deliveries still pending."""
    return snapshot(cfg)[1]


def snapshot(cfg: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with Store.open(cfg.store.path, read_only=True) as s:
        rows = s.conn.execute("SELECT alert_id, delivered_at IS NOT NULL, error_kind, attempts "
                              "FROM alert_deliveries ORDER BY alert_id").fetchall()
        view = s.conn.execute("SELECT alert_id, coalesce(delivered_to, []), pending_deliveries FROM alerts "
                              "ORDER BY alert_id").fetchall()
    return rows, view


def fault_then_recover(tmp_path: Path, sink: str, fault: Any, kind: str, slack: FaultySlack,
                       hook: FaultyWebhook) -> str:
    """Run the scenario, assert the invariants, return the one problem line of the failed run."""
    _, cfg = write_config(tmp_path, sink_config(sink, slack))
    server = server_for(sink, slack, hook)
    server.faults = [fault]
    (line,) = deliver(cfg, FINDINGS, T0)
    assert server.faults == [], "the sink never met the fault"
    assert accepted(sink, slack, hook) == []
    assert snapshot(cfg) == ([(k, False, kind, 1) for k in KEYS], [(k, [], 1) for k in KEYS])
    assert line.startswith(f"sink {sink}: ")

    assert deliver(cfg, FINDINGS, T0) == []   # the server has recovered
    assert deliver(cfg, FINDINGS, T0) == []   # and nothing is sent twice
    (message,) = accepted(sink, slack, hook)
    assert "budget 'prod'" in message and "gpt-4o" in message
    assert snapshot(cfg) == ([(k, True, None, 2) for k in KEYS], [(k, [sink], 0) for k in KEYS])
    assert server.landing == [], "a redirect was followed"
    return line


SINKS = ["slack-hook", "slack-bot", "hook"]
WHY = {"redirect": "redirect (HTTP 302", "redirect-ok": "redirect (HTTP 302", "redirect-307": "redirect (HTTP 307",
       "html": "unexpected answer", "timeout": "timed out", "reset": "unreachable"}


@pytest.mark.usefixtures("secrets_env")
@pytest.mark.parametrize("fault", HTTP_FAULTS)
@pytest.mark.parametrize("sink", SINKS)
def test_network_fault_is_not_delivered_then_delivered_once(tmp_path: Path, slack: FaultySlack,
                                                            hook: FaultyWebhook, sink: str, fault: str) -> None:
    if sink == "hook" and fault == "html":
        pytest.skip("a generic webhook's acceptance is its 2xx status: an HTML 200 is an acceptance")
    line = fault_then_recover(tmp_path, sink, fault, "retryable", slack, hook)
    assert WHY[fault] in line, line
    assert line.endswith("; 2 alert(s) queued for the next run"), line


BOT_JSON = {"Content-Type": "application/json; charset=utf-8"}

CODES = [
    # Slack incoming webhook: the body is the answer ("ok", or an error code), whatever the status says.
    ("slack-hook", (403, b"invalid_token"), "permanent", "invalid_token"),
    ("slack-hook", (404, b"no_service"), "permanent", "no_service"),
    ("slack-hook", (404, b"channel_not_found"), "permanent", "channel_not_found"),
    ("slack-hook", (410, b"channel_is_archived"), "permanent", "channel_is_archived"),
    ("slack-hook", (200, b"invalid_token"), "permanent", "invalid_token"),
    ("slack-hook", (200, b""), "retryable", "unexpected answer"),
    ("slack-hook", (200, b"ok then some"), "retryable", "unexpected answer"),
    ("slack-hook", (500, b"rollup_error"), "retryable", "HTTP 500"),
    ("slack-hook", (503, b"<html>Service Unavailable</html>"), "retryable", "HTTP 503"),
    # Slack Web API: only a JSON object with "ok": true is an acceptance.
    ("slack-bot", (200, b'{"ok": false, "error": "channel_not_found"}', BOT_JSON), "permanent", "channel_not_found"),
    ("slack-bot", (200, b'{"ok": false, "error": "not_in_channel"}', BOT_JSON), "permanent", "not_in_channel"),
    ("slack-bot", (200, b'{"ok": false, "error": "internal_error"}', BOT_JSON), "retryable", "internal_error"),
    ("slack-bot", (200, b'{"channel": "C0SPEND42"}', BOT_JSON), "retryable", "unexpected answer"),
    ("slack-bot", (200, b"ok"), "retryable", "unexpected answer"),
    ("slack-bot", (200, b'{"ok": "yes"}', BOT_JSON), "retryable", "unexpected answer"),
    ("slack-bot", (502, b"<html>Bad Gateway</html>"), "retryable", "HTTP 502"),
    # Generic webhook: 2xx only.
    ("hook", (301, b"", {"Location": "/elsewhere"}), "retryable", "redirect (HTTP 301"),
    ("hook", (308, b"", {"Location": "/elsewhere"}), "retryable", "redirect (HTTP 308"),
    ("hook", (404, b"not here"), "permanent", "HTTP 404"),
    ("hook", (503, b""), "retryable", "HTTP 503"),
]


def _code_id(case: tuple[Any, ...]) -> str:
    return f"{case[0]}-{case[1][0]}-{re.sub('[^a-z0-9]+', '_', case[3].lower()).strip('_')}"


@pytest.mark.usefixtures("secrets_env")
@pytest.mark.parametrize(("sink", "fault", "kind", "why"), CODES, ids=[_code_id(c) for c in CODES])
def test_answer_codes(tmp_path: Path, slack: FaultySlack, hook: FaultyWebhook, sink: str, fault: Any, kind: str,
                      why: str) -> None:
    line = fault_then_recover(tmp_path, sink, fault, kind, slack, hook)
    assert why in line, line


@pytest.mark.usefixtures("secrets_env")
@pytest.mark.parametrize("route", ["hook", "bot"])
def test_rate_limit_is_waited_for_inside_one_attempt(tmp_path: Path, slack: FaultySlack, route: str) -> None:
    """429 + Retry-After (seconds) is honoured twice within one attempt, even with retries = 0; a third 429
    is a retryable failure that keeps the alerts queued."""
    sink = "slack-hook" if route == "hook" else "slack-bot"
    _, cfg = write_config(tmp_path, sink_config(sink, slack))
    limited = (429, b"rate_limited", {"Retry-After": "0"})
    slack.faults = [limited, limited, limited]
    (line,) = deliver(cfg, FINDINGS, T0)
    assert "HTTP 429" in line and slack.faults == []
    assert deliveries(cfg) == [(k, False, "retryable", 1) for k in KEYS]
    slack.faults = [limited, limited]
    assert deliver(cfg, FINDINGS, T0) == []
    assert len(accepted(sink, slack, None)) == 1
