"""Sync-state history and the digest log.

`sync_history`: a snapshot of a source's sync state after every collect attempt, so `stale_data` can be
replayed by `backtest` and `detect --at` as of any moment (sync_state holds only the present). Seeded from
the present sync_state at its last attempt. Kept 400 days (pruned by the store on write).

`digest_log`: which day's digest each sink has accepted, so the daily digest goes out once per day and
sink, even across daemon restarts.
"""

from typing import Any

from . import migration


@migration("0005_history_and_digest_log")
def history_and_digest_log(conn: Any) -> None:
    conn.execute("CREATE SEQUENCE IF NOT EXISTS sync_history_seq START 1")
    conn.execute(
        """
        CREATE TABLE sync_history (
            seq                  BIGINT NOT NULL DEFAULT nextval('sync_history_seq'),  -- ties at one instant
            source               VARCHAR NOT NULL,
            kind                 VARCHAR NOT NULL,
            attempted_at         TIMESTAMPTZ NOT NULL,   -- the attempt this state is the outcome of
            complete_through     TIMESTAMPTZ,
            last_success         TIMESTAMPTZ,
            last_error           VARCHAR,
            consecutive_failures INTEGER NOT NULL
        )
        """)
    conn.execute(
        """
        INSERT INTO sync_history (source, kind, attempted_at, complete_through, last_success, last_error,
                                  consecutive_failures)
        SELECT source, kind, last_attempt, complete_through, last_success, last_error, consecutive_failures
        FROM sync_state WHERE last_attempt IS NOT NULL ORDER BY source, kind
        """)
    conn.execute(
        """
        CREATE TABLE digest_log (
            day      DATE NOT NULL,          -- the day the digest covers ("yesterday")
            sink     VARCHAR NOT NULL,
            sent_at  TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (day, sink)
        )
        """)
