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

Why a `collect()` pass instead of fetch(window): files are not windows of an API. The generic collect
pass (spendwatch/collect.py) lets a collector whose `collect` returns an outcome run its own pass.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from spendwatch.contracts import CollectorBase, SourceOutcome
from spendwatch.errors import SpendwatchError
from spendwatch.ledger import clear_errors, last_seen, note_same_bytes, record_import, sha256_of
from spendwatch.store import Store

from . import COLLECTORS, FORMATS

log = logging.getLogger("spendwatch.collector.files")
KIND = "files"


@COLLECTORS.register("files")
class FilesCollector(CollectorBase):
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
        super().__init__(source)
        fmt = source.options.format
        if fmt not in FORMATS:
            raise SpendwatchError(f"sources.{source.name}.format: unknown import format {fmt!r} "
                                  f"(known: {', '.join(FORMATS.names())})")
        self.format = fmt

    def pattern(self, config: Any) -> str:
        raw = os.path.expanduser(self.source.options.path)
        if not os.path.isabs(raw) and getattr(config, "path", None) and os.path.exists(str(config.path)):
            raw = os.path.join(os.path.dirname(os.path.abspath(str(config.path))), raw)
        return raw

    def collect(self, config: Any, source: Any, now: datetime) -> SourceOutcome:
        """Import every new or changed file; a broken one is recorded and skipped."""
        outcome = SourceOutcome(source.name, ok=True)
        errors: list[str] = []
        importer = FORMATS.get(self.format)()
        for path in sorted(p for p in glob.glob(self.pattern(config)) if os.path.isfile(p)):
            absolute = str(Path(path).resolve())
            try:
                st = os.stat(path)
            except OSError:
                continue  # removed between glob and stat
            with Store.open_for(config) as store:
                prev = last_seen(store.conn, absolute, source.name)
                if prev and prev.size == st.st_size and prev.mtime == st.st_mtime:
                    continue  # unchanged since last seen (imported, or recorded as broken)
                digest = sha256_of(path)
                if prev and prev.sha256 == digest:
                    note_same_bytes(store.conn, absolute, source.name, digest, st.st_size, st.st_mtime)
                    continue
                try:
                    results = importer.import_file(store, path, source=source.name)
                except SpendwatchError as exc:
                    message = str(exc)
                    errors.append(message)
                    log.error("files source=%s skipped %s: %s", source.name, path, message)
                    record_import(store.conn, path, self.format, source.name, 0, None, error=message, digest=digest)
                    continue
                clear_errors(store.conn, absolute, source.name)
                rows = sum(r.rows for r in results)
                outcome.rows += rows
                outcome.windows += 1
                outcome.notes.append(f"imported {path}: {rows} rows"
                                     + (f" (format {results[0].format})" if results and self.format == "auto" else ""))
        with Store.open_for(config) as store:
            if errors:
                store.mark_attempt(source.name, KIND, ok=False, error=errors[-1], at=now)
            else:
                store.mark_attempt(source.name, KIND, ok=True, at=now)
        if errors:
            outcome.ok = False
            outcome.error = "; ".join(errors) + f" (skipped {len(errors)} file(s); the others were imported)"
        return outcome
