"""Guardrail actions: one row per (rule, alert episode, target, mode), written before the provider call.

Why a row before the call: a crash between "we decided" and "the provider answered" must be found and
settled on the next run (docs/guardrails.md). `before` keeps what the provider reported before we changed
it (written before the change is attempted), so an undo restores exactly that and a crash after the
change can tell "done" from "not yet" by reading the provider again. `owner` (host:pid) marks the process
working on a planned row, so a later run can tell a crashed owner from a running one.
"""

from typing import Any

from . import migration


@migration("0006_actions")
def actions(conn: Any) -> None:
    conn.execute("CREATE SEQUENCE IF NOT EXISTS action_id_seq START 1")
    conn.execute(
        """
        CREATE TABLE actions_log (
            id            BIGINT PRIMARY KEY DEFAULT nextval('action_id_seq'),
            rule          VARCHAR NOT NULL,     -- [[actions]] name
            action        VARCHAR NOT NULL,     -- disable_key | block_team | throttle_project
            alert_id      VARCHAR NOT NULL,
            episode       INTEGER NOT NULL,
            provider      VARCHAR NOT NULL,
            target_kind   VARCHAR NOT NULL,     -- api_key_id | team_id | project_id
            target        VARCHAR NOT NULL,
            mode          VARCHAR NOT NULL,     -- dry-run | enforce
            state         VARCHAR NOT NULL,     -- planned | done | failed | undone
            requested_at  TIMESTAMPTZ NOT NULL,
            done_at       TIMESTAMPTZ,
            error         VARCHAR,              -- redacted, one line
            note          VARCHAR,              -- e.g. 'already disabled before; nothing changed'
            before        VARCHAR,              -- JSON: the provider's state before the change
            owner         VARCHAR,              -- host:pid working on a planned row
            attempts      INTEGER NOT NULL DEFAULT 0,
            undone_at     TIMESTAMPTZ,
            UNIQUE (rule, alert_id, episode, provider, target, mode)
        )
        """
    )
