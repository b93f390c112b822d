"""Where the dashboard listens, whether it may, and the uvicorn server that runs it.

Policy: a loopback address (127.0.0.0/8, ::1, localhost) may serve without a token; any other address
needs `[web] token_env` (or `token_file`), else the start is refused with one line. The start line says
which of the two it is. The socket is bound before the server starts, so "address in use" is an error
at once and port 0 (tests) tells its real port.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import SpendwatchError

log = logging.getLogger("spendwatch.web")
DEFAULT_LISTEN = "127.0.0.1:8787"


def parse_listen(value: str, key: str = "--listen") -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or :PORT (all interfaces) → (host, port), as `[daemon] metrics_listen` is
    read; a mistake is one line naming the option or config key."""
    from ..values import parse_listen as parse

    try:
        return parse(value)
    except ValueError as exc:
        raise SpendwatchError(f"{key}: {exc}") from None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ListenPolicy:
    host: str
    port: int
    token: str | None

    @classmethod
    def decide(cls, listen: str, config: Any, key: str = "--listen") -> ListenPolicy:
        """Refuse a non-loopback address without a token (one line, naming the config key)."""
        host, port = parse_listen(listen, key)
        secret = getattr(getattr(config, "web", None), "token", None)
        token = secret.get() if secret is not None else None  # SecretMissing names the key and the variable
        if not is_loopback(host) and token is None:
            raise SpendwatchError(f"{key} {listen}: refusing to serve spend data on a non-loopback address "
                                  "without a token; set [web] token_env (or token_file), or listen on 127.0.0.1")
        return cls(host, port, token)

    def describe(self, port: int) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        how = ("token required (Authorization: Bearer, or sign in at /login)" if self.token
               else "loopback only, no token")
        return f"http://{shown}:{port}/ ({how}; read-only)"


class WebServer:
    """The dashboard on a bound socket; `serve()` in the foreground, or `start()`/`stop()` as a thread."""

    def __init__(self, policy: ListenPolicy, config: Callable[[], Any]) -> None:
        import uvicorn

        from .app import Settings, create_app

        self.policy = policy
        self.app = create_app(Settings(config=config, token=policy.token))
        family = socket.AF_INET6 if ":" in policy.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((policy.host, policy.port))
        except OSError as exc:
            self.sock.close()
            raise SpendwatchError(f"cannot listen on {policy.host}:{policy.port} ({exc.strerror or exc})") from None
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                    lifespan="off", server_header=False))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.policy.describe(self.port)

    def serve(self) -> None:
        """Foreground (`spendwatch web`): uvicorn handles SIGINT/SIGTERM and returns."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="spendwatch-web", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def run_web(config: Any, listen: str | None, echo: Callable[[str], None]) -> int:
    """`spendwatch web`: --listen, else [web] listen, else 127.0.0.1:8787."""
    web = getattr(config, "web", None)
    chosen = listen or getattr(web, "listen", None) or DEFAULT_LISTEN
    key = "--listen" if listen else ("[web] listen" if getattr(web, "listen", None) else "--listen")
    policy = ListenPolicy.decide(chosen, config, key)
    server = WebServer(policy, lambda: config)
    echo(f"spendwatch web: serving {server.url}")
    import signal

    # uvicorn stops on SIGTERM/SIGINT, then re-raises the signal to the handler it found: make that one a
    # no-op, so a stop is a clean exit 0 (as for `spendwatch run`), not death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.serve()
    echo("spendwatch web: stopped")
    return 0


def start_in_daemon(config: Callable[[], Any]) -> WebServer:
    """The daemon's hook for `[web] listen`: the same server in a thread of the daemon process. Pages open
    read-only connections; the daemon's writers are worker processes, so DuckDB's one-writer-or-many-
    readers lock is respected exactly as with `spendwatch sql`."""
    cfg = config()
    policy = ListenPolicy.decide(cfg.web.listen, cfg, "[web] listen")
    server = WebServer(policy, config)
    server.start()
    log.info("event=web_listening url=%s", server.url)
    return server
