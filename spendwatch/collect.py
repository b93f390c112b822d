"""One collection pass: for each source and each of its datasets, pull the revision window and replace it.

Why fetch-then-write: a collector materialises a whole window before it is written, so an HTTP failure on
page 7 never touches the store (the window stays as it was). Backfills (`--since`) go per UTC day,
committing each day in its own transaction, so an interrupted backfill resumes from sync_state instead of
starting over.

Why batches: a transaction costs milliseconds whatever it holds, so a backfill writes the days it fetched
in batches (up to BACKFILL_BATCH_DAYS days, BACKFILL_BATCH_SECONDS of fetching or BACKFILL_BATCH_ROWS rows) as one window replace
that advances sync_state to the batch's end. Each day is still all-or-nothing; a crash loses at most the
unwritten batch, which the next run fetches again. A fetch that fails writes the days already fetched
first, so only the failing day is retried.

Why a held writer: opening the store (lock, migration check, views) costs far more than writing a day of
rows, so a backfill keeps one read-write connection across its day-chunks and lets it go every
`BACKFILL_HOLD` seconds, so that readers (`spendwatch sql`, the dashboard), which wait for the lock with
backoff, get in between. A regular pass (no `--since`) opens the store only for each write, because the
daemon must not keep readers out while it waits on a slow provider.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from .config import Config, SourceConfig
from .contracts import Collector, SourceOutcome
from .errors import SpendwatchError, StoreLocked
from .store import Store, Window
from .timeutil import utcnow

log = logging.getLogger("spendwatch.collect")

BACKFILL_HOLD = 3.0  # seconds a backfill keeps the writer before letting readers in
# A backfill writes up to this many fetched days in one transaction… (a quarter: each write re-computes the
# money of the days it touched, spendwatch/attribution.py, whose cost is mostly fixed per write; the time cap
# below still bounds what a crash can lose)
BACKFILL_BATCH_DAYS = 92
# …or what it fetched in this long (SPENDWATCH_BACKFILL_BATCH_SECONDS overrides it, e.g. for tests)…
BACKFILL_BATCH_SECONDS = float(os.environ.get("SPENDWATCH_BACKFILL_BATCH_SECONDS", "5"))
BACKFILL_BATCH_ROWS = 200_000  # …or this many rows (memory), whichever comes first


class HeldWriter:
    """One read-write connection reused across writes, released when held longer than `hold` seconds
    (hold=0: released after every write). Each write is still its own transaction."""

    def __init__(self, config: Config, hold: float) -> None:
        self.config = config
        self.hold = hold
        self._cm: AbstractContextManager[Store] | None = None
        self._store: Store | None = None
        self._since = 0.0

    def store(self) -> Store:
        if self._store is None:
            self._cm = Store.open_for(self.config)
            self._store = self._cm.__enter__()
            self._since = time.monotonic()
        return self._store

    def written(self) -> None:
        """After a write: let go of the lock if it has been held long enough."""
        if self._store is not None and time.monotonic() - self._since >= self.hold:
            self.release()

    def release(self) -> None:
        if self._cm is not None:
            cm, self._cm, self._store = self._cm, None, None
            cm.__exit__(None, None, None)

    def __enter__(self) -> HeldWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def open_writer(config: Config) -> Any:
    return Store.open_for(config)


def build_collector(config: Config, source: SourceConfig) -> Collector:
    """Instantiate a source's collector; collectors that estimate money get the [[prices]] overrides."""
    coll = config.plugins.collectors.get(source.type)(source)  # type: ignore[call-arg]  # Protocols have no __init__
    if config.prices:
        coll.use_prices(config.prices)
    return coll


def collect_source(config: Config, source: SourceConfig, *, since: datetime | None = None,
                   until: datetime | None = None, now: datetime | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> SourceOutcome:
    """Collect one source; never raises for a source failure (the outcome says what went wrong)."""
    now = now or utcnow()
    outcome = SourceOutcome(source.name, ok=True)
    try:
        coll = build_collector(config, source)
    except SpendwatchError as exc:
        return _fail(config, source, outcome, str(exc))
    try:
        own = coll.collect(config, source, now)  # sources that are not API windows (`files`) run their own pass
    except SpendwatchError as exc:
        coll.close()
        return _fail(config, source, outcome, str(exc), kinds=coll.kinds, busy=isinstance(exc, StoreLocked))
    if own is not None:
        coll.close()
        return own
    try:
        with HeldWriter(config, hold=BACKFILL_HOLD if since is not None else 0.0) as writer:
            _collect_windows(config, source, coll, outcome, writer, since, until, now, progress)
            t = time.monotonic()
            st = writer.store()
            coll.after_collect(st, now)
            for kind in coll.kinds:
                st.mark_attempt(source.name, kind, ok=True, at=now)
            writer.release()
            outcome.store_seconds += time.monotonic() - t
        log.info("collect ok source=%s rows=%d windows=%d store_s=%.3f", source.name, outcome.rows, outcome.windows,
                 outcome.store_seconds)
        return outcome
    except SpendwatchError as exc:
        return _fail(config, source, outcome, str(exc), kinds=coll.kinds, busy=isinstance(exc, StoreLocked))
    finally:
        coll.close()


def _collect_windows(config: Config, source: SourceConfig, coll: Collector, outcome: SourceOutcome,
                     writer: HeldWriter, since: datetime | None, until: datetime | None, now: datetime,
                     progress: Callable[[str, int, int], None] | None) -> None:
    """Every dataset of one source: plan the window, fetch it chunk by chunk, replace each chunk."""
    for kind in coll.kinds:
        end = min(until or now, now)
        if since is not None:
            start = since
        else:
            t = time.monotonic()
            ct = writer.store().complete_through(source.name, kind)
            writer.written()
            outcome.store_seconds += time.monotonic() - t
            start = (min(ct, end) if ct else end) - source.lookback
        if start >= end:
            continue
        planned = coll.plan(kind, Window(start, end), now)
        if planned is None:
            continue
        chunks = list(planned.days()) if since is not None else [planned]
        batch = Batch(source.name, kind, writer, outcome, max_days=BACKFILL_BATCH_DAYS if since is not None else 1)
        for i, chunk in enumerate(chunks):
            if progress:
                progress(f"{source.name}/{kind}", i, len(chunks))
            try:
                rows = list(coll.fetch(kind, chunk))
            except SpendwatchError:
                batch.flush()  # keep the days already fetched; the failing one is retried next run
                raise
            batch.add(chunk, rows)
        batch.flush()
        outcome.notes.extend(coll.notes)


class Batch:
    """Consecutive fetched windows of one (source, kind), written as one window replace."""

    def __init__(self, source: str, kind: str, writer: HeldWriter, outcome: SourceOutcome, max_days: int) -> None:
        self.source, self.kind, self.writer, self.outcome, self.max_days = source, kind, writer, outcome, max_days
        self.windows: list[Window] = []
        self.rows: list[dict[str, Any]] = []
        self.started = 0.0

    def add(self, window: Window, rows: list[dict[str, Any]]) -> None:
        if not self.windows:
            self.started = time.monotonic()
        self.windows.append(window)
        self.rows.extend(rows)
        if (len(self.windows) >= self.max_days or len(self.rows) >= BACKFILL_BATCH_ROWS
                or time.monotonic() - self.started >= BACKFILL_BATCH_SECONDS):
            self.flush()

    def flush(self) -> None:
        if not self.windows:
            return
        whole = Window(self.windows[0].start, self.windows[-1].end)
        t = time.monotonic()
        self.outcome.rows += self.writer.store().replace_window(self.source, self.kind, whole, self.rows,
                                                                advance_to=whole.end)
        self.writer.written()
        self.outcome.store_seconds += time.monotonic() - t
        self.outcome.windows += len(self.windows)
        self.windows, self.rows = [], []


def _fail(config: Config, source: SourceConfig, outcome: SourceOutcome, message: str,
          kinds: tuple[str, ...] = ("usage",), busy: bool = False) -> SourceOutcome:
    outcome.ok = False
    outcome.error = message
    outcome.store_busy = busy
    # info, not error: the caller reports the failure once (the CLI as one stderr line, the daemon in its log)
    log.info("collect failed source=%s error=%s", source.name, message)
    try:
        with open_writer(config) as st:
            for kind in kinds:
                st.mark_attempt(source.name, kind, ok=False, error=message)
    except SpendwatchError as exc:  # the store itself is unavailable: report both
        outcome.error = f"{message}; and could not record it: {exc}"
    return outcome


def collect_all(config: Config, names: list[str], *, since: datetime | None = None,
                until: datetime | None = None, progress: bool = False) -> list[SourceOutcome]:
    """Every named (or every enabled) source, independently: one failing does not stop the others."""
    sources = [config.source(n) for n in names] if names else [s for s in config.sources if s.enabled]
    warm_columnar()
    bar = _progress_printer() if progress and since is not None and sys.stderr.isatty() else None
    return [collect_source(config, s, since=since, until=until, progress=bar) for s in sources]


def warm_columnar() -> None:
    """Start pyarrow's one-time set-up (its first array conversion imports pandas, ~0.5 s) in a background
    thread, so that it overlaps the first HTTP fetches instead of delaying the first write."""
    def warm() -> None:
        import pyarrow as pa

        pa.array([0], type=pa.int64())

    threading.Thread(target=warm, name="warm-arrow", daemon=True).start()


def _progress_printer() -> Callable[[str, int, int], None]:
    def show(label: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * (done + 1) / max(total, 1))
        sys.stderr.write(f"\r{label:<30} [{'#' * filled}{'.' * (width - filled)}] {done + 1}/{total}")
        if done + 1 == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
