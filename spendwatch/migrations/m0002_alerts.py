"""Alert delivery bookkeeping: episodes, per-level notices, claims and error classes.

Why the deliveries table is rebuilt instead of altered: its primary key must grow. 0001 keyed a delivery by
(alert, sink, step); escalation by severity at the same step, "resolved" notices and re-opened alerts
(a new *episode* of the same identity) each need their own row, so the key becomes
(alert_id, sink, episode, notice, step, severity). Existing rows are copied (notice 'firing', episode 1,
severity from the alert).
"""

from typing import Any

from . import migration


@migration("0002_alerts")
def alerts(conn: Any) -> None:
    # An alert that resolves and fires again starts a new episode: it is announced again.
    conn.execute("ALTER TABLE alert_log ADD COLUMN episode INTEGER DEFAULT 1")
    conn.execute(
        """
        CREATE TABLE alert_deliveries_v2 (
            alert_id        VARCHAR NOT NULL,
            sink            VARCHAR NOT NULL,
            episode         INTEGER NOT NULL DEFAULT 1,
            notice          VARCHAR NOT NULL DEFAULT 'firing',  -- firing | resolved
            step            INTEGER NOT NULL,                   -- escalation step announced
            severity        VARCHAR NOT NULL,                   -- severity announced
            queued_at       TIMESTAMPTZ,
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      VARCHAR,                            -- redacted, one line
            error_kind      VARCHAR,                            -- retryable | permanent
            last_attempt_at TIMESTAMPTZ,
            claimed_at      TIMESTAMPTZ,                        -- a run is sending it right now (lease)
            delivered_at    TIMESTAMPTZ,                        -- set only after the sink accepted
            PRIMARY KEY (alert_id, sink, episode, notice, step, severity)
        )
        """
    )
    conn.execute(
        """
        INSERT INTO alert_deliveries_v2 (alert_id, sink, episode, notice, step, severity, attempts, last_error,
                                         last_attempt_at, delivered_at)
        SELECT d.alert_id, d.sink, 1, 'firing', d.step, coalesce(a.severity, 'warning'), d.attempts, d.last_error,
               d.last_attempt_at, d.delivered_at
        FROM alert_deliveries d LEFT JOIN alert_log a USING (alert_id)
        """
    )
    conn.execute("DROP TABLE alert_deliveries")
    conn.execute("ALTER TABLE alert_deliveries_v2 RENAME TO alert_deliveries")
