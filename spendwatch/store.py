"""The DuckDB store: connection discipline, migrations, atomic window replace, sync state.

DuckDB allows one read-write process or several read-only ones, never both, and a conflicting open fails
at once. So nothing here keeps a connection between jobs: `Store.open()` is a context manager that opens,
retries a lock conflict with backoff up to `lock_timeout`, and closes. Readers open read-only, so a
half-written window is never visible to them (DuckDB readers see committed state only).
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from . import migrations, views
from .attribution import adopt_rules, fresh_spend, refresh_window, rules_of
from .errors import StoreError, StoreLocked, StoreVersionError
from .timeutil import UTC, day_start, utcnow

RECORD_COLUMNS = (
    "source", "kind", "record_type", "covers_usage", "ts", "period_end", "granularity", "provider",
    "account_id", "project_id", "workspace_id", "api_key_id", "user_id", "model", "service_tier", "line_item",
    "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "requests",
    "cost_usd", "cost_basis", "currency", "tags",
)
_TEXT = {"source", "kind", "record_type", "granularity", "provider", "account_id", "project_id", "workspace_id",
         "api_key_id", "user_id", "model", "service_tier", "line_item", "cost_basis", "currency", "tags"}
_INTS = {"input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "requests"}
GRANULARITIES = ("request", "minute", "hour", "day", "month")
MONEY_QUANTUM = Decimal("0.0000000001")
SYNC_HISTORY_KEPT = timedelta(days=400)  # how far back stale_data can be replayed


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end): the unit of replacement."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start.isoformat()} .. {self.end.isoformat()}")

    def days(self) -> Iterator[Window]:
        """Split into UTC-day chunks (backfills commit per chunk)."""

        cur = self.start
        while cur < self.end:
            nxt = min(day_start(cur) + timedelta(days=1), self.end)
            yield Window(cur, nxt)
            cur = nxt

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def _holder(message: str) -> str:
    m = re.search(r"held in (.+?\(PID \d+\))", message) or re.search(r"held in (\S+)", message)
    return m.group(1).strip() if m else "another process"


def _is_lock_conflict(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


class Store:
    """One open connection to the store; use `Store.open(...)` as a context manager."""

    def __init__(self, conn: Any, path: str, read_only: bool) -> None:
        self.conn = conn
        self.path = path
        self.read_only = read_only

    # ------------------------------------------------------------------------------------------ opening
    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str, *, read_only: bool = False, lock_timeout: float = 30.0,
             allocation: Iterable[Any] = (), money: Any = None, lean: bool = False) -> Iterator[Store]:
        """`money`: the config's MoneyRules (spendwatch.attribution.rules_of); a writer given rules that
        differ from the store's recomputes `spend`'s money; None keeps the store's own rules.
        `lean`: a reader for plain SQL only (execute/fetch), opened without the duckdb package's Python
        layer when possible (spendwatch.engine: `spendwatch sql` start-up)."""
        conn = _connect(path, read_only=read_only, lock_timeout=lock_timeout, lean=lean and read_only)
        try:
            store = cls(conn, path, read_only)
            store._prepare(list(allocation), lock_timeout)
            if money is not None and not read_only:
                adopt_rules(conn, money)
            yield store
        finally:
            conn.close()

    @classmethod
    def open_for(cls, config: Any, *, read_only: bool = False, lean: bool = False) -> contextlib.AbstractContextManager[Store]:
        """The store a config names, with its lock wait, allocation rules and (for writers) money rules: the one
        way commands open it. `lean`: see `open`."""
        return cls.open(config.store.path, read_only=read_only, lock_timeout=config.store.lock_timeout.total_seconds(),
                        allocation=config.allocation, money=None if read_only else rules_of(config), lean=lean)

    def _prepare(self, allocation: list[Any], lock_timeout: float) -> None:

        self.conn.execute("SET TimeZone = 'UTC'")
        known = migrations.known_names()
        applied = self._applied_migrations()
        unknown = sorted(set(applied) - set(known))
        if unknown:
            raise StoreVersionError(
                f"{self.path}: written by a newer spendwatch (unknown migration {unknown[-1]}); upgrade spendwatch")
        pending = [m for m in migrations.all_migrations() if m[0] not in applied] if set(known) - set(applied) else []
        if pending:
            if self.read_only:
                raise StoreError(f"{self.path}: store needs migrations ({', '.join(n for n, _ in pending)}); "
                                 "run any writing command (e.g. `spendwatch collect`) first")
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
            for name, fn in pending:
                self.conn.execute("BEGIN TRANSACTION")
                try:
                    fn(self.conn)
                    self.conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, utcnow()])
                    self.conn.execute("COMMIT")
                except Exception:
                    self.conn.execute("ROLLBACK")
                    raise
        views.ensure_views(self.conn, allocation, read_only=self.read_only)

    def _applied_migrations(self) -> list[str]:
        from .engine import duckdb_module  # already loaded by the open connection

        duckdb = duckdb_module(lean=True)
        try:
            return [r[0] for r in self.conn.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]
        except duckdb.CatalogException:  # a new store: no migration table yet
            return []

    # -------------------------------------------------------------------------------------- transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN … COMMIT, or ROLLBACK on any exception (then re-raised)."""
        self.conn.execute("BEGIN TRANSACTION")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --------------------------------------------------------------------------------------- writing rows
    def replace_window(self, source: str, kind: str, window: Window, rows: Iterable[Mapping[str, Any]], *,
                       advance_to: datetime | None = None) -> int:
        """Delete (source, kind) rows in `window`, insert `rows`, advance sync_state: one transaction.

        Every row must fall inside the window (a collector bug otherwise). Money must be Decimal or None;
        a float is refused, because binary floats cannot hold cents exactly.
        """
        table = rows_to_arrow(source, kind, window, rows)
        with self.transaction() as conn:
            conn.execute("DELETE FROM records WHERE source = ? AND kind = ? AND ts >= ? AND ts < ?",
                         [source, kind, window.start, window.end])
            conn.register("_incoming_rows", table)
            try:
                spend = fresh_spend()  # what `spend` shows for them unless a rule applies (refresh has less to do)
                conn.execute(f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}, {', '.join(spend)}) "
                             f"SELECT {', '.join(RECORD_COLUMNS)}, {', '.join(spend.values())} FROM _incoming_rows")
            finally:
                conn.unregister("_incoming_rows")
            refresh_window(conn, window.start, window.end)
            if advance_to is not None:
                self._advance(source, kind, advance_to, table.num_rows)
        return table.num_rows

    def _advance(self, source: str, kind: str, complete_through: datetime, rows: int) -> None:
        self.conn.execute(
            """
            INSERT INTO sync_state (source, kind, complete_through, rows_last) VALUES (?, ?, ?, ?)
            ON CONFLICT (source, kind) DO UPDATE SET
                complete_through = greatest(coalesce(sync_state.complete_through, excluded.complete_through),
                                            excluded.complete_through),
                rows_last = excluded.rows_last
            """,
            [source, kind, complete_through, rows],
        )

    def complete_through(self, source: str, kind: str) -> datetime | None:
        row = self.conn.execute("SELECT complete_through FROM sync_state WHERE source = ? AND kind = ?",
                                [source, kind]).fetchone()
        return row[0] if row else None

    def mark_attempt(self, source: str, kind: str, *, ok: bool, error: str | None = None,
                     at: datetime | None = None) -> None:
        """Record a run's outcome for `status` (error text must already be redacted), and the state it leaves
        in `sync_history` so stale_data can be judged as of any past moment."""
        at = at or utcnow()
        with self.transaction() as conn:
            self._mark(conn, source, kind, ok=ok, error=error, at=at)
            conn.execute(
                """INSERT INTO sync_history (source, kind, attempted_at, complete_through, last_success, last_error,
                                             consecutive_failures)
                   SELECT source, kind, ?, complete_through, last_success, last_error, consecutive_failures
                   FROM sync_state WHERE source = ? AND kind = ?""", [at, source, kind])
            conn.execute("DELETE FROM sync_history WHERE source = ? AND kind = ? AND attempted_at < ?",
                         [source, kind, at - SYNC_HISTORY_KEPT])

    def _mark(self, conn: Any, source: str, kind: str, *, ok: bool, error: str | None, at: datetime) -> None:
        if ok:
            conn.execute(
                """INSERT INTO sync_state (source, kind, last_attempt, last_success, consecutive_failures)
                   VALUES (?, ?, ?, ?, 0)
                   ON CONFLICT (source, kind) DO UPDATE SET last_attempt = excluded.last_attempt,
                       last_success = excluded.last_success, consecutive_failures = 0""",
                [source, kind, at, at])
        else:
            conn.execute(
                """INSERT INTO sync_state (source, kind, last_attempt, last_error, last_error_at, consecutive_failures)
                   VALUES (?, ?, ?, ?, ?, 1)
                   ON CONFLICT (source, kind) DO UPDATE SET last_attempt = excluded.last_attempt,
                       last_error = excluded.last_error, last_error_at = excluded.last_error_at,
                       consecutive_failures = sync_state.consecutive_failures + 1""",
                [source, kind, at, error, at])

    def record_metric(self, source: str, name: str, observed_at: datetime, value: Decimal | None,
                      unit: str = "USD", detail: str | None = None) -> None:
        """Keep a point-in-time fact (e.g. prepaid credit balance); same (source, name, time) overwrites."""
        self.conn.execute(
            """INSERT INTO source_metrics VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, name, observed_at) DO UPDATE SET value = excluded.value,
                   unit = excluded.unit, detail = excluded.detail""",
            [source, name, observed_at, value, unit, detail])

    # ------------------------------------------------------------------------------------------ reading
    def query(self, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.conn.execute(sql, params or [])
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()


def _connect(path: str, *, read_only: bool, lock_timeout: float, lean: bool = False) -> Any:
    from .engine import duckdb_module

    duckdb = duckdb_module(lean=lean)

    p = Path(path)
    if read_only and not p.exists():
        raise StoreError(f"{path}: store does not exist yet; run `spendwatch collect` or `spendwatch import` first")
    if not read_only:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the store's directory ({exc.strerror})") from None
    deadline = time.monotonic() + lock_timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(p), read_only=read_only)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc):
                raise StoreError(f"{path}: cannot open store ({str(exc).splitlines()[0]})") from None
            if time.monotonic() >= deadline:
                raise StoreLocked(
                    f"{path}: locked by {_holder(str(exc))} for more than {lock_timeout:g}s; "
                    "try again when it finishes, or raise [store] lock_timeout") from None
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())) * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


def _quantize(value: Any, column: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError(f"{column}: money must be Decimal, got float {value!r}")
    if not isinstance(value, Decimal):
        value = Decimal(str(value)) if isinstance(value, (int, str)) else value
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def rows_to_arrow(source: str, kind: str, window: Window, rows: Iterable[Mapping[str, Any]]) -> Any:
    """Columnar, exactly-typed batch for one INSERT (no per-row SQL). Validated row by row, converted column
    by column (a backfill writes hundreds of thousands of rows: the per-cell work is what costs)."""
    import pyarrow as pa

    rows = list(rows)
    known = set(RECORD_COLUMNS)
    for row in rows:
        if not known.issuperset(row):
            unknown = set(row) - known
            raise StoreError(f"{source}: unknown record field(s) {', '.join(sorted(unknown))}")
        ts = row["ts"]
        if ts.tzinfo is None:
            raise StoreError(f"{source}: naive timestamp {ts!r} (all times must be UTC-aware)")
        if not (window.start <= ts < window.end):
            raise StoreError(f"{source}: row at {ts.isoformat()} outside the window {window}")
        gran = row.get("granularity", "day")
        if gran not in GRANULARITIES:
            raise StoreError(f"{source}: unknown granularity {gran!r}")
    n = len(rows)
    cols: dict[str, list[Any]] = {
        "source": [source] * n,
        "kind": [kind] * n,
        "record_type": [r.get("record_type", "usage") for r in rows],
        "covers_usage": [bool(r.get("covers_usage", False)) for r in rows],
        "ts": [r["ts"] for r in rows],
        "period_end": [r.get("period_end") or r["ts"] for r in rows],
        "granularity": [r.get("granularity", "day") for r in rows],
        "cost_usd": [_quantize(r.get("cost_usd"), "cost_usd") for r in rows],
        "cost_basis": [r.get("cost_basis", "billed") for r in rows],
        "currency": [r.get("currency") or "USD" for r in rows],
        "tags": [_tags(r.get("tags")) for r in rows],
    }
    for c in RECORD_COLUMNS:
        if c not in cols:
            cols[c] = [r.get(c) for r in rows]
    return pa.table({c: pa.array(cols[c], type=_ARROW_TYPES[c]) for c in RECORD_COLUMNS})


def _tags(tags: Any) -> Any:
    return json.dumps(tags, sort_keys=True) if isinstance(tags, dict) else tags


def _arrow_type(column: str) -> Any:
    import pyarrow as pa

    if column in ("ts", "period_end"):
        return pa.timestamp("us", tz="UTC")
    if column == "cost_usd":
        return pa.decimal128(38, 10)
    if column == "covers_usage":
        return pa.bool_()
    if column in _INTS:
        return pa.int64()
    return pa.string()


class _ArrowTypes(dict[str, Any]):
    """RECORD_COLUMNS → pyarrow type, built on first use (pyarrow is imported lazily for CLI start-up)."""

    def __missing__(self, column: str) -> Any:
        self[column] = _arrow_type(column)
        return self[column]


_ARROW_TYPES = _ArrowTypes()


def now_utc() -> datetime:
    return datetime.now(UTC)
