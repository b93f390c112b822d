"""One truth for money when sources overlap: bills are the money, every other source attributes it.

What `spend` shows for each record is computed here, at write time, and kept beside the record in
`records` (columns of migration 0004: `spend_provider`, `spend_cost`, `spend_basis`, `via`, `hidden_by`;
of migration 0007: `spend_usd`, the money `spend` shows, = coalesce(spend_cost, cost_usd within the import
bound), and `in_spend` = hidden_by IS NULL, so that `spend` reads one money column and one BOOLEAN).
Why at write time: the rules below need window functions over every row of a day (shares, ranks,
remainders); at query time that made `select sum(cost_usd) from spend` over 5M gateway rows many times
slower than the same sum over `records` (bench/attribution.py). Materialised, `spend` is a projection
of `records` with a filter, and every figure is still exact. Every write of records (a collect window,
an import) re-computes the UTC days it touched, inside the same transaction, from all rows of those days;
so the result depends only on what is stored, never on the order things arrived in (gateway logs first
or bill first), and re-running a collect or import leaves every figure unchanged.

The rules, per UTC day, all money in integer units of 1e-10 USD (HUGEINT), every split exact (the
rounding remainder goes to the group's largest row, ties broken by the row's content, never by storage
order):

1. Duplicate bills. Cost lines (record_type 'cost') of one provider, day and project (coalesce(project_id,
   '')) that come from two or more sources are the same bill seen twice (e.g. the `openai` collector and an
   `openai-costs-csv` import under another name). The winner is the source configured first in
   [[sources]]; sources that are not configured (imports under a free `--source` name) rank after every
   configured one, alphabetically. The losers' lines are hidden (`hidden_by = 'duplicate:<winner>'`).
   Assumption: two sources never bill the same project of the same provider (project ids are unique per
   provider; org-level lines with no project from two different organisations would be taken for one).
2. Gateways ([[gateways]]). A usage row of a gateway source whose upstream (the part of `line_item` before
   the first '/', where the LiteLLM importer and collector keep `custom_llm_provider`) is listed in
   `upstreams` shows `provider` = the upstream and `via` = the gateway source. Per (upstream, day, model
   key) the bill's token lines (covers_usage) matching `upstream_match` (default: all of that provider) are
   split across the gateway's rows of that group in proportion to the gateway's own cost (token share when
   a row has no cost), `cost_basis = 'attributed'`; those bill lines are hidden (`gateway:<source>`). The
   provider's own usage rows of that group that match `upstream_match` describe the same requests with
   fewer dimensions, so they are hidden too (`superseded:<source>`). A gateway group with no bill line yet
   keeps the gateway's own cost as `estimated`. Bill lines of groups the gateway did not use stay as they
   are ("direct" traffic), and reconcile with the provider's own usage as below.
   Model key: lower-case model name without a `provider/` prefix and without a trailing snapshot date
   (`-2024-08-06`, `-20250514`), so a gateway's `gpt-4o` meets the bill's `gpt-4o-2024-08-06`.
3. Reconciliation (invariant 3), on what is left: per (provider, project, day) that has billed token lines
   and usage rows we priced ourselves (`estimated`, possibly unpriced: cost NULL), the bill is split over
   those usage rows and they become `reconciled`; the bill lines are hidden (`reconciled`).
   * A model with unpriced rows whose bill has lines for that very model gets exactly those lines' money,
     split by tokens;
   * the rest of the bill goes to the remaining rows: unpriced rows take a token share of it, priced rows
     the remainder in proportion to their estimate.
   So an unpriced model ends with billed money wherever a bill covers it, and its cost is unknown only
   where no bill exists (the only place `unpriced_model` looks).

4. Sizes (docs/input-limits.md: |cost| < 1e15 USD, tokens < 1e15 per row; HUGEINT holds ±1.7e38). A share is
   money × weight // total weight, with money up to ~1e25 units per bill line (more summed over lines) and a
   weight up to 1e25 (a cost) or 2e15 (tokens): the product can leave HUGEINT. Per pool, where
   max|money| × max|weight| could exceed 1e37 (PRODUCT_DIGITS), the weights are divided by the power of ten
   10^k that brings it below (truncated toward zero); everywhere else they are used as they are, so the
   figures are the same as without the rule. The shares still sum to the pool's money exactly (the
   remainder still goes to the leader, chosen by the unscaled weight); only the proportion is rounded
   (at the bound, a weight keeps ~10 significant digits). The reconciliation's token share of the rest of a
   bill (rest × unpriced tokens // all tokens) is scaled the same way. Guards that within the bounds never
   fire but keep every sum inside HUGEINT: a pool whose credits (nearly) cancel its charges
   (max|money| × Σ|cost| > 1e38 × Σcost) is split by tokens instead of cost; if the scaled weights sum to
   0 or less, or their shares could sum beyond 1e38, the leader takes the whole pool; if the scaled token
   total is 0, unpriced rows take none of the rest. A stored cost beyond the bound (only an older version
   could store one) counts as unknown (NULL), here and in `spend`; a computed figure (`spend_cost`) is a
   split of in-bound money and may itself exceed 1e15 (many bill lines on few rows).

Invariant: for every provider and UTC day with a bill, sum(cost_usd) over `spend` equals the winning
bill's total, unless a gateway logs a model (after the model key) that the bill does not have that day:
then those rows keep the gateway's estimate, and `gateway_gap` reports the difference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .limits import SQL_MAX_COST
from .sqlmatch import match_sql
from .timeutil import day_start, utcnow

UNIT = "10000000000"  # 1e10: money in integer units of 1e-10 USD
MODEL_KEY = ("regexp_replace(regexp_replace(lower(model), '^.*/', ''), "
             "'-(\\d{4}-\\d{2}-\\d{2}|\\d{8})$', '')")
MATERIALISED = ("spend_provider", "spend_cost", "spend_basis", "via", "hidden_by")
# Since migration 0007: what `spend` shows, fully materialised (so it is a plain projection of `records`).
SPEND_MONEY = ("spend_usd", "in_spend")
NOT_CONFIGURED = 1_000_000  # rank of bill sources missing from [[sources]]
# HUGEINT holds ±1.7e38. A share is money × weight // total: the product is kept below 1e37 (weights scaled
# down by a power of ten where it could exceed that), the sum of a pool's shares below 1e38 (docstring, rule 4).
PRODUCT_DIGITS = 37
SUM_DIGITS = 38
# A stored cost beyond the import bound (docs/input-limits.md: |cost| < 1e15 USD), which only an older version
# could have stored, counts as unknown (NULL) here and in `spend`, instead of overflowing HUGEINT.
GUARDED_COST = f"(CASE WHEN abs(cost_usd) < {SQL_MAX_COST} THEN cost_usd END)"
SPEND_USD = f"coalesce(spend_cost, {GUARDED_COST})"  # records.spend_usd: the money `spend` shows for a row


@dataclass(frozen=True)
class GatewayConfig:
    """A [[gateways]] entry: whose rows are gateway request logs, for which upstream providers."""

    source: str
    upstreams: list[str]
    upstream_match: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MoneyRules:
    """Everything of the config that decides `spend`'s money (persisted in the store with the results)."""

    gateways: tuple[GatewayConfig, ...] = ()
    source_order: tuple[str, ...] = ()  # configured source names in config order: the bill-source ranking

    def to_json(self) -> str:
        return json.dumps({"gateways": [{"source": g.source, "upstreams": list(g.upstreams),
                                         "upstream_match": g.upstream_match} for g in self.gateways],
                           "source_order": list(self.source_order)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> MoneyRules:
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(tuple(GatewayConfig(g["source"], list(g["upstreams"]), dict(g["upstream_match"]))
                         for g in raw.get("gateways", [])), tuple(raw.get("source_order", [])))

    def signature(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


UPSTREAM_MATCH_COLUMNS = ("source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id", "model",
                          "service_tier", "line_item")


def parse_gateways(tables: list[dict[str, Any]], probs: Any, parse_options: Any, check_match: Any) -> list[Any]:
    """[[gateways]] → GatewayConfig list, reporting problems by key path (config.py's checker)."""
    out: list[Any] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        path = ("gateways", i)
        g = parse_options(GatewayConfig, t, path, probs)
        if not isinstance(g, GatewayConfig):
            out.append(g)
            continue
        if not g.upstreams:
            probs.add(path + ("upstreams",), 'must list at least one provider, e.g. ["openai", "anthropic"]')
        if g.source in seen:
            probs.add(path + ("source",), f"duplicate gateway source {g.source!r}")
        if g.source in g.upstreams:
            probs.add(path + ("upstreams",), f"a gateway cannot be its own upstream ({g.source!r})")
        seen.add(g.source)
        check_match(g.upstream_match, path + ("upstream_match",), probs)
        for col in g.upstream_match:
            if col not in UPSTREAM_MATCH_COLUMNS:
                probs.add(path + ("upstream_match", col),
                          f"not a stored column of the bill (use one of {', '.join(UPSTREAM_MATCH_COLUMNS)})")
        out.append(g)
    return out


def rules_of(config: Any) -> MoneyRules | None:
    """The config's rules; None for the stand-in config of `--store` without a config file (then the
    store keeps the rules it was computed with instead of forgetting its gateways)."""
    if getattr(config, "path", None) == "(none)":
        return None
    return MoneyRules(tuple(getattr(config, "gateways", ()) or ()), tuple(s.name for s in config.sources))


# ------------------------------------------------------------------------------------------------ SQL bits
def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _in(expr: str, values: Iterable[str]) -> str:
    """`expr IN (...)`, or FALSE for no values (never NULL, so NOT works)."""
    vals = list(values)
    return f"coalesce({expr} IN ({', '.join(_q(v) for v in vals)}), FALSE)" if vals else "FALSE"


def _gateway_case(rules: MoneyRules) -> str:
    """The gateway source of a row whose upstream is listed, else NULL."""
    up = "split_part(line_item, '/', 1)"
    whens = [f"WHEN source = {_q(g.source)} AND record_type = 'usage' AND {_in(up, g.upstreams)} "
             f"THEN {_q(g.source)}" for g in rules.gateways]
    return f"CASE {' '.join(whens)} ELSE NULL END" if whens else "CAST(NULL AS VARCHAR)"


def _upstream_match(rules: MoneyRules) -> str:
    """TRUE for rows of an upstream provider that a gateway's `upstream_match` says is its own traffic."""
    parts = [f"({_in('provider', g.upstreams)} AND {match_sql(g.upstream_match)})" for g in rules.gateways]
    return " OR ".join(parts) if parts else "FALSE"


def _rank(rules: MoneyRules) -> str:
    whens = " ".join(f"WHEN {_q(s)} THEN {i}" for i, s in enumerate(rules.source_order))
    return f"CASE source {whens} ELSE {NOT_CONFIGURED} END" if whens else str(NOT_CONFIGURED)


def _money(units: str) -> str:
    return f"CAST(CAST({units} AS DECIMAL(38, 0)) * CAST(0.0000000001 AS DECIMAL(38, 10)) AS DECIMAL(38, 10))"


# ---------------------------------------------------------------------------------------------- the work
def stored_rules(conn: Any) -> MoneyRules:
    row = conn.execute("SELECT rules FROM money_rules").fetchone()
    return MoneyRules.from_json(row[0] if row else None)


def adopt_rules(conn: Any, rules: MoneyRules) -> bool:
    """Persist `rules` and recompute every day if they differ from what the store was computed with.

    Runs in its own transaction (called by a writer right after opening). Returns True if it rebuilt.
    """
    row = conn.execute("SELECT signature FROM money_rules").fetchone()
    if row and row[0] == rules.signature():
        return False
    conn.execute("BEGIN TRANSACTION")
    try:
        _save_rules(conn, rules)
        refresh(conn, None, None, rules)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def _save_rules(conn: Any, rules: MoneyRules) -> None:
    conn.execute("DELETE FROM money_rules")
    conn.execute("INSERT INTO money_rules VALUES (?, ?, ?)", [rules.signature(), rules.to_json(), utcnow()])


def refresh_window(conn: Any, start: datetime, end: datetime) -> None:
    """Re-compute the UTC days overlapping [start, end) with the store's rules (inside the caller's
    transaction). Every writer of `records` calls this after its delete + insert."""
    lo = day_start(start)
    hi = day_start(end) if day_start(end) == end else day_start(end) + timedelta(days=1)
    refresh(conn, lo, hi, stored_rules(conn))


def refresh(conn: Any, lo: datetime | None, hi: datetime | None, rules: MoneyRules) -> None:
    """Recompute the materialised `spend` columns of every record with lo <= ts < hi (None: all)."""
    if lo is None and conn.execute("SELECT NOT EXISTS (SELECT 1 FROM records)").fetchone()[0]:
        return  # no record, no figure: a new store's migrations and first rules cost one query, not the plan
    where = "TRUE" if lo is None else "ts >= $lo AND ts < $hi"
    params: dict[str, Any] = {} if lo is None else {"lo": lo, "hi": hi}
    # A store before migration 0007 (migration 0004 runs this, over every day) has no spend_usd/in_spend yet;
    # a writer's refresh of some days always runs after the migrations.
    full = lo is not None or "in_spend" in {r[0] for r in conn.execute("DESCRIBE records").fetchall()}
    attribute, fill = (True, True) if lo is None else _what_to_do(conn, where, params, rules)
    if attribute:
        _attribute(conn, where, params, rules, full)
    if full and (attribute or fill):
        # Every other row of these days shows its stored cost: fill spend_usd where a writer inserted the row
        # without it (a writer that inserts RECORD_COLUMNS only; in_spend defaults to TRUE). Rows rewritten by
        # _attribute and rows already right match nothing here, so this is one scan of the days, skipped when
        # `_what_to_do` found no row it would match.
        conn.execute(f"""
            UPDATE records SET spend_usd = {SPEND_USD}, in_spend = (hidden_by IS NULL)
            WHERE {where} AND (spend_usd IS DISTINCT FROM {SPEND_USD} OR in_spend IS DISTINCT FROM (hidden_by IS NULL))
        """, params)


def _attribute(conn: Any, where: str, params: dict[str, Any], rules: MoneyRules, full: bool) -> None:
    """Rules 1-3 over the rows of `where`: the planned split, then the rewrite of every row whose figures
    change."""
    from_gw = _in("source", [g.source for g in rules.gateways])
    # Only rows that can take part: bill lines, our own estimates, gateway logs.
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE _mw AS
        SELECT rowid AS rid, source, record_type, covers_usage, provider, cost_basis,
               CAST(timezone('UTC', ts) AS DATE) AS day_, coalesce(project_id, '') AS pk_,
               coalesce({MODEL_KEY}, '') AS mk_, CAST({GUARDED_COST} * {UNIT} AS HUGEINT) AS units_,
               CAST(coalesce(input_tokens, 0) AS HUGEINT) + coalesce(output_tokens, 0) AS tok_,
               {_gateway_case(rules)} AS gw_, split_part(line_item, '/', 1) AS up_,
               coalesce({_upstream_match(rules)}, FALSE) AS gm_, {from_gw} AS from_gw_,
               {_rank(rules)} AS rank_,
               ts, api_key_id, user_id, project_id, model, service_tier, line_item, tags
        FROM records
        WHERE {where} AND (record_type = 'cost' OR cost_basis = 'estimated' OR {from_gw})
    """, params)
    conn.execute(_PLAN)
    columns = MATERIALISED + (SPEND_MONEY if full else ())
    money = f"{_money('m.new_units')} AS spend_cost"
    derived = (f", coalesce({_money('m.new_units')}, {GUARDED_COST.replace('cost_usd', 'r.cost_usd')}) AS spend_usd, "
               "m.hidden_by IS NULL AS in_spend") if full else ""
    changed = (f"r.spend_provider IS DISTINCT FROM m.spend_provider OR r.spend_cost IS DISTINCT FROM {_money('m.new_units')} "
               "OR r.spend_basis IS DISTINCT FROM m.spend_basis OR r.via IS DISTINCT FROM m.via "
               "OR r.hidden_by IS DISTINCT FROM m.hidden_by")
    if full:
        changed += (f" OR r.spend_usd IS DISTINCT FROM coalesce({_money('m.new_units')}, "
                    f"{GUARDED_COST.replace('cost_usd', 'r.cost_usd')}) OR r.in_spend IS DISTINCT FROM (m.hidden_by IS NULL)")
    # Rewrite the rows whose figures change (DuckDB deletes and bulk inserts far faster than it updates
    # scattered rows): those with new figures, and those whose old figures are gone; a row whose figures
    # come out as they were stays untouched (a collect of one source leaves the other sources' days alone).
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE _mnew AS
        SELECT r.* EXCLUDE ({", ".join(columns)}), m.spend_provider, {money}, m.spend_basis, m.via, m.hidden_by
               {derived}, r.rowid AS rid_
        FROM records r LEFT JOIN _mres m ON r.rowid = m.rid
        WHERE {where.replace('ts', 'r.ts')} AND (m.rid IS NOT NULL OR r.spend_provider IS NOT NULL OR r.spend_cost IS NOT NULL
               OR r.spend_basis IS NOT NULL OR r.via IS NOT NULL OR r.hidden_by IS NOT NULL)
          AND ({changed})
    """, params)
    conn.execute("DELETE FROM records WHERE rowid IN (SELECT rid_ FROM _mnew)")
    conn.execute("INSERT INTO records BY NAME SELECT * EXCLUDE (rid_) FROM _mnew")
    for t in ("_mw", "_mres", "_mnew"):
        conn.execute(f"DROP TABLE IF EXISTS {t}")


def _what_to_do(conn: Any, where: str, params: dict[str, Any], rules: MoneyRules) -> tuple[bool, bool]:
    """(attribute, fill) for the days of `where`, in one cheap scan.

    attribute: False when the days hold nothing `_PLAN` could give a figure to, and no stale figure: then
    `_attribute` would rewrite no row, and this scan replaces its planned CTE and four temp tables (most
    imports and collects touch days with no second bill, no gateway log and no bill beside our estimates).
    Conservative by construction: it answers True (so the full plan runs) if any (provider, project, day)
    has cost lines from two sources (rule 1), or token bill lines beside estimated usage rows (rule 3), or
    if any row is a gateway log (rule 2) or already carries a materialised column.

    fill: False when every row already shows what `spend` should (spend_usd, in_spend): then the UPDATE
    that fills them would match no row (this is its own WHERE). spendwatch's writers insert them with their
    rows (`fresh_spend`) and so save that statement; a writer that inserts RECORD_COLUMNS only gets True."""
    stale = " OR ".join(f"{c} IS NOT NULL" for c in MATERIALISED)
    if rules.gateways:
        stale += f" OR {_in('source', [g.source for g in rules.gateways])}"
    # min <> max is count(DISTINCT source) > 1 at a third of the cost (NULL when the cell has no cost line,
    # which bool_or skips).
    row = conn.execute(f"""
        SELECT coalesce(bool_or(attribute_), FALSE), coalesce(bool_or(fill_), FALSE) FROM (
            SELECT (min(source) FILTER (WHERE record_type = 'cost') <> max(source) FILTER (WHERE record_type = 'cost'))
                   OR (bool_or(record_type = 'cost' AND covers_usage) AND bool_or(record_type = 'usage' AND cost_basis = 'estimated'))
                   OR bool_or({stale}) AS attribute_,
                   bool_or(spend_usd IS DISTINCT FROM {SPEND_USD} OR in_spend IS DISTINCT FROM (hidden_by IS NULL)) AS fill_
            FROM records WHERE {where}
            GROUP BY provider, coalesce(project_id, ''), CAST(timezone('UTC', ts) AS DATE))""", params).fetchone()
    return bool(row[0]), bool(row[1])


def fresh_spend() -> dict[str, str]:
    """The materialised spend columns of a row no rule touches, as SQL over the row's own columns: what a
    writer may insert with its rows so that `refresh` has nothing to fill (see `_what_to_do`)."""
    return {"spend_usd": GUARDED_COST, "in_spend": "TRUE"}


# One statement: duplicates → gateway pools → reconciliation pools → exact splits → per-row results.
_PLAN = """
CREATE OR REPLACE TEMP TABLE _mres AS
WITH cells AS (          -- which source's bill counts per (provider, day, project)
    SELECT provider, day_, pk_, arg_min(source, printf('%09d|%s', rank_, source)) AS winner
    FROM _mw WHERE record_type = 'cost' GROUP BY ALL HAVING count(DISTINCT source) > 1
),
bill AS (                -- bill lines that count (losers of a duplicate dropped)
    SELECT w.* FROM _mw w LEFT JOIN cells c USING (provider, day_, pk_)
    WHERE w.record_type = 'cost' AND (c.winner IS NULL OR c.winner = w.source)
),
dup AS (
    SELECT w.rid, 'duplicate:' || c.winner AS hidden_by FROM _mw w JOIN cells c USING (provider, day_, pk_)
    WHERE w.record_type = 'cost' AND w.source <> c.winner
),
gw AS (SELECT * FROM _mw WHERE gw_ IS NOT NULL),
gkeys AS (SELECT up_ AS provider, day_, mk_, min(gw_) AS gw_ FROM gw GROUP BY ALL),
gbill AS (               -- token lines of the bill that gateway rows of the same group take
    SELECT b.*, k.gw_ AS taker_ FROM bill b JOIN gkeys k USING (provider, day_, mk_)
    WHERE b.covers_usage AND b.gm_
),
gmoney AS (SELECT provider, day_, mk_, sum(coalesce(units_, 0)) AS money FROM gbill GROUP BY ALL),
superseded AS (          -- the provider's own usage rows for requests the gateway logged
    SELECT u.rid, 'superseded:' || k.gw_ AS hidden_by FROM _mw u JOIN gkeys k USING (provider, day_, mk_)
    WHERE u.record_type = 'usage' AND u.gw_ IS NULL AND NOT u.from_gw_ AND u.gm_
),
rbill AS (SELECT * FROM bill b WHERE covers_usage AND NOT EXISTS (SELECT 1 FROM gbill g WHERE g.rid = b.rid)),
rusage AS (
    SELECT * FROM _mw u WHERE record_type = 'usage' AND cost_basis = 'estimated' AND gw_ IS NULL
      AND NOT from_gw_ AND NOT EXISTS (SELECT 1 FROM superseded s WHERE s.rid = u.rid)
),
groups AS (              -- (provider, project, day) with both a bill and our own usage rows
    SELECT provider, pk_, day_ FROM (SELECT DISTINCT provider, pk_, day_ FROM rbill)
    JOIN (SELECT DISTINCT provider, pk_, day_ FROM rusage) USING (provider, pk_, day_)
),
umodels AS (             -- unpriced models whose own bill lines are present
    SELECT provider, pk_, day_, mk_ FROM (
        SELECT DISTINCT provider, pk_, day_, mk_ FROM rusage WHERE units_ IS NULL AND mk_ <> '')
    JOIN (SELECT DISTINCT provider, pk_, day_, mk_ FROM rbill) USING (provider, pk_, day_, mk_)
),
mmoney AS (
    SELECT b.provider, b.pk_, b.day_, b.mk_, sum(coalesce(b.units_, 0)) AS money
    FROM rbill b JOIN umodels USING (provider, pk_, day_, mk_) GROUP BY ALL
),
rest_rows AS (
    SELECT u.*, CASE WHEN u.units_ IS NULL THEN 'u' ELSE 'p' END AS part_
    FROM rusage u JOIN groups USING (provider, pk_, day_) ANTI JOIN umodels USING (provider, pk_, day_, mk_)
),
rest_bill AS (
    SELECT provider, pk_, day_, coalesce(sum(coalesce(units_, 0)), 0) AS r
    FROM rbill ANTI JOIN umodels USING (provider, pk_, day_, mk_) GROUP BY ALL
),
rest AS (
    SELECT provider, pk_, day_, coalesce(any_value(b.r), 0) AS r,
           count(*) FILTER (WHERE part_ = 'u') AS n_u, count(*) FILTER (WHERE part_ = 'p') AS n_p,
           coalesce(sum(tok_) FILTER (WHERE part_ = 'u'), 0) AS t_u, coalesce(sum(tok_), 0) AS t_all
    FROM rest_rows r LEFT JOIN rest_bill b USING (provider, pk_, day_) GROUP BY ALL
),
rest_scaled AS (         -- token counts scaled down by 10^k only where r * t_all could leave HUGEINT
    SELECT *, CAST('1' || repeat('0', CASE WHEN r = 0 OR t_all = 0 THEN 0 ELSE greatest(0, CAST(ceil(
                  log10(CAST(abs(r) AS DOUBLE)) + log10(CAST(t_all AS DOUBLE)) - {FIT}) AS INTEGER)) END)
                  AS HUGEINT) AS s_
    FROM rest
),
rest_money AS (
    SELECT * EXCLUDE (s_), CASE WHEN n_p = 0 THEN r WHEN n_u = 0 OR t_all // s_ = 0 THEN 0
                                ELSE (r * (t_u // s_)) // (t_all // s_) END AS m_u
    FROM rest_scaled
),
pool_rows AS (
    SELECT g.rid, g.units_, g.tok_, 'g' AS pt_, g.up_ AS pp_, '' AS pk2_, g.day_ AS pd_, g.mk_ AS pm_,
           m.money, g.gw_ AS via_, g.ts, g.source, g.api_key_id, g.user_id, g.project_id, g.model, g.service_tier,
           g.line_item, g.tags
    FROM gw g JOIN gmoney m ON m.provider = g.up_ AND m.day_ = g.day_ AND m.mk_ = g.mk_
    UNION ALL
    SELECT u.rid, u.units_, u.tok_, 'm', u.provider, u.pk_, u.day_, u.mk_, m.money, NULL, u.ts, u.source, u.api_key_id,
           u.user_id, u.project_id, u.model, u.service_tier, u.line_item, u.tags
    FROM rusage u JOIN mmoney m USING (provider, pk_, day_, mk_)
    UNION ALL
    SELECT r.rid, r.units_, r.tok_, r.part_, r.provider, r.pk_, r.day_, '',
           CASE WHEN r.part_ = 'u' THEN m.m_u ELSE m.r - m.m_u END, NULL, r.ts, r.source, r.api_key_id, r.user_id,
           r.project_id, r.model, r.service_tier, r.line_item, r.tags
    FROM rest_rows r JOIN rest_money m USING (provider, pk_, day_)
),
pool_basis AS (          -- cost share unless a row has no cost or credits (nearly) cancel the charges
    SELECT pt_, pp_, pk2_, pd_, pm_, mm,
           CASE WHEN nnull = 0 AND su > 0 AND CAST(mm AS DOUBLE) * CAST(sau AS DOUBLE) <= {SUM_FIT} * CAST(su AS DOUBLE)
                THEN 'c' WHEN st > 0 THEN 't' ELSE '1' END AS basis_, mu, mt
    FROM (SELECT pt_, pp_, pk2_, pd_, pm_, count(*) FILTER (WHERE units_ IS NULL) AS nnull, sum(units_) AS su,
                 sum(abs(units_)) AS sau, max(abs(units_)) AS mu, sum(tok_) AS st, max(tok_) AS mt,
                 max(abs(money)) AS mm FROM pool_rows GROUP BY ALL)
),
pool_keys AS (           -- one integer per pool; plain GROUP BYs and joins (window functions were slow)
    SELECT pt_, pp_, pk2_, pd_, pm_, row_number() OVER () AS pool_, basis_,
           -- weights scaled down by 10^k only where money × weight could leave HUGEINT (docstring, rule 4)
           CAST('1' || repeat('0', CASE WHEN mm = 0 OR mw = 0 THEN 0 ELSE greatest(0, CAST(ceil(
               log10(CAST(mm AS DOUBLE)) + log10(CAST(mw AS DOUBLE)) - {FIT}) AS INTEGER)) END) AS HUGEINT) AS scale_
    FROM (SELECT *, CASE basis_ WHEN 'c' THEN mu WHEN 't' THEN CAST(mt AS HUGEINT) ELSE 1 END AS mw FROM pool_basis)
),
weighed AS (             -- w_: the weight (picks the leader), ws_: the weight the split uses
    SELECT *, w_ // scale_ AS ws_
    FROM (SELECT r.*, k.pool_, k.scale_,
                 CASE k.basis_ WHEN 'c' THEN r.units_ WHEN 't' THEN CAST(r.tok_ AS HUGEINT) ELSE 1 END AS w_
          FROM pool_rows r JOIN pool_keys k USING (pt_, pp_, pk2_, pd_, pm_))
),
pool_w AS (
    SELECT pool_, sum(ws_) AS total_w, sum(abs(ws_)) AS abs_w, max(abs(money)) AS mm,
           -- the row that takes the rounding remainder: the largest, ties broken by content, not storage
           arg_min(rid, {'w': -w_, 'ts': ts, 'source': source, 'key': api_key_id, 'user': user_id,
                         'project': project_id, 'model': model, 'tier': service_tier, 'item': line_item,
                         'tags': tags, 'tok': tok_}) AS leader_
    FROM weighed GROUP BY pool_
),
shared AS (
    SELECT w.rid, w.pt_, w.pp_, w.via_, w.pool_, w.money, p.leader_,
           -- degenerate scaled weights (sum 0, or shares whose sum could leave HUGEINT): the leader takes the pool
           CASE WHEN p.total_w > 0 AND CAST(p.mm AS DOUBLE) * CAST(p.abs_w AS DOUBLE) <= {SUM_FIT} * CAST(p.total_w AS DOUBLE)
                THEN (w.money * w.ws_) // p.total_w ELSE 0 END AS share_
    FROM weighed w JOIN pool_w p USING (pool_)
),
pool_sum AS (SELECT pool_, sum(share_) AS shared_ FROM shared GROUP BY pool_),
split AS (
    SELECT s.rid, s.pt_, s.pp_, s.via_,
           s.share_ + CASE WHEN s.rid = s.leader_ THEN s.money - p.shared_ ELSE 0 END AS new_units
    FROM shared s JOIN pool_sum p USING (pool_)
),
hidden AS (
    SELECT rid, hidden_by FROM dup
    UNION ALL SELECT rid, 'gateway:' || taker_ FROM gbill
    UNION ALL SELECT rid, hidden_by FROM superseded
    UNION ALL SELECT b.rid, 'reconciled' FROM rbill b JOIN mmoney USING (provider, pk_, day_, mk_)
    UNION ALL SELECT b.rid, 'reconciled' FROM rbill b JOIN rest USING (provider, pk_, day_)
              ANTI JOIN umodels USING (provider, pk_, day_, mk_)
)
SELECT rid, pp_ AS spend_provider, new_units, 'attributed' AS spend_basis, via_ AS via,
       CAST(NULL AS VARCHAR) AS hidden_by
FROM split WHERE pt_ = 'g'
UNION ALL
SELECT rid, NULL, new_units, 'reconciled', NULL, NULL FROM split WHERE pt_ <> 'g'
UNION ALL
SELECT g.rid, g.up_, NULL, 'estimated', g.gw_, NULL FROM gw g
    ANTI JOIN gmoney m ON m.provider = g.up_ AND m.day_ = g.day_ AND m.mk_ = g.mk_
UNION ALL
SELECT rid, NULL, NULL, NULL, NULL, hidden_by FROM hidden
""".replace("{FIT}", str(PRODUCT_DIGITS)).replace("{SUM_FIT}", f"1e{SUM_DIGITS}")


# ----------------------------------------------------------------------------------------------- reading
def spend_rows_sql(dimensions: Iterable[str], tokens: Iterable[str], records: str = "records") -> str:
    """The rows of `spend` before allocation: a projection of `records` (or of a slice of it, a parenthesised
    relation: detectors read only the days they need) and its materialised columns. `spend_usd` and
    `in_spend` (migration 0007) are filled at write time, so reading them is as cheap as reading `cost_usd`:
    the money (NULL for a stored cost beyond the import bound, which only an older version could have
    stored) and whether the row counts (hidden_by IS NULL)."""
    cols = ["coalesce(spend_provider, provider) AS provider" if d == "provider" else d for d in dimensions]
    return f"""
    SELECT ts, period_end, granularity, {", ".join(cols)}, {", ".join(tokens)},
           spend_usd AS cost_usd, coalesce(spend_basis, cost_basis) AS cost_basis,
           tags, record_type, currency, via
    FROM {records} WHERE in_spend"""


def duplicate_bills(conn: Any) -> list[tuple[str, str, str, Any, Any, int]]:
    """(provider, counted source, ignored source, first day, last day, days) for every duplicated bill."""
    return conn.execute("""
        SELECT provider, substr(hidden_by, 11) AS counted, source AS ignored,
               min(CAST(timezone('UTC', ts) AS DATE)), max(CAST(timezone('UTC', ts) AS DATE)),
               count(DISTINCT CAST(timezone('UTC', ts) AS DATE))
        FROM records WHERE hidden_by LIKE 'duplicate:%' GROUP BY ALL ORDER BY ALL
    """).fetchall()


def status_sections(conn: Any, config: Any) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """`status` lines: bills stored twice (counted once), and rules the store was computed with if they
    are not this config's (a reader cannot recompute; the next collect or import does)."""
    out: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
    dups = duplicate_bills(conn)
    if dups:
        out.append(("bills stored twice (counted once: the source configured first wins)",
                    ["provider", "counted_source", "ignored_source", "first_day", "last_day", "days"], dups))
    rules = rules_of(config)
    if rules is not None and stored_rules(conn).signature() != rules.signature():
        out.append(("money rules", ["note"], [("the store's spend was computed with other [[gateways]]/[[sources]] "
                                               "than this config's; the next collect or import recomputes it",)]))
    return out


def describe_gateways(config: Any) -> list[str]:
    """`check-config`'s plan lines for [[gateways]]."""
    gws = list(getattr(config, "gateways", []) or [])
    if not gws:
        return []
    lines = [f"gateways ({len(gws)}):"]
    for g in gws:
        match = ", ".join(f"{k}={v}" for k, v in sorted(g.upstream_match.items())) or "all of their bills"
        lines.append(f"  {g.source}: gateway logs; upstreams {', '.join(g.upstreams)}; attributes bill lines "
                     f"matching {match}")
    return lines
