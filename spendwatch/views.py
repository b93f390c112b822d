"""The stable SQL surface: `spend`, `daily_spend`, `chargeback`, `alerts`.

Base tables are internal; these views are the contract. They are created as TEMP views on every
connection (so a read-only `spendwatch sql` sees the allocation rules of the config it was given) and
persisted by writers for people who open the file with another DuckDB client.

`spend` implements invariant 3 (no double counting) at query time:
  * cost lines (record_type = 'cost') are the billed truth;
  * usage rows we priced ourselves (cost_basis = 'estimated') in a (provider, project, UTC day) that also
    has billed token lines (covers_usage) are scaled so they sum *exactly* to that billed total and are
    marked `reconciled`; the billed token lines they replace are hidden. Scaling is integer arithmetic in
    units of 1e-10 USD; the rounding remainder goes to the group's largest row, so sums are exact;
  * billed lines with no usage counterpart (tools, storage, fine-tuning) stand as their own rows;
  * estimates stand alone only where nothing is billed for their group yet.
Usage rows whose money came from the provider itself (OpenRouter, LiteLLM) are stored as `billed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .attribution import spend_rows_sql
from .sqlmatch import match_sql, team_sql

__all__ = ["match_sql", "team_sql", "spend_sql", "materialised_spend_sql", "view_definitions", "ensure_views"]

DIMENSIONS = ("provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id",
              "model", "service_tier", "line_item")
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
          "requests")
UNIT = "10000000000"  # 1e10: money in integer units of 1e-10 USD for exact scaling
# Overflow guards (docs/input-limits.md). A row beyond the import bound (|cost| < 1e15 USD, which only an older
# version could have stored) shows its cost as unknown (NULL) rather than making every reader fail; within the
# bound a row is < 1e25 units and sums stay far inside HUGEINT. The reconciling product units × billed is
# exact whenever it fits HUGEINT (< 1.7e38, e.g. any row up to $1e9 against a day's bill up to $1e9); beyond
# that the share is computed in DOUBLE, and the rounding remainder still goes to the largest row, so the
# group's sum stays exactly the billed total.
GUARDED_COST = "(CASE WHEN abs(cost_usd) < CAST('1000000000000000' AS DECIMAL(38, 10)) THEN cost_usd END)"
PRODUCT_FITS = ("abs(billed.b) <= CAST('170141183460469231731687303715884105727' AS HUGEINT) "
                "// greatest(abs(r.units_), CAST(1 AS HUGEINT))")


def spend_sql(rules: Iterable[Any], records: str = "records") -> str:
    """The `spend` view's SQL over `records` (a table name or a parenthesised relation: detectors pass a
    time-bounded slice of the table to reconcile only the days they read)."""
    dims = ", ".join(DIMENSIONS)
    toks = ", ".join(TOKENS)
    return f"""
WITH r AS (
    SELECT * REPLACE ({GUARDED_COST} AS cost_usd), CAST(timezone('UTC', ts) AS DATE) AS day_,
           coalesce(project_id, '') AS pk_, CAST({GUARDED_COST} * {UNIT} AS HUGEINT) AS units_
    FROM {records}
),
billed AS (
    SELECT provider, pk_, day_, sum(units_) AS b
    FROM r WHERE record_type = 'cost' AND covers_usage GROUP BY ALL
),
est AS (
    SELECT provider, pk_, day_, sum(units_) AS e
    FROM r WHERE record_type = 'usage' AND cost_basis = 'estimated' AND units_ IS NOT NULL
    GROUP BY ALL HAVING sum(units_) > 0
),
scaled AS (
    SELECT r.*, billed.b, est.e,
           CASE WHEN r.units_ IS NULL THEN NULL WHEN {PRODUCT_FITS} THEN (r.units_ * billed.b) // est.e
                ELSE CAST(floor(CAST(r.units_ AS DOUBLE) * CAST(billed.b AS DOUBLE) / CAST(est.e AS DOUBLE)) AS HUGEINT)
           END AS share_,
           row_number() OVER (PARTITION BY r.provider, r.pk_, r.day_
                              ORDER BY r.units_ DESC NULLS LAST, r.ts, r.source, r.api_key_id, r.model,
                                       r.user_id, r.service_tier, r.line_item) AS rank_
    FROM r JOIN est USING (provider, pk_, day_) JOIN billed USING (provider, pk_, day_)
    WHERE r.record_type = 'usage' AND r.cost_basis = 'estimated'
),
reconciled AS (
    SELECT * EXCLUDE (share_, rank_, b, e),
           share_ + CASE WHEN rank_ = 1 THEN b - sum(share_) OVER (PARTITION BY provider, pk_, day_) ELSE 0 END
               AS new_units_
    FROM scaled
),
unioned AS (
    SELECT ts, period_end, granularity, {dims}, {toks},
           CAST(CAST(new_units_ AS DECIMAL(38, 0)) * CAST(0.0000000001 AS DECIMAL(38, 10)) AS DECIMAL(38, 10)) AS cost_usd,
           'reconciled' AS cost_basis, tags, record_type, currency
    FROM reconciled
    UNION ALL
    SELECT ts, period_end, granularity, {dims}, {toks}, cost_usd, cost_basis, tags, record_type, currency
    FROM r
    WHERE NOT (
        (record_type = 'usage' AND cost_basis = 'estimated'
            AND EXISTS (SELECT 1 FROM billed b JOIN est e USING (provider, pk_, day_)
                        WHERE b.provider = r.provider AND b.pk_ = r.pk_ AND b.day_ = r.day_))
        OR (record_type = 'cost' AND covers_usage
            AND EXISTS (SELECT 1 FROM est e WHERE e.provider = r.provider AND e.pk_ = r.pk_ AND e.day_ = r.day_))
    )
)
SELECT b.ts, b.period_end, b.granularity, {", ".join("b." + d for d in DIMENSIONS)},
       {", ".join("b." + t for t in TOKENS)}, b.cost_usd, b.cost_basis,
       {team_sql(rules)} AS team, b.tags, b.record_type, b.currency
FROM unioned b
"""


def materialised_spend_sql(rules: Iterable[Any], records: str = "records") -> str:
    """`spend` since migration 0004: the money rules above (and gateway attribution, duplicate bills) are
    applied at write time by spendwatch/attribution.py; the view projects `records` (or a slice of it) and
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
