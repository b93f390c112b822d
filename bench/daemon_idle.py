"""RSS and CPU of an idle `spendwatch run` over 60 s, with 4 sources configured (1 h intervals).

The daemon starts, collects each source once (the real OpenAI, Anthropic, OpenRouter and LiteLLM
collectors against their loopback fakes in spendwatch.fakes; before those existed, the test collector of
tests/daemon), then idles: what we measure is the steady state between
collects, with the watchdog heartbeat (WATCHDOG_USEC as the shipped unit sets it) and the metrics endpoint
on. Baseline, measured over the same 60 s: `python3 -c 'import time; time.sleep(60)'`.

Aims (issue 6): ≤ 150 MB RSS and ≤ 1% CPU for the daemon.

    .venv/bin/python bench/daemon_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "daemon"))

from loopserver import LoopServer  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-idle-"))
    srv: Any
    extra_env: dict[str, str] = {}
    try:  # the real collectors against their loopback fakes (OpenAI, Anthropic, OpenRouter, LiteLLM)
        from spendwatch.fakes import Fleet, generate
        from spendwatch.timeutil import utcnow

        today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        srv = Fleet.start(generate(today - timedelta(days=2), 3))
        cfg = [srv.config_toml(str(tmp / "spend.duckdb"), lookback="1d", extra='interval = "1h"\n')]
        extra_env = srv.env()
        kind = "real collectors vs spendwatch.fakes"
    except ImportError:  # before the fakes existed: the daemon tests' loopback collector
        srv = LoopServer()
        cfg = [f'[store]\npath = "{tmp / "spend.duckdb"}"\n']
        for i in range(4):
            cfg.append(f'[[sources]]\nname = "src{i}"\ntype = "loopback-minutes"\nbase_url = "{srv.url(f"src{i}")}"\n'
                       'interval = "1h"\nlookback = "1h"\n')
        kind = "test collector vs tests/daemon/loopserver.py"
    cfg.append('[[sinks]]\nname = "console"\ntype = "console"\nmin_severity = "critical"\n')
    cfg.append('[daemon]\nlog_level = "info"\nmetrics_listen = "127.0.0.1:0"\n')
    (tmp / "spendwatch.toml").write_text("\n".join(cfg))

    # a notify socket that reads like systemd does, so the watchdog heartbeat runs as in production
    name = f"spendwatch-bench-{uuid.uuid4().hex}"
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(b"\0" + name.encode())
    ns.settimeout(0.5)
    pings = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                pings.append(ns.recv(4096))
            except OSError:
                pass

    threading.Thread(target=read, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "daemon"), str(ROOT)]),
               SPENDWATCH_PLUGINS="sw_daemon_plugin", NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="60000000",
               **extra_env)
    err = open(tmp / "stderr", "wb")
    daemon = subprocess.Popen([sys.executable, "-m", "spendwatch", "--config", str(tmp / "spendwatch.toml"), "run"],
                              stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        deadline = time.monotonic() + 120
        busy_rss_max = 0.0  # daemon + its worker processes while the first 4 collects run
        while (tmp / "stderr").read_text().count("event=collect_done") < 4 or children(daemon.pid):
            if time.monotonic() > deadline or daemon.poll() is not None:
                print("daemon did not finish its first collects:\n" + (tmp / "stderr").read_text()[-2000:])
                return 1
            try:
                busy_rss_max = max(busy_rss_max, rss_mb(daemon.pid) + sum(rss_mb(c) for c in children(daemon.pid)))
            except OSError:
                pass
            time.sleep(0.1)
        time.sleep(1)
        baseline = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({args.seconds + 5})"])
        time.sleep(0.5)
        d0, b0, t0 = cpu_seconds(daemon.pid), cpu_seconds(baseline.pid), time.monotonic()
        d_rss_max = b_rss_max = 0.0
        while time.monotonic() - t0 < args.seconds:
            d_rss_max = max(d_rss_max, rss_mb(daemon.pid) + sum(rss_mb(c) for c in children(daemon.pid)))
            b_rss_max = max(b_rss_max, rss_mb(baseline.pid))
            time.sleep(1)
        elapsed = time.monotonic() - t0
        d_cpu = (cpu_seconds(daemon.pid) - d0) / elapsed * 100
        b_cpu = (cpu_seconds(baseline.pid) - b0) / elapsed * 100
        baseline.kill()
        baseline.wait()
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        stop.set()
        (srv.stop if hasattr(srv, "stop") else srv.close)()
        err.close()
    watchdog = sum(b"WATCHDOG=1" in p for p in pings)
    print(f"idle daemon, 4 sources ({kind}), {elapsed:.0f} s (watchdog pings: {watchdog}, exit {rc})")
    print(f"  RSS max  daemon {d_rss_max:7.1f} MB   baseline sleep {b_rss_max:6.1f} MB   "
          f"ratio {d_rss_max / b_rss_max:5.2f}x   (aim <= 150 MB: {'ok' if d_rss_max <= 150 else 'OVER'})")
    print(f"  CPU      daemon {d_cpu:7.3f} %    baseline sleep {b_cpu:6.3f} %    "
          f"(aim <= 1 %: {'ok' if d_cpu <= 1 else 'OVER'})")
    print("  while collecting (4 workers at once, sampled every 0.1 s): "
          f"daemon + workers RSS max {busy_rss_max:.1f} MB")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
