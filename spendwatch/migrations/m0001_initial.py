"""The first schema: normalised records, sync state, imported files, source metrics, alert log."""

from typing import Any

from . import migration

TOKEN_COLUMNS = "input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, requests"


@migration("0001_initial")
def initial(conn: Any) -> None:
    conn.execute(
        """
        CREATE TABLE records (
            source              VARCHAR NOT NULL,   -- configured source name
            kind                VARCHAR NOT NULL,   -- dataset a window replace works on: usage, cost, ...
            record_type         VARCHAR NOT NULL,   -- usage (tokens, maybe priced) | cost (a billed line)
            covers_usage        BOOLEAN NOT NULL,   -- cost lines that usage rows detail (token charges)
            ts                  TIMESTAMPTZ NOT NULL,
            period_end          TIMESTAMPTZ NOT NULL,
            granularity         VARCHAR NOT NULL,
            provider            VARCHAR NOT NULL,
            account_id          VARCHAR,
            project_id          VARCHAR,
            workspace_id        VARCHAR,
            api_key_id          VARCHAR,
            user_id             VARCHAR,
            model               VARCHAR,
            service_tier        VARCHAR,
            line_item           VARCHAR,
            input_tokens        BIGINT,
            cached_input_tokens BIGINT,
            cache_write_tokens  BIGINT,
            output_tokens       BIGINT,
            reasoning_tokens    BIGINT,
            requests            BIGINT,
            cost_usd            DECIMAL(38, 10),    -- NULL = no price known (never silently $0)
            cost_basis          VARCHAR NOT NULL,   -- billed | estimated (reconciled is computed in `spend`)
            currency            VARCHAR NOT NULL DEFAULT 'USD',
            tags                VARCHAR             -- JSON object text, or NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE sync_state (
            source               VARCHAR NOT NULL,
            kind                 VARCHAR NOT NULL,
            complete_through     TIMESTAMPTZ,
            last_attempt         TIMESTAMPTZ,
            last_success         TIMESTAMPTZ,
            last_error           VARCHAR,
            last_error_at        TIMESTAMPTZ,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            rows_last            BIGINT,
            PRIMARY KEY (source, kind)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE imported_files (
            path         VARCHAR NOT NULL,
            size         BIGINT NOT NULL,
            mtime        DOUBLE NOT NULL,
            sha256       VARCHAR NOT NULL,
            format       VARCHAR NOT NULL,
            source       VARCHAR NOT NULL,
            rows         BIGINT,
            window_start TIMESTAMPTZ,
            window_end   TIMESTAMPTZ,
            imported_at  TIMESTAMPTZ NOT NULL,
            error        VARCHAR
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE source_metrics (          -- point-in-time facts such as a prepaid credit balance
            source      VARCHAR NOT NULL,
            name        VARCHAR NOT NULL,
            observed_at TIMESTAMPTZ NOT NULL,
            value       DECIMAL(38, 10),
            unit        VARCHAR,
            detail      VARCHAR,
            PRIMARY KEY (source, name, observed_at)
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE alert_log (
            alert_id     VARCHAR PRIMARY KEY,  -- hash of detector, scope and period
            detector     VARCHAR NOT NULL,
            key          VARCHAR NOT NULL,
            severity     VARCHAR NOT NULL,
            step         INTEGER NOT NULL DEFAULT 0,  -- escalation step; a higher step is re-sent
            state        VARCHAR NOT NULL,            -- open | resolved
            scope        VARCHAR,                     -- JSON
            period_start TIMESTAMPTZ,
            period_end   TIMESTAMPTZ,
            observed     DECIMAL(38, 10),
            expected     DECIMAL(38, 10),
            threshold    DECIMAL(38, 10),
            message      VARCHAR,
            drivers      VARCHAR,                     -- JSON
            first_seen   TIMESTAMPTZ NOT NULL,
            last_seen    TIMESTAMPTZ NOT NULL,
            resolved_at  TIMESTAMPTZ
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE alert_deliveries (
            alert_id        VARCHAR NOT NULL,
            sink            VARCHAR NOT NULL,
            step            INTEGER NOT NULL,
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      VARCHAR,
            last_attempt_at TIMESTAMPTZ,
            delivered_at    TIMESTAMPTZ,
            PRIMARY KEY (alert_id, sink, step)
        )
        """
    )
