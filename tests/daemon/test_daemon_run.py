"""`spendwatch run` as a real subprocess against a loopback usage server, with second-level intervals."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.request
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from conftest import config_text, spendwatch, sql, wait_for
from loopserver import COST_PER_MINUTE, closed_port, minutes

ALERT_TEXT = "loopprov has usage in the store"


def alert_printed(stdout: str) -> bool:
    """The console sink printed the test detector's warning (its layout may group lines differently)."""
    return any("[WARNING]" in line for line in stdout.splitlines()) and ALERT_TEXT in stdout


def assert_store_consistent(config: Path) -> list[dict]:
    """Every stored minute exactly once per source, and money exactly rows × the per-minute cost."""
    rows = sql(config, "SELECT source, count(*) AS n, count(DISTINCT ts) AS d, sum(cost_usd) AS cost "
                       "FROM spend GROUP BY source ORDER BY source")
    for r in rows:
        assert r["n"] == r["d"], r
        assert Decimal(r["cost"]) == Decimal(COST_PER_MINUTE) * r["n"], r
    return rows


def test_run_collects_detects_alerts_notifies_and_stops_on_sigterm(tmp_path, loop_server, daemon_factory,
                                                                     notify_socket):
    cfg = config_text(tmp_path / "spend.duckdb", [("alpha", loop_server.url("alpha"), "2s"),
                                                  ("beta", loop_server.url("beta"), "3s")])
    d = daemon_factory(cfg, NOTIFY_SOCKET=notify_socket.name, WATCHDOG_USEC="1000000").start()

    wait_for(lambda: alert_printed(d.stdout()), 40, "the console sink to print the test alert")
    # `spendwatch sql` in another process while the daemon keeps collecting (it retries a busy lock).
    for _ in range(3):
        stored = assert_store_consistent(d.config)
        assert {r["source"] for r in stored} <= {"alpha", "beta"} and stored
    wait_for(lambda: loop_server.count("alpha") >= 2 and loop_server.count("beta") >= 2, 30,
             "repeated collects of both sources")
    wait_for(lambda: len(d.log_events("collect_done")) >= 3, 20, "collect_done log lines")

    rc, took = d.terminate(timeout=10)
    assert rc == 0, d.stderr()
    assert took < 10
    fields = notify_socket.fields()
    assert "READY=1" in fields and "WATCHDOG=1" in fields and "STOPPING=1" in fields, fields
    assert fields.index("READY=1") < fields.index("STOPPING=1")
    statuses = [f for f in fields if f.startswith("STATUS=")]
    ok_status = re.compile(r"STATUS=2/2 sources ok; last: collect (alpha|beta) ok rows=\d+ at ")
    assert any(ok_status.match(s) for s in statuses), statuses
    assert "event=stopped" in d.stderr()
    assert "Traceback" not in d.stderr()

    stored = {r["source"]: r for r in assert_store_consistent(d.config)}
    # lookback = 10m and the window ends at "now": each source holds at least the last 10 minutes.
    assert stored["alpha"]["n"] >= 10 and stored["beta"]["n"] >= 10


def test_down_and_hanging_sources_do_not_delay_the_others(tmp_path, loop_server, daemon_factory):
    down_url = f"http://127.0.0.1:{closed_port()}/down"
    loop_server.behaviour["hang"] = "hang"
    cfg = config_text(tmp_path / "spend.duckdb", [("alpha", loop_server.url("alpha"), "2s"),
                                                  ("down", down_url, "2s"), ("hang", loop_server.url("hang"), "2s")],
                      job_timeout="12s", metrics=True)
    d = daemon_factory(cfg).start()
    port = int(wait_for(lambda: re.search(r"event=metrics_listening address=127\.0\.0\.1:(\d+)", d.stderr()), 20,
                        "the metrics address").group(1))
    # While the hanging source's first run is stuck (it is stopped only after 12 s), alpha keeps its 2 s schedule.
    wait_for(lambda: loop_server.count("alpha") >= 3, 30, "three collects of alpha")
    assert loop_server.count("hang") >= 1
    wait_for(lambda: d.log_events("collect_failed") and any("source=hang outcome=timeout" in x
                                                           for x in d.log_events("collect_failed")),
             30, "the hanging collect to be stopped at job_timeout")
    assert any("job=collect:hang reason=timeout" in x for x in d.log_events("job_stopping"))
    down_fail = [x for x in d.log_events("collect_failed") if "source=down" in x]
    assert down_fail and "Connection refused" in down_fail[0]
    # growing delay: the second failure retries after 2 x interval, the third after 4 x
    wait_for(lambda: sum("source=down" in x for x in d.log_events("collect_failed")) >= 3, 30, "three failures of down")
    retries = [re.search(r"failures=(\d+) retry_in=(\S+)s", x).groups() for x in d.log_events("collect_failed")
               if "source=down" in x]
    assert retries[:3] == [("1", "2"), ("2", "4"), ("3", "8")]
    wait_for(lambda: loop_server.count("alpha") >= 5, 30, "alpha to keep collecting")

    status = json.loads(spendwatch(d.config, "status", "--format", "json").stdout)
    by_source = {r["source"]: r for r in status["sources"]}
    assert by_source["down"]["failures"] >= 2 and "Connection refused" in by_source["down"]["last_error"]
    assert by_source["down"]["last_success"] is None
    assert by_source["alpha"]["failures"] == 0 and by_source["alpha"]["last_success"]
    # the hanging source's worker was killed at job_timeout; the daemon recorded that for `status`
    assert by_source["hang"]["failures"] >= 1
    assert "ran longer than [daemon] job_timeout (12s) and was stopped" in by_source["hang"]["last_error"]
    (mtd,) = status["spend this month (known prices only)"]
    assert mtd["provider"] == "loopprov" and Decimal(mtd["cost_usd"]) % Decimal(COST_PER_MINUTE) == 0
    assert Decimal(mtd["cost_usd"]) >= 10 * Decimal(COST_PER_MINUTE)

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    metric = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(spendwatch_\S+) (\S+)$", text, re.M)}
    assert metric['spendwatch_source_consecutive_failures{source="down"}'] >= 2
    assert metric['spendwatch_source_consecutive_failures{source="hang"}'] >= 1
    assert metric['spendwatch_source_consecutive_failures{source="alpha"}'] == 0
    assert metric['spendwatch_source_last_success_timestamp_seconds{source="down"}'] == 0
    assert metric['spendwatch_source_last_success_timestamp_seconds{source="alpha"}'] > time.time() - 120
    assert metric['spendwatch_source_rows_written_total{source="alpha"}'] >= 30
    assert metric['spendwatch_job_runs_total{job="collect",outcome="timeout"}'] >= 1
    assert metric['spendwatch_alerts_raised_total{detector="test_spend_seen",severity="warning"}'] == 1
    assert metric['spendwatch_alerts_delivered_total{sink="console"}'] >= 1
    assert metric['spendwatch_spend_month_to_date_usd{provider="loopprov"}'] > 0

    # a hanging collect in flight at SIGTERM is abandoned after the grace period; exit is still 0 in time
    # (grace 5 s + kill grace 2 s; the slack is for a loaded machine: without the abandonment it would never end)
    rc, took = d.terminate(timeout=30)
    assert rc == 0 and took < 20, d.stderr()
    assert_store_consistent(d.config)


def test_reader_holding_the_store_delays_but_does_not_lose_collects(tmp_path, loop_server, daemon_factory):
    cfg = config_text(tmp_path / "spend.duckdb", [("alpha", loop_server.url("alpha"), "2s")], lock_timeout="3s")
    d = daemon_factory(cfg).start()
    wait_for(lambda: d.log_events("collect_done"), 30, "the first collect")
    done_before = len(d.log_events("collect_done"))

    # A user's long read-only session (what a long `spendwatch sql` or a notebook does): held for more than
    # three times the lock wait, so collects (every 2 s) give up on the store at least once meanwhile.
    con = wait_for(lambda: _try_connect_read_only(tmp_path / "spend.duckdb"), 20, "a read-only connection")
    held_from = datetime.now().astimezone()
    time.sleep(10)
    held_to = datetime.now().astimezone()
    con.close()

    wait_for(lambda: len(d.log_events("collect_done")) > done_before + 1, 40,
             "collects to resume after the reader left")
    skipped = d.log_events("collect_skipped")
    assert skipped and all("reason=store_busy action=next_run" in x for x in skipped), skipped
    assert "locked by" in skipped[0]
    assert not [x for x in d.log_events("collect_failed") if "source=alpha" in x]
    rc, _ = d.terminate()
    assert rc == 0

    # Nothing lost: every minute of the hold (and around it) is stored exactly once.
    stored = {datetime.fromisoformat(r["ts"]) for r in
              sql(d.config, "SELECT ts FROM spend WHERE source = 'alpha' ORDER BY ts")}
    for m in minutes(held_from - timedelta(minutes=2), held_to):
        assert m in stored, f"minute {m} lost"
    assert_store_consistent(d.config)


def _try_connect_read_only(path: Path):
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None


def test_kill_9_during_a_collect_then_restart_completes_the_window(tmp_path, loop_server, daemon_factory):
    store = tmp_path / "spend.duckdb"
    cfg = config_text(store, [("alpha", loop_server.url("alpha"), "2s")])
    d = daemon_factory(cfg).start()
    wait_for(lambda: d.log_events("collect_done"), 30, "the first collect")
    loop_server.behaviour["alpha"] = 30.0  # the next fetch stalls: the collect is in flight
    wait_for(lambda: loop_server.stalled, 20, "a stalled collect in flight")
    _, win_start, win_end = loop_server.stalled[0]
    time.sleep(0.5)
    d.kill_group()  # kill -9 the daemon and its worker

    con = duckdb.connect(str(store), read_only=True)
    try:
        through = con.execute("SELECT complete_through FROM sync_state WHERE source = 'alpha'").fetchone()[0]
        n, distinct = con.execute("SELECT count(*), count(DISTINCT ts) FROM records WHERE source = 'alpha'").fetchone()
    finally:
        con.close()
    assert through < win_end  # the interrupted window was not marked complete
    assert n == distinct

    loop_server.behaviour["alpha"] = "ok"
    d.start()
    wait_for(lambda: d.log_events("collect_done"), 30, "a collect after the restart")
    d.proc.send_signal(signal.SIGINT)  # Ctrl-C stops as cleanly as SIGTERM
    assert d.proc.wait(10) == 0
    assert "event=stopped" in d.stderr() and "interrupted" not in d.stderr()
    stored = {datetime.fromisoformat(r["ts"]) for r in sql(d.config, "SELECT ts FROM spend WHERE source = 'alpha'")}
    for m in minutes(win_start, win_end):
        assert m in stored, f"minute {m} of the interrupted window missing after restart"
    assert_store_consistent(d.config)
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT complete_through FROM sync_state WHERE source = 'alpha'").fetchone()[0] >= win_end


def test_sighup_reload_then_sigterm_lets_the_running_collect_finish(tmp_path, loop_server, daemon_factory):
    store = tmp_path / "spend.duckdb"
    # A grace far longer than the slow collect below, so a loaded machine cannot turn "finishes inside the
    # grace" into "abandoned" (a collect took 13 s here under load); the default is 5 s.
    grace = 'stop_grace = "90s"\n'
    good = config_text(store, [("alpha", loop_server.url("alpha"), "2s")], extra=grace)
    d = daemon_factory(good).start(journal=True)
    wait_for(lambda: d.log_events("collect_done"), 30, "the first collect")

    d.config.write_text(good.replace('interval = "2s"', 'interval = "soon"'))
    d.proc.send_signal(signal.SIGHUP)
    rejected = wait_for(lambda: d.log_events("reload_rejected"), 20, "the reload to be rejected")
    assert rejected[0].startswith("<3>level=error logger=spendwatch.daemon event=reload_rejected")
    assert f"{d.config}:" in rejected[0] and 'sources[0].interval: not a duration ("soon")' in rejected[0]
    assert "action=keeping_previous" in rejected[0]
    # still collecting with the previous config
    before = loop_server.count("alpha")
    wait_for(lambda: loop_server.count("alpha") >= before + 2, 20, "collects to continue after the rejected reload")

    d.config.write_text(config_text(store, [("alpha", loop_server.url("alpha"), "2s"),
                                            ("beta", loop_server.url("beta"), "2s")], extra=grace))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: d.log_events("reloaded"), 20, "the valid reload")
    wait_for(lambda: [x for x in d.log_events("collect_done") if "source=beta" in x], 30, "the new source to collect")

    # SIGTERM while a collect is in flight: it is slow (1 s) but inside the grace, so it finishes.
    loop_server.behaviour["alpha"] = 1.0
    wait_for(lambda: loop_server.stalled, 20, "a slow collect in flight")
    _, _, win_end = loop_server.stalled[0]
    rc, _ = d.terminate(timeout=120)
    assert rc == 0
    log = d.stderr()
    assert "grace=90s" in log  # the configured grace, re-read on reload
    stopping = re.search(r"event=stopping running=\S*collect:alpha", log)
    assert stopping and stopping.start() < log.rindex("event=collect_done source=alpha"), log[-3000:]
    assert "event=collect_abandoned" not in log
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT complete_through FROM sync_state WHERE source = 'alpha'").fetchone()[0] >= win_end
    lines = log.splitlines()
    # journald mode: priority prefix, no timestamp of our own, one line per event
    assert lines and all(re.match(r"<[2-7]>level=", line) for line in lines if line.strip()), lines[:5]
    assert not any("ts=" in line.split(" ")[0] for line in lines)


def test_unusable_store_or_metrics_address_is_a_startup_error(tmp_path, loop_server, daemon_factory):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    d = daemon_factory(config_text(blocker / "spend.duckdb", [("alpha", loop_server.url("alpha"), "1h")]))
    d.start("--log-level", "error")  # wins over [daemon] log_level = "info"
    assert d.proc.wait(60) == 1
    failed = d.log_events("store_check_failed")
    assert len(failed) == 1 and "cannot create the store's directory" in failed[0], d.stderr()
    assert "Traceback" not in d.stderr() and loop_server.count("alpha") == 0
    assert "level=info" not in d.stderr() and "event=starting" not in d.stderr()

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        d.config.write_text(config_text(tmp_path / "spend.duckdb", [("alpha", loop_server.url("alpha"), "1h")],
                                        extra=f'metrics_listen = "127.0.0.1:{taken.getsockname()[1]}"\n'))
        d.start()
        assert d.proc.wait(60) == 1
        assert "event=metrics_failed" in d.stderr() and "Address already in use" in d.stderr()
        assert "level=info logger=spendwatch.daemon event=starting" in d.stderr()  # [daemon] log_level
    finally:
        taken.close()

