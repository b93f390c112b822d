"""Collectors (scheduled pulls from provider APIs) and import formats (export files), each one module
registered by name. Adding a provider means adding a module here; the store and the daemon do not change.

The contracts are `spendwatch.contracts.Collector` (subclass `CollectorBase` for the optional capabilities'
defaults) and `spendwatch.contracts.Importer`:

A collector class:
    Options            frozen dataclass of its config keys (validated by spendwatch.config; `Secret` fields
                       are written `<name>_env` / `<name>_file`)
    kinds              the datasets it writes, e.g. ("usage", "cost"); each is replaced window by window
    default_lookback   the revision window the provider may still change, e.g. "3d"
    __init__(source: SourceConfig)
    plan(kind, window, now) -> Window | None    clamp to what the provider can serve (None: nothing yet)
    fetch(kind, window) -> Iterable[dict]       normalised rows (Decimal money, aware UTC times);
                                                must raise, not return partial data, on failure
    after_collect(store, now) -> None           point-in-time facts (balances) via record_metric
    close()                                     release HTTP clients

An import format class:
    import_file(store, path, *, source) -> list[ImportResult]   the whole file in one transaction, or nothing
"""

from __future__ import annotations

from spendwatch.contracts import Collector, Importer, ImportResult
from spendwatch.registry import Registry

COLLECTORS: Registry[type[Collector]] = Registry("collector", "collector", "spendwatch.collectors")
FORMATS: Registry[type[Importer]] = Registry("import format", "collector", "spendwatch.formats")

__all__ = ["COLLECTORS", "FORMATS", "ImportResult"]
