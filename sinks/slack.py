"""Slack sink: an incoming webhook, or a bot token posting with chat.postMessage.

Config (docs/design.md): `webhook_url_env`/`webhook_url_file` for an incoming webhook, *or* `token_env`/
`token_file` + `channel` (+ `base_url`, default https://slack.com/api/, pointed at a local server in
tests) for a bot. A message is Block Kit: a header, one section per alert (what and how much, observed vs
expected/budget, the period), the drivers as context, "and N more" past the cap, and a plain-text `text`
fallback for notifications and clients without blocks.

Acceptance (docs/sinks-delivery.md): a message counts as delivered only on Slack's own word for it. The
incoming webhook must answer HTTP 200 with the body `ok`; chat.postMessage must answer HTTP 200 with a
JSON object whose `ok` is `true`. Both are posted with httpx and redirects are *not* followed: slack-sdk
(urllib) turned a 302 into a GET of whatever page the redirect named and reported that page's 200 as the
answer, so an alert was recorded as delivered that Slack never saw (issue 12). A 429 is waited out inside
one attempt (Retry-After, at most twice, each wait at most MAX_RETRY_AFTER seconds).

Errors: redirects, 5xx, 429 past the waits, timeouts, connection failures, and a 200 whose body is not an
acceptance (HTML from a proxy or portal, an empty body) are retryable; Slack error codes (`invalid_token`,
`no_service`, `channel_not_found`, `invalid_auth`, …) are permanent unless Slack marks them transient
(RETRYABLE_API_ERRORS), and so is any other 4xx. Messages name the sink and the Slack method, never the
webhook URL (its path is the credential) or the token, and never repeat a server's text beyond an error code.

The daily digest chart (PNG) needs files.* API access, so it is uploaded only with a bot token (after the
message, into the channel ID chat.postMessage answered with) with slack-sdk's files_upload_v2; an incoming
webhook cannot carry files and gets the text sparkline instead.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from spendwatch.contracts import SinkBase
from spendwatch.delivery import DeliveryOptions
from spendwatch.errors import PermanentSinkError, RetryableSinkError
from spendwatch.findings import Finding
from spendwatch.notice import Notice, driver_lines, figures, headline, period_text, render_text, summary
from spendwatch.redact import redact, register_secret
from spendwatch.values import Secret

from . import SINKS

SLACK_BLOCK_LIMIT = 50   # Slack refuses messages with more blocks
PER_ALERT_BLOCKS = 3     # section, context (drivers), divider
MAX_SECTION_TEXT = 2900  # Slack's limit is 3000 characters per section text
RETRYABLE_API_ERRORS = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                        "request_timeout", "rollup_error"}
RATE_LIMIT_WAITS = 2     # 429s waited out inside one attempt (as slack-sdk's RateLimitErrorRetryHandler did)
MAX_RETRY_AFTER = 10.0   # seconds; a longer Retry-After ends the attempt (retryable) instead of holding the run:
#                          two such waits per attempt stay inside the 60 s cushion of the claim's lease (alerts.lease)
SEVERITY_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_sdk_log = logging.getLogger("spendwatch.sinks.slack_sdk")
# slack-sdk logs the request URL (a webhook's credential) at DEBUG and a server's raw answer at ERROR; we
# report every failure ourselves, in our words, so its own log lines are kept out.
_sdk_log.setLevel(logging.CRITICAL)


@SINKS.register("slack")
class SlackSink(SinkBase):
    @dataclass(frozen=True, kw_only=True)
    class Options(DeliveryOptions):
        webhook_url: Secret | None = None   # webhook_url_env / webhook_url_file: an incoming webhook
        token: Secret | None = None         # token_env / token_file: a bot token (xoxb-…)
        channel: str | None = None          # with a token: "#llm-spend" or a channel ID
        base_url: str = "https://slack.com/api/"

        def __post_init__(self) -> None:
            super().__post_init__()
            if (self.webhook_url is None) == (self.token is None):
                raise ValueError("set either webhook_url_env (an incoming webhook) or token_env + channel (a bot)")
            if self.token is not None and not self.channel:
                raise ValueError("channel is required with token_env/token_file")
            if self.max_alerts * PER_ALERT_BLOCKS + 4 > SLACK_BLOCK_LIMIT:
                raise ValueError(f"max_alerts at most {(SLACK_BLOCK_LIMIT - 4) // PER_ALERT_BLOCKS} for Slack "
                                 f"(a message holds {SLACK_BLOCK_LIMIT} blocks)")

    supports_digest = True

    def __init__(self, config: Any) -> None:
        self.name = config.name
        self.options: SlackSink.Options = config.options

    # ------------------------------------------------------------------------------------------ sending
    def send(self, items: Sequence[Finding | Notice]) -> None:
        notes = [Notice.of(x) for x in items]
        self._post(text=self._fallback(notes), blocks=alert_blocks(notes, self.options.max_alerts))

    def send_digest(self, digest: Any) -> None:
        o = self.options
        blocks = digest_blocks(digest, with_sparkline=o.token is None or digest.chart_png is None)
        response = self._post(text=digest.title, blocks=blocks)
        if o.token is not None and digest.chart_png is not None:
            channel_id = (response or {}).get("channel") or o.channel
            self._api("files_upload_v2", channel=channel_id, file=digest.chart_png,
                      filename=digest.chart_filename, title=digest.chart_title,
                      alt_txt=digest.chart_title)

    def _fallback(self, notes: list[Notice]) -> str:
        return f"spendwatch: {summary(notes)}\n" + render_text(notes, cap=self.options.max_alerts)

    def _post(self, *, text: str, blocks: list[dict[str, Any]]) -> dict[str, Any] | None:
        o = self.options
        if o.webhook_url is not None:
            self._webhook(text, blocks)
            return None
        return self._post_message(channel=o.channel, text=text, blocks=blocks)

    def _webhook(self, text: str, blocks: list[dict[str, Any]]) -> None:
        """Accepted only on HTTP 200 with the body `ok` (what Slack's incoming webhook answers)."""
        url = self.options.webhook_url.get()  # type: ignore[union-attr]
        path = urlsplit(url).path               # the path is the credential: mask it (and its last part) alone too
        register_secret(path)
        register_secret(path.rstrip("/").rsplit("/", 1)[-1])
        where = "Slack webhook"
        resp = self._send_http(where, url, {"text": text, "blocks": blocks}, {})
        status, body = resp.status_code, resp.text.strip()
        if status == 200 and body == "ok":
            return
        code = _code(body)
        if 300 <= status < 400:
            raise RetryableSinkError(self.name, f"{where} answered a redirect (HTTP {status}), not followed")
        if status >= 500 or status in (408, 429):
            raise RetryableSinkError(self.name, f"{where} answered HTTP {status} ({code})")
        if code in RETRYABLE_API_ERRORS or (status < 400 and code == "unexpected answer"):
            raise RetryableSinkError(self.name, f"{where} answered HTTP {status} ({code}) instead of \"ok\"")
        raise PermanentSinkError(self.name, f"{where} refused the message: HTTP {status} ({code})")

    def _post_message(self, **payload: Any) -> dict[str, Any]:
        """chat.postMessage; accepted only on HTTP 200 with a JSON object whose `ok` is true."""
        token = self.options.token.get()  # type: ignore[union-attr]
        where = f"Slack chat.postMessage to {payload['channel']}"
        url = urljoin(self.options.base_url, "chat.postMessage")
        resp = self._send_http(where, url, payload, {"Authorization": f"Bearer {token}"})
        status = resp.status_code
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
        if status == 200 and data.get("ok") is True:
            return data
        error = _code(data.get("error"))
        if 300 <= status < 400:
            raise RetryableSinkError(self.name, f"{where} answered a redirect (HTTP {status}), not followed")
        if status >= 500 or status in (408, 429) or error in RETRYABLE_API_ERRORS:
            raise RetryableSinkError(self.name, f"{where} failed: {error} (HTTP {status})")
        if status >= 400 or (data.get("ok") is False and error != "unexpected answer"):
            raise PermanentSinkError(self.name, f"{where} refused: {error} (HTTP {status})")
        raise RetryableSinkError(self.name, f"{where} failed: {error} (HTTP {status})")  # 200, but no verdict

    def _send_http(self, where: str, url: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
        """POST JSON without following redirects; wait out up to RATE_LIMIT_WAITS 429s. Returns the last
        response; transport failures become retryable errors that name `where` and nothing of the URL."""
        import httpx

        from spendwatch.http import parse_retry_after

        body = json.dumps(payload).encode()
        headers = {**headers, "Content-Type": "application/json; charset=utf-8", "User-Agent": "spendwatch"}
        timeout = self.options.timeout.total_seconds()
        for waits in range(RATE_LIMIT_WAITS + 1):
            try:
                with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                    resp = client.post(url, content=body, headers=headers)
            except httpx.TimeoutException:
                raise RetryableSinkError(self.name, f"{where} unreachable (timed out)") from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                raise PermanentSinkError(self.name, f"{where}: the configured URL is not an http(s) URL") from None
            except httpx.HTTPError as exc:
                raise RetryableSinkError(self.name, f"{where} unreachable ({type(exc).__name__})") from None
            if resp.status_code != 429 or waits == RATE_LIMIT_WAITS:
                return resp
            wait = parse_retry_after(resp.headers.get("Retry-After"))
            wait = 1.0 if wait is None else wait
            if wait > MAX_RETRY_AFTER:
                return resp
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _api(self, method: str, **kwargs: Any) -> Any:
        """A Slack Web API call through slack-sdk (used for the digest chart upload only)."""
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError, SlackRequestError
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        client = WebClient(token=self.options.token.get(), base_url=self.options.base_url,  # type: ignore[union-attr]
                           timeout=self.options.timeout.total_seconds(), logger=_sdk_log,  # type: ignore[arg-type]
                           retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
        where = f"Slack {method.replace('_', '.', 1)}"
        if kwargs.get("channel"):
            where += f" to {kwargs['channel']}"
        try:
            return getattr(client, method)(**kwargs)
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", 0) or 0
            error = _api_error(exc.response)
            if status >= 500 or status == 429 or error in RETRYABLE_API_ERRORS:
                raise RetryableSinkError(self.name, f"{where} failed: {error} (HTTP {status})") from None
            raise PermanentSinkError(self.name, f"{where} refused: {error} (HTTP {status})") from None
        except SlackRequestError as exc:  # e.g. the file upload URL answered non-200
            raise RetryableSinkError(self.name, f"{where} failed ({redact(str(exc))[:120]})") from None
        except Exception as exc:
            raise RetryableSinkError(self.name, f"{where} unreachable ({_why(exc)})") from None


def _code(text: Any) -> str:
    """Slack's error code ("invalid_auth", "no_service"); anything else a server says is not repeated,
    because it could echo what we sent."""
    text = str(text or "").strip()
    return text if re.fullmatch(r"[a-z0-9_]{1,60}", text) else "unexpected answer"


def _api_error(response: Any) -> str:
    try:
        data = response.data if isinstance(response.data, dict) else {}
        return _code(data.get("error"))
    except Exception:
        return "unexpected answer"


def _why(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason) if reason is not None else (str(exc) or type(exc).__name__)
    if "timed out" in text.lower() or isinstance(exc, TimeoutError):
        return "timed out"
    return redact(f"{type(exc).__name__}: {text}")[:120]


# ------------------------------------------------------------------------------------------- Block Kit


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:MAX_SECTION_TEXT]}


def _esc(text: str) -> str:
    """Slack mrkdwn control characters (a team called "R&D", a model "<custom>")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_blocks(notes: Sequence[Notice], cap: int) -> list[dict[str, Any]]:
    """Header, one section + drivers context per alert, 'and N more' past the cap."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(f"spendwatch: {summary(notes)}")}]
    for n in notes[:cap]:
        icon = ":white_check_mark:" if n.status == "resolved" else SEVERITY_ICON.get(n.severity, "")
        label = "resolved" if n.status == "resolved" else n.severity + (", escalated" if n.escalated else "")
        section: dict[str, Any] = {"type": "section",
                                   "text": _md(f"{icon} *{_esc(headline(n))}* ({label})\n{_esc(n.message)}"
                                               + "".join(f"\n:shield: {_esc(a)}" for a in n.actions))}
        fields = [_md(f"*{k}*\n{v}") for k, v in figures(n)]
        if period_text(n):
            fields.append(_md(f"*Period*\n{period_text(n)}"))
        if fields:
            section["fields"] = fields[:10]
        blocks.append(section)
        drivers = driver_lines(n)
        if drivers:
            blocks.append({"type": "context", "elements": [_md("*Drivers:* " + _esc("; ".join(drivers)))]})
        blocks.append({"type": "divider"})
    if len(notes) > cap:
        blocks.append({"type": "context", "elements": [_md(f"and {len(notes) - cap} more (see `spendwatch sql "
                                                           f"\"SELECT * FROM alerts WHERE state = 'open'\"`)")]})
    return blocks


def digest_blocks(digest: Any, *, with_sparkline: bool) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(digest.title)}]
    for title, lines in digest.sections():
        if lines:
            blocks.append({"type": "section", "text": _md(f"*{_esc(title)}*\n" + _esc("\n".join(lines)))})
    if with_sparkline and digest.sparkline_lines:
        blocks.append({"type": "section", "text": _md("*Last 30 days*\n```" + "\n".join(digest.sparkline_lines) + "```")})
    return blocks[:SLACK_BLOCK_LIMIT]
