"""Fixtures for the daemon tests: a loopback usage server, a notify socket, and `spendwatch run` as a
real subprocess (with the test plugins of sw_daemon_plugin.py loaded through SPENDWATCH_PLUGINS)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loopserver import LoopServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
           and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "SPENDWATCH_CONFIG")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO)])
    env["SPENDWATCH_PLUGINS"] = "sw_daemon_plugin"
    env.update(extra)
    return env


# Waits are upper bounds, not timing assertions: a shared CI box under load can take seconds to start a
# worker process (cold imports), so every bound is stretched by this factor. Passing tests never wait it out.
SLOW = float(os.environ.get("SPENDWATCH_TEST_SLOW", "3"))


def wait_for(pred: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll until `pred()` is truthy; fail naming `what` (a bound on waiting, not a timing assertion)."""
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def spendwatch(config: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spendwatch", "--config", str(config), *args],
                          capture_output=True, text=True, env=env or base_env(), timeout=timeout)


def sql(config: Path, query: str) -> list[dict[str, Any]]:
    r = spendwatch(config, "sql", query, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class DaemonProc:
    """`spendwatch run` in its own session (so a test can kill -9 the whole group), output to files."""

    def __init__(self, tmp: Path, config_text: str, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.config = tmp / "spendwatch.toml"
        self.config.write_text(config_text)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *extra: str, journal: bool = False) -> DaemonProc:
        """journal=True: set JOURNAL_STREAM to our stderr file's dev:ino, as systemd does for the journal."""
        self.starts += 1
        self.out = open(self.tmp / f"stdout.{self.starts}", "wb")
        self.err = open(self.tmp / f"stderr.{self.starts}", "wb")
        env = dict(self.env)
        if journal:
            st = os.fstat(self.err.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        self.proc = subprocess.Popen([sys.executable, "-m", "spendwatch", "--config", str(self.config), *extra, "run"],
                                     stdout=self.out, stderr=self.err, env=env, start_new_session=True)
        return self

    def stdout(self) -> str:
        return (self.tmp / f"stdout.{self.starts}").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.tmp / f"stderr.{self.starts}").read_text(errors="replace")

    def log_events(self, event: str) -> list[str]:
        return [line for line in self.stderr().splitlines() if f"event={event} " in line + " "]

    def terminate(self, timeout: float = 10) -> tuple[int, float]:
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        return rc, time.monotonic() - t0

    def kill_group(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def cleanup(self) -> None:
        # printed into the captured output, which pytest shows only when the test failed
        for n in range(1, self.starts + 1):
            tail = (self.tmp / f"stderr.{n}").read_text(errors="replace").splitlines()[-60:]
            print(f"--- daemon run {n} stderr (last {len(tail)} lines) ---", *tail, sep="\n")
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        for fh in (getattr(self, "out", None), getattr(self, "err", None)):
            if fh:
                fh.close()


@pytest.fixture
def loop_server() -> Iterator[LoopServer]:
    srv = LoopServer()
    yield srv
    srv.close()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProc]]:
    made: list[DaemonProc] = []

    def make(config_text: str, **env: str) -> DaemonProc:
        d = DaemonProc(tmp_path, config_text, base_env(**env))
        made.append(d)
        return d

    yield make
    for d in made:
        d.cleanup()


class NotifySocket:
    """A unix datagram socket in the abstract namespace, as systemd's NOTIFY_SOCKET would be."""

    def __init__(self) -> None:
        self.name = f"@spendwatch-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.name[1:].encode())
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._closed = False
        # read continuously, as systemd does (an unread socket fills up after a few datagrams)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return

    def drain(self) -> list[str]:
        time.sleep(0.3)
        return list(self.messages)

    def fields(self) -> list[str]:
        return [line for m in self.drain() for line in m.splitlines()]

    def close(self) -> None:
        self._closed = True
        self._reader.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    ns = NotifySocket()
    yield ns
    ns.close()


def config_text(store: Path, sources: list[tuple[str, str, str]], *, lock_timeout: str = "30s",
                job_timeout: str = "60s", metrics: bool = False, extra: str = "") -> str:
    """sources: (name, base_url, interval)."""
    parts = [f'[store]\npath = "{store}"\nlock_timeout = "{lock_timeout}"\n']
    for name, url, interval in sources:
        parts.append(f'[[sources]]\nname = "{name}"\ntype = "loopback-minutes"\nbase_url = "{url}"\n'
                     f'interval = "{interval}"\nlookback = "10m"\n')
    parts.append('[[sinks]]\nname = "console"\ntype = "console"\nmin_severity = "info"\n')
    parts.append(f'[daemon]\nlog_level = "info"\njob_timeout = "{job_timeout}"\n'
                 + ('metrics_listen = "127.0.0.1:0"\n' if metrics else "") + extra)
    return "\n".join(parts)
