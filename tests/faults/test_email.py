"""The email sink against an SMTP server (aiosmtpd) that rejects, tempfails, drops the connection, answers
too late or refuses some or all recipients, through the real alert pipeline and a real DuckDB store
(issue 12, defect 1 for email, and acceptance 2).

Delivery counts only on the server's final 250 to the whole message for every recipient; after the server
recovers each alert is delivered exactly once, to each recipient once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from spendwatch.alerts import deliver
from tests.sinks.helpers import EMAIL_PLAIN, T0, write_config

from .conftest import SMTP_FAULTS
from .test_http_sinks import FINDINGS, KEYS, deliveries, snapshot

RECIPIENTS = ["cto@example.com", "finops@example.com"]

EXPECTED = {  # fault → (error kind, what the problem line says)
    "reject": ("permanent", "refused the message: 554 5.7.1 Message rejected as spam"),
    "tempfail": ("retryable", "refused the message: 451 4.3.0 Temporary local problem"),
    "drop": ("retryable", "dropped the connection"),
    "slow": ("retryable", "timed out waiting for the server's reply"),
    "rcpt-reject-all": ("permanent", "refused 2 of 2 recipients (550); nothing sent"),
    "rcpt-temp-one": ("retryable", "refused 1 of 2 recipients (450); nothing sent"),
    "rcpt-perm-one": ("permanent", "refused 1 of 2 recipients (550); nothing sent"),
    "sender-reject": ("permanent", "refused the message: 553 5.7.1 Sender address rejected"),
}


@pytest.mark.parametrize("fault", SMTP_FAULTS)
def test_smtp_fault_is_not_delivered_then_delivered_once(tmp_path: Path, smtp: Any, fault: str) -> None:
    _, cfg = write_config(tmp_path, EMAIL_PLAIN.format(port=smtp.port))
    smtp.faults = [fault]
    (line,) = deliver(cfg, FINDINGS, T0)
    kind, why = EXPECTED[fault]
    assert smtp.faults == [], "the sink never met the fault"
    assert smtp.mails == []
    assert line.startswith(f"sink mail: SMTP 127.0.0.1:{smtp.port} {why}"), line
    assert snapshot(cfg) == ([(k, False, kind, 1) for k in KEYS], [(k, [], 1) for k in KEYS])

    assert deliver(cfg, FINDINGS, T0) == []
    assert deliver(cfg, FINDINGS, T0) == []
    (mail,) = smtp.mails
    assert sorted(mail.rcpt_tos) == RECIPIENTS  # each recipient exactly once
    assert "(+1 more)" in mail.message()["Subject"]
    assert snapshot(cfg) == ([(k, True, None, 2) for k in KEYS], [(k, ["mail"], 0) for k in KEYS])


@pytest.mark.parametrize("when", ["at-connect", "after-greeting"])
def test_smtp_connection_reset(tmp_path: Path, smtp: Any, when: str) -> None:
    """A server that resets the connection (before or right after its greeting), then recovers."""
    import struct

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if when == "after-greeting":
                conn.sendall(b"220 127.0.0.1 ESMTP\r\n")
                conn.recv(1024)  # EHLO
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        path, cfg = write_config(tmp_path, EMAIL_PLAIN.format(port=port))
        (line,) = deliver(cfg, FINDINGS, T0)
    finally:
        stop.set()
        with contextlib.suppress(OSError):  # wakes the accept() a plain close() leaves blocked until the join times out
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        t.join(timeout=5)
    assert line.startswith(f"sink mail: SMTP 127.0.0.1:{port} "), line
    assert deliveries(cfg) == [(k, False, "retryable", 1) for k in KEYS]
    # The relay comes back (on the real server's port): exactly one message.
    Path(path).write_text(Path(path).read_text().replace(f"port = {port}", f"port = {smtp.port}"))
    from spendwatch.app import load_config

    cfg = load_config(path)
    assert deliver(cfg, FINDINGS, T0) == []
    assert deliver(cfg, FINDINGS, T0) == []
    (mail,) = smtp.mails
    assert sorted(mail.rcpt_tos) == RECIPIENTS
    assert deliveries(cfg) == [(k, True, None, 2) for k in KEYS]
