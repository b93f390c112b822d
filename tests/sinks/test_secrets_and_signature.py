"""Acceptance 4 (no secret anywhere) and 5 (the webhook signature verifies with the documented recipe)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from spendwatch.store import Store

from .conftest import (
    ALL_SECRETS,
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_HMAC,
    SlackServer,
    SMTPServer,
    WebhookServer,
    start_smtp,
)
from .helpers import FAST, SLACK_BOT, SLACK_HOOK, WEBHOOK, budget, findings_file, spike, write_config

SOURCE = """
[[sources]]
name = "openai-prod"
type = "test-keyed"
api_key_env = "SW_PROVIDER_KEY"
"""

TLS_MAIL = """
[[sinks]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {port}
security = "starttls"
username_env = "SW_SMTP_USER"
password_env = "SW_SMTP_PASSWORD"
from = "spendwatch@example.com"
to = ["finops@example.com"]
min_severity = "info"
ca_file = "{ca}"
""" + FAST


def dump_store(path: str) -> str:
    """Every value of every table and view in the store, as one text."""
    out = []
    with Store.open(path, read_only=True) as s:
        tables = [r[0] for r in s.conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        views = [r[0] for r in s.conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        for t in tables + views:
            out.append(json.dumps(s.conn.execute(f"SELECT * FROM {t}").fetchall(), default=str))
        out.append(json.dumps(s.conn.execute("SELECT sql FROM duckdb_views()").fetchall()))
    return "\n".join(out)


def test_no_secret_in_messages_logs_store_or_errors(tmp_path: Path, slack: SlackServer, hook: WebhookServer,
                                                     tls_cert: Any, cli: Any, secrets_env: None) -> None:
    import collector

    from .fixed_detector import registered

    del collector
    import tests.plugins.keyed  # noqa: F401  (the test-keyed source type with an api_key secret)

    server, controller = start_smtp(tls=tls_cert, mode="starttls")
    try:
        sinks = SLACK_HOOK + SLACK_BOT.format(api=slack.api_url) + WEBHOOK + TLS_MAIL.format(port=server.port, ca=tls_cert[0])
        path, cfg = write_config(tmp_path, sinks, extra=SOURCE)
        env = {"SW_TEST_FINDINGS": str(findings_file(tmp_path, [budget(), spike()]))}
        outputs = []
        # Run 1: every sink fails in a way whose error text could quote the secret: servers echo it back.
        slack.fail_on = {"/" + SLACK_HOOK_PATH(slack).rsplit("/", 1)[1]:
                         [(500, f"boom {SLACK_HOOK_PATH(slack)} {ALL_SECRETS}".encode())],
                         "/chat.postMessage": [(400, f"bad token {ALL_SECRETS}".encode())]}
        hook.fail = [(500, f"error for {hook.url} key {WEBHOOK_HMAC}".encode())]
        server.refuse = [f"451 4.3.0 busy, password was {SMTP_PASSWORD}"]
        with registered():
            for at in ("2026-11-20T09:00:00Z", "2026-11-20T10:00:00Z"):
                r = cli("--config", path, "--log-level", "debug", "detect", "--at", at, env=env)
                outputs += [r.out, r.err]
            assert r.code == 0, r   # run 2: all delivered
            for cmd in (["status"], ["status", "--format", "json"], ["check-config"],
                        ["sql", "SELECT * FROM alerts"], ["digest", "--at", "2026-11-21"]):
                r = cli("--config", path, "--log-level", "debug", *cmd)
                outputs += [r.out, r.err]
            r = cli("--config", path, "--log-level", "debug", "digest", "--send", "--at", "2026-11-21")
            assert r.code == 0, r
            outputs += [r.out, r.err]
    finally:
        controller.stop()
    assert any("Slack webhook answered HTTP 500" in o for o in outputs)  # the failures did happen
    assert any("Slack chat.postMessage to #llm-spend refused: unexpected answer (HTTP 400)" in o for o in outputs)
    assert any("webhook answered HTTP 500" in o for o in outputs)
    assert any("451" in o for o in outputs)
    assert set(server.logins) == {("LOGIN", SMTP_USER, SMTP_PASSWORD)}  # the password was really used…

    received = [r.body.decode("utf-8", "replace") for r in slack.requests + hook.requests]
    received += [m.data.decode("utf-8", "replace") for m in server.mails]
    corpus = {"cli output and logs": "\n".join(outputs), "store": dump_store(cfg.store.path),
              "messages received by sinks": "\n".join(received)}
    assert len(slack.requests) >= 2 and len(hook.requests) >= 2 and len(server.mails) >= 2
    for where, text in corpus.items():
        for secret in ALL_SECRETS:
            assert secret not in text, f"{secret!r} leaked into {where}"


def SLACK_HOOK_PATH(slack: SlackServer) -> str:
    return slack.hook_url.split("//", 1)[1]


def test_webhook_signature_verifies_with_documented_recipe(tmp_path: Path, hook: WebhookServer,
                                                            secrets_env: None) -> None:
    from spendwatch.alerts import deliver

    from .helpers import T0

    _, cfg = write_config(tmp_path, WEBHOOK + 'headers = { "X-Team" = "finops" }\n')
    assert deliver(cfg, [budget(), spike()], T0) == []
    (req,) = hook.requests
    # The README's recipe, written out independently of spendwatch's code:
    header = req.headers["X-Spendwatch-Signature"]
    expected = "sha256=" + hmac.new(WEBHOOK_HMAC.encode(), req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, expected)
    tampered = req.body.replace(b"4120.5", b"1.0")
    assert tampered != req.body
    assert not hmac.compare_digest(header, "sha256=" + hmac.new(WEBHOOK_HMAC.encode(), tampered,
                                                                 hashlib.sha256).hexdigest())
    assert req.headers["X-Team"] == "finops" and req.headers["Content-Type"] == "application/json"
    payload = json.loads(req.body)
    assert payload["kind"] == "alerts" and payload["version"] == 1 and payload["truncated"] == 0
    assert payload["summary"] == "2 alerts: 2 warning"
    a = payload["alerts"][0]
    assert (a["detector"], a["observed"], a["threshold"], a["status"]) == ("budget", "4120.50", "4000.00", "firing")
    assert a["title"] == "OpenAI budget 'prod' at 82% ($4,121 of $5,000)"
    assert len(req.headers["X-Spendwatch-Delivery"]) == 32


def test_webhook_without_secret_is_unsigned(tmp_path: Path, hook: WebhookServer, secrets_env: None) -> None:
    from spendwatch.alerts import deliver

    from .helpers import T0

    _, cfg = write_config(tmp_path, WEBHOOK.replace('secret_env = "SW_HOOK_SECRET"\n', ""))
    assert deliver(cfg, [budget()], T0) == []
    assert "X-Spendwatch-Signature" not in hook.requests[0].headers


def test_webhook_4xx_is_permanent(tmp_path: Path, hook: WebhookServer, secrets_env: None) -> None:
    from spendwatch.alerts import deliver

    from .helpers import T0

    _, cfg = write_config(tmp_path, WEBHOOK)
    hook.fail = [(410, b"gone")]
    (line,) = deliver(cfg, [budget()], T0)
    assert line == ("sink hook: webhook refused: HTTP 410 Gone (permanent: fix the sink's config; 1 alert(s) held, "
                    "see `spendwatch status`)")


def test_slack_webhook_url_missing_is_permanent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                smtp: SMTPServer) -> None:
    from spendwatch.alerts import deliver

    from .helpers import EMAIL_PLAIN, T0

    monkeypatch.delenv("SW_SLACK_HOOK", raising=False)
    _, cfg = write_config(tmp_path, SLACK_HOOK + EMAIL_PLAIN.format(port=smtp.port))
    (line,) = deliver(cfg, [budget()], T0)
    assert line == ("sink slack-hook: sinks[0].webhook_url: environment variable SW_SLACK_HOOK is not set "
                    "(permanent: fix the sink's config; 1 alert(s) held, see `spendwatch status`)")
    assert len(smtp.mails) == 1
