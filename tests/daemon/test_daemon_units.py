"""The daemon's small parts in-process: sd_notify, backoff, logging format, metrics rendering."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import sys
import tempfile
import uuid
from datetime import UTC, timedelta

import pytest

from spendwatch.daemon import backoff_delay, jitter_seconds
from spendwatch.errors import ConfigError
from spendwatch.logs import LineFormatter, under_journald
from spendwatch.metrics import DaemonState, StateCollector, parse_listen
from spendwatch.redact import register_secret
from spendwatch.sdnotify import Notifier, child_environment


def _receiver(address: str | bytes) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(address)
    s.settimeout(2)
    return s


def test_notify_abstract_namespace_socket():
    name = f"spendwatch-unit-{uuid.uuid4().hex}"
    rx = _receiver(b"\0" + name.encode())
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.notify(READY=1, STATUS="two\nlines")
        assert rx.recv(4096) == b"READY=1\nSTATUS=two lines"
        n.close()
    finally:
        rx.close()


def test_notify_path_socket_and_full_queue_never_blocks():
    d = tempfile.mkdtemp(prefix="swn")
    path = os.path.join(d, "notify")
    rx = _receiver(path)
    try:
        n = Notifier({"NOTIFY_SOCKET": path})
        sent = [n.notify(WATCHDOG=1) for _ in range(5000)]  # nobody reads: the queue fills, sends are dropped
        assert sent[0] is True and sent[-1] is False
        assert rx.recv(4096) == b"WATCHDOG=1"
    finally:
        rx.close()
        os.unlink(path)
        os.rmdir(d)


def test_notify_is_a_no_op_outside_systemd():
    n = Notifier({})
    assert not n.enabled and n.notify(READY=1) is False and n.watchdog_seconds is None


def test_watchdog_usec_and_pid():
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_seconds == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_seconds == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "junk"}).watchdog_seconds is None


def test_workers_do_not_inherit_the_notify_socket():
    env = child_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "2", "KEEP": "1"})
    assert env == {"KEEP": "1"}


def test_backoff_grows_and_is_capped():
    h = timedelta(hours=1)
    assert [backoff_delay(h, n) for n in (1, 2, 3, 4, 5)] == [h, 2 * h, 4 * h, 6 * h, 6 * h]
    s = timedelta(seconds=2)
    assert [backoff_delay(s, n).total_seconds() for n in (0, 1, 2, 3, 4)] == [2, 2, 4, 8, 16]
    day = timedelta(days=1)
    assert backoff_delay(day, 3) == day  # never sooner than the source's own interval
    assert jitter_seconds(timedelta(seconds=2)) == pytest.approx(0.2) and jitter_seconds(day) == 30


def test_parse_listen():
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen(":9464") == ("0.0.0.0", 9464)
    with pytest.raises(ConfigError, match=r'daemon.metrics_listen: not HOST:PORT \("localhost"\)'):
        parse_listen("localhost")


def _record(msg: str, level: int = logging.WARNING, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom with sk-proj-abcdefghijklmnop inside\nsecond line")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("spendwatch.daemon", level, __file__, 1, msg, None, exc_info)


def test_log_lines_plain_and_journal():
    plain = LineFormatter(journal=False).format(_record("event=x source=a"))
    assert plain.startswith("ts=") and plain.endswith(" level=warning logger=spendwatch.daemon event=x source=a")
    journal = LineFormatter(journal=True).format(_record("event=x source=a", logging.ERROR))
    assert journal == "<3>level=error logger=spendwatch.daemon event=x source=a"


def test_log_lines_are_one_line_and_redacted():
    register_secret("hunter2-secret-value")
    line = LineFormatter(journal=True).format(_record("event=y token hunter2-secret-value\nnext", exc=True))
    assert "\n" not in line
    assert "hunter2-secret-value" not in line and "abcdefghijklmnop" not in line
    assert line.startswith("<4>level=warning logger=spendwatch.daemon event=y token [REDACTED] | next exc=")
    assert "RuntimeError: boom with sk-proj-[REDACTED] inside" in line


def test_under_journald_checks_the_stream_identity(tmp_path, monkeypatch):
    with open(tmp_path / "err", "w") as fh, open(tmp_path / "other", "w") as other:
        st = os.fstat(fh.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert under_journald(fh)
        assert not under_journald(other)  # inherited variable, but stderr was redirected elsewhere
        monkeypatch.setenv("JOURNAL_STREAM", "garbage")
        assert not under_journald(fh)


def test_metrics_render_state_and_store_facts():
    from prometheus_client import CollectorRegistry, generate_latest

    state = DaemonState()
    a = state.source("alpha")
    a.last_success, a.rows_written = 1700000000.0, 42
    state.source("down").consecutive_failures = 3
    state.raised[("budget", "critical")] = 2
    state.offered["slack"] = 5
    state.job_runs[("collect", "ok")] = 7
    state.facts = {"sources": {"alpha": {"rows": 40, "complete_through": 1700000100.0}},
                   "spend_mtd": {"openai": "1234.5600000000"}, "deliveries": {}}
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StateCollector(state, ["alpha", "down", "idle"]))
    text = generate_latest(reg).decode()
    lines = {line for line in text.splitlines() if not line.startswith("#")}
    for expected in (
        'spendwatch_source_last_success_timestamp_seconds{source="alpha"} 1.7e+09',
        'spendwatch_source_last_success_timestamp_seconds{source="idle"} 0.0',
        'spendwatch_source_consecutive_failures{source="down"} 3.0',
        'spendwatch_source_rows_written_total{source="alpha"} 42.0',
        'spendwatch_source_rows_stored{source="alpha"} 40.0',
        'spendwatch_job_runs_total{job="collect",outcome="ok"} 7.0',
        'spendwatch_alerts_raised_total{detector="budget",severity="critical"} 2.0',
        'spendwatch_alerts_delivered_total{sink="slack"} 5.0',
        'spendwatch_spend_month_to_date_usd{provider="openai"} 1234.56',
    ):
        assert expected in lines, (expected, sorted(lines))
    # once the alert log is in use, deliveries come from the store
    state.facts["deliveries"] = {"slack": {"delivered": 9, "pending": 1}}
    lines = set(generate_latest(reg).decode().splitlines())
    assert 'spendwatch_alerts_delivered_total{sink="slack"} 9.0' in lines
    assert 'spendwatch_alerts_pending{sink="slack"} 1.0' in lines


def _worker(tmp_path, job: str, config: str) -> dict:
    """One job through the worker protocol, exactly as the daemon runs it."""
    import json
    import subprocess

    from conftest import base_env

    result = tmp_path / f"{job}.json"
    req = {"job": job, "source": None, "config_text": config, "config_path": str(tmp_path / "c.toml"),
           "store_path": None, "log_level": "info", "result_path": str(result)}
    p = subprocess.run([sys.executable, "-m", "spendwatch.jobs"], input=json.dumps(req), text=True,
                       capture_output=True, env=base_env(), timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(result.read_text())


def test_worker_check_housekeeping_and_digest_jobs(tmp_path):
    store = tmp_path / "spend.duckdb"
    config = f'[store]\npath = "{store}"\n'
    checked = _worker(tmp_path, "check", config)
    assert checked["ok"] is True and store.exists()
    assert checked["facts"]["sources"] == {} and checked["facts"]["spend_mtd"] == {}
    assert _worker(tmp_path, "housekeeping", config) == {"ok": True}
    with_sink = config + '[[sinks]]\nname = "console"\ntype = "console"\nmin_severity = "info"\n'
    digest = _worker(tmp_path, "digest", with_sink)
    if importlib.util.find_spec("spendwatch.digest") is None:
        assert digest == {"ok": True, "skipped": "spendwatch.digest not available"}
    else:
        assert digest == {"ok": True, "sent": ["console"], "problems": []}


def test_worker_reports_a_bad_config_as_a_failed_job(tmp_path):
    res = _worker(tmp_path, "check", '[store]\npath = 5\n')
    assert res["ok"] is False and "store.path: expected a string" in res["error"]


def test_heartbeat_pings_the_watchdog_unless_a_job_is_stuck_past_its_kill(tmp_path):
    import shutil
    import subprocess
    import time

    from spendwatch.app import parse_config
    from spendwatch.daemon import Daemon, Running

    name = f"spendwatch-unit-{uuid.uuid4().hex}"
    rx = _receiver(b"\0" + name.encode())
    cfg = parse_config(f'[store]\npath = "{tmp_path / "s.duckdb"}"\n', str(tmp_path / "c.toml"))
    d = Daemon(cfg, "", notifier=Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "2000000"}))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        d._heartbeat_job()
        assert rx.recv(100) == b"WATCHDOG=1"
        d._running["x"] = Running("collect:late", sleeper, deadline=time.monotonic() + 5)  # running, in time
        d._heartbeat_job()
        assert rx.recv(100) == b"WATCHDOG=1"
        d._running["x"] = Running("collect:stuck", sleeper, deadline=time.monotonic() - 60)  # kill failed
        d._heartbeat_job()
        rx.settimeout(0.3)
        with pytest.raises(socket.timeout):
            rx.recv(100)
    finally:
        sleeper.kill()
        sleeper.wait()
        rx.close()
        shutil.rmtree(d.tmpdir, ignore_errors=True)


def test_schedule_digest_in_the_configured_zone_and_collect_job_settings(tmp_path):
    import shutil
    from datetime import datetime

    import sw_daemon_plugin  # noqa: F401  (registers the loopback-minutes collector in this process)
    from apscheduler.schedulers.background import BackgroundScheduler

    from spendwatch.app import parse_config
    from spendwatch.daemon import Daemon

    text = (f'[store]\npath = "{tmp_path / "s.duckdb"}"\n'
            '[[sources]]\nname = "a"\ntype = "loopback-minutes"\nbase_url = "http://127.0.0.1:9/a"\n'
            'interval = "15m"\n'
            '[daemon]\ntimezone = "Europe/Berlin"\ndigest_at = "08:30"\n')
    d = Daemon(parse_config(text, str(tmp_path / "c.toml")), text, notifier=Notifier({}))
    try:
        d.scheduler = BackgroundScheduler(timezone=UTC)  # not started: jobs stay pending
        started = datetime.now(UTC)
        d._sync_jobs()
        trigger = d.scheduler.get_job("digest").trigger
        winter = trigger.get_next_fire_time(None, datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
        summer = trigger.get_next_fire_time(None, datetime(2026, 7, 15, 6, 0, tzinfo=UTC))
        assert winter.astimezone(UTC) == datetime(2026, 1, 16, 7, 30, tzinfo=UTC)
        assert summer.astimezone(UTC) == datetime(2026, 7, 15, 6, 30, tzinfo=UTC)
        job = d.scheduler.get_job("collect:a")
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 900)
        assert job.trigger.interval.total_seconds() == 900 and job.trigger.jitter == 30
        assert 0 <= (job.next_run_time - started).total_seconds() <= 3  # first collect soon after start
    finally:
        shutil.rmtree(d.tmpdir, ignore_errors=True)
