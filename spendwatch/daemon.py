"""`spendwatch run`: the daemon (APScheduler 3.x, systemd notify, signals, health).

Shape:
    main thread      signals (SIGTERM/SIGINT stop, SIGHUP reload), config reload, shutdown
    scheduler        one interval job per enabled source (with jitter), the digest on a cron trigger in
                     [daemon] timezone, hourly housekeeping (CHECKPOINT), and the watchdog heartbeat
    job threads      each job starts one worker process (`spendwatch.jobs`) and waits for it with a
                     deadline; the worker opens the store, writes, closes (the daemon never holds DuckDB)

Why worker processes: see spendwatch/jobs.py. In short, a stuck job can be killed at its timeout or at
shutdown with its window untouched (DuckDB transactions), so no job can wedge the scheduler.

Failure policy:
    - a source that fails (provider down, 5xx, timeout) backs off: after n failures in a row its next run
      is interval × 2^(n-1), capped at max(interval, 6h); other sources are not delayed (own job, own thread)
    - a busy store (a user holding a read-only connection past [store] lock_timeout) is not a failure: the
      worker already retried with backoff; the run is skipped with a warning and the next run re-pulls
      the window (collects are idempotent), so no data is lost
    - the watchdog ping comes from a scheduler job and is withheld when a job overran its deadline and
      could not be stopped, so systemd restarts a daemon that is wedged in either way
"""

from __future__ import annotations

import json
import logging
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from .app import parse_config
from .config import Config, SourceConfig, read_config_text
from .errors import ConfigError, SpendwatchError
from .logs import set_level, setup_logging
from .metrics import DaemonState
from .sdnotify import Notifier, child_environment

log = logging.getLogger("spendwatch.daemon")

STOP_GRACE = 5.0  # seconds a running job may take to finish after SIGTERM before it is abandoned
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL for a worker being stopped
HOUSEKEEPING_EVERY = timedelta(hours=1)
BACKOFF_CAP = timedelta(hours=6)
CHECK_TIMEOUT_EXTRA = 60.0  # the startup check may wait lock_timeout for the store, plus this


def backoff_delay(interval: timedelta, failures: int, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """Delay before the next run after `failures` consecutive failures: interval, 2×, 4×, … capped."""
    if failures <= 1:
        return interval
    return min(interval * (2 ** min(failures - 1, 20)), max(interval, cap))


def jitter_seconds(interval: timedelta) -> float:
    """Up to 10% of the interval, at most 30 s: enough that sources sharing an interval do not stampede."""
    return min(interval.total_seconds() * 0.1, 30.0)


@dataclass
class Running:
    label: str
    proc: subprocess.Popen  # type: ignore[type-arg]
    deadline: float  # monotonic


class Daemon:
    def __init__(self, config: Config, config_text: str, *, store_override: Optional[str] = None,
                 log_level_override: Optional[str] = None, notifier: Optional[Notifier] = None) -> None:
        self.store_override = store_override
        self.log_level_override = log_level_override
        self._snapshot = (self._with_override(config), config_text)
        self.notifier = notifier or Notifier()
        self.state = DaemonState()
        self.scheduler: Any = None
        self.metrics_server: Any = None
        self.tmpdir = tempfile.mkdtemp(prefix="spendwatch-daemon-")
        self.child_env = child_environment()
        self._running: dict[str, Running] = {}
        self._running_lock = threading.Lock()
        # Self-pipe: signal handlers only set flags and the interpreter writes the signal number here
        # (signal.set_wakeup_fd), so the main loop wakes at once without a handler ever taking a lock.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stop_requested = False
        self._reload_requested = False
        self._stop_deadline: Optional[float] = None
        self._last_status = "starting"
        self._pool_size = 0

    # ------------------------------------------------------------------------------------------ config
    @property
    def config(self) -> Config:
        return self._snapshot[0]

    def _with_override(self, config: Config) -> Config:
        if self.store_override:
            return replace(config, store=replace(config.store, path=self.store_override))
        return config

    def log_level(self) -> str:
        return self.log_level_override or self.config.daemon.log_level

    # --------------------------------------------------------------------------------------------- run
    def run(self) -> int:
        setup_logging(self.log_level())
        self._quiet_scheduler_log()
        self._install_signals()
        try:
            return self._run()
        finally:
            if self.metrics_server is not None:
                self.metrics_server.shutdown()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.notifier.close()
            signal.set_wakeup_fd(-1)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _run(self) -> int:
        cfg = self.config
        log.info("event=starting pid=%d config=%s store=%s sources=%d", os.getpid(), cfg.path, cfg.store.path,
                 sum(1 for s in cfg.sources if s.enabled))
        for s in cfg.sources:
            if s.enabled:
                self.state.source(s.name)
        if cfg.daemon.metrics_listen:
            from .metrics import start_server

            try:
                self.metrics_server = start_server(cfg.daemon.metrics_listen, self.state,
                                                   [s.name for s in cfg.sources if s.enabled])
            except OSError as exc:
                log.error("event=metrics_failed listen=%s error=%s", cfg.daemon.metrics_listen, exc.strerror or exc)
                return 1
            host, port = self.metrics_server.server_address[:2]
            log.info("event=metrics_listening address=%s:%d", host, port)

        check_timeout = cfg.store.lock_timeout.total_seconds() + CHECK_TIMEOUT_EXTRA
        # a busy store may make the check wait up to lock_timeout: tell systemd not to time the start out
        self.notifier.notify(STATUS="checking the store", EXTEND_TIMEOUT_USEC=int((check_timeout + 10) * 1e6))
        check = self.run_worker("check", None, check_timeout)
        if self._stop_requested:
            return self._finish()
        if check.get("store_busy"):
            log.warning("event=store_busy phase=startup error=%s action=continuing", check.get("error"))
        elif not check.get("ok"):
            log.error("event=store_check_failed error=%s", check.get("error"))
            self.notifier.notify(STATUS=f"store check failed: {check.get('error')}")
            return 1
        self._absorb_facts(check.get("facts"))

        self._start_scheduler()
        self._set_status(f"running: {len(self._enabled_sources())} source(s) scheduled")
        self.notifier.notify(READY=1, STATUS=self._last_status)
        log.info("event=ready sources=%s watchdog=%s", ",".join(s.name for s in self._enabled_sources()) or "-",
                 f"{self.notifier.watchdog_seconds:g}s" if self.notifier.watchdog_seconds else "off")
        while not self._stop_requested:
            select.select([self._wake_r], [], [], 5.0)
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            if self._reload_requested and not self._stop_requested:
                self._reload_requested = False
                self.reload()
        return self._finish()

    def _finish(self) -> int:
        self.notifier.notify(STOPPING=1, STATUS="stopping")
        with self._running_lock:
            busy = [r.label for r in self._running.values()]
        log.info("event=stopping running=%s grace=%gs", ",".join(busy) or "-", STOP_GRACE)
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + STOP_GRACE
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # job threads end by STOP_GRACE + KILL_GRACE at the latest
        log.info("event=stopped")
        return 0

    # ----------------------------------------------------------------------------------------- signals
    def _install_signals(self) -> None:
        def stop(signum: int, _frame: Any) -> None:
            if self._stop_requested and signum == signal.SIGINT:
                self._stop_deadline = time.monotonic()  # second Ctrl-C: abandon running jobs now
            elif self._stop_deadline is None:
                self._stop_deadline = time.monotonic() + STOP_GRACE  # the grace starts at the signal
            self._stop_requested = True

        def reload(_signum: int, _frame: Any) -> None:
            self._reload_requested = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

    def request_stop(self) -> None:
        self._stop_requested = True
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the main loop is about to wake anyway

    # --------------------------------------------------------------------------------------- scheduler
    def _enabled_sources(self) -> list[SourceConfig]:
        return [s for s in self.config.sources if s.enabled]

    def _start_scheduler(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        # A thread per source so none waits for another, with room for sources a reload adds (threads are
        # created on demand, so the headroom costs nothing while idle).
        workers = self._pool_size = max(16, 2 * len(self._enabled_sources()) + 4)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers), "heartbeat": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1}, timezone=timezone.utc)
        self._sync_jobs()
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        self.scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler.add_job(self._housekeeping_job, "interval", id="housekeeping", name="housekeeping",
                               seconds=HOUSEKEEPING_EVERY.total_seconds(), jitter=60,
                               misfire_grace_time=int(HOUSEKEEPING_EVERY.total_seconds()))
        wd = self.notifier.watchdog_seconds
        if wd:
            self.scheduler.add_job(self._heartbeat_job, "interval", id="heartbeat", name="heartbeat",
                                   seconds=max(wd / 2, 0.5), executor="heartbeat",
                                   misfire_grace_time=max(1, int(wd)), next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()

    def _sync_jobs(self) -> None:
        """Make the scheduled jobs match the current config (startup and reload)."""
        from zoneinfo import ZoneInfo

        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        cfg = self.config
        now = datetime.now(timezone.utc)
        wanted = {f"collect:{s.name}": s for s in self._enabled_sources()}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("collect:") and job.id not in wanted:
                job.remove()
                log.info("event=source_unscheduled source=%s", job.id.split(":", 1)[1])
        for job_id, src in wanted.items():
            secs = src.interval.total_seconds()
            trigger = IntervalTrigger(seconds=secs, jitter=jitter_seconds(src.interval))
            existing = self.scheduler.get_job(job_id)
            if existing is not None:
                if getattr(existing.trigger, "interval", None) != src.interval:
                    existing.reschedule(trigger)
                    log.info("event=source_rescheduled source=%s interval=%gs", src.name, secs)
                continue
            first = now + timedelta(seconds=random.uniform(0, min(secs, 2.0)))  # collect soon after start
            self.scheduler.add_job(self._collect_job, trigger, args=[src.name], id=job_id, name=job_id,
                                   next_run_time=first, misfire_grace_time=max(1, int(secs)),
                                   max_instances=1, coalesce=True)
            self.state.source(src.name)
            log.info("event=source_scheduled source=%s type=%s interval=%gs", src.name, src.type, secs)
        digest = CronTrigger(hour=cfg.daemon.digest_at.hour, minute=cfg.daemon.digest_at.minute,
                             timezone=ZoneInfo(cfg.daemon.timezone))
        if self.scheduler.get_job("digest") is None:
            self.scheduler.add_job(self._digest_job, digest, id="digest", name="digest", misfire_grace_time=3600,
                                   max_instances=1, coalesce=True)
        else:
            self.scheduler.get_job("digest").reschedule(digest)

    @staticmethod
    def _quiet_scheduler_log() -> None:
        """APScheduler's own skip warnings are free text; `_on_skipped` logs them as our events instead.
        Job exceptions still come through apscheduler.executors at error level."""
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)

    def _on_skipped(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES

        reason = "still_running" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        # A heartbeat that cannot run is a symptom worth seeing; a long collect overlapping its interval is not.
        level = logging.WARNING if event.job_id == "heartbeat" else logging.DEBUG
        log.log(level, "event=run_skipped job=%s reason=%s", event.job_id, reason)

    # ------------------------------------------------------------------------------------------- jobs
    def _collect_job(self, name: str) -> None:
        src = next((s for s in self._enabled_sources() if s.name == name), None)
        if src is None or self._stop_requested:
            return
        started = time.time()
        res = self.run_worker("collect", name, self.config.daemon.job_timeout.total_seconds())
        outcome = res.get("outcome") or ("ok" if res.get("ok") else "store_busy" if res.get("store_busy") else "failed")
        delay: Optional[timedelta] = None
        with self.state.lock:
            st = self.state.source(name)
            st.last_outcome = outcome
            self.state.job_runs[("collect", outcome)] = self.state.job_runs.get(("collect", outcome), 0) + 1
            if outcome == "ok":
                st.last_success = started
                st.consecutive_failures = 0
                st.last_error = None
                st.rows_written += int(res.get("rows") or 0)
                self._count_findings(res)
            elif outcome in ("failed", "timeout"):
                st.consecutive_failures += 1
                st.last_error = res.get("error")
                delay = backoff_delay(src.interval, st.consecutive_failures)
            failures = st.consecutive_failures
        if outcome == "timeout" and not self._stop_requested:
            # the killed worker could not record its failure: do it, so `status` shows the hanging source
            self.run_worker("mark_failed", name, self.config.store.lock_timeout.total_seconds() + 30,
                            extra={"error": res.get("error")})
        self._absorb_facts(res.get("facts"))
        took = time.time() - started
        if outcome == "ok":
            log.info("event=collect_done source=%s rows=%s windows=%s findings=%d took=%.1fs", name, res.get("rows"),
                     res.get("windows"), len(res.get("findings") or []), took)
        elif outcome == "store_busy":
            log.warning("event=collect_skipped source=%s reason=store_busy action=next_run error=%s", name,
                        res.get("error"))
        elif outcome == "abandoned":
            log.warning("event=collect_abandoned source=%s reason=shutdown", name)
        else:
            log.warning("event=collect_failed source=%s outcome=%s failures=%d retry_in=%gs error=%s", name, outcome,
                        failures, delay.total_seconds() if delay else 0, res.get("error"))
            if delay is not None and delay > src.interval and not self._stop_requested:
                try:
                    self.scheduler.modify_job(f"collect:{name}", next_run_time=datetime.now(timezone.utc) + delay)
                except Exception:  # the job was removed by a reload meanwhile
                    pass
        self._set_status(f"collect {name} {outcome}" + (f" rows={res.get('rows')}" if outcome == "ok" else "")
                         + f" at {datetime.now(timezone.utc):%H:%M:%SZ}")

    def _count_findings(self, res: dict[str, Any]) -> None:
        """Count distinct alerts (key, escalation step) and sink hand-overs; caller holds state.lock."""
        for f in res.get("findings") or []:
            if self.state.seen_alerts.get(f["key"], -1) < f["step"]:
                self.state.seen_alerts[f["key"]] = f["step"]
                k = (f["detector"], f["severity"])
                self.state.raised[k] = self.state.raised.get(k, 0) + 1
        for sink, d in (res.get("sinks") or {}).items():
            if not d.get("failed"):
                self.state.offered[sink] = self.state.offered.get(sink, 0) + int(d.get("offered", 0))

    def _digest_job(self) -> None:
        res = self.run_worker("digest", None, self.config.daemon.job_timeout.total_seconds())
        self._record("digest", res)

    def _housekeeping_job(self) -> None:
        res = self.run_worker("housekeeping", None, self.config.daemon.job_timeout.total_seconds())
        self._record("housekeeping", res)

    def _record(self, job: str, res: dict[str, Any]) -> None:
        outcome = res.get("outcome") or ("ok" if res.get("ok") else "store_busy" if res.get("store_busy") else "failed")
        with self.state.lock:
            self.state.job_runs[(job, outcome)] = self.state.job_runs.get((job, outcome), 0) + 1
        level = logging.INFO if outcome == "ok" else logging.WARNING
        detail = (f" error={res['error']}" if res.get("error")
                  else f" skipped={res['skipped']}" if res.get("skipped") else "")
        log.log(level, "event=%s_done outcome=%s%s", job, outcome, detail)
        self._set_status(f"{job} {outcome} at {datetime.now(timezone.utc):%H:%M:%SZ}")

    def _heartbeat_job(self) -> None:
        """WATCHDOG=1, unless a worker overran its deadline by more than it takes to kill it (then the
        job machinery itself is stuck, and a restart by systemd is the cure)."""
        now = time.monotonic()
        with self._running_lock:
            stuck = [r.label for r in self._running.values() if now > r.deadline + KILL_GRACE + 10]
        if stuck:
            log.error("event=watchdog_withheld stuck=%s", ",".join(stuck))
            return
        self.notifier.notify(WATCHDOG=1)

    def _absorb_facts(self, facts: Optional[dict[str, Any]]) -> None:
        if not facts:
            return
        with self.state.lock:
            self.state.facts = facts
            for name, f in (facts.get("sources") or {}).items():
                st = self.state.sources.get(name)
                if st is not None and st.last_success is None and f.get("last_success"):
                    st.last_success = f["last_success"]

    def _set_status(self, last: str) -> None:
        with self.state.lock:
            states = [self.state.sources[s.name] for s in self._enabled_sources() if s.name in self.state.sources]
            failing = sorted(s.name for s in states if s.consecutive_failures)
        summary = f"{len(states) - len(failing)}/{len(states)} sources ok"
        if failing:
            summary += f" (failing: {', '.join(failing)})"
        self._last_status = f"{summary}; last: {last}"
        if self.scheduler is not None:
            self.notifier.notify(STATUS=self._last_status)

    # ----------------------------------------------------------------------------------------- workers
    def run_worker(self, job: str, source: Optional[str], timeout: float,
                   extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """Run one job in a worker process; returns its result, or {"outcome": "timeout"|"abandoned"}.

        Never raises and never waits past `timeout` (or past the shutdown grace): a worker that runs
        longer gets SIGTERM, then SIGKILL. Its open transaction dies with it, leaving the store as before.
        """
        cfg, text = self._snapshot
        label = f"{job}:{source}" if source else job
        result_path = os.path.join(self.tmpdir, f"{label.replace(':', '-')}-{uuid.uuid4().hex}.json")
        request = {"job": job, "source": source, "config_text": text, "config_path": cfg.path,
                   "store_path": self.store_override, "log_level": self.log_level(), "result_path": result_path,
                   "parent_pid": os.getpid(), **(extra or {})}
        try:
            proc = subprocess.Popen([sys.executable, "-m", "spendwatch.jobs"], stdin=subprocess.PIPE,
                                    env=self.child_env, close_fds=True)
        except OSError as exc:
            return {"ok": False, "error": f"cannot start a worker: {exc}"}
        key = uuid.uuid4().hex
        with self._running_lock:
            self._running[key] = Running(label, proc, time.monotonic() + timeout)
        outcome: Optional[str] = None
        try:
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(request).encode())
                proc.stdin.close()
            except OSError:
                pass  # the worker died at once; its exit code tells
            deadline = time.monotonic() + timeout
            while True:
                try:
                    proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    now = time.monotonic()
                    if now > deadline:
                        outcome = "timeout"
                    elif self._stop_deadline is not None and now > self._stop_deadline:
                        outcome = "abandoned"
                    if outcome:
                        log.warning("event=job_stopping job=%s reason=%s", label, outcome)
                        self._kill(proc)
                        break
        finally:
            with self._running_lock:
                self._running.pop(key, None)
        if outcome == "timeout":
            return {"ok": False, "outcome": "timeout",
                    "error": f"{label} ran longer than [daemon] job_timeout ({timeout:g}s) and was stopped"}
        if outcome == "abandoned":
            return {"ok": False, "outcome": "abandoned", "error": "abandoned at shutdown"}
        try:
            with open(result_path, encoding="utf-8") as fh:
                res: dict[str, Any] = json.load(fh)
            os.unlink(result_path)
            return res
        except (OSError, ValueError):
            return {"ok": False, "error": f"worker for {label} exited with status {proc.returncode} and no result"}

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
        proc.terminate()
        try:
            proc.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------------------------------------ reload
    def reload(self) -> bool:
        """SIGHUP: re-read the config file; an invalid one is rejected with a log line, the old one kept."""
        path = self.config.path
        try:
            text = read_config_text(path)  # unreadable or not UTF-8: a ConfigError, handled below
            new = self._with_override(parse_config(text, path))
        except OSError as exc:
            log.error("event=reload_rejected config=%s error=%s action=keeping_previous", path, exc.strerror or exc)
            self._set_status("config reload rejected; previous config kept")
            return False
        except ConfigError as exc:
            log.error("event=reload_rejected config=%s problems=%d error=%s action=keeping_previous", path,
                      len(exc.problems), " ; ".join(exc.problems))
            self._set_status("config reload rejected; previous config kept")
            return False
        except SpendwatchError as exc:
            log.error("event=reload_rejected config=%s error=%s action=keeping_previous", path, exc)
            return False
        old = self.config
        if new.daemon.metrics_listen != old.daemon.metrics_listen:
            log.warning("event=reload_partial key=daemon.metrics_listen action=restart_to_apply")
        if new.store.path != old.store.path:
            log.warning("event=reload_store_changed old=%s new=%s", old.store.path, new.store.path)
        self.notifier.notify(RELOADING=1, MONOTONIC_USEC=int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6))
        self._snapshot = (new, text)
        set_level(self.log_level())
        self._quiet_scheduler_log()
        self._sync_jobs()
        if len(self._enabled_sources()) + 4 > self._pool_size:
            log.warning("event=reload_partial reason=more_sources_than_threads action=restart_to_apply")
        log.info("event=reloaded config=%s sources=%d", path, len(self._enabled_sources()))
        self._set_status("config reloaded")
        self.notifier.notify(READY=1, STATUS=self._last_status)
        return True


def run_daemon(config: Config, config_path: Optional[str] = None, *, store_path: Optional[str] = None,
               log_level: Optional[str] = None) -> int:
    """Entry point of `spendwatch run`: returns the process exit code (0 after a clean stop)."""
    path = config.path if config.path and config.path != "(none)" else config_path
    if not path:
        raise SpendwatchError("spendwatch run needs a config file (--config or $SPENDWATCH_CONFIG)")
    text = read_config_text(path)
    parsed = parse_config(text, path)  # the text the workers get is exactly the text validated here
    daemon = Daemon(parsed, text, store_override=store_path, log_level_override=log_level)
    return daemon.run()
