"""One collection pass: for each source and each of its datasets, pull the revision window and replace it.

Why fetch-then-write: a collector materialises a whole window before the store is opened, so an HTTP
failure on page 7 never touches the store (the window stays as it was) and the daemon holds the DuckDB
lock only for the write itself. Backfills (`--since`) go per UTC day, committing each, so an interrupted
backfill resumes from sync_state instead of starting over.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from .config import Config, SourceConfig
from .errors import SpendwatchError
from .store import Store, Window
from .timeutil import utcnow

log = logging.getLogger("spendwatch.collect")


@dataclass
class SourceOutcome:
    source: str
    ok: bool
    rows: int = 0
    windows: int = 0
    error: Optional[str] = None
    notes: list[str] = field(default_factory=list)


def open_writer(config: Config) -> Any:
    from .attribution import rules_of

    return Store.open(config.store.path, read_only=False, lock_timeout=config.store.lock_timeout.total_seconds(),
                      allocation=config.allocation, money=rules_of(config))


def build_collector(source: SourceConfig, prices: Any = ()) -> Any:
    """Instantiate a source's collector; collectors that estimate money get the [[prices]] overrides."""
    from collector import COLLECTORS

    coll = COLLECTORS.get(source.type)(source)
    if prices and hasattr(coll, "use_prices"):
        coll.use_prices(prices)
    return coll


def collect_source(config: Config, source: SourceConfig, *, since: Optional[datetime] = None,
                   until: Optional[datetime] = None, now: Optional[datetime] = None,
                   progress: Optional[Callable[[str, int, int], None]] = None) -> SourceOutcome:
    """Collect one source; never raises for a source failure (the outcome says what went wrong)."""
    now = now or utcnow()
    outcome = SourceOutcome(source.name, ok=True)
    try:
        coll = build_collector(source, getattr(config, "prices", ()))
    except SpendwatchError as exc:
        return _fail(config, source, outcome, str(exc))
    hook = getattr(coll, "collect", None)
    if callable(hook):  # sources that are not API windows (e.g. `files`) run their own pass
        try:
            return hook(config, source, now)
        except SpendwatchError as exc:
            return _fail(config, source, outcome, str(exc), kinds=coll.kinds)
        finally:
            coll.close()
    try:
        for kind in coll.kinds:
            end = min(until or now, now)
            if since is not None:
                start = since
            else:
                with Store.open(config.store.path, read_only=False,
                                lock_timeout=config.store.lock_timeout.total_seconds(),
                                allocation=config.allocation) as st:
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
            notes = getattr(coll, "notes", None)
            if notes:
                outcome.notes.extend(notes)
        after = getattr(coll, "after_collect", None)
        if after:
            with open_writer(config) as st:
                after(st, now)
        with open_writer(config) as st:
            for kind in coll.kinds:
                st.mark_attempt(source.name, kind, ok=True, at=now)
        log.info("collect ok source=%s rows=%d windows=%d", source.name, outcome.rows, outcome.windows)
        return outcome
    except SpendwatchError as exc:
        return _fail(config, source, outcome, str(exc), kinds=getattr(coll, "kinds", ("usage",)))
    finally:
        close = getattr(coll, "close", None)
        if close:
            close()


def _fail(config: Config, source: SourceConfig, outcome: SourceOutcome, message: str,
          kinds: tuple[str, ...] = ("usage",)) -> SourceOutcome:
    outcome.ok = False
    outcome.error = message
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
