"""The Python API for notebooks and scripts: `spendwatch.open(config_or_store_path)`.

    import spendwatch
    sw = spendwatch.open("/etc/spendwatch/config.toml")      # or a .duckdb store path
    sw.chargeback("2026-11", by=["team", "model"])            # the same figures as `report chargeback`
    sw.spend(since="2026-11-01", by=["provider"], where={"team": "search"})

Every method returns a pandas DataFrame whose money columns are `pd.ArrowDtype(pa.decimal128(38, 10))`
(exact; never float64), integers nullable `Int64`, timestamps UTC-aware. The handle holds no connection:
each call opens the store read-only, exactly as `spendwatch sql` does (waits up to [store] lock_timeout for
a writer, sees committed data only, the config's [[allocation]] rules decide `team`), and closes it, so a
notebook left open never blocks the daemon.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import SpendwatchError

PathLike = str | os.PathLike[str]
Instant = str | datetime | None
TOKEN_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
                 "requests")
# the short names `report chargeback --by` accepts, also accepted by spend(by=..., where=...)
ALIASES = {"project": "project_id", "api_key": "api_key_id", "user": "user_id", "account": "account_id",
           "workspace": "workspace_id"}


def open(target: PathLike, *, lock_timeout: float | None = None) -> Spendwatch:  # noqa: A001
    """A read-only handle on the store of a config file (`*.toml`) or on a DuckDB store file directly."""
    from .app import load_config  # an entry point like the CLI: it validates against the installed plugins
    from .config_schema import minimal_config

    path = os.fspath(target)
    if path.endswith(".toml"):
        if not os.path.exists(path):
            raise SpendwatchError(f"{path}: no such config file")
        config = load_config(path)
    else:
        config = minimal_config(path)
    return Spendwatch(config, lock_timeout=lock_timeout)


def _instant(value: Instant, name: str) -> datetime | None:
    from .timeutil import UTC, parse_instant

    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parse_instant(str(value))
    except ValueError as exc:
        raise SpendwatchError(f"{name}: {exc}") from None


class Spendwatch:
    """A read-only view of one store; see the module docstring."""

    def __init__(self, config: Any, *, lock_timeout: float | None = None) -> None:
        self.config = config
        self.lock_timeout = lock_timeout if lock_timeout is not None else config.store.lock_timeout.total_seconds()

    def __repr__(self) -> str:
        return f"<spendwatch store {self.config.store.path!r} (read-only)>"

    def _reader(self) -> Any:
        from .store import Store

        return Store.open(self.config.store.path, read_only=True, lock_timeout=self.lock_timeout,
                          allocation=self.config.allocation)  # Store.open_for, with this handle's lock wait

    # ----------------------------------------------------------------------------------------------- sql
    def sql(self, query: str, params: Sequence[Any] | None = None) -> Any:
        """Any read-only query (SELECT/EXPLAIN) on the views, with `spendwatch sql`'s rules."""
        import duckdb

        from .frames import query_frame
        from .sqlguard import check_read_only, fence

        check_read_only(query)
        with self._reader() as store:
            fence(store.conn)
            try:
                return query_frame(store.conn, query, params)
            except duckdb.Error as exc:
                raise SpendwatchError(f"SQL error: {str(exc).splitlines()[0]}") from None

    # --------------------------------------------------------------------------------------------- spend
    def spend(self, since: Instant = None, until: Instant = None, by: Iterable[str] | None = None,
              where: Mapping[str, Any] | None = None) -> Any:
        """`spend` rows in [since, until), or with `by` their sums (cost and tokens) per those columns.

        `where` is a `match` table as in the config: {column: glob or [globs]}, every column must match.
        """
        from .frames import query_frame
        from .views import match_sql

        start, end = _instant(since, "since"), _instant(until, "until")
        with self._reader() as store:
            columns = [d[0] for d in store.conn.execute("SELECT * FROM spend LIMIT 0").description]
            group = [self._column(c, columns, "by") for c in (by or [])]
            match = {self._column(c, columns, "where"): v for c, v in (where or {}).items()}
            conds, params = ["TRUE"], []
            if start is not None:
                conds.append("ts >= ?")
                params.append(start)
            if end is not None:
                conds.append("ts < ?")
                params.append(end)
            if match:
                conds.append(match_sql({k: v for k, v in match.items()}))
            cond = " AND ".join(conds)
            if group:
                keys = ", ".join(group)
                sums = ", ".join(f"CAST(sum({t}) AS BIGINT) AS {t}" for t in TOKEN_COLUMNS if t in columns)
                sql = (f"SELECT {keys}, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd, {sums} "
                       f"FROM spend WHERE {cond} GROUP BY ALL ORDER BY {keys}")
            else:
                order = ", ".join(c for c in ("ts", "provider", "source", "project_id", "api_key_id", "model",
                                              "line_item", "cost_basis") if c in columns)
                sql = f"SELECT * FROM spend WHERE {cond} ORDER BY {order}"
            return query_frame(store.conn, sql, params)

    @staticmethod
    def _column(name: str, columns: list[str], arg: str) -> str:
        col = ALIASES.get(name, name)
        if col not in columns:
            raise SpendwatchError(f"{arg}: {name!r} is not a column of spend (use one of {', '.join(columns)})")
        return col

    # ---------------------------------------------------------------------------------------- chargeback
    def chargeback(self, month: str | None = None, by: Iterable[str] | None = None) -> Any:
        """`report chargeback --month MONTH --by ...`: the same rows, money as exact decimals."""
        import pyarrow as pa

        from .frames import rows_to_frame
        from .reports import BY_COLUMNS, chargeback_report

        groups = list(by or ["team"])
        bad = [b for b in groups if b not in BY_COLUMNS]
        if bad:
            raise SpendwatchError(f"by: {bad[0]!r} is not one of {', '.join(BY_COLUMNS)}")
        with self._reader() as store:
            cols, rows, _footer = chargeback_report(store, month, groups)
        types = {c: pa.string() for c in cols}
        types.update({"cost_usd": pa.decimal128(38, 10), "input_tokens": pa.int64(), "output_tokens": pa.int64(),
                      "requests": pa.int64()})
        return rows_to_frame(cols, [tuple(int(v) if c in ("input_tokens", "output_tokens", "requests") else v
                                          for c, v in zip(cols, r, strict=True)) for r in rows], types)

    # ------------------------------------------------------------------------------------------ findings
    def findings(self, at: Instant = None) -> Any:
        """Every detector's findings as of `at` (default now), as `detect --no-send --json` lists them.

        Nothing is sent and nothing is written: the detectors run on the read-only connection.
        """
        import pyarrow as pa

        from .detect import run_detectors
        from .frames import rows_to_frame
        from .store import MONEY_QUANTUM
        from .timeutil import utcnow

        now = _instant(at, "at") or utcnow()
        with self._reader() as store:
            found = run_detectors(store, self.config, now)
        cols = ["detector", "key", "severity", "scope", "period_start", "period_end", "observed", "expected",
                "threshold", "message", "drivers", "step"]

        def money(v: Decimal | None) -> Decimal | None:
            return None if v is None else Decimal(v).quantize(MONEY_QUANTUM)

        rows = [(f.detector, f.key, f.severity, json.dumps(f.scope, sort_keys=True), f.period_start, f.period_end,
                 money(f.observed), money(f.expected), money(f.threshold), f.message,
                 json.dumps(f.to_json()["drivers"], sort_keys=True), f.step) for f in found]
        ts = pa.timestamp("us", tz="UTC")
        types = {"detector": pa.string(), "key": pa.string(), "severity": pa.string(), "scope": pa.string(),
                 "period_start": ts, "period_end": ts, "observed": pa.decimal128(38, 10),
                 "expected": pa.decimal128(38, 10), "threshold": pa.decimal128(38, 10), "message": pa.string(),
                 "drivers": pa.string(), "step": pa.int64()}
        return rows_to_frame(cols, rows, types)
