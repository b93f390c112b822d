"""The import ledger (`imported_files`): which export file was loaded when, with what result.

The table belongs to the store's schema (migration 0003), so its SQL lives here in the spine and import
formats and the `files` inbox source call these functions instead of writing it themselves. A file is known
by path, size and mtime (cheap), then by SHA-256 of its content, so a `touch` or a copy of the same bytes is
not imported twice. Every function takes the connection of the caller's transaction: a ledger line commits
with the rows it describes, or not at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .store import Window
from .timeutil import utcnow


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Seen:
    """The ledger's latest line for a path and source."""

    size: int
    mtime: float
    sha256: str
    error: str | None


def last_seen(conn: Any, absolute: str, source: str) -> Seen | None:
    row = conn.execute("SELECT size, mtime, sha256, error FROM imported_files WHERE path = ? AND source = ? "
                       "ORDER BY imported_at DESC LIMIT 1", [absolute, source]).fetchone()
    return Seen(*row) if row else None


def note_same_bytes(conn: Any, absolute: str, source: str, digest: str, size: int, mtime: float) -> None:
    """Same content under a new mtime (touched or copied again): remember the new stat, import nothing."""
    conn.execute("UPDATE imported_files SET mtime = ?, size = ? WHERE path = ? AND source = ? AND sha256 = ?",
                 [mtime, size, absolute, source, digest])


def clear_errors(conn: Any, absolute: str, source: str) -> None:
    """A file that imported cleanly is no longer broken: drop its earlier error lines."""
    conn.execute("DELETE FROM imported_files WHERE path = ? AND source = ? AND error IS NOT NULL",
                 [absolute, source])


def record_import(conn: Any, path: str, fmt: str, source: str, rows: int, window: Window | None,
                  error: str | None = None, *, digest: str | None = None,
                  import_id: int | None = None) -> None:
    """Ledger of imports (path, size, mtime, hash); a repeat import of the same content replaces its line."""
    st = Path(path).stat()
    digest = digest or sha256_of(path)
    absolute = str(Path(path).resolve())
    conn.execute("DELETE FROM imported_files WHERE path = ? AND sha256 = ? AND source = ?", [absolute, digest, source])
    conn.execute(
        "INSERT INTO imported_files (path, size, mtime, sha256, format, source, rows, window_start, window_end, "
        "imported_at, error, import_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [absolute, st.st_size, st.st_mtime, digest, fmt, source, rows,
         window.start if window else None, window.end if window else None, utcnow(), error, import_id])
