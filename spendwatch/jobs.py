"""The daemon's jobs, each run in a short-lived worker process: `python -m spendwatch.jobs`.

Why a process per job rather than a thread: a job that hangs (a provider that never answers, a detector
stuck on a huge store) can then be *stopped*: the daemon kills the worker at the job's timeout or at
shutdown, and because every store write is one DuckDB transaction, a killed worker leaves its window
exactly as it was (the next run redoes it). A thread cannot be killed, so a thread pool can be wedged for
good. The price is ~0.8 s of interpreter start per job, negligible next to hourly collects, and the daemon
process itself stays small: it never imports duckdb, pyarrow or httpx, and never holds the store.

Protocol (spendwatch/jobproto.py): the daemon writes one `JobRequest` as JSON on stdin and the worker
writes one `JobResult` to `result_path` (a file, so a large result can never block on a pipe the daemon is
not reading yet). Worker logs go to the inherited stderr; the console sink writes to the inherited stdout.

The store, collectors, detectors and digest are imported inside the jobs that use them, so a
housekeeping worker does not pay for loading the collect pass.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import SpendwatchError, StoreLocked
from .jobproto import FindingSeen, JobRequest, JobResult, SinkTally
from .timeutil import utcnow

if TYPE_CHECKING:
    from .config_schema import Config
    from .store import Store

log = logging.getLogger("spendwatch.jobs")


# ------------------------------------------------------------------------------------------------ facts
def read_facts(config: Config, now: datetime) -> dict[str, Any] | None:
    """What `/metrics` shows from the store: sync state per source, spend month-to-date per provider
    (in [daemon] timezone's calendar month, as budgets count it), alert deliveries per sink.

    Read-only with a short lock wait: facts are a nicety, a busy store just means "no update this time".
    """
    from .reports import spend_month_to_date
    from .store import Store

    try:
        with Store.open(config.store.path, read_only=True,
                        lock_timeout=min(5.0, config.store.lock_timeout.total_seconds()),
                        allocation=config.allocation) as st:
            c = st.conn
            sources: dict[str, Any] = {}
            for name, last_success, failures, complete_through in c.execute(
                    "SELECT source, max(last_success), max(consecutive_failures), min(complete_through) "
                    "FROM sync_state GROUP BY source").fetchall():
                sources[name] = {"last_success": last_success.timestamp() if last_success else None,
                                 "consecutive_failures": int(failures or 0),
                                 "complete_through": complete_through.timestamp() if complete_through else None}
            for name, n in c.execute("SELECT source, count(*) FROM records GROUP BY source").fetchall():
                sources.setdefault(name, {})["rows"] = int(n)
            month_start, mtd = spend_month_to_date(c, config, now)
            spend = {p: str(v) for p, v in mtd}
            deliveries = {s: {"delivered": int(d), "pending": int(p)} for s, d, p in c.execute(
                "SELECT sink, count(*) FILTER (WHERE delivered_at IS NOT NULL), "
                "count(*) FILTER (WHERE delivered_at IS NULL) FROM alert_deliveries GROUP BY sink").fetchall()}
            alerts = {f"{sev}/{state}": int(n) for sev, state, n in c.execute(
                "SELECT severity, state, count(*) FROM alert_log GROUP BY ALL").fetchall()}
    except SpendwatchError as exc:
        log.debug("event=facts_skipped error=%s", exc)
        return None
    return {"sources": sources, "spend_mtd": spend, "deliveries": deliveries, "alerts": alerts,
            "month_start": month_start.isoformat()}


# ------------------------------------------------------------------------------------------------- jobs
def _open_writer(config: Config) -> AbstractContextManager[Store]:
    """The store read-write as the check, housekeeping and mark_failed jobs open it: lock wait and allocation
    rules, without the config's money rules (Store.open_for passes those to writers, which may recompute
    `spend`; these jobs never did, and this module keeps it so)."""
    from .store import Store

    return Store.open(config.store.path, read_only=False, lock_timeout=config.store.lock_timeout.total_seconds(),
                      allocation=config.allocation)


def job_check(config: Config, req: JobRequest) -> JobResult:
    """Startup check: the store opens read-write (migrations applied) and the facts can be read."""
    try:
        with _open_writer(config):
            pass
    except StoreLocked as exc:
        return JobResult.busy(str(exc))
    except SpendwatchError as exc:
        return JobResult(ok=False, fatal=True, error=str(exc))
    return JobResult(ok=True, facts=read_facts(config, utcnow()))


def job_collect(config: Config, req: JobRequest) -> JobResult:
    """Collect one source; after a success run the detectors and deliver their findings."""
    from .collect import collect_source

    source = config.source(req.source or "")
    now = utcnow()
    outcome = collect_source(config, source, now=now)
    detected = detect_and_deliver(config, now) if outcome.ok else JobResult(ok=True)
    return JobResult(ok=outcome.ok, rows=outcome.rows, windows=outcome.windows, error=outcome.error,
                     store_busy=outcome.store_busy, findings=detected.findings, sinks=detected.sinks,
                     problems=detected.problems, detect_error=detected.detect_error, facts=read_facts(config, utcnow()))


def detect_and_deliver(config: Config, now: datetime) -> JobResult:
    """run_detectors on a read-only connection (closed before delivery, which opens its own), then deliver.
    Returns only the detection fields of a result (findings, sinks, problems or detect_error)."""
    from .alerts import deliver
    from .detect import run_detectors
    from .store import Store
    from .values import at_least

    try:
        with Store.open_for(config, read_only=True) as st:
            findings = run_detectors(st, config, now)
    except SpendwatchError as exc:
        log.warning("event=detect_skipped error=%s", exc)
        return JobResult(ok=True, detect_error=str(exc), findings=[], sinks={})
    # Deliver even with no findings: the alert log resolves what stopped firing and retries alerts queued
    # for a sink that was down.
    try:
        problems = list(deliver(config, findings, now))
    except SpendwatchError as exc:
        problems = [str(exc)]
    for p in problems:
        log.warning("event=delivery_problem error=%s", p)
    sinks: dict[str, SinkTally] = {}
    for sc in config.sinks:
        chosen = sum(1 for f in findings if at_least(f.severity, sc.min_severity))
        failed = any(p.startswith(f"{sc.name}:") for p in problems)
        sinks[sc.name] = SinkTally(offered=chosen, failed=int(failed and chosen > 0))
    log.info("event=detect_done findings=%d problems=%d", len(findings), len(problems))
    return JobResult(ok=True, findings=[FindingSeen(key=f.key, step=f.step, detector=f.detector, severity=f.severity)
                                        for f in findings],
                     sinks=sinks, problems=problems)


def job_digest(config: Config, req: JobRequest) -> JobResult:
    """The daily digest to every sink that wants it (once per day and sink, see spendwatch.digest)."""
    from .digest import run_digest

    out = run_digest(config, utcnow(), send=True)
    for p in out.problems:
        log.warning("event=digest_problem error=%s", p)
    failed_all = bool(out.problems) and not out.sent
    return JobResult(ok=not failed_all, sent=list(out.sent), problems=list(out.problems),
                     error=out.problems[0] if failed_all else None)


def job_housekeeping(config: Config, req: JobRequest) -> JobResult:
    """CHECKPOINT: fold the WAL into the database file so restarts are fast and the file is self-contained.
    With [store] keep_requests, first roll request rows older than that into hourly cells (spendwatch.compact;
    no file rewrite here: freed space is reused by later inserts, `spendwatch compact` shrinks the file)."""
    keep = config.store.keep_requests
    rolled = 0
    try:
        with _open_writer(config) as st:
            if keep:
                from .compact import rollup_requests

                rolled = rollup_requests(st.conn, keep, utcnow()).requests_rolled
            st.conn.execute("CHECKPOINT")
    except StoreLocked as exc:
        return JobResult.busy(str(exc))
    return JobResult(ok=True, requests_rolled=rolled if keep else None)


def job_mark_failed(config: Config, req: JobRequest) -> JobResult:
    """Record in sync_state a collect the daemon had to stop at its timeout (the killed worker could not),
    so that `spendwatch status` shows a hanging provider like any other failing one."""
    from .contracts import kinds_of

    source = config.source(req.source or "")
    kinds = kinds_of(config.plugins.collectors.get(source.type))
    try:
        with _open_writer(config) as st:
            for kind in kinds:
                st.mark_attempt(source.name, kind, ok=False, error=req.error)
    except StoreLocked as exc:
        return JobResult.busy(str(exc))
    return JobResult(ok=True)


JOBS: dict[str, Callable[[Config, JobRequest], JobResult]] = {
    "check": job_check, "collect": job_collect, "digest": job_digest, "housekeeping": job_housekeeping,
    "mark_failed": job_mark_failed}


# ------------------------------------------------------------------------------------------------- main
def _watch_parent(parent: int) -> None:
    """Exit when the daemon is gone (e.g. kill -9): an orphaned job would write after a restart started
    its own. Exiting mid-transaction is safe, DuckDB rolls it back on the next open."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(75)


def run_job(req: JobRequest) -> JobResult:
    """One request to one result; never raises (a crash becomes a failed result, secrets redacted)."""
    from .app import parse_config
    from .redact import redact

    try:
        config = parse_config(req.config_text, req.config_path).with_store(req.store_path)
        return JOBS[req.job](config, req)
    except SpendwatchError as exc:
        return JobResult.failure(redact(str(exc)))
    except Exception as exc:  # a bug in a plugin or in us: report it, keep the daemon running
        log.exception("event=job_crashed job=%s", req.job)
        return JobResult.failure(redact(f"internal error: {type(exc).__name__}: {exc}"))


def main() -> int:
    # The daemon owns SIGINT/SIGHUP (Ctrl-C in a terminal reaches the whole process group); SIGTERM keeps
    # its default: the daemon sends it to abandon a job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    req = JobRequest.from_json(sys.stdin.read())
    parent = req.parent_pid or os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    from .logs import setup_logging

    setup_logging(req.log_level)
    result = run_job(req)
    tmp = req.result_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(result.to_json())
    os.replace(tmp, req.result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
