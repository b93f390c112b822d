"""What the export formats share: the result type, the window filter, the column order and the atomic
write (COPY to a temporary file, then rename). Apart from `export.py` so that the FOCUS format and the
dispatcher can both use it without importing each other."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ORDER = ("ts", "provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id", "model",
         "service_tier", "line_item", "cost_basis", "granularity")


@dataclass
class ExportResult:
    path: str
    rows: int
    written: list[str] = field(default_factory=list)     # partitions (parquet) rewritten this time
    unchanged: list[str] = field(default_factory=list)   # partitions left as they were
    removed: list[str] = field(default_factory=list)     # partitions whose rows are gone from the store
    skipped_unpriced: int = 0                            # FOCUS: rows with no known price (no BilledCost)


def spend_columns(conn: Any) -> list[tuple[str, str]]:
    """(name, type) of every `spend` column, as this store's view has them."""
    return [(r[0], r[1]) for r in conn.execute("DESCRIBE spend").fetchall()]


def _window_sql(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    conds, params = ["TRUE"], []
    if since is not None:
        conds.append("ts >= ?")
        params.append(since)
    if until is not None:
        conds.append("ts < ?")
        params.append(until)
    return " AND ".join(conds), params


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _order(cols: list[str]) -> str:
    return ", ".join(c for c in ORDER if c in cols)


def _atomic_copy(conn: Any, select_sql: str, params: list[Any], out: Path, options: str) -> None:
    """COPY (select) TO a temp file beside `out`, then rename: a reader sees the old file or the new one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        conn.execute(f"COPY ({select_sql}) TO {_q(tmp)} ({options})", params)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


# ------------------------------------------------------------------------------------------------ csv
