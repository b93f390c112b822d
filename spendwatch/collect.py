"""One collection pass: for each source and each of its datasets, pull the revision window and replace it.

Why fetch-then-write: a collector materialises a whole window before the store is opened, so an HTTP
failure on page 7 never touches the store (the window stays as it was) and the daemon holds the DuckDB
lock only for the write itself. Backfills (`--since`) go per UTC day, committing each, so an interrupted
backfill resumes from sync_state instead of starting over.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from .config import Config, SourceConfig
from .contracts import Collector, SourceOutcome
from .errors import SpendwatchError, StoreLocked
from .store import Store, Window
from .timeutil import utcnow

log = logging.getLogger("spendwatch.collect")


def open_writer(config: Config) -> Any:
    return Store.open_for(config)


def build_collector(config: Config, source: SourceConfig) -> Collector:
    """Instantiate a source's collector; collectors that estimate money get the [[prices]] overrides."""
    coll = config.plugins.collectors.get(source.type)(source)  # type: ignore[call-arg]  # Protocols have no __init__
    if config.prices:
        coll.use_prices(config.prices)
    return coll


def collect_source(config: Config, source: SourceConfig, *, since: Optional[datetime] = None,
                   until: Optional[datetime] = None, now: Optional[datetime] = None,
                   progress: Optional[Callable[[str, int, int], None]] = None) -> SourceOutcome:
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
        for kind in coll.kinds:
            end = min(until or now, now)
            if since is not None:
                start = since
            else:
                with Store.open_for(config) as st:
                    ct = st.complete_through(source.name, kind)
                start = (min(ct, end) if ct else end) - source.lookback
            if start >= end:
                continue
            planned = coll.plan(kind, Window(start, end), now)
            if planned is None:
                continue
            chunks = list(planned.days()) if since is not None else [planned]
            for i, chunk in enumerate(chunks):
                if progress:
                    progress(f"{source.name}/{kind}", i, len(chunks))
                rows = list(coll.fetch(kind, chunk))
                with open_writer(config) as st:
                    outcome.rows += st.replace_window(source.name, kind, chunk, rows, advance_to=chunk.end)
                outcome.windows += 1
            outcome.notes.extend(coll.notes)
        with open_writer(config) as st:
            coll.after_collect(st, now)
            for kind in coll.kinds:
                st.mark_attempt(source.name, kind, ok=True, at=now)
        log.info("collect ok source=%s rows=%d windows=%d", source.name, outcome.rows, outcome.windows)
        return outcome
    except SpendwatchError as exc:
        return _fail(config, source, outcome, str(exc), kinds=coll.kinds, busy=isinstance(exc, StoreLocked))
    finally:
        coll.close()


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


def collect_all(config: Config, names: list[str], *, since: Optional[datetime] = None,
                until: Optional[datetime] = None, progress: bool = False) -> list[SourceOutcome]:
    """Every named (or every enabled) source, independently: one failing does not stop the others."""
    sources = [config.source(n) for n in names] if names else [s for s in config.sources if s.enabled]
    bar = _progress_printer() if progress and since is not None and sys.stderr.isatty() else None
    return [collect_source(config, s, since=since, until=until, progress=bar) for s in sources]


def _progress_printer() -> Callable[[str, int, int], None]:
    def show(label: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * (done + 1) / max(total, 1))
        sys.stderr.write(f"\r{label:<30} [{'#' * filled}{'.' * (width - filled)}] {done + 1}/{total}")
        if done + 1 == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def default_window(now: datetime, lookback: timedelta) -> Window:
    return Window(now - lookback, now)
