"""Fault-injecting local servers for every sink: the recording servers of tests/sinks/conftest.py, taught
to misbehave the ways a real network does.

HTTP (Slack incoming webhook, Slack Web API, generic webhook), one scripted fault per message request:

    redirect       302 to a landing page that answers 200 HTML (a captive portal, a moved or retired URL)
    redirect-ok    302 to a page that answers exactly what a success looks like ("ok", or {"ok": true})
    redirect-307   307 (method-preserving) to that same success page
    html           200 with an HTML page (a proxy's login page, a CDN's error page)
    timeout        the answer comes only after the sink's timeout (the server does not count it accepted)
    reset          the request is read, then the connection is reset (RST) without an answer
    (status, body) a literal answer, e.g. (403, b"invalid_token")

SMTP (aiosmtpd), one scripted fault per transaction, chosen at MAIL FROM:

    reject            554 to the end of DATA          tempfail      451 to the end of DATA
    drop              the connection is cut after the message, before the final reply
    slow              the final reply comes after the sink's timeout
    rcpt-reject-all   550 for every recipient         rcpt-temp-one 450 for cto@ only, 250 for the others
    rcpt-perm-one     550 for cto@ only               sender-reject 553 to MAIL FROM

A server counts a message accepted only when it answered success in time: that is what "delivered exactly
once" is measured against. Landing-page hits are recorded apart, to show whether a sink followed a redirect.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.sinks.conftest import (
    Mail,
    SlackServer,
    SMTPServer,
    WebhookServer,
    _free_port,
    _Handler,
    _serve,
    _SMTPHandler,
)

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
             b"<body><form action=\"/login\">Please sign in to continue</form></body></html>")
LANDING = {"/landing-html": ("text/html; charset=utf-8", HTML_PAGE),
           "/landing-ok": ("text/plain", b"ok"),
           "/landing-json": ("application/json; charset=utf-8",
                             json.dumps({"ok": True, "channel": "C0SPEND42", "ts": "1.2"}).encode())}
HTTP_FAULTS = ["redirect", "redirect-ok", "redirect-307", "html", "timeout", "reset"]


class _FaultHandler(_Handler):
    server: Any

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path in LANDING:  # the page a redirect points to: never a place a message is accepted
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with self.server.lock:
                self.server.landing.append((self.command, path, body))
            ctype, payload = LANDING[path]
            self._reply(200, {"Content-Type": ctype}, payload)
            return
        fault = self.server.take_fault(path)
        if fault is None:
            super().do_POST()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        ok_page = "/landing-json" if path.endswith("chat.postMessage") else "/landing-ok"
        if fault == "redirect":
            self._reply(302, {"Location": f"{self.server.base}/landing-html"}, b"")
        elif fault == "redirect-ok":
            self._reply(302, {"Location": f"{self.server.base}{ok_page}"}, b"")
        elif fault == "redirect-307":
            self._reply(307, {"Location": f"{self.server.base}{ok_page}"}, b"")
        elif fault == "html":
            self._reply(200, {"Content-Type": "text/html; charset=utf-8"}, HTML_PAGE)
        elif fault == "timeout":
            time.sleep(self.server.delay)
            try:
                self._reply(200, {}, b"ok")
            except OSError:
                pass
        elif fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif isinstance(fault, tuple):
            status, payload, *extra = fault
            self._reply(status, {"Content-Type": "text/plain", **(extra[0] if extra else {})}, payload)
        else:
            raise AssertionError(f"unknown fault {fault!r}")

    do_GET = do_POST


class _Faults:
    """Mixed into a recording server: `faults` are consumed one per request to a message route."""

    routes: tuple[str, ...] = ()
    lock: threading.Lock

    def setup_faults(self) -> None:
        self.RequestHandlerClass = _FaultHandler
        self.faults: list[Any] = []
        self.landing: list[tuple[str, str, bytes]] = []
        self.delay = 1.6  # the sinks' timeout is 1s in these tests

    def take_fault(self, path: str) -> Any:
        with self.lock:
            if self.faults and any(path.endswith(r) for r in self.routes):
                return self.faults.pop(0)
        return None


class FaultySlack(_Faults, SlackServer):
    routes: tuple[str, ...] = ("/chat.postMessage",)

    def __init__(self) -> None:
        super().__init__()
        self.routes = (f"/{self.hook_url.rsplit('/', 1)[1]}", "/chat.postMessage")
        self.setup_faults()


class FaultyWebhook(_Faults, WebhookServer):
    def __init__(self) -> None:
        super().__init__()
        self.routes = (urlsplit(self.url).path,)
        self.setup_faults()


@pytest.fixture
def slack() -> Iterator[FaultySlack]:
    yield from _serve(FaultySlack())


@pytest.fixture
def hook() -> Iterator[FaultyWebhook]:
    yield from _serve(FaultyWebhook())


# ------------------------------------------------------------------------------------------------ SMTP


class FaultySMTP(SMTPServer):
    faults: list[str]


class _FaultSMTPHandler(_SMTPHandler):
    """Takes one fault per transaction at MAIL FROM and acts it out at RCPT or at the end of DATA."""

    server: Any

    async def handle_MAIL(self, smtp: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        session.fault = self.server.faults.pop(0) if self.server.faults else None
        if session.fault == "sender-reject":
            return "553 5.7.1 Sender address rejected"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        fault: str | None = getattr(session, "fault", None)
        if fault == "rcpt-reject-all" or (fault == "rcpt-perm-one" and address.startswith("cto@")):
            return "550 5.1.1 No such user here"
        if fault == "rcpt-temp-one" and address.startswith("cto@"):
            return "450 4.2.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        fault = getattr(session, "fault", None)
        if fault == "reject":
            return "554 5.7.1 Message rejected as spam"
        if fault == "tempfail":
            return "451 4.3.0 Temporary local problem, try again later"
        if fault == "drop":  # the server goes away before it answers the message: nothing was accepted
            smtp.transport.abort()
            return "421 4.3.2 gone"
        if fault == "slow":  # the answer arrives after the client gave up: not counted as accepted
            await asyncio.sleep(self.server.delay)
            return "250 OK"
        self.server.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                      or envelope.content, bool(session.ssl), None))
        return "250 OK"


SMTP_FAULTS = ["reject", "tempfail", "drop", "slow", "rcpt-reject-all", "rcpt-temp-one", "rcpt-perm-one",
               "sender-reject"]


@pytest.fixture
def smtp() -> Iterator[Any]:
    from aiosmtpd.controller import Controller

    server = FaultySMTP("127.0.0.1", _free_port())
    server.faults = []
    server.delay = 1.6  # type: ignore[attr-defined]
    controller = Controller(_FaultSMTPHandler(server), hostname="127.0.0.1", port=server.port, ready_timeout=5)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, slack: FaultySlack, hook: FaultyWebhook) -> None:
    from tests.sinks.conftest import SLACK_BOT_TOKEN, WEBHOOK_HMAC

    monkeypatch.setenv("SW_SLACK_HOOK", slack.hook_url)
    monkeypatch.setenv("SW_SLACK_BOT", SLACK_BOT_TOKEN)
    monkeypatch.setenv("SW_HOOK_URL", hook.url)
    monkeypatch.setenv("SW_HOOK_SECRET", WEBHOOK_HMAC)
