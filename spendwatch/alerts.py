"""The alert log and delivery, the way Alertmanager does it: per sink, dedup → send with retries → record
as sent only after the sink accepted. A crash can cause a resend, never a loss.

One delivery run (`deliver`), in three short steps, because DuckDB admits one writer and a slow sink must
not hold the store:

1. *Record and plan* (writer open, one transaction): upsert every finding into `alert_log` (identity =
   `Finding.key`); resolve open alerts no longer reported; for each sink, queue a `firing` notice when the
   alert is new to that sink or escalated past what the sink last received (a higher step, or the same
   step at a higher severity), and a `resolved` notice where `send_resolved` is on and the sink had been
   told it was firing. Then *claim* every undelivered notice of the sink (including ones queued by earlier
   runs whose sink was down): `attempts + 1`, `claimed_at = now`. Close the writer.
2. *Send* (no store connection): every sink in its own thread, one grouped message per sink, retried on
   retryable errors. A down or slow sink delays nobody else.
3. *Record the outcome* (writer reopened): `delivered_at` for accepted notices; `last_error` and
   `error_kind` (retryable | permanent) for the others, which stay queued for the next run.

A claim is a lease: a notice claimed by a run that crashed is sent again once the lease has expired (a
resend, never a loss); while it runs, a concurrent run (daemon and a manual `detect`) skips it.

Named reasons a finding is not (re)sent to a sink: `below_min_severity`, `already_delivered` (same or a
lower level than what the sink got), `already_queued`. They are logged at debug level.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .actions import run_actions, with_actions
from .config import Config, SinkConfig
from .delivery import fan_out, option
from .errors import PermanentSinkError, SecretMissing, SinkError
from .findings import Finding, money_str
from .notice import Notice, notices, with_budget
from .redact import redact, register_secret
from .store import Store
from .timeutil import utcnow
from .values import at_least, severity_rank

log = logging.getLogger("spendwatch.alerts")

Level = tuple[int, int]  # (step, severity rank): what "escalated" compares
RowKey = tuple[str, str, int, str, int, str]  # alert_id, sink, episode, notice, step, severity


def level(step: int, severity: str) -> Level:
    return (int(step), severity_rank(severity))


@dataclass
class SinkBatch:
    """The notices one sink is sent in this run, and the delivery rows they stand for."""

    sink: SinkConfig
    rows: list[RowKey] = field(default_factory=list)
    notices: list[Any] = field(default_factory=list)
    error: SinkError | None = None


# ------------------------------------------------------------------------------------------ the run


def deliver(config: Config, findings: list[Finding], now: datetime) -> list[str]:
    """Record findings in the alert log and deliver what each sink has not had yet; returns one line per
    sink that failed (the caller exits non-zero when there are any). Guardrail actions ([[actions]]) run
    first, so that each notice can say what was done (or, in dry-run, would have been) and how to undo it."""
    acted = run_actions(config, findings, now)
    wall = utcnow()
    register_secrets(config)
    with _writer(config) as store, store.transaction() as conn:
        expire_removed_sinks(conn, config, wall)
        current, resolved = record_findings(conn, findings, now)
        for sc in config.sinks:
            queue_notices(conn, sc, current, resolved, wall)
        batches = [b for b in (claim(conn, config, sc, wall) for sc in config.sinks) if b.rows]
    if not batches:
        return acted
    send_all(config, batches)
    with _writer(config) as store, store.transaction() as conn:
        record_outcomes(conn, batches, utcnow())
    return acted + [problem_line(b) for b in batches if b.error is not None]


def register_secrets(config: Config) -> None:
    """Read every configured secret once so redaction knows all of them before any sink can fail (a
    server may echo a value in an error; a missing secret is reported by the sink that needs it)."""

    from urllib.parse import urlsplit

    for secret in config.secrets():
        try:
            value = secret.get()
        except SecretMissing:
            continue
        if value.startswith(("http://", "https://")):  # a URL with a token in it: mask the token alone too
            parts = urlsplit(value)
            for piece in parts.path.split("/") + parts.query.split("&"):
                if len(piece) >= 16:
                    register_secret(piece)


def _writer(config: Config) -> Any:
    return Store.open_for(config)


def expire_removed_sinks(conn: Any, config: Config, wall: datetime) -> None:
    """Notices queued for a sink that is no longer configured can never go out: mark them expired, with the
    reason, instead of leaving them pending forever (`status` and the `alerts` view show them as expired).
    A sink configured again under the same name starts afresh; expired notices are not revived."""
    conn.execute(
        """UPDATE alert_deliveries SET error_kind = 'expired', last_attempt_at = ?,
               last_error = 'sink ' || sink || ' is no longer configured; notice expired undelivered'
           WHERE delivered_at IS NULL AND error_kind IS DISTINCT FROM 'expired' AND NOT list_contains(?, sink)""",
        [wall, [sc.name for sc in config.sinks]])


def problem_line(b: SinkBatch) -> str:
    n = len(b.rows)
    if isinstance(b.error, PermanentSinkError):
        return (f"sink {b.error} (permanent: fix the sink's config; {n} alert(s) held, see `spendwatch status`)")
    return f"sink {b.error}; {n} alert(s) queued for the next run"


# ----------------------------------------------------------------------------------- 1. record and plan


@dataclass(frozen=True)
class Current:
    episode: int
    step: int
    severity: str


def record_findings(conn: Any, findings: Iterable[Finding], now: datetime
                    ) -> tuple[dict[str, Current], dict[str, Current]]:
    """Upsert findings into alert_log; resolve open alerts not reported any more. Returns the firing
    alerts and those resolved by this run, keyed by alert_id."""
    best: dict[str, Finding] = {}
    for f in findings:  # one identity may come twice in a run (e.g. two detector passes): keep the highest
        old = best.get(f.key)
        if old is None or level(f.step, f.severity) > level(old.step, old.severity):
            best[f.key] = f
    known = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT alert_id, state, coalesce(episode, 1) FROM alert_log WHERE list_contains(?, alert_id)",
        [list(best)]).fetchall()} if best else {}
    current: dict[str, Current] = {}
    for key, f in best.items():
        figures = [f.severity, f.step, json.dumps(f.scope, sort_keys=True, default=str), f.period_start,
                   f.period_end, f.observed, f.expected, f.threshold, f.message, _drivers_json(f.drivers), now]
        if key not in known:
            conn.execute(
                """INSERT INTO alert_log (alert_id, detector, key, severity, step, scope, period_start, period_end,
                       observed, expected, threshold, message, drivers, last_seen, state, first_seen, episode)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, 1)""",
                [key, f.detector, key] + figures + [now])
            episode = 1
        else:
            state, episode = known[key]
            if state != "open":  # fired again after it resolved: a new episode, announced again
                episode += 1
            conn.execute(
                """UPDATE alert_log SET severity = ?, step = ?, scope = ?, period_start = ?, period_end = ?,
                       observed = ?, expected = ?, threshold = ?, message = ?, drivers = ?,
                       last_seen = greatest(last_seen, ?), state = 'open', resolved_at = NULL, episode = ?
                   WHERE alert_id = ?""",
                figures + [episode, key])
        current[key] = Current(episode, f.step, f.severity)
    resolved: dict[str, Current] = {}
    # An alert seen later than `now` (a replay with --at in the past) is not resolved by this run.
    for key, episode, step, sev in conn.execute(
            "SELECT alert_id, coalesce(episode, 1), step, severity FROM alert_log "
            "WHERE state = 'open' AND last_seen <= ?", [now]).fetchall():
        if key not in current:
            resolved[key] = Current(episode, step, sev)
    for key in resolved:
        conn.execute("UPDATE alert_log SET state = 'resolved', resolved_at = ? WHERE alert_id = ?", [now, key])
    return current, resolved


def _drivers_json(drivers: list[dict[str, Any]]) -> str:
    return json.dumps([{k: (money_str(v) if isinstance(v, Decimal) else v) for k, v in d.items()} for d in drivers],
                      sort_keys=True, default=str)


def queue_notices(conn: Any, sc: SinkConfig, current: dict[str, Current], resolved: dict[str, Current],
                  wall: datetime) -> None:
    """Dedup against what this sink already got or has queued; queue what is new or escalated."""
    keys = list(current) + list(resolved)
    if not keys:
        return
    rows = conn.execute(
        """SELECT alert_id, episode, notice, step, severity, delivered_at IS NOT NULL FROM alert_deliveries
           WHERE sink = ? AND list_contains(?, alert_id)""", [sc.name, keys]).fetchall()
    for key, cur in current.items():
        if not at_least(cur.severity, sc.min_severity):
            log.debug("sink=%s alert=%s skip=below_min_severity", sc.name, key)
            continue
        mine = [r for r in rows if r[0] == key and r[2] == "firing"]
        sent = [level(r[3], r[4]) for r in mine if r[5] and r[1] == cur.episode]
        target = level(cur.step, cur.severity)
        if sent and target <= max(sent):
            log.debug("sink=%s alert=%s skip=already_delivered", sc.name, key)
            continue
        pending = [r for r in mine if not r[5]]
        if any(r[1] == cur.episode and level(r[3], r[4]) == target for r in pending):
            log.debug("sink=%s alert=%s skip=already_queued", sc.name, key)
            continue
        # An undelivered older level is superseded: the new notice carries the news.
        conn.execute("DELETE FROM alert_deliveries WHERE alert_id = ? AND sink = ? AND notice = 'firing' "
                     "AND delivered_at IS NULL", [key, sc.name])
        conn.execute("INSERT INTO alert_deliveries (alert_id, sink, episode, notice, step, severity, queued_at) "
                     "VALUES (?, ?, ?, 'firing', ?, ?, ?)", [key, sc.name, cur.episode, cur.step, cur.severity, wall])
    if not getattr(sc.options, "send_resolved", False):
        return
    for key, cur in resolved.items():
        told = any(r[0] == key and r[2] == "firing" and r[5] and r[1] == cur.episode for r in rows)
        queued = any(r[0] == key and r[2] == "resolved" and r[1] == cur.episode for r in rows)
        if told and not queued:
            conn.execute("INSERT INTO alert_deliveries (alert_id, sink, episode, notice, step, severity, queued_at) "
                         "VALUES (?, ?, ?, 'resolved', ?, ?, ?)", [key, sc.name, cur.episode, cur.step, cur.severity, wall])


def lease(options: Any) -> timedelta:
    """How long a claim protects a notice: longer than the slowest possible send of this sink."""
    timeout = option(options, "timeout")
    retries = int(option(options, "retries"))  # type: ignore[call-overload]
    wait = option(options, "retry_wait")
    return timedelta(seconds=60) + (retries + 1) * 4 * timeout + wait * (2 ** retries)


_PENDING = """
    SELECT d.alert_id, d.sink, d.episode, d.notice, d.step, d.severity,
           a.detector, a.scope, a.period_start, a.period_end, a.message, a.observed, a.expected, a.threshold,
           a.drivers, a.first_seen,
           EXISTS (SELECT 1 FROM alert_deliveries p WHERE p.alert_id = d.alert_id AND p.sink = d.sink
                   AND p.episode = d.episode AND p.notice = 'firing' AND p.delivered_at IS NOT NULL) AS escalated
    FROM alert_deliveries d JOIN alert_log a USING (alert_id)
    WHERE d.sink = ? AND d.delivered_at IS NULL AND (d.claimed_at IS NULL OR d.claimed_at < ?)
      AND d.error_kind IS DISTINCT FROM 'expired'
    ORDER BY d.alert_id, d.notice
"""


def claim(conn: Any, config: Config, sc: SinkConfig, wall: datetime) -> SinkBatch:
    """Take every undelivered notice of this sink (this run's and earlier runs') for sending now."""
    cutoff = wall - lease(sc.options)
    batch = SinkBatch(sc)
    items = []
    for r in conn.execute(_PENDING, [sc.name, cutoff]).fetchall():
        alert_id, sink, episode, notice, step, severity = r[:6]
        batch.rows.append((alert_id, sink, episode, notice, step, severity))
        n = Notice(key=alert_id, detector=r[6], severity=severity, scope=json.loads(r[7] or "{}"),
                   period_start=r[8], period_end=r[9], message=r[10] or "", observed=r[11], expected=r[12],
                   threshold=r[13], drivers=json.loads(r[14] or "[]"), step=step, status=notice,
                   escalated=bool(r[16]) and notice == "firing", first_seen=r[15])
        items.append(with_actions(with_budget(n, config), conn, episode))
    batch.notices = notices(items)
    for row in batch.rows:
        conn.execute("""UPDATE alert_deliveries SET claimed_at = ?, attempts = attempts + 1, last_attempt_at = ?
                        WHERE alert_id = ? AND sink = ? AND episode = ? AND notice = ? AND step = ? AND severity = ?""",
                     [wall, wall, *row])
    return batch


# ------------------------------------------------------------------------------------------- 2. send


def send_all(config: Config, batches: list[SinkBatch]) -> None:
    """Each sink in its own thread (spendwatch.delivery.fan_out): a sink that hangs delays no other."""
    errors = fan_out(config.plugins, [(b.sink, _sender(b)) for b in batches])
    for b, exc in zip(batches, errors, strict=True):
        b.error = exc
        if exc is None:
            log.info("sink=%s delivered=%d", b.sink.name, len(b.notices))
        else:
            log.info("sink=%s error_kind=%s queued=%d error=%s", b.sink.name, _kind(exc), len(b.rows),
                     redact(str(exc)))


def _sender(b: SinkBatch) -> Any:
    return lambda sink: sink.send(b.notices)


def _kind(exc: SinkError) -> str:
    return "permanent" if isinstance(exc, PermanentSinkError) else "retryable"


# ----------------------------------------------------------------------------------- 3. record outcome


def record_outcomes(conn: Any, batches: list[SinkBatch], wall: datetime) -> None:
    where = "alert_id = ? AND sink = ? AND episode = ? AND notice = ? AND step = ? AND severity = ?"
    for b in batches:
        if b.error is None:
            conn.executemany(f"UPDATE alert_deliveries SET delivered_at = ?, claimed_at = NULL, last_error = NULL, "
                             f"error_kind = NULL WHERE {where}", [[wall, *row] for row in b.rows])
        else:
            text = redact(str(b.error))
            conn.executemany(f"UPDATE alert_deliveries SET claimed_at = NULL, last_error = ?, error_kind = ? "
                             f"WHERE {where}", [[text, _kind(b.error), *row] for row in b.rows])


def open_alerts(conn: Any, config: Any = None) -> list[Any]:
    """Open alerts as notices, most severe first (the digest lists them)."""
    out = []
    for r in conn.execute("""SELECT alert_id, detector, severity, step, scope, period_start, period_end, message,
                                    observed, expected, threshold, drivers, first_seen
                             FROM alert_log WHERE state = 'open'""").fetchall():
        out.append(with_budget(Notice(key=r[0], detector=r[1], severity=r[2], step=r[3], scope=json.loads(r[4] or "{}"),
                                      period_start=r[5], period_end=r[6], message=r[7] or "", observed=r[8],
                                      expected=r[9], threshold=r[10], drivers=json.loads(r[11] or "[]"),
                                      first_seen=r[12]), config))
        out[-1] = with_actions(out[-1], conn)
    return notices(out)


