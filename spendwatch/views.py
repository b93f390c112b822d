"""The stable SQL surface: `spend`, `daily_spend`, `chargeback`, `alerts`.

Base tables are internal; these views are the contract. They are created as TEMP views on every
connection (so a read-only `spendwatch sql` sees the allocation rules of the config it was given) and
persisted by writers for people who open the file with another DuckDB client.

`spend` implements invariant 3 (no double counting) and the money rules of docs/attribution.md (bills as the
truth, estimates reconciled to them, gateway logs attributed, duplicate bills dropped), but not here: since
migration 0007 spendwatch/attribution.py applies them when rows are written and stores each row's figure
(`records.spend_usd`, `in_spend`), so `spend` is a projection of `records` with the teams allocated, as
fast to read as the table itself (bench/attribution.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .attribution import spend_rows_sql
from .sqlmatch import match_sql, team_sql

__all__ = ["match_sql", "team_sql", "materialised_spend_sql", "view_definitions", "ensure_views"]

DIMENSIONS = ("provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id",
              "model", "service_tier", "line_item")
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
          "requests")


def materialised_spend_sql(rules: Iterable[Any], records: str = "records") -> str:
    """`spend`: the money rules (bills, reconciliation, gateway attribution, duplicate bills) are applied at
    write time by spendwatch/attribution.py; the view projects `records` (or a slice of it) and
    allocates teams."""
    return f"""
SELECT b.ts, b.period_end, b.granularity, {", ".join("b." + d for d in DIMENSIONS)},
       {", ".join("b." + t for t in TOKENS)}, b.cost_usd, b.cost_basis,
       {team_sql(rules)} AS team, b.tags, b.record_type, b.currency, b.via
FROM ({spend_rows_sql(DIMENSIONS, TOKENS, records)}) b
"""


def daily_spend_sql() -> str:
    dims = ", ".join(DIMENSIONS)
    sums = ", ".join(f"sum({t}) AS {t}" for t in TOKENS)
    return f"""
SELECT CAST(timezone('UTC', ts) AS DATE) AS day, {dims}, cost_basis, team, {sums},
       CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd, via
FROM spend GROUP BY ALL
"""


def chargeback_sql() -> str:
    sums = ", ".join(f"sum({t}) AS {t}" for t in TOKENS)
    return f"""
SELECT strftime(timezone('UTC', ts), '%Y-%m') AS month, coalesce(team, '(unallocated)') AS team, provider,
       project_id, model, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd, {sums}, via
FROM spend GROUP BY ALL
"""


def alerts_sql() -> str:
    return """
SELECT a.alert_id, a.detector, a.key, a.severity, a.step, a.state, a.scope, a.period_start, a.period_end,
       a.observed, a.expected, a.threshold, a.message, a.drivers, a.first_seen, a.last_seen, a.resolved_at,
       (SELECT list(DISTINCT d.sink ORDER BY d.sink) FROM alert_deliveries d
         WHERE d.alert_id = a.alert_id AND d.delivered_at IS NOT NULL) AS delivered_to,
       (SELECT count(*) FROM alert_deliveries d
         WHERE d.alert_id = a.alert_id AND d.delivered_at IS NULL
           AND d.error_kind IS DISTINCT FROM 'expired') AS pending_deliveries,
       a.episode,
       (SELECT arg_max(d.last_error, d.last_attempt_at) FROM alert_deliveries d
         WHERE d.alert_id = a.alert_id AND d.delivered_at IS NULL) AS last_delivery_error,
       (SELECT count(*) FROM alert_deliveries d
         WHERE d.alert_id = a.alert_id AND d.error_kind = 'expired') AS expired_deliveries
FROM alert_log a
"""


def view_definitions(rules: Iterable[Any]) -> list[tuple[str, str]]:
    rules = list(rules)
    return [("spend", materialised_spend_sql(rules)), ("daily_spend", daily_spend_sql()), ("chargeback", chargeback_sql()),
            ("alerts", alerts_sql()), ("actions", actions_sql())]


def signature(defs: list[tuple[str, str]]) -> str:
    import hashlib

    return "spendwatch-views:" + hashlib.sha256(repr(defs).encode()).hexdigest()[:16]


def ensure_views(conn: Any, rules: Iterable[Any], *, read_only: bool) -> None:
    """Make the contract views match this code and these allocation rules.

    The persisted views carry a signature (as a COMMENT on `spend`). A writer re-creates them only when the
    signature differs (so the file is not rewritten on every open); a reader whose config differs from what
    is persisted shadows them with TEMP views, which costs ~25 ms, so it is skipped when they match.
    """
    defs = view_definitions(rules)
    sig = signature(defs)
    # Filtered on this database, which DuckDB pushes into duckdb_views(): unfiltered, it first builds every
    # built-in view of the system catalog (~20 ms, the largest part of a read-only open).
    row = conn.execute("SELECT comment FROM duckdb_views() WHERE database_name = current_database() "
                       "AND schema_name = 'main' AND view_name = 'spend' AND NOT temporary").fetchone()
    if row and row[0] == sig:
        return
    if read_only:
        for name, sql in defs:
            conn.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        return
    for name, sql in defs:
        conn.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
    conn.execute(f"COMMENT ON VIEW spend IS '{sig}'")


def create_views(conn: Any, rules: Iterable[Any], *, temp: bool) -> None:
    kind = "TEMP VIEW" if temp else "VIEW"
    for name, sql in view_definitions(rules):
        conn.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")


def actions_sql() -> str:
    """Guardrail actions (migration 0006, spendwatch/actions.py): intent and result of every action."""
    return """
SELECT id, action, alert_id, provider, target, mode, state, requested_at, done_at, error,
       rule, episode, target_kind, note, undone_at
FROM actions_log
"""
