"""The daily digest (acceptance 6): email with the PNG inline by Content-ID and a snapshot of its text part;
Slack bot uploads the chart with files_upload_v2; incoming webhook and webhook get the sparkline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from spendwatch.digest import run_digest, sparkline
from spendwatch.store import Store, Window

from .conftest import SlackServer, SMTPServer, WebhookServer
from .helpers import EMAIL_PLAIN, SLACK_BOT, SLACK_HOOK, WEBHOOK, budget, write_config

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FIRST = date(2026, 10, 22)
ALLOCATION = """
[[allocation]]
match = { project_id = "proj_search" }
team = "search"
"""


def rows() -> list[dict[str, Any]]:
    """35 days, exact figures: OpenAI gpt-4.1 $60 + $1/day, gpt-4.1-mini $40; Anthropic $25.50 on
    weekdays, $5.25 at weekends."""
    out = []
    for i in range(35):
        day = FIRST + timedelta(days=i)
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
        out.append(dict(ts=ts, provider="openai", model="gpt-4.1", project_id="proj_search",
                        cost_usd=Decimal(60 + i), granularity="day"))
        out.append(dict(ts=ts, provider="openai", model="gpt-4.1-mini", project_id="proj_batch",
                        cost_usd=Decimal("40.00"), granularity="day"))
        out.append(dict(ts=ts, provider="anthropic", model="claude-sonnet-4", project_id="proj_support",
                        cost_usd=Decimal("25.50") if day.weekday() < 5 else Decimal("5.25"), granularity="day"))
    return out


def prepare(tmp_path: Path, sinks: str) -> Any:
    from spendwatch.alerts import record_findings

    _, cfg = write_config(tmp_path, sinks, extra=ALLOCATION)
    with Store.open(cfg.store.path, allocation=cfg.allocation) as s:
        s.replace_window("test", "usage", Window(datetime(2026, 10, 22, tzinfo=UTC), NOW), rows())
        with s.transaction() as conn:
            record_findings(conn, [budget(step=3, severity="critical", observed="5210.37")],
                            datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    return cfg


EXPECTED_TEXT = """\
LLM spend digest for Wed 25 Nov 2026: $159.50

Yesterday (2026-11-25, UTC) by provider:
  openai          $134.00
  anthropic        $25.50
  total           $159.50

Top models yesterday:
  openai gpt-4.1: $94.00
  openai gpt-4.1-mini: $40.00
  anthropic claude-sonnet-4: $25.50

Top teams yesterday:
  search: $94.00
  (unallocated): $65.50

Budgets to date:
  prod (month from 2026-11-01): $3,050.00 of $5,000.00 (61%), forecast $3,660.00 (73%, pace so far)

Open alerts (1):
  [CRITICAL] OpenAI budget 'prod' at 104% ($5,210 of $5,000) (since 2026-11-24)

Last 30 days (daily spend, UTC):
  total     ▇▇▇▇▆▆▇▇▇▇▇▆▆▇▇▇▇▇▇▇█████▇▇███ max $159.50/day
  openai    ▆▇▇▇▇▇▇▇▇▇▇▇▇▇▇▇▇▇▇▇██████████ max $134.00/day
  anthropic ████▂▂█████▂▂█████▂▂█████▂▂███ max $25.50/day
            27 Oct                  25 Nov"""


@pytest.mark.usefixtures("secrets_env")
def test_digest_email_inline_png_and_text_snapshot(tmp_path: Path, smtp: SMTPServer) -> None:
    cfg = prepare(tmp_path, EMAIL_PLAIN.format(port=smtp.port))
    result = run_digest(cfg, NOW, send=True)
    assert (result.sent, result.problems) == (["mail"], [])
    (mail,) = smtp.mails
    msg = mail.message()
    assert msg["Subject"] == "[spendwatch] " + result.digest.title
    assert msg.get_content_type() == "multipart/alternative"
    text_part, related = list(msg.iter_parts())
    assert text_part.get_content_type() == "text/plain"
    assert text_part.get_content().replace("\r\n", "\n") == EXPECTED_TEXT + "\n"
    assert related.get_content_type() == "multipart/related"
    html_part, png_part = list(related.iter_parts())
    assert png_part.get_content_type() == "image/png"
    assert png_part.get_content_disposition() == "inline"
    cid = png_part["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    png = png_part.get_content()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == result.digest.chart_png
    assert "OpenAI budget &#x27;prod&#x27; at 104% ($5,210 of $5,000)" in html_part.get_content()


def test_digest_text_is_deterministic_and_exact(tmp_path: Path) -> None:
    cfg = prepare(tmp_path, "")
    d = run_digest(cfg, NOW, send=False, chart=False).digest
    assert d.title == "LLM spend digest for Wed 25 Nov 2026: $159.50"
    assert d.total == Decimal("159.50")
    assert d.series["anthropic"][-1] == Decimal("25.50") and len(d.days) == 30
    assert d.days[0] == date(2026, 10, 27) and d.days[-1] == date(2026, 11, 25)
    # Budget: Nov 1..25 spent: gpt-4.1 25×60 + (10+…+34) = 2,050, mini 25×40 = 1,000; 3,050 ÷ 25 complete days × 30.
    (b,) = d.budgets
    assert (b.spent, b.forecast, b.forecast_basis) == (Decimal("3050.00"), Decimal("3660.00"), "pace")


@pytest.mark.usefixtures("secrets_env")
def test_digest_slack_bot_uploads_chart_and_hooks_get_sparkline(tmp_path: Path, slack: SlackServer,
                                                                 hook: WebhookServer) -> None:
    cfg = prepare(tmp_path, SLACK_BOT.format(api=slack.api_url) + SLACK_HOOK + WEBHOOK)
    result = run_digest(cfg, NOW, send=True)
    assert (sorted(result.sent), result.problems) == (["hook", "slack-bot", "slack-hook"], [])
    (post,) = [r.form() for r in slack.routed("/chat.postMessage")]
    assert post["text"] == result.digest.title and post["channel"] == "#llm-spend"
    assert not any("```" in b.get("text", {}).get("text", "") for b in post["blocks"])  # the chart carries it
    assert slack.uploads["F0CHART1"] == result.digest.chart_png
    (complete,) = [r.form() for r in slack.routed("/files.completeUploadExternal")]
    assert complete["channel_id"] == SlackServer.CHANNEL_ID  # the ID chat.postMessage answered with
    (hooked,) = [r.json() for r in slack.routed("/hookSECRETa1b2c3d4e5f6")]
    assert any("```" in b["text"]["text"] and "max $159.50/day" in b["text"]["text"] for b in hooked["blocks"]
               if b["type"] == "section")
    (payload,) = hook.payloads()
    assert payload["kind"] == "digest" and payload["total"] == "159.50"
    assert payload["sparkline"][0].startswith("total     ▇▇▇▇▆▆▇")
    assert payload["daily"]["cost_usd"]["anthropic"][-1] == "25.50"
    assert payload["open_alerts"][0]["title"] == "OpenAI budget 'prod' at 104% ($5,210 of $5,000)"


@pytest.mark.usefixtures("secrets_env")
def test_digest_cli(tmp_path: Path, cli: Any, hook: WebhookServer) -> None:
    prepare(tmp_path, WEBHOOK)
    path = str(tmp_path / "spendwatch.toml")
    r = cli("--config", path, "digest", "--at", "2026-11-26T08:00:00Z", "--chart", str(tmp_path / "c.png"))
    assert r.code == 0 and r.out == EXPECTED_TEXT + "\n"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert hook.requests == []
    hook.fail = [(502, b"")]
    r = cli("--config", path, "digest", "--send", "--at", "2026-11-26T08:00:00Z")
    assert r.code == 1 and r.err == "spendwatch: sink hook: webhook answered HTTP 502 Bad Gateway; digest not delivered\n"
    r = cli("--config", path, "digest", "--send", "--at", "2026-11-26T08:00:00Z")
    assert (r.code, r.out) == (0, "digest sent to hook\n")


def test_sparkline() -> None:
    assert sparkline([Decimal(0), Decimal(1), Decimal(7)]) == " ▂█"
    assert sparkline([Decimal(0), Decimal(0)]) == "▁▁"


def test_yesterday_is_decided_in_daemon_timezone(tmp_path: Path) -> None:
    from dataclasses import replace

    cfg = prepare(tmp_path, "")
    cfg = replace(cfg, daemon=replace(cfg.daemon, timezone="America/Los_Angeles"))
    at = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 22:00 on 25 Nov in Los Angeles
    d = run_digest(cfg, at, send=False, chart=False).digest
    assert d.day == date(2026, 11, 24)
    assert d.total == Decimal(93) + Decimal(40) + Decimal("25.50")  # gpt-4.1 on day 33 is $93
