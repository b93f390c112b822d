"""`type = "files"`: a source that imports export files dropped into an inbox folder.

    [[sources]]
    name = "gcp-billing-inbox"
    type = "files"
    path = "/var/lib/spendwatch/inbox/gcp/*.parquet"   # a glob; relative paths are under the config's folder
    format = "gcp-billing"                              # any import format name, or "auto"
    interval = "1h"

Each run lists the glob and imports every file that is new or changed since it was last seen. A file is
known by path, size and mtime (cheap), then by SHA-256 of its content (a `touch` or a copy of the same
bytes is not re-imported). Every outcome is a line in `imported_files` (what, when, rows, window, or the
error), so `spendwatch status` shows what was imported when and which files are broken. A broken file is
recorded and skipped: the others are still imported, the source reports the error for that run, and the
file is retried only once it changes. Rows land under this source's name with the format's replace rule,
so re-delivered or overlapping exports replace, never add.

Why a `collect()` hook instead of fetch(window): files are not windows of an API. The generic collect
pass calls `collect(config, source, now)` when a collector defines it (spendwatch/collect.py).
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional

from spendwatch.errors import SpendwatchError
from spendwatch.store import Window

from . import COLLECTORS, FORMATS
from ._files import record_import, sha256_of

log = logging.getLogger("spendwatch.collector.files")
KIND = "files"


@COLLECTORS.register("files")
class FilesCollector:
    """Imports new or changed files matching a glob, each in its own transaction."""

    @dataclass(frozen=True)
    class Options:
        path: str
        format: str = "auto"

        def describe(self) -> str:
            """For check-config's plan: what each run does (files carry their own time span)."""
            return f"importing new or changed {self.format} files matching {self.path}"

    kinds = (KIND,)
    default_lookback = "1d"  # unused: files carry their own span

    def __init__(self, source: Any) -> None:
        self.source = source
        fmt = source.options.format
        if fmt not in FORMATS:
            raise SpendwatchError(f"sources.{source.name}.format: unknown import format {fmt!r} "
                                  f"(known: {', '.join(FORMATS.names())})")
        self.format = fmt
        self.notes: list[str] = []

    # The generic window protocol: nothing to fetch by window.
    def plan(self, kind: str, window: Window, now: datetime) -> Optional[Window]:
        return None

    def fetch(self, kind: str, window: Window) -> Iterable[dict[str, Any]]:
        return []

    def close(self) -> None:
        pass

    def pattern(self, config: Any) -> str:
        raw = os.path.expanduser(self.source.options.path)
        if not os.path.isabs(raw) and getattr(config, "path", None) and os.path.exists(str(config.path)):
            raw = os.path.join(os.path.dirname(os.path.abspath(str(config.path))), raw)
        return raw

    def collect(self, config: Any, source: Any, now: datetime) -> Any:
        """Import every new or changed file; a broken one is recorded and skipped."""
        from spendwatch.collect import SourceOutcome, open_writer

        outcome = SourceOutcome(source.name, ok=True)
        errors: list[str] = []
        importer = FORMATS.get(self.format)()
        for path in sorted(p for p in glob.glob(self.pattern(config)) if os.path.isfile(p)):
            absolute = str(Path(path).resolve())
            try:
                st = os.stat(path)
            except OSError:
                continue  # removed between glob and stat
            with open_writer(config) as store:
                prev = store.conn.execute(
                    "SELECT size, mtime, sha256, error FROM imported_files WHERE path = ? AND source = ? "
                    "ORDER BY imported_at DESC LIMIT 1", [absolute, source.name]).fetchone()
                if prev and prev[0] == st.st_size and prev[1] == st.st_mtime:
                    continue  # unchanged since last seen (imported, or recorded as broken)
                digest = sha256_of(path)
                if prev and prev[2] == digest:
                    # same bytes, new mtime (touched or copied again): note it, do not import twice
                    store.conn.execute("UPDATE imported_files SET mtime = ?, size = ? WHERE path = ? AND source = ? "
                                       "AND sha256 = ?", [st.st_mtime, st.st_size, absolute, source.name, digest])
                    continue
                try:
                    results = importer.import_file(store, path, source=source.name)
                except SpendwatchError as exc:
                    message = str(exc)
                    errors.append(message)
                    log.error("files source=%s skipped %s: %s", source.name, path, message)
                    record_import(store.conn, path, self.format, source.name, 0, None, error=message, digest=digest)
                    continue
                store.conn.execute("DELETE FROM imported_files WHERE path = ? AND source = ? AND error IS NOT NULL",
                                   [absolute, source.name])
                rows = sum(r.rows for r in results)
                outcome.rows += rows
                outcome.windows += 1
                outcome.notes.append(f"imported {path}: {rows} rows"
                                     + (f" (format {results[0].format})" if results and self.format == "auto" else ""))
        with open_writer(config) as store:
            if errors:
                store.mark_attempt(source.name, KIND, ok=False, error=errors[-1], at=now)
            else:
                store.mark_attempt(source.name, KIND, ok=True, at=now)
        if errors:
            outcome.ok = False
            outcome.error = "; ".join(errors) + f" (skipped {len(errors)} file(s); the others were imported)"
        return outcome
