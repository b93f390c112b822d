"""Collectors (scheduled pulls from provider APIs) and import formats (export files), each one module
registered by name. Adding a provider means adding a module here; the store and the daemon do not change.

A collector class:
    Options            frozen dataclass of its config keys (validated by spendwatch.config; `Secret` fields
                       are written `<name>_env` / `<name>_file`)
    kinds              the datasets it writes, e.g. ("usage", "cost"); each is replaced window by window
    default_lookback   the revision window the provider may still change, e.g. "3d"
    __init__(source: SourceConfig)
    plan(kind, window, now) -> Window | None    clamp to what the provider can serve (None: nothing yet)
    fetch(kind, window) -> Iterable[dict]       normalised rows (Decimal money, aware UTC times);
                                                must raise, not return partial data, on failure
    after_collect(store, now) -> None           optional: point-in-time facts (balances) via record_metric
    close()                                     release HTTP clients

An import format class:
    import_file(store, path, *, source) -> ImportResult   the whole file in one transaction, or nothing
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Optional, Protocol

from spendwatch.registry import Registry
from spendwatch.store import Window

COLLECTORS: Registry[Any] = Registry("collector", "collector", "spendwatch.collectors")
FORMATS: Registry[Any] = Registry("import format", "collector", "spendwatch.formats")


class Collector(Protocol):
    kinds: tuple[str, ...]
    default_lookback: str

    def plan(self, kind: str, window: Window, now: datetime) -> Optional[Window]: ...

    def fetch(self, kind: str, window: Window) -> Iterable[dict[str, Any]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ImportResult:
    path: str
    format: str
    source: str
    rows: int
    window: Optional[Window]
    cost_usd: Any  # Decimal total of what was written
