"""systemd's notify protocol with the standard library (no libsystemd, no python-systemd).

Why hand-rolled: the protocol is one datagram of `KEY=VALUE` lines sent to the unix socket named by
$NOTIFY_SOCKET (`@name` means the abstract namespace), and a dependency for that would be the only
native one in the daemon. Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op, so the daemon
code never asks "am I under systemd?".

The watchdog interval comes from $WATCHDOG_USEC; $WATCHDOG_PID, when set, must be our pid (otherwise the
watchdog is meant for another process, e.g. our parent, and we must not ping it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger("spendwatch.sdnotify")

# Variables a child process must not inherit: only the main process talks to systemd (NotifyAccess=main).
NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _address(raw: str) -> str | bytes:
    """`@name` → abstract-namespace address (leading NUL byte); anything else is a filesystem path."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


class Notifier:
    """Sends state changes to systemd; silent when not started by systemd (or NOTIFY_SOCKET unusable)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET") or ""
        self.address: str | bytes | None = _address(raw) if raw else None
        self.watchdog_usec = _watchdog_usec(env)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_seconds(self) -> float | None:
        """The watchdog timeout systemd enforces, or None when no watchdog is configured for us."""
        return self.watchdog_usec / 1_000_000 if self.watchdog_usec else None

    def notify(self, **fields: str | int) -> bool:
        """Send e.g. notify(READY=1, STATUS="collecting"); returns whether a datagram went out.

        Values are made single-line (systemd reads one assignment per line). The send never blocks; a
        failure (including a full receive queue) is logged at debug level and swallowed: losing a STATUS
        line must never stop the daemon, and a lost WATCHDOG ping is exactly what the watchdog exists to
        notice.
        """
        if self.address is None:
            return False
        payload = "\n".join(f"{k}={str(v).replace(chr(10), ' ')}" for k, v in fields.items()).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    # Never block: a receiver that does not read (full queue) must not stall a job thread
                    # or the heartbeat; a dropped datagram is the lesser evil.
                    self._sock.setblocking(False)
                self._sock.sendto(payload, self.address)
                return True
            except OSError as exc:
                log.debug("event=sd_notify_failed error=%s", exc)
                return False

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC") or 0)
    except ValueError:
        return None
    return usec if usec > 0 else None


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment without the notify variables, for worker processes."""
    env = dict(os.environ if environ is None else environ)
    for key in NOTIFY_ENV:
        env.pop(key, None)
    return env
