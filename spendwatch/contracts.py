"""The plugin contracts: what a collector, an import format, a detector and a sink promise the spine.

Each kind is a `Protocol` (what the spine calls) plus a small base class that supplies every optional
capability's default, so the spine calls capabilities it declared instead of probing with `getattr`/`hasattr`
(a plugin that has no digest says `supports_digest = False`; one that needs no after-collect hook simply
inherits the no-op). Third-party plugins may implement the protocol without the base class; mypy checks them
against the protocol through the typed registries.

`Plugins` is the catalogue the app layer (CLI, daemon, jobs, demo: `spendwatch.app`) assembles from the
plugin packages' registries and hands down inside `Config`, so that spine modules never import a plugin
package: imports run one way, plugins → kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

from .registry import Registry
from .store import Window

if TYPE_CHECKING:
    from .config import Config, SinkConfig, SourceConfig
    from .findings import Finding
    from .history import History
    from .notice import Notice
    from .store import Store


# ------------------------------------------------------------------------------------------- collectors


@dataclass
class SourceOutcome:
    """What one collect pass of one source did; a failure is a value here, not an exception."""

    source: str
    ok: bool
    rows: int = 0
    windows: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    store_busy: bool = False  # the failure was the store's lock, not the source (the daemon retries soon)
    store_seconds: float = 0.0  # time spent opening and writing the store (benchmarks read it from the log)


class Collector(Protocol):
    """A scheduled pull from one provider: the collect pass plans and fetches window by window.

    Class-level data is declared as read-only properties (a nested `Options` class or a class attribute
    satisfies them); read it from an instance, or from the class with `options_of`/`kinds_of`.
    """

    @property
    def Options(self) -> type[Any]: ...          # frozen dataclass of its config keys

    @property
    def kinds(self) -> tuple[str, ...]: ...      # the datasets it writes, e.g. ("usage", "cost")

    @property
    def default_lookback(self) -> str: ...       # the revision window the provider may still change, "3d"

    notes: list[str]                # remarks for the operator gathered while fetching (shown by `collect`)

    def plan(self, kind: str, window: Window, now: datetime) -> Window | None: ...

    def fetch(self, kind: str, window: Window) -> Iterable[dict[str, Any]]: ...

    def close(self) -> None: ...

    def use_prices(self, prices: Sequence[Any]) -> None: ...

    def after_collect(self, store: Store, now: datetime) -> None: ...

    def collect(self, config: Config, source: SourceConfig, now: datetime) -> SourceOutcome | None: ...


class CollectorBase:
    """Defaults for a collector's optional capabilities."""

    kinds: tuple[str, ...] = ("usage",)
    default_lookback: str = "3d"

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.notes: list[str] = []

    def plan(self, kind: str, window: Window, now: datetime) -> Window | None:
        return window

    def fetch(self, kind: str, window: Window) -> Iterable[dict[str, Any]]:
        return []

    def close(self) -> None:
        """Release HTTP clients and files."""

    def use_prices(self, prices: Sequence[Any]) -> None:
        """[[prices]] overrides, for collectors that estimate money from tokens."""

    def after_collect(self, store: Store, now: datetime) -> None:
        """Point-in-time facts (balances) via `store.record_metric`, after the windows are written."""

    def collect(self, config: Config, source: SourceConfig, now: datetime) -> SourceOutcome | None:
        """A source that is not API windows (the `files` inbox) runs its own pass and returns its outcome;
        None means: use the generic window-by-window pass."""
        return None


@dataclass(frozen=True)
class ImportResult:
    path: str
    format: str
    source: str
    rows: int
    window: Window | None
    cost_usd: Decimal | None  # total of what was written


class Importer(Protocol):
    """An export-file format: `import_file` loads the whole file in one transaction, or nothing."""

    def import_file(self, store: Store, path: str, *, source: str | None = None) -> list[ImportResult]: ...


# -------------------------------------------------------------------------------------------- detectors


@dataclass(frozen=True)
class NoOptions:
    """The Options of a plugin that takes no keys of its own."""


class Detector(Protocol):
    """A pure function of (history as of `now`, config, options): findings, never deliveries."""

    @property
    def Options(self) -> type[Any]: ...   # frozen dataclass of its `[detectors.NAME]` keys

    @property
    def resolution(self) -> str: ...      # "hour" | "day" (output depends only on the UTC day) | "state"

    def run(self, history: History, config: Config, options: Any, now: datetime) -> list[Finding]: ...

    def horizon(self, options: Any) -> timedelta: ...

    def fire_times(self, history: History, config: Config, options: Any,
                   times: list[datetime]) -> list[datetime] | None: ...


class DetectorBase:
    """Defaults: no keys, judged every step, looks back one day, no bulk shortcut for backtests."""

    Options: type[Any] = NoOptions
    resolution: str = "hour"

    def horizon(self, options: Any) -> timedelta:
        """How far back this detector reads; the run's snapshot covers the largest horizon."""
        return timedelta(days=1)

    def fire_times(self, history: History, config: Config, options: Any,
                   times: list[datetime]) -> list[datetime] | None:
        """The steps of a backtest at which the detector could fire, found in bulk; None: every step."""
        return None


# ------------------------------------------------------------------------------------------------ sinks


class Sink(Protocol):
    """Renders and transmits; dedup, retries and the alert log live in the spine (`spendwatch.alerts`)."""

    @property
    def Options(self) -> type[Any]: ...   # frozen dataclass of its keys (extend DeliveryOptions)

    @property
    def supports_digest(self) -> bool: ...

    def send(self, notices: Sequence[Notice]) -> None: ...

    def send_digest(self, digest: Any) -> None: ...


class SinkBase:
    """Defaults: no digest."""

    supports_digest: bool = False

    def __init__(self, config: SinkConfig) -> None:
        self.config = config

    def send_digest(self, digest: Any) -> None:
        raise NotImplementedError(f"sink type {type(self).__name__} sends no digest")


# ------------------------------------------------------------------------------------------- catalogue


def options_of(plugin: type[Any]) -> type[Any]:
    """A plugin class's Options, read from the class (the config is validated before any instance exists).
    Protocols describe instances, so this is the one place class-level data is read untyped."""
    return cast(type[Any], plugin.Options)


def kinds_of(plugin: type[Any]) -> tuple[str, ...]:
    """The datasets a collector class writes (its class-level `kinds`)."""
    return tuple(plugin.kinds)


def supports_digest(plugin: type[Any]) -> bool:
    return bool(plugin.supports_digest)


@dataclass(frozen=True)
class Plugins:
    """The registries of every plugin kind, as assembled by the app layer."""

    collectors: Registry[type[Collector]]
    formats: Registry[type[Importer]]
    detectors: Registry[type[Detector]]
    sinks: Registry[type[Sink]]
