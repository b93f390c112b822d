"""`import --format canonical`: our own CSV/Parquet/JSONL whose columns are `spend` view names.

Replace rule (documented in the README): for each source in the file, the file covers the whole UTC days
from its first to its last row; importing it replaces that source's canonical rows in those days. So
re-importing a file changes nothing, and a re-issued file that overlaps an earlier one replaces the
overlapping days instead of adding to them. The whole file is one transaction: the first bad row fails
it with FILE:LINE and nothing is written.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from spendwatch.attribution import fresh_spend, refresh_window
from spendwatch.errors import InputFileError
from spendwatch.ledger import record_import
from spendwatch.limits import cost_ok_sql, end_ok_sql, time_ok_sql, tokens_ok_sql
from spendwatch.store import GRANULARITIES, RECORD_COLUMNS, Store, Window
from spendwatch.timeutil import day_start
from spendwatch.values import SPEND_COLUMNS

from . import FORMATS, ImportResult
from ._files import (
    check_readable,
    container,
    damaged_gzip_error,
    gzip_damage,
    ragged_line,
    read_with,
    refine,
    shown,
    sql_literal,
)

REQUIRED = ("ts", "provider", "cost_usd")
TEXT_COLUMNS = ("provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id",
                "model", "service_tier", "line_item", "tags")
INT_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
               "reasoning_tokens", "requests")
ALLOWED = set(SPEND_COLUMNS) - {"team"} | {"currency", "record_type"}
STEP = {"request": "0 seconds", "minute": "1 minute", "hour": "1 hour", "day": "1 day", "month": "1 month"}
KIND = "canonical"


@FORMATS.register("canonical")
class CanonicalFormat:
    def import_file(self, store: Store, path: str, *, source: str | None = None) -> list[ImportResult]:
        check_readable(path)
        damage = gzip_damage(path) if path.lower().endswith(".gz") else None
        if damage:
            raise damaged_gzip_error(path, damage)
        conn = store.conn
        conn.execute("DROP TABLE IF EXISTS _canon")
        read_with(path, lambda reader: conn.execute(
            f"CREATE TEMP TABLE _canon AS SELECT row_number() OVER () AS row_, * FROM {reader}"))
        try:
            return self._load(store, path, source)
        finally:
            conn.execute("DROP TABLE IF EXISTS _canon")

    def _load(self, store: Store, path: str, source: str | None) -> list[ImportResult]:
        conn = store.conn
        cols = [r[0] for r in conn.execute("SELECT column_name FROM (DESCRIBE _canon)").fetchall()][1:]
        unknown = [c for c in cols if c not in ALLOWED]
        missing = [c for c in REQUIRED if c not in cols]
        ragged = ragged_line(path) if (unknown or missing) and container(path) == "csv" else None
        if ragged:
            raise ragged
        if unknown:
            extra = " (team is assigned by [[allocation]] rules)" if "team" in unknown else ""
            raise InputFileError(f"{path}: unknown column {unknown[0]!r}{extra}; canonical columns are the spend view's")
        if missing:
            raise InputFileError(f"{path}: missing required column {missing[0]!r} (required: {', '.join(REQUIRED)})")
        is_csv = container(path) == "csv"

        def v(c: str) -> str:
            return f"CAST({c} AS VARCHAR)" if c in cols else "NULL"

        # Validation: each check names the first offending row by file order, and the checks keep their order
        # (a bad ts is reported before a bad cost further up). One query finds every check's first row; only a
        # failure pays for a second (a small file's import was mostly these statements, issue 12).
        # Bounds (spendwatch/limits.py): refine() words a well-formed value beyond one as out of range.
        checks: list[tuple[str, str, str]] = []  # (condition true for a bad row, column, why)
        ts_ = f"try_cast({v('ts')} AS TIMESTAMPTZ)"
        checks.append((f"{v('ts')} IS NULL OR {ts_} IS NULL OR NOT {time_ok_sql(ts_)}", "ts", "not a timestamp"))
        checks.append((f"{v('provider')} IS NULL OR trim({v('provider')}) = ''", "provider", "empty"))
        cost_ = f"try_cast(trim({v('cost_usd')}) AS DECIMAL(38, 10))"
        checks.append((f"{v('cost_usd')} IS NULL OR {cost_} IS NULL OR NOT {cost_ok_sql(cost_)}", "cost_usd",
                       "not a number"))
        if "period_end" in cols:
            pe_ = f"try_cast({v('period_end')} AS TIMESTAMPTZ)"
            checks.append((f"{v('period_end')} IS NOT NULL AND ({pe_} IS NULL OR NOT {end_ok_sql(pe_)})",
                           "period_end", "not a timestamp"))
        for c in INT_COLUMNS:
            if c in cols:
                n_ = f"try_cast(trim({v(c)}) AS BIGINT)"
                checks.append((f"{v(c)} IS NOT NULL AND trim({v(c)}) <> '' AND coalesce({n_} < 0 OR NOT {tokens_ok_sql(n_)}, TRUE)",
                               c, "not a non-negative whole number"))
        if "granularity" in cols:
            allowed = ", ".join(sql_literal(g) for g in GRANULARITIES)
            checks.append((f"{v('granularity')} IS NOT NULL AND {v('granularity')} NOT IN ({allowed})", "granularity",
                           f"not one of {', '.join(GRANULARITIES)}"))
        if "cost_basis" in cols:
            checks.append((f"{v('cost_basis')} IS NOT NULL AND {v('cost_basis')} NOT IN ('billed', 'estimated')",
                           "cost_basis", "not billed or estimated"))
        if "record_type" in cols:
            checks.append((f"{v('record_type')} IS NOT NULL AND {v('record_type')} NOT IN ('usage', 'cost')",
                           "record_type", "not usage or cost"))
        if "tags" in cols:
            checks.append((f"{v('tags')} IS NOT NULL AND NOT coalesce(CASE WHEN json_valid({v('tags')}) THEN "
                           f"json_type({v('tags')}) = 'OBJECT' END, FALSE)", "tags", "not a JSON object"))
        firsts = conn.execute("SELECT " + ", ".join(f"min(row_) FILTER (WHERE {cond})" for cond, _c, _w in checks)
                              + " FROM _canon").fetchone()
        for (_cond, column, why), first in zip(checks, firsts, strict=True):
            if first is not None:
                value = conn.execute(f"SELECT {v(column)} FROM _canon WHERE row_ = ?", [first]).fetchone()[0]
                # CSV: the header is line 1, so data row N is line N+1; other containers: row N
                where = f"{path}:{first + 1}" if is_csv else f"{path}: row {first}"
                raise InputFileError(f'{where}: column {column}: {refine(why, value, conn)} ("{shown(value)}")')

        src_expr = sql_literal(source) if source else (f"coalesce(nullif(trim({v('source')}), ''), 'canonical')"
                                                      if "source" in cols else "'canonical'")
        gran = f"coalesce({v('granularity')}, 'day')"
        ts = f"CAST({v('ts')} AS TIMESTAMPTZ)"
        period_end = (f"coalesce(CAST({v('period_end')} AS TIMESTAMPTZ), {ts} + CAST(CASE {gran} "
                      + " ".join(f"WHEN '{g}' THEN INTERVAL '{s}'" for g, s in STEP.items()) + " END AS INTERVAL))")
        select = {
            "source": src_expr, "kind": sql_literal(KIND),
            "record_type": f"coalesce({v('record_type')}, 'usage')" if "record_type" in cols else "'usage'",
            "covers_usage": "FALSE", "ts": ts, "period_end": period_end, "granularity": gran,
            "cost_usd": f"CAST(trim({v('cost_usd')}) AS DECIMAL(38, 10))",
            "cost_basis": f"coalesce({v('cost_basis')}, 'billed')",
            "currency": f"coalesce({v('currency')}, 'USD')",
        }
        for c in TEXT_COLUMNS:
            if c not in select:
                select[c] = f"nullif(trim({v(c)}), '')" if c in cols else "NULL"
        for c in INT_COLUMNS:
            select[c] = f"CAST(nullif(trim({v(c)}), '') AS BIGINT)" if c in cols else "NULL"

        conn.execute("DROP TABLE IF EXISTS _canon_rows")
        conn.execute(f"CREATE TEMP TABLE _canon_rows AS SELECT {', '.join(f'{select[c]} AS {c}' for c in RECORD_COLUMNS)} FROM _canon")
        try:
            spans = conn.execute("SELECT source, min(ts), max(ts), count(*), sum(cost_usd) FROM _canon_rows GROUP BY source ORDER BY source").fetchall()
            results = []
            spend = fresh_spend()  # what `spend` shows for the rows unless a rule applies (refresh has less to do)
            with store.transaction():
                for src, lo, hi, n, total in spans:
                    window = Window(day_start(lo), day_start(hi) + timedelta(days=1))
                    conn.execute("DELETE FROM records WHERE source = ? AND kind = ? AND ts >= ? AND ts < ?",
                                 [src, KIND, window.start, window.end])
                    conn.execute(f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}, {', '.join(spend)}) "
                                 f"SELECT {', '.join(RECORD_COLUMNS)}, {', '.join(spend.values())} "
                                 "FROM _canon_rows WHERE source = ?", [src])
                    refresh_window(conn, window.start, window.end)  # spendwatch/attribution.py
                    record_import(conn, path, "canonical", src, n, window)
                    results.append(ImportResult(path, "canonical", src, n, window, Decimal(total or 0)))
            return results
        finally:
            conn.execute("DROP TABLE IF EXISTS _canon_rows")
