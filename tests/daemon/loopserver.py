"""A loopback HTTP server serving one usage row per minute per source, with switchable misbehaviour."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

COST_PER_MINUTE = "0.0125"


def minutes(start: datetime, end: datetime) -> list[datetime]:
    first = start.replace(second=0, microsecond=0)
    if first < start:
        first += timedelta(minutes=1)
    out = []
    while first < end:
        out.append(first)
        first += timedelta(minutes=1)
    return out


class LoopServer:
    """`behaviour[name]`: "ok" (default), "hang" (answer only at close), or a float (seconds of delay)."""

    def __init__(self) -> None:
        self.behaviour: dict[str, Any] = {}
        self.requests: list[tuple[str, datetime, datetime, float]] = []
        self.request_seen = threading.Event()
        self.stalled: list[tuple[str, datetime, datetime]] = []
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                name = url.path.strip("/").split("/")[0]
                q = parse_qs(url.query)
                start = datetime.fromisoformat(q["start"][0])
                end = datetime.fromisoformat(q["end"][0])
                outer.requests.append((name, start, end, time.time()))
                outer.request_seen.set()
                how = outer.behaviour.get(name, "ok")
                if how != "ok":
                    outer.stalled.append((name, start, end))
                if how == "hang":
                    outer.closing.wait(120)
                elif isinstance(how, (int, float)):
                    outer.closing.wait(how)
                rows = [{"ts": m.isoformat(), "model": "m-1", "input_tokens": 100, "output_tokens": 10,
                         "requests": 1, "cost_usd": COST_PER_MINUTE, "project": name} for m in minutes(start, end)]
                body = json.dumps({"rows": rows}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def count(self, name: str) -> int:
        return sum(1 for r in self.requests if r[0] == name)

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
