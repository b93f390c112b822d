"""SMTP with TLS and login against aiosmtpd (acceptance 3): STARTTLS + AUTH LOGIN with a self-signed
certificate trusted through `ca_file` only; implicit TLS; and the failures a human must fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spendwatch.alerts import deliver

from .conftest import SMTP_PASSWORD, SMTP_USER, start_smtp
from .helpers import FAST, T0, budget, spike, write_config

TLS_SINK = """
[[sinks]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {port}
security = "{security}"
username_env = "SW_SMTP_USER"
password_env = "SW_SMTP_PASSWORD"
from = "spendwatch@example.com"
to = ["finops@example.com"]
min_severity = "info"
{ca}
""" + FAST


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SW_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SW_SMTP_PASSWORD", SMTP_PASSWORD)


@pytest.mark.usefixtures("smtp_env")
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: it is TLS
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_login(tmp_path: Path, tls_cert: Any, security: str) -> None:
    server, controller = start_smtp(tls=tls_cert, mode=security)
    try:
        _, cfg = write_config(tmp_path, TLS_SINK.format(port=server.port, security=security,
                                                        ca=f'ca_file = "{tls_cert[0]}"'))
        assert deliver(cfg, [budget(), spike()], T0) == []
    finally:
        controller.stop()
    (mail,) = server.mails
    assert mail.tls is (security == "starttls")  # implicit TLS: SMTP_SSL could not have talked otherwise
    assert server.logins == [("LOGIN", SMTP_USER, SMTP_PASSWORD)]
    msg = mail.message()
    assert msg["From"] == "spendwatch@example.com" and msg["To"] == "finops@example.com"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    html = msg.get_body(("html",)).get_content()
    assert "OpenAI budget &#x27;prod&#x27; at 82% ($4,121 of $5,000)" in html


@pytest.mark.usefixtures("smtp_env")
def test_untrusted_certificate_is_permanent(tmp_path: Path, tls_cert: Any) -> None:
    server, controller = start_smtp(tls=tls_cert, mode="starttls")
    try:
        _, cfg = write_config(tmp_path, TLS_SINK.format(port=server.port, security="starttls", ca=""))
        (line,) = deliver(cfg, [budget()], T0)
    finally:
        controller.stop()
    assert line.startswith(f"sink mail: SMTP 127.0.0.1:{server.port}: TLS certificate not trusted (")
    assert "set ca_file for a private CA (permanent: fix the sink's config; 1 alert(s) held" in line
    assert server.mails == []


@pytest.mark.usefixtures("smtp_env")
def test_wrong_password_is_permanent_and_not_quoted(tmp_path: Path, tls_cert: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SW_SMTP_PASSWORD", "wrong-SECRET-pass")
    server, controller = start_smtp(tls=tls_cert, mode="starttls")
    try:
        _, cfg = write_config(tmp_path, TLS_SINK.format(port=server.port, security="starttls",
                                                        ca=f'ca_file = "{tls_cert[0]}"'))
        (line,) = deliver(cfg, [budget()], T0)
    finally:
        controller.stop()
    assert line == (f"sink mail: SMTP 127.0.0.1:{server.port} refused the login (535) "
                    "(permanent: fix the sink's config; 1 alert(s) held, see `spendwatch status`)")


@pytest.mark.usefixtures("smtp_env")
def test_starttls_required_but_server_plain_is_permanent(tmp_path: Path) -> None:
    server, controller = start_smtp(mode="none")
    try:
        _, cfg = write_config(tmp_path, TLS_SINK.format(port=server.port, security="starttls", ca=""))
        (line,) = deliver(cfg, [budget()], T0)
    finally:
        controller.stop()
    assert line.startswith(f"sink mail: SMTP 127.0.0.1:{server.port}: STARTTLS extension not supported by server")
    assert "(permanent" in line
