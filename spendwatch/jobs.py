"""The daemon's jobs, each run in a short-lived worker process: `python -m spendwatch.jobs`.

Why a process per job rather than a thread: a job that hangs (a provider that never answers, a detector
stuck on a huge store) can then be *stopped*: the daemon kills the worker at the job's timeout or at
shutdown, and because every store write is one DuckDB transaction, a killed worker leaves its window
exactly as it was (the next run redoes it). A thread cannot be killed, so a thread pool can be wedged for
good. The price is ~0.8 s of interpreter start per job, negligible next to hourly collects, and the daemon
process itself stays small: it never imports duckdb, pyarrow or httpx, and never holds the store.

Protocol: the daemon writes one JSON request on stdin
    {"job": "check|collect|digest|housekeeping|mark_failed", "config_text": ..., "config_path": ...,
     "store_path": ..., "source": ..., "log_level": ..., "result_path": ..., "parent_pid": ..., "error": ...}
and the worker writes one JSON result object to `result_path` (a file, so a large result can never block
on a pipe the daemon is not reading yet). The config travels as text so that a worker always runs with
the config the daemon accepted, even if the file on disk has since been edited into something invalid.
Worker logs go to the inherited stderr; the console sink writes to the inherited stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime
from typing import Any, Optional

log = logging.getLogger("spendwatch.jobs")

# StoreLocked's message (spendwatch.store) says "locked by <holder> for more than Ns". collect_source()
# reports failures as text, so a busy store is recognised by this phrase (assumption: it stays in that
# message; tests/daemon cover it).
STORE_BUSY_MARK = "locked by "


def store_busy(error: Optional[str]) -> bool:
    return bool(error) and STORE_BUSY_MARK in str(error) and "for more than" in str(error)


# ------------------------------------------------------------------------------------------------ facts
def read_facts(config: Any, now: datetime) -> Optional[dict[str, Any]]:
    """What `/metrics` shows from the store: sync state per source, spend month-to-date per provider
    (in [daemon] timezone's calendar month, as budgets count it), alert deliveries per sink.

    Read-only with a short lock wait: facts are a nicety, a busy store just means "no update this time".
    """
    from .errors import SpendwatchError
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
def job_check(config: Any, req: dict[str, Any]) -> dict[str, Any]:
    """Startup check: the store opens read-write (migrations applied) and the facts can be read."""
    from .errors import SpendwatchError, StoreLocked
    from .store import Store
    from .timeutil import utcnow

    try:
        with Store.open(config.store.path, read_only=False,
                        lock_timeout=config.store.lock_timeout.total_seconds(), allocation=config.allocation):
            pass
    except StoreLocked as exc:
        return {"ok": False, "store_busy": True, "error": str(exc)}
    except SpendwatchError as exc:
        return {"ok": False, "fatal": True, "error": str(exc)}
    return {"ok": True, "facts": read_facts(config, utcnow())}


def job_collect(config: Any, req: dict[str, Any]) -> dict[str, Any]:
    """Collect one source; after a success run the detectors and deliver their findings."""
    from .collect import collect_source
    from .timeutil import utcnow

    source = config.source(req["source"])
    now = utcnow()
    outcome = collect_source(config, source, now=now)
    result: dict[str, Any] = {"ok": outcome.ok, "rows": outcome.rows, "windows": outcome.windows,
                              "error": outcome.error, "store_busy": store_busy(outcome.error)}
    if outcome.ok:
        result.update(detect_and_deliver(config, now))
    result["facts"] = read_facts(config, utcnow())
    return result


def detect_and_deliver(config: Any, now: datetime) -> dict[str, Any]:
    """run_detectors on a read-only connection (closed before delivery, which opens its own), then deliver."""
    from .alerts import deliver
    from .detect import run_detectors
    from .errors import SpendwatchError
    from .store import Store
    from .values import at_least

    try:
        with Store.open(config.store.path, read_only=True, lock_timeout=config.store.lock_timeout.total_seconds(),
                        allocation=config.allocation) as st:
            findings = run_detectors(st, config, now)
    except SpendwatchError as exc:
        log.warning("event=detect_skipped error=%s", exc)
        return {"detect_error": str(exc), "findings": [], "sinks": {}}
    # Deliver even with no findings: the alert log resolves what stopped firing and retries alerts queued
    # for a sink that was down.
    try:
        problems = list(deliver(config, findings, now))
    except SpendwatchError as exc:
        problems = [str(exc)]
    for p in problems:
        log.warning("event=delivery_problem error=%s", p)
    sinks: dict[str, dict[str, int]] = {}
    for sc in config.sinks:
        chosen = sum(1 for f in findings if at_least(f.severity, sc.min_severity))
        failed = any(p.startswith(f"{sc.name}:") for p in problems)
        sinks[sc.name] = {"offered": chosen, "failed": int(failed and chosen > 0)}
    log.info("event=detect_done findings=%d problems=%d", len(findings), len(problems))
    return {"findings": [{"key": f.key, "step": f.step, "detector": f.detector, "severity": f.severity}
                         for f in findings],
            "sinks": sinks, "problems": problems}


def job_digest(config: Any, req: dict[str, Any]) -> dict[str, Any]:
    """The daily digest, if the digest module is installed (another part of spendwatch provides it)."""
    import importlib.util

    from .timeutil import utcnow

    if importlib.util.find_spec("spendwatch.digest") is None:
        log.debug("event=digest_skipped reason=%s", "spendwatch.digest not available")
        return {"ok": True, "skipped": "spendwatch.digest not available"}
    from . import digest  # type: ignore[attr-defined]

    out = digest.run_digest(config, utcnow(), send=True)
    sent = list(getattr(out, "sent", None) or [])
    problems = [str(p) for p in (getattr(out, "problems", None) or [])]
    for p in problems:
        log.warning("event=digest_problem error=%s", p)
    result: dict[str, Any] = {"ok": not problems or bool(sent), "sent": sent, "problems": problems}
    if problems and not sent:
        result["error"] = problems[0]
    return result


def job_housekeeping(config: Any, req: dict[str, Any]) -> dict[str, Any]:
    """CHECKPOINT: fold the WAL into the database file so restarts are fast and the file is self-contained.
    With [store] keep_requests, first roll request rows older than that into hourly cells (spendwatch.compact;
    no file rewrite here: freed space is reused by later inserts, `spendwatch compact` shrinks the file)."""
    from .errors import StoreLocked
    from .store import Store

    rolled = 0
    try:
        with Store.open(config.store.path, read_only=False,
                        lock_timeout=config.store.lock_timeout.total_seconds(), allocation=config.allocation) as st:
            if getattr(config.store, "keep_requests", None):
                from .compact import rollup_requests
                from .timeutil import utcnow

                rolled = rollup_requests(st.conn, config.store.keep_requests, utcnow()).requests_rolled
            st.conn.execute("CHECKPOINT")
    except StoreLocked as exc:
        return {"ok": False, "store_busy": True, "error": str(exc)}
    return {"ok": True, "requests_rolled": rolled} if getattr(config.store, "keep_requests", None) else {"ok": True}


def job_mark_failed(config: Any, req: dict[str, Any]) -> dict[str, Any]:
    """Record in sync_state a collect the daemon had to stop at its timeout (the killed worker could not),
    so that `spendwatch status` shows a hanging provider like any other failing one."""
    from .contracts import kinds_of
    from .errors import StoreLocked
    from .store import Store

    source = config.source(req["source"])
    kinds = kinds_of(config.plugins.collectors.get(source.type))
    try:
        with Store.open(config.store.path, read_only=False,
                        lock_timeout=config.store.lock_timeout.total_seconds(), allocation=config.allocation) as st:
            for kind in kinds:
                st.mark_attempt(source.name, kind, ok=False, error=req["error"])
    except StoreLocked as exc:
        return {"ok": False, "store_busy": True, "error": str(exc)}
    return {"ok": True}


JOBS = {"check": job_check, "collect": job_collect, "digest": job_digest, "housekeeping": job_housekeeping,
        "mark_failed": job_mark_failed}


# ------------------------------------------------------------------------------------------------- main
def _watch_parent(parent: int) -> None:
    """Exit when the daemon is gone (e.g. kill -9): an orphaned job would write after a restart started
    its own. Exiting mid-transaction is safe, DuckDB rolls it back on the next open."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(75)


def main() -> int:
    # The daemon owns SIGINT/SIGHUP (Ctrl-C in a terminal reaches the whole process group); SIGTERM keeps
    # its default: the daemon sends it to abandon a job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    req = json.loads(sys.stdin.read())
    parent = int(req.get("parent_pid") or os.getppid())
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    from .app import parse_config
    from .errors import SpendwatchError
    from .logs import setup_logging
    from .redact import redact

    setup_logging(req.get("log_level") or "info")
    result: dict[str, Any]
    try:
        config = parse_config(req["config_text"], req["config_path"])
        if req.get("store_path"):
            config = replace(config, store=replace(config.store, path=req["store_path"]))
        result = JOBS[req["job"]](config, req)
    except SpendwatchError as exc:
        result = {"ok": False, "error": redact(str(exc))}
    except Exception as exc:  # a bug in a plugin or in us: report it, keep the daemon running
        log.exception("event=job_crashed job=%s", req.get("job"))
        result = {"ok": False, "error": redact(f"internal error: {type(exc).__name__}: {exc}")}
    tmp = req["result_path"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh, default=str)
    os.replace(tmp, req["result_path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
