"""Small hand-made series in a real DuckDB store, and a way to run one detector on them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendwatch.app import parse_config
from spendwatch.store import Store, Window

UTC = UTC
D = Decimal


def at(s: str) -> datetime:
    """'2026-11-02' or '2026-11-02T14:00' → aware UTC datetime."""
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def day_rows(start: str, values: Iterable[Any], **dims: Any) -> list[dict[str, Any]]:
    """One daily row per value, from `start`; None skips a day (no row at all)."""
    d0 = date.fromisoformat(start)
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        ts = datetime.combine(d0 + timedelta(days=i), datetime.min.time(), UTC)
        out.append({"ts": ts, "period_end": ts + timedelta(days=1), "granularity": "day",
                    "provider": "openai", "cost_usd": D(str(v)), **dims})
    return out


def hour_rows(start: str, values: Iterable[Any], **dims: Any) -> list[dict[str, Any]]:
    t0 = at(start)
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        ts = t0 + timedelta(hours=i)
        out.append({"ts": ts, "period_end": ts + timedelta(hours=1), "granularity": "hour",
                    "provider": "openai", "cost_usd": D(str(v)), **dims})
    return out


def weekly(weekday: Any, weekend: Any, days: int, start: str = "2026-08-03") -> list[Any]:
    """A weekday/weekend pattern; 2026-08-03 is a Monday."""
    d0 = date.fromisoformat(start)
    return [weekend if (d0 + timedelta(days=i)).weekday() >= 5 else weekday for i in range(days)]


def load(path: Path, rows: list[dict[str, Any]], source: str = "test", kind: str = "usage") -> None:
    with Store.open(str(path)) as store:
        put(store, rows, source, kind)


def put(store: Store, rows: list[dict[str, Any]], source: str = "test", kind: str = "usage") -> None:
    if not rows:
        return
    lo = min(r["ts"] for r in rows)
    hi = max(r["ts"] for r in rows) + timedelta(seconds=1)
    store.replace_window(source, kind, Window(lo, hi), rows)


def config(text: str = "", store_path: str = "unused.duckdb") -> Any:
    return parse_config(f'[store]\npath = "{store_path}"\n' + text, "test.toml")


def run(name: str, path: Path, now: datetime, cfg: Any | None = None, live: bool = False, **opts: Any) -> list[Any]:
    """Run detector `name` alone as of `now` on the store at `path` (read-only, as `detect` does), over a
    snapshot like `detect` (or straight on the live views with live=True)."""
    from detectors import DETECTORS
    from spendwatch.history import History

    cls = DETECTORS.get(name)
    cfg = cfg or config()
    dc = cfg.detectors.get(name)
    options = dc.options if dc else cls.Options(**opts)
    with Store.open(str(path), read_only=True, allocation=cfg.allocation) as store:
        if live:
            return sorted(cls().run(History.live(store), cfg, options, now), key=lambda f: (f.key, f.step))
        with History.snapshot(store, now) as history:
            return sorted(cls().run(history, cfg, options, now), key=lambda f: (f.key, f.step))


@contextlib.contextmanager
def opened(path: Path, cfg: Any = None) -> Iterator[Store]:
    with Store.open(str(path), allocation=(cfg.allocation if cfg else ())) as s:
        yield s


ALL = ("budget", "level_shift", "low_balance", "new_spender", "reconciliation", "runaway", "spike", "stale_data",
       "unpriced_model")


def only(name: str, extra: str = "") -> Any:
    """A config with every detector but `name` disabled (plus `extra` TOML): every *registered* one, so a
    test plugin another test in this process registered (e.g. tests/daemon's) cannot add findings."""
    from detectors import DETECTORS

    text = "".join(f"[detectors.{d}]\nenabled = false\n" for d in DETECTORS.names() if d != name)
    return config(extra + "\n" + text)


def replay(name: str, path: Path, since: datetime, until: datetime, step: timedelta = timedelta(days=1),
           extra: str = "") -> list[tuple[datetime, Any]]:
    """`backtest` of one detector: what would have fired, step by step."""
    from spendwatch.detect import backtest

    cfg = only(name, extra)
    with Store.open(str(path), read_only=True, allocation=cfg.allocation) as store:
        return backtest(store, cfg, since, until, step)
