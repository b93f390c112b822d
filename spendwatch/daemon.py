"""`spendwatch run`: the daemon (APScheduler 3.x, systemd notify, signals, health).

Shape:
    main thread      signals (SIGTERM/SIGINT stop, SIGHUP reload), config reload, shutdown
    scheduler        one interval job per enabled source (with jitter), the digest on a cron trigger in
                     [daemon] timezone, hourly housekeeping (CHECKPOINT), and the watchdog heartbeat
    job threads      each job starts one worker process (`spendwatch.jobs`) and waits for it with a
                     deadline; the worker opens the store, writes, closes (the daemon never holds DuckDB)

Why worker processes: see spendwatch/jobs.py. In short, a stuck job can be killed at its timeout or at
shutdown with its window untouched (DuckDB transactions), so no job can wedge the scheduler.

Parts: this module decides *when* jobs run and what their results mean (backoff, status); running a job
in a worker process and stopping it is spendwatch/supervisor.py; the request and result that travel
between them are spendwatch/jobproto.py; the counters /metrics shows are kept by spendwatch/jobstats.py.

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

import logging
import os
import random
import select
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .app import parse_config
from .config import read_config_text
from .config_schema import Config, SourceConfig
from .errors import ConfigError, SpendwatchError
from .jobproto import JobRequest, JobResult
from .jobstats import JobStats
from .logs import set_level, setup_logging
from .metrics import DaemonState
from .sdnotify import Notifier
from .supervisor import Running, Supervisor

log = logging.getLogger("spendwatch.daemon")

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


class Daemon:
    """The `spendwatch run` process: signals and the main loop, the schedule, reload and status.

    Jobs run through `self.workers` (a Supervisor); their results are counted by `self.stats`."""

    def __init__(self, config: Config, config_text: str, *, store_override: str | None = None,
                 log_level_override: str | None = None, notifier: Notifier | None = None) -> None:
        self.store_override = store_override
        self.log_level_override = log_level_override
        self._snapshot = (self._with_override(config), config_text)
        self.notifier = notifier or Notifier()
        self.state = DaemonState()
        self.stats = JobStats(self.state)
        self.workers = Supervisor()
        self.scheduler: Any = None
        self.metrics_server: Any = None
        self.web_server: Any = None
        # Self-pipe: signal handlers only set flags and the interpreter writes the signal number here
        # (signal.set_wakeup_fd), so the main loop wakes at once without a handler ever taking a lock.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stop_requested = False
        self._reload_requested = False
        self._last_status = "starting"
        self._pool_size = 0

    # ------------------------------------------------------------------------------------------ config
    @property
    def config(self) -> Config:
        return self._snapshot[0]

    def _with_override(self, config: Config) -> Config:
        return config.with_store(self.store_override)

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
            if self.web_server is not None:
                self.web_server.stop()
            self.workers.close()
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
                self.stats.source_scheduled(s.name)
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

        if cfg.web.listen:  # the read-only dashboard in a thread (spendwatch/web; its pages open read-only)
            from .web.serve import start_in_daemon

            try:
                self.web_server = start_in_daemon(lambda: self.config)
            except SpendwatchError as exc:
                log.error("event=web_failed listen=%s error=%s", cfg.web.listen, exc)
                return 1
        check_timeout = cfg.store.lock_timeout.total_seconds() + CHECK_TIMEOUT_EXTRA
        # a busy store may make the check wait up to lock_timeout: tell systemd not to time the start out
        self.notifier.notify(STATUS="checking the store", EXTEND_TIMEOUT_USEC=int((check_timeout + 10) * 1e6))
        check = self.run_worker("check", None, check_timeout)
        if self._stop_requested:
            return self._finish()
        if check.store_busy:
            log.warning("event=store_busy phase=startup error=%s action=continuing", check.error)
        elif not check.ok:
            log.error("event=store_check_failed error=%s", check.error)
            self.notifier.notify(STATUS=f"store check failed: {check.error}")
            return 1
        self.stats.absorb_facts(check.facts)

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

    def _stop_grace(self) -> float:
        """[daemon] stop_grace of the config in force (a reload may have changed it)."""
        return self.config.daemon.stop_grace.total_seconds()

    def _finish(self) -> int:
        self.notifier.notify(STOPPING=1, STATUS="stopping")
        busy = self.workers.labels()
        log.info("event=stopping running=%s grace=%gs", ",".join(busy) or "-", self._stop_grace())
        if self.workers.stop_deadline is None:
            self.workers.stop_deadline = time.monotonic() + self._stop_grace()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # job threads end by the stop grace + KILL_GRACE at the latest
        log.info("event=stopped")
        return 0

    # ----------------------------------------------------------------------------------------- signals
    def _install_signals(self) -> None:
        def stop(signum: int, _frame: Any) -> None:
            if self._stop_requested and signum == signal.SIGINT:
                self.workers.stop_deadline = time.monotonic()  # second Ctrl-C: abandon running jobs now
            elif self.workers.stop_deadline is None:
                self.workers.stop_deadline = time.monotonic() + self._stop_grace()  # the grace starts at the signal
            self._stop_requested = True

        def reload(_signum: int, _frame: Any) -> None:
            self._reload_requested = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

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
            job_defaults={"coalesce": True, "max_instances": 1}, timezone=UTC)
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
                                   misfire_grace_time=max(1, int(wd)), next_run_time=datetime.now(UTC))
        self.scheduler.start()

    def _sync_jobs(self) -> None:
        """Make the scheduled jobs match the current config (startup and reload)."""
        from zoneinfo import ZoneInfo

        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        cfg = self.config
        now = datetime.now(UTC)
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
            self.stats.source_scheduled(src.name)
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
        outcome = res.outcome
        failures = self.stats.collect_done(name, started, res)
        delay = backoff_delay(src.interval, failures) if outcome in ("failed", "timeout") else None
        if outcome == "timeout" and not self._stop_requested:
            # the killed worker could not record its failure: do it, so `status` shows the hanging source
            self.run_worker("mark_failed", name, self.config.store.lock_timeout.total_seconds() + 30,
                            error=res.error)
        self.stats.absorb_facts(res.facts)
        took = time.time() - started
        if outcome == "ok":
            log.info("event=collect_done source=%s rows=%s windows=%s findings=%d took=%.1fs", name, res.rows,
                     res.windows, len(res.findings or []), took)
        elif outcome == "store_busy":
            log.warning("event=collect_skipped source=%s reason=store_busy action=next_run error=%s", name,
                        res.error)
        elif outcome == "abandoned":
            log.warning("event=collect_abandoned source=%s reason=shutdown", name)
        else:
            log.warning("event=collect_failed source=%s outcome=%s failures=%d retry_in=%gs error=%s", name, outcome,
                        failures, delay.total_seconds() if delay else 0, res.error)
            if delay is not None and delay > src.interval and not self._stop_requested:
                try:
                    self.scheduler.modify_job(f"collect:{name}", next_run_time=datetime.now(UTC) + delay)
                except Exception:  # the job was removed by a reload meanwhile
                    pass
        self._set_status(f"collect {name} {outcome}" + (f" rows={res.rows}" if outcome == "ok" else "")
                         + f" at {datetime.now(UTC):%H:%M:%SZ}")

    def _digest_job(self) -> None:
        res = self.run_worker("digest", None, self.config.daemon.job_timeout.total_seconds())
        self._record("digest", res)

    def _housekeeping_job(self) -> None:
        res = self.run_worker("housekeeping", None, self.config.daemon.job_timeout.total_seconds())
        self._record("housekeeping", res)

    def _record(self, job: str, res: JobResult) -> None:
        self.stats.job_done(job, res)
        outcome = res.outcome
        level = logging.INFO if outcome == "ok" else logging.WARNING
        log.log(level, "event=%s_done outcome=%s%s", job, outcome, f" error={res.error}" if res.error else "")
        self._set_status(f"{job} {outcome} at {datetime.now(UTC):%H:%M:%SZ}")

    def _heartbeat_job(self) -> None:
        """WATCHDOG=1, unless a worker overran its deadline by more than it takes to kill it (then the
        job machinery itself is stuck, and a restart by systemd is the cure)."""
        stuck = self.workers.stuck(time.monotonic())
        if stuck:
            log.error("event=watchdog_withheld stuck=%s", ",".join(stuck))
            return
        self.notifier.notify(WATCHDOG=1)

    def _set_status(self, last: str) -> None:
        summary = self.stats.summary([s.name for s in self._enabled_sources()])
        self._last_status = f"{summary}; last: {last}"
        if self.scheduler is not None:
            self.notifier.notify(STATUS=self._last_status)

    # ----------------------------------------------------------------------------------------- workers
    def run_worker(self, job: str, source: str | None, timeout: float, error: str | None = None) -> JobResult:
        """Run one job in a worker process with the config of this moment (see Supervisor.run: never
        raises, never waits past `timeout` or the shutdown grace)."""
        cfg, text = self._snapshot
        request = JobRequest(job=job, source=source, config_text=text, config_path=cfg.path,
                             store_path=self.store_override, log_level=self.log_level(), error=error)
        return self.workers.run(request, timeout)

    @property
    def tmpdir(self) -> str:
        """Where workers leave their result files (removed at exit)."""
        return self.workers.tmpdir

    @property
    def _running(self) -> dict[str, Running]:
        """The workers in flight (the supervisor's table; the watchdog reads it)."""
        return self.workers.running

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
        if new.web != old.web:
            log.warning("event=reload_partial key=web action=restart_to_apply")
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


def run_daemon(config: Config, config_path: str | None = None, *, store_path: str | None = None,
               log_level: str | None = None) -> int:
    """Entry point of `spendwatch run`: returns the process exit code (0 after a clean stop)."""
    path = config.path if config.path and config.path != "(none)" else config_path
    if not path:
        raise SpendwatchError("spendwatch run needs a config file (--config or $SPENDWATCH_CONFIG)")
    text = read_config_text(path)
    parsed = parse_config(text, path)  # the text the workers get is exactly the text validated here
    daemon = Daemon(parsed, text, store_override=store_path, log_level_override=log_level)
    return daemon.run()
