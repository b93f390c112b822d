"""Alert lifecycle against real local sinks: grouping, dedup, escalation, queueing, min_severity, cap,
resolved notices, status. (Acceptance 1 and 2 of issue 5.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spendwatch.alerts import deliver
from spendwatch.store import Store

from .conftest import SlackServer, SMTPServer, WebhookServer
from .helpers import EMAIL_PLAIN, SLACK_BOT, SLACK_HOOK, T0, WEBHOOK, budget, findings_file, spike, write_config


def all_sinks(slack: SlackServer, smtp: SMTPServer) -> str:
    return SLACK_HOOK + SLACK_BOT.format(api=slack.api_url) + EMAIL_PLAIN.format(port=smtp.port) + WEBHOOK


def counts(slack: SlackServer, smtp: SMTPServer, hook: WebhookServer) -> dict[str, int]:
    return {"slack-hook": len(slack.routed("/" + slack.hook_url.rsplit("/", 1)[1])),
            "slack-bot": len(slack.routed("/chat.postMessage")), "mail": len(smtp.mails), "hook": len(hook.requests)}


def texts(slack: SlackServer, smtp: SMTPServer, hook: WebhookServer) -> dict[str, str]:
    """The last message each sink received, as text (Slack fallback + blocks, email text part, webhook JSON)."""
    hook_msgs = [r.json() for r in slack.routed("/" + slack.hook_url.rsplit("/", 1)[1])]
    bot_msgs = [r.form() for r in slack.routed("/chat.postMessage")]
    return {"slack-hook": str(hook_msgs[-1]), "slack-bot": str(bot_msgs[-1]),
            "mail": smtp.mails[-1].message().get_body(("plain",)).get_content()
            + smtp.mails[-1].message()["Subject"],
            "hook": hook.requests[-1].body.decode()}


def store_rows(config: Any, sql: str) -> list[tuple[Any, ...]]:
    with Store.open(config.store.path, read_only=True) as s:
        return s.conn.execute(sql).fetchall()


@pytest.mark.usefixtures("secrets_env")
def test_grouped_once_then_nothing_then_escalation(tmp_path: Path, slack: SlackServer, smtp: SMTPServer,
                                                   hook: WebhookServer) -> None:
    _, cfg = write_config(tmp_path, all_sinks(slack, smtp))
    findings = [budget(step=2, severity="warning"), spike()]
    assert deliver(cfg, findings, T0) == []
    assert counts(slack, smtp, hook) == {"slack-hook": 1, "slack-bot": 1, "mail": 1, "hook": 1}
    for sink, text in texts(slack, smtp, hook).items():
        assert "budget 'prod'" in text and "gpt-4o" in text, sink
    mail = smtp.mails[0].message()
    assert mail["Subject"] == "[spendwatch] warning: OpenAI budget 'prod' at 82% ($4,121 of $5,000) (+1 more)"
    assert sorted(smtp.mails[0].rcpt_tos) == ["cto@example.com", "finops@example.com"]
    assert [a["key"] for a in hook.payloads()[0]["alerts"]] == [budget().key, spike().key] or \
        sorted(a["key"] for a in hook.payloads()[0]["alerts"]) == sorted([budget().key, spike().key])

    # The same run again: nothing new anywhere.
    assert deliver(cfg, findings, T0) == []
    assert counts(slack, smtp, hook) == {"slack-hook": 1, "slack-bot": 1, "mail": 1, "hook": 1}

    # The budget escalates 80% → 100% (critical): exactly one new message per sink, holding only it.
    escalated = budget(step=3, severity="critical", observed="5210.37")
    assert deliver(cfg, [escalated, spike()], T0) == []
    assert counts(slack, smtp, hook) == {"slack-hook": 2, "slack-bot": 2, "mail": 2, "hook": 2}
    for sink, text in texts(slack, smtp, hook).items():
        assert "budget 'prod'" in text and "gpt-4o" not in text, sink
    assert smtp.mails[1].message()["Subject"] == \
        "[spendwatch] critical: OpenAI budget 'prod' at 104% ($5,210 of $5,000)"
    body = smtp.mails[1].message().get_body(("plain",)).get_content()
    assert "[CRITICAL] (escalated) OpenAI budget 'prod' at 104% ($5,210 of $5,000)" in body
    assert "observed $5,210.37, budget $5,000.00" in body
    alert = hook.payloads()[1]["alerts"][0]
    assert (alert["observed"], alert["severity"], alert["step"], alert["escalated"]) == ("5210.37", "critical", 3, True)

    # Figures in the log are exact; every delivery recorded as delivered once per sink and level.
    log = store_rows(cfg, "SELECT alert_id, severity, step, state, observed FROM alert_log ORDER BY detector")
    assert [(r[1], r[2], r[3], str(r[4])) for r in log] == [("critical", 3, "open", "5210.3700000000"),
                                                             ("warning", 0, "open", "812.4000000000")]
    rows = store_rows(cfg, "SELECT count(*), count(delivered_at), max(attempts) FROM alert_deliveries")
    assert rows == [(12, 12, 1)]
    view = store_rows(cfg, "SELECT delivered_to, pending_deliveries FROM alerts ORDER BY detector")
    assert view == [(["hook", "mail", "slack-bot", "slack-hook"], 0), (["hook", "mail", "slack-bot", "slack-hook"], 0)]


@pytest.mark.usefixtures("secrets_env")
@pytest.mark.parametrize("failure", [500, "timeout"])
def test_slack_down_queues_then_delivers_once(tmp_path: Path, slack: SlackServer, smtp: SMTPServer,
                                              hook: WebhookServer, cli: Any, failure: Any) -> None:
    from .fixed_detector import registered

    path, cfg = write_config(tmp_path, SLACK_HOOK + EMAIL_PLAIN.format(port=smtp.port) + WEBHOOK)
    env = {"SW_TEST_FINDINGS": str(findings_file(tmp_path, [budget(), spike()]))}
    slack.fail = [failure]
    with registered():
        r = cli("--config", path, "detect", "--at", "2026-11-20T09:00:00Z", env=env)
        assert r.code == 1
        lines = r.err.splitlines()  # exactly one line: the caller reports problems, the log stays quiet
        why = "Slack webhook answered HTTP 500 (server_error)" if failure == 500 else "Slack webhook unreachable (timed out)"
        assert lines == [f"spendwatch: sink slack-hook: {why}; 2 alert(s) queued for the next run"]
        # The other sinks were not held up by Slack.
        assert (len(smtp.mails), len(hook.requests)) == (1, 1)
        status = cli("--config", path, "status", "--format", "json")
        import json

        pending = json.loads(status.out)["sinks with undelivered alerts (error_kind permanent: fix the sink's config)"]
        assert [(p["sink"], p["pending"], p["error_kind"]) for p in pending] == [("slack-hook", 2, "retryable")]

        r = cli("--config", path, "detect", "--at", "2026-11-20T10:00:00Z", env=env)
        assert r.code == 0, r
        r = cli("--config", path, "detect", "--at", "2026-11-20T11:00:00Z", env=env)
        assert r.code == 0, r
    msgs = slack.messages()
    assert len(msgs) == 1 and "budget 'prod'" in msgs[0]["text"] and "gpt-4o" in msgs[0]["text"]
    assert (len(smtp.mails), len(hook.requests)) == (1, 1)
    assert store_rows(cfg, "SELECT sink, attempts, last_error FROM alert_deliveries WHERE sink = 'slack-hook'") == \
        [("slack-hook", 2, None), ("slack-hook", 2, None)]


@pytest.mark.usefixtures("secrets_env")
def test_smtp_refusal_queues_then_delivers_once(tmp_path: Path, smtp: SMTPServer, hook: WebhookServer) -> None:
    _, cfg = write_config(tmp_path, EMAIL_PLAIN.format(port=smtp.port) + WEBHOOK)
    smtp.refuse = ["451 4.3.0 Mailbox busy, try again later"]
    problems = deliver(cfg, [budget(), spike()], T0)
    assert problems == [f"sink mail: SMTP 127.0.0.1:{smtp.port} refused the message: 451 4.3.0 Mailbox busy, "
                        "try again later; 2 alert(s) queued for the next run"]
    assert (len(smtp.mails), len(hook.requests)) == (0, 1)
    assert deliver(cfg, [budget(), spike()], T0) == []
    assert deliver(cfg, [budget(), spike()], T0) == []
    assert len(smtp.mails) == 1 and len(hook.requests) == 1
    assert "(+1 more)" in smtp.mails[0].message()["Subject"]


@pytest.mark.usefixtures("secrets_env")
def test_smtp_server_down_is_retryable(tmp_path: Path) -> None:
    from .conftest import _free_port

    _, cfg = write_config(tmp_path, EMAIL_PLAIN.format(port=_free_port()))
    (line,) = deliver(cfg, [budget()], T0)
    assert "refused" in line or "unreachable" in line
    assert line.endswith("1 alert(s) queued for the next run")


@pytest.mark.usefixtures("secrets_env")
def test_permanent_error_is_reported_by_status(tmp_path: Path, slack: SlackServer, cli: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path, cfg = write_config(tmp_path, SLACK_BOT.format(api=slack.api_url))
    monkeypatch.setenv("SW_SLACK_BOT", "xoxb-9999-wrong-token")
    (line,) = deliver(cfg, [budget()], T0)
    assert line == ("sink slack-bot: Slack chat.postMessage to #llm-spend refused: invalid_auth (HTTP 200) "
                    "(permanent: fix the sink's config; 1 alert(s) held, see `spendwatch status`)")
    r = cli("--config", path, "status")
    assert "slack-bot" in r.out and "permanent" in r.out and "invalid_auth" in r.out
    monkeypatch.setenv("SW_SLACK_BOT", "xoxb-1111-2222-botSECRETtoken")
    assert deliver(cfg, [budget()], T0) == []
    assert len(slack.messages()) == 1
    assert "undelivered" not in cli("--config", path, "status").out


@pytest.mark.usefixtures("secrets_env")
def test_retry_within_one_run(tmp_path: Path, hook: WebhookServer) -> None:
    _, cfg = write_config(tmp_path, WEBHOOK.replace("retries = 0", "retries = 2"))
    hook.fail = [503, "timeout"]
    assert deliver(cfg, [budget()], T0) == []
    assert len(hook.requests) == 1


@pytest.mark.usefixtures("secrets_env")
def test_min_severity_and_escalation_into_range(tmp_path: Path, hook: WebhookServer) -> None:
    _, cfg = write_config(tmp_path, WEBHOOK.replace('min_severity = "info"', 'min_severity = "critical"'))
    assert deliver(cfg, [budget(step=2, severity="warning")], T0) == []
    assert hook.requests == []
    assert deliver(cfg, [budget(step=3, severity="critical", observed="5100.00")], T0) == []
    (payload,) = hook.payloads()
    assert [(a["severity"], a["escalated"]) for a in payload["alerts"]] == [("critical", False)]


@pytest.mark.usefixtures("secrets_env")
def test_severity_up_at_same_step_is_an_escalation_and_down_is_not(tmp_path: Path, hook: WebhookServer) -> None:
    _, cfg = write_config(tmp_path, WEBHOOK)
    deliver(cfg, [spike(severity="warning")], T0)
    deliver(cfg, [spike(severity="critical", observed="2900.00")], T0)
    deliver(cfg, [spike(severity="warning", observed="500.00")], T0)
    assert [p["alerts"][0]["severity"] for p in hook.payloads()] == ["warning", "critical"]


@pytest.mark.usefixtures("secrets_env")
def test_cap_says_and_n_more(tmp_path: Path, slack: SlackServer, smtp: SMTPServer) -> None:
    sinks = (SLACK_HOOK + "max_alerts = 3\n") + EMAIL_PLAIN.format(port=smtp.port) + "max_alerts = 3\n"
    _, cfg = write_config(tmp_path, sinks)
    assert deliver(cfg, [spike(model=f"model-{i:02d}") for i in range(12)], T0) == []
    (msg,) = slack.messages()
    sections = [b for b in msg["blocks"] if b["type"] == "section"]
    assert len(sections) == 3
    assert msg["blocks"][0]["text"]["text"] == "spendwatch: 12 alerts: 12 warning"
    assert msg["blocks"][-1]["elements"][0]["text"].startswith("and 9 more")
    body = smtp.mails[0].message().get_body(("plain",)).get_content()
    assert body.count("[WARNING]") == 3 and "and 9 more" in body
    # All twelve count as announced: nothing left queued.
    assert store_rows(cfg, "SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NULL") == [(0,)]


@pytest.mark.usefixtures("secrets_env")
def test_resolved_notices_and_reopening(tmp_path: Path, hook: WebhookServer, slack: SlackServer) -> None:
    _, cfg = write_config(tmp_path, WEBHOOK + "send_resolved = true\n" + SLACK_HOOK)
    deliver(cfg, [budget(), spike()], T0)
    deliver(cfg, [budget()], T0)              # the spike is gone
    deliver(cfg, [budget()], T0)
    statuses = [[(a["detector"], a["status"]) for a in p["alerts"]] for p in hook.payloads()]
    assert statuses == [[("budget", "firing"), ("spike", "firing")], [("spike", "resolved")]]
    assert len(slack.messages()) == 1        # send_resolved is off there
    deliver(cfg, [budget(), spike()], T0)     # fires again: a new episode, announced again
    assert [(a["detector"], a["status"]) for a in hook.payloads()[-1]["alerts"]] == [("spike", "firing")]
    assert len(slack.messages()) == 2
    assert store_rows(cfg, "SELECT episode, state FROM alert_log WHERE detector = 'spike'") == [(2, "open")]


@pytest.mark.usefixtures("secrets_env")
def test_no_sinks_still_records_alert_log(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, "")
    assert deliver(cfg, [budget(), spike()], T0) == []
    assert store_rows(cfg, "SELECT count(*) FROM alerts WHERE state = 'open'") == [(2,)]


def test_config_keys(tmp_path: Path) -> None:
    from spendwatch.app import parse_config
    from spendwatch.errors import ConfigError

    cfg = parse_config('[[sinks]]\nname = "m"\ntype = "email"\nhost = "h"\nfrom = "a@b.c"\nto = "x@y.z"\n')
    o = cfg.sinks[0].options
    assert (o.from_, o.to, o.port, o.security) == ("a@b.c", ["x@y.z"], 587, "starttls")
    with pytest.raises(ConfigError) as e:
        parse_config('[[sinks]]\nname = "s"\ntype = "slack"\nchannel = "#x"\n', "c.toml")
    assert str(e.value) == ("c.toml:1: sinks[0]: set either webhook_url_env (an incoming webhook) or "
                            "token_env + channel (a bot)")
    with pytest.raises(ConfigError) as e:
        parse_config('[[sinks]]\nname = "m"\ntype = "email"\nhost = "h"\nto = ["x@y.z"]\nfrom_ = "a@b.c"\n', "c.toml")
    assert "sinks[0].from: missing (required)" in str(e.value)
    assert "sinks[0].from_: unknown key" in str(e.value)


@pytest.mark.usefixtures("secrets_env")
def test_crash_mid_send_resends_never_loses(tmp_path: Path, slack: SlackServer) -> None:
    """kill -9 while Slack is answering slowly: nothing is recorded as delivered; the claim protects the
    notice from a concurrent run until its lease expires, then the next run sends it, once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path, cfg = write_config(tmp_path, SLACK_HOOK.replace('timeout = "1s"', 'timeout = "30s"'))
    env = dict(os.environ, SW_TEST_FINDINGS=str(findings_file(tmp_path, [budget(), spike()])),
               SPENDWATCH_PLUGINS="tests.sinks.fixed_plugin", PYTHONPATH=str(Path(__file__).parents[2]))
    slack.delay = 20
    slack.fail = ["timeout"]
    proc = subprocess.Popen([sys.executable, "-m", "spendwatch", "--config", path, "detect", "--at",
                             "2026-11-20T09:00:00Z"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while slack.fail and time.monotonic() < deadline:  # wait until the request is in flight
            time.sleep(0.05)
        assert not slack.fail, "the subprocess never reached Slack"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    claimed = "SELECT count(*), count(claimed_at), count(delivered_at), max(attempts) FROM alert_deliveries"
    assert store_rows(cfg, claimed) == [(2, 2, 0, 1)]
    # A run right after (e.g. the daemon) leaves the claimed notices alone: no duplicate while one is in flight.
    assert deliver(cfg, [budget(), spike()], T0) == []
    assert slack.messages() == []
    # Once the lease has expired (simulated by ageing the claim), the next run sends them, exactly once.
    with Store.open(cfg.store.path) as s:
        s.conn.execute("UPDATE alert_deliveries SET claimed_at = claimed_at - INTERVAL 1 HOUR")
    assert deliver(cfg, [budget(), spike()], T0) == []
    assert deliver(cfg, [budget(), spike()], T0) == []
    (msg,) = slack.messages()
    assert "budget 'prod'" in msg["text"] and "gpt-4o" in msg["text"]
    assert store_rows(cfg, claimed) == [(2, 0, 2, 2)]


@pytest.mark.usefixtures("secrets_env")
def test_slack_block_kit_message(tmp_path: Path, slack: SlackServer) -> None:
    _, cfg = write_config(tmp_path, SLACK_BOT.format(api=slack.api_url))
    r_and_d = spike(model="r&d-<custom>")
    assert deliver(cfg, [budget(step=3, severity="critical", observed="5210.37"), r_and_d], T0) == []
    (msg,) = slack.messages()
    blocks = msg["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "context", "divider", "section", "divider"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "spendwatch: 2 alerts: 1 critical, 1 warning",
                                 "emoji": True}
    assert blocks[1]["text"]["text"] == (":red_circle: *OpenAI budget 'prod' at 104% ($5,210 of $5,000)* (critical)\n"
                                         "Budget prod for November 2026: $5210.37 spent")
    # The crossed threshold equals the budget here, so it is not repeated.
    assert [f["text"] for f in blocks[1]["fields"]] == ["*Observed*\n$5,210.37", "*Budget*\n$5,000.00",
                                                       "*Period*\n2026-11-01 00:00 – 2026-12-01 00:00 UTC"]
    assert blocks[2]["elements"][0]["text"] == "*Drivers:* model gpt-4.1: +$2,200 (83% of the change)"
    assert "model r&amp;d-&lt;custom&gt;" in blocks[4]["text"]["text"]
    assert msg["text"].startswith("spendwatch: 2 alerts: 1 critical, 1 warning\n[CRITICAL] OpenAI budget 'prod'")


@pytest.mark.usefixtures("secrets_env")
@pytest.mark.parametrize("route", ["hook", "bot"])
def test_slack_rate_limit_honours_retry_after(tmp_path: Path, slack: SlackServer, route: str) -> None:
    """429 + Retry-After is handled inside slack-sdk (RateLimitErrorRetryHandler), even with retries = 0."""
    sink = SLACK_HOOK if route == "hook" else SLACK_BOT.format(api=slack.api_url)
    _, cfg = write_config(tmp_path, sink)
    slack.fail = [(429, b"rate_limited", {"Retry-After": "1"})]
    assert deliver(cfg, [budget()], T0) == []
    assert len(slack.messages()) == 1 and slack.fail == []
