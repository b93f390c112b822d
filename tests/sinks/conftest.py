"""Real local servers for the sink tests: Slack (incoming webhook + Web API routes used by chat.postMessage
and files_upload_v2), a generic webhook receiver, and SMTP (aiosmtpd, optionally STARTTLS/implicit TLS
with a self-signed certificate made here by the openssl CLI, and AUTH LOGIN).

Servers record what they accepted; `fail` holds scripted answers consumed one per request (an HTTP status,
or "timeout" to answer only after the client gave up), so a test can make a sink "down" for one run.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

SLACK_HOOK_TOKEN = "hookSECRETa1b2c3d4e5f6"          # the secret part of an incoming-webhook URL
SLACK_BOT_TOKEN = "xoxb-1111-2222-botSECRETtoken"
WEBHOOK_URL_TOKEN = "whSECRETpathtoken99"
WEBHOOK_HMAC = "hmacSECRETkey-7f3a"
SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "smtpSECRETpass!42"
PROVIDER_KEY = "sk-admin-providerSECRETkey123456"
ALL_SECRETS = [SLACK_HOOK_TOKEN, SLACK_BOT_TOKEN, WEBHOOK_URL_TOKEN, WEBHOOK_HMAC, SMTP_PASSWORD, PROVIDER_KEY]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """Slack Web API calls arrive as JSON, a form body, or query parameters."""
        out = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            out.update(json.loads(self.body or b"{}"))
        elif self.body:
            out.update({k: v[0] for k, v in parse_qs(self.body.decode()).items()})
        return out


class HTTPRecorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []
        self.fail: list[Any] = []          # consumed by `route`d calls: int status or "timeout"
        self.fail_on: dict[str, list[Any]] = {}  # route suffix → scripted answers for that route only
        self.delay = 1.6                    # "timeout" sleeps this long (sink timeouts are 1s in tests)
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def routed(self, route: str) -> list[Request]:
        return [r for r in self.requests if urlsplit(r.path).path.endswith(route)]

    def take_failure(self, route: str) -> Any:
        with self.lock:
            for suffix, answers in self.fail_on.items():
                if route.endswith(suffix) and answers:
                    return answers.pop(0)
            if self.fail:
                return self.fail.pop(0)
        return None

    def answer(self, req: Request) -> tuple[int, dict[str, str], bytes]:  # overridden
        return 200, {}, b"ok"


class _Handler(BaseHTTPRequestHandler):
    server: HTTPRecorder

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.path, dict(self.headers.items()), body)
        failure = self.server.take_failure(urlsplit(self.path).path)
        if failure == "timeout":
            time.sleep(self.server.delay)
            status, headers, payload = 200, {}, b"ok"
            try:
                self._reply(status, headers, payload)
            except OSError:
                pass
            return  # the client gave up: not accepted, not recorded
        if isinstance(failure, tuple):  # (status, body) or (status, body, headers)
            status, payload, *extra = failure
            self._reply(status, {"Content-Type": "text/plain", **(extra[0] if extra else {})}, payload)
            return
        if isinstance(failure, int):
            self._reply(failure, {"Content-Type": "text/plain"}, b"server_error")
            return
        status, headers, payload = self.server.answer(req)
        if status < 300 and b'"ok": false' not in payload:  # only what the server accepted
            with self.server.lock:
                self.server.requests.append(req)
        self._reply(status, headers, payload)

    do_GET = do_POST

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class SlackServer(HTTPRecorder):
    """Speaks Slack's incoming webhook (POST /services/T…/B…/token → "ok") and the Web API methods
    chat.postMessage, files.getUploadURLExternal, the upload URL, files.completeUploadExternal, files.info."""

    CHANNEL_ID = "C0SPEND42"

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, bytes] = {}

    @property
    def hook_url(self) -> str:
        return f"{self.base}/services/T0001/B0002/{SLACK_HOOK_TOKEN}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def messages(self) -> list[dict[str, Any]]:
        """Every accepted message, from either route."""
        out = [r.json() for r in self.routed(f"/{SLACK_HOOK_TOKEN}")]
        out += [r.form() for r in self.routed("/chat.postMessage")]
        return out

    def answer(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(req.path).path
        js = {"Content-Type": "application/json; charset=utf-8"}
        if path.startswith("/services/"):
            if not path.endswith(SLACK_HOOK_TOKEN):
                return 404, {}, b"no_service"
            return 200, {"Content-Type": "text/html"}, b"ok"
        if path.startswith("/upload/"):
            self.uploads[path.rsplit("/", 1)[1]] = req.body
            return 200, {}, b"OK - 1"
        if req.headers.get("Authorization") != f"Bearer {SLACK_BOT_TOKEN}":
            return 200, js, json.dumps({"ok": False, "error": "invalid_auth"}).encode()
        method = path.rsplit("/", 1)[1]
        if method == "chat.postMessage":
            f = req.form()
            if not f.get("channel"):
                return 200, js, json.dumps({"ok": False, "error": "channel_not_found"}).encode()
            return 200, js, json.dumps({"ok": True, "channel": self.CHANNEL_ID, "ts": "1700000000.000100"}).encode()
        if method == "files.getUploadURLExternal":
            return 200, js, json.dumps({"ok": True, "upload_url": f"{self.base}/upload/F0CHART1",
                                        "file_id": "F0CHART1"}).encode()
        if method == "files.completeUploadExternal":
            f = req.form()
            files = json.loads(f["files"]) if isinstance(f.get("files"), str) else f.get("files")
            return 200, js, json.dumps({"ok": True, "files": [{"id": x["id"], "title": x.get("title")} for x in files]}).encode()
        if method == "files.info":
            return 200, js, json.dumps({"ok": True, "file": {"id": "F0CHART1"}}).encode()
        return 200, js, json.dumps({"ok": False, "error": "unknown_method"}).encode()


class WebhookServer(HTTPRecorder):
    @property
    def url(self) -> str:
        return f"{self.base}/hooks/{WEBHOOK_URL_TOKEN}"

    def answer(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        if not urlsplit(req.path).path.endswith(WEBHOOK_URL_TOKEN):
            return 404, {}, b"not found"
        return 202, {}, b""

    def payloads(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests]


def _serve(server: HTTPRecorder) -> Iterator[Any]:
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    yield from _serve(SlackServer())


@pytest.fixture
def hook() -> Iterator[WebhookServer]:
    yield from _serve(WebhookServer())


# ------------------------------------------------------------------------------------------------ SMTP


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    auth: tuple[str, str, str] | None  # mechanism, login, password

    def message(self) -> Any:
        from email import message_from_bytes
        from email.policy import default

        return message_from_bytes(self.data, policy=default)


@dataclass
class SMTPServer:
    host: str
    port: int
    mails: list[Mail] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)   # scripted replies to DATA, e.g. "451 4.3.0 try later"
    logins: list[tuple[str, str, str]] = field(default_factory=list)


class _SMTPHandler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self.server.refuse:
            return self.server.refuse.pop(0)
        auth = None
        if session.auth_data is not None:
            auth = self.server.logins[-1] if self.server.logins else None
        self.server.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                      or envelope.content, bool(session.ssl), auth))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 (it is its own CA: trust it with ca_file)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True)
    return cert, key


def start_smtp(*, tls: tuple[Path, Path] | None = None, mode: str = "none") -> tuple[SMTPServer, Any]:
    """mode: none (plain), starttls (STARTTLS required, AUTH LOGIN over TLS), ssl (implicit TLS + AUTH)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    server = SMTPServer("127.0.0.1", _free_port())
    handler = _SMTPHandler(server)

    def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        server.logins.append((mechanism, login, password))
        return AuthResult(success=login == SMTP_USER and password == SMTP_PASSWORD, handled=False)

    kwargs: dict[str, Any] = {}
    if mode != "none":
        assert tls is not None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        kwargs.update(authenticator=authenticator, auth_require_tls=True, auth_required=True,
                      auth_exclude_mechanism=["PLAIN"])  # leaves LOGIN: the mechanism under test
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:  # implicit TLS: aiosmtpd does not mark such sessions as TLS, so it must not gate AUTH on it
            kwargs.update(ssl_context=ctx, auth_require_tls=False)
    controller = Controller(handler, hostname="127.0.0.1", port=server.port, ready_timeout=5, **kwargs)
    controller.start()
    return server, controller


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server, controller = start_smtp()
    try:
        yield server
    finally:
        controller.stop()


# ---------------------------------------------------------------------------------------------- config


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, slack: SlackServer, hook: WebhookServer) -> None:
    monkeypatch.setenv("SW_SLACK_HOOK", slack.hook_url)
    monkeypatch.setenv("SW_SLACK_BOT", SLACK_BOT_TOKEN)
    monkeypatch.setenv("SW_HOOK_URL", hook.url)
    monkeypatch.setenv("SW_HOOK_SECRET", WEBHOOK_HMAC)
    monkeypatch.setenv("SW_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SW_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("SW_PROVIDER_KEY", PROVIDER_KEY)
