"""The config's schema: the typed objects a validated `spendwatch.toml` becomes.

What each key means is documented in docs/configuration.md and config.example.toml; how TOML becomes these
objects (all errors at once, with file:line and key path) is `spendwatch.tomlcheck`, and which sections
exist and how plugin entries are assembled is `spendwatch.config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from .config_path import DEFAULT_CONFIG_PATHS, find_config_path  # noqa: F401  (moved there; still importable here)
from .errors import ConfigError
from .values import Ratio, Secret

if TYPE_CHECKING:
    from .contracts import Plugins


@dataclass(frozen=True)
class StoreConfig:
    path: str = "/var/lib/spendwatch/spend.duckdb"
    lock_timeout: timedelta = timedelta(seconds=30)  # how long readers/writers wait for a conflicting lock
    keep_requests: timedelta | None = None  # request rows older than this roll up into hourly cells


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    interval: timedelta
    lookback: timedelta
    enabled: bool
    options: Any  # the collector's Options dataclass


@dataclass(frozen=True)
class BudgetConfig:
    name: str
    amount: Decimal
    period: Literal["day", "week", "month"] = "month"
    match: dict[str, Any] = field(default_factory=dict)
    thresholds: list[Ratio] = field(default_factory=lambda: [Ratio("0.5"), Ratio("0.8"), Ratio("1.0")])
    forecast: bool = True


@dataclass(frozen=True)
class AllocationRule:
    team: str
    match: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceOverride:
    """A negotiated rate ([[prices]]): USD per million tokens for models matching `model` (a glob).

    Cached-input and cache-write prices default to the input price when not given; `since`/`until`
    (YYYY-MM-DD, until exclusive) date the rate. The first matching entry wins over genai-prices.
    """

    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    provider: str = "*"
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        from datetime import date

        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise ValueError(f'{name}: not a date ("{value}"); use YYYY-MM-DD') from None


@dataclass(frozen=True)
class SinkConfig:
    name: str
    type: str
    min_severity: str
    options: Any


@dataclass(frozen=True)
class DaemonConfig:
    timezone: str = "UTC"
    digest_at: time = time(8, 0)
    metrics_listen: str | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    job_timeout: timedelta = timedelta(minutes=15)  # a daemon job (collect, digest) running longer is stopped
    stop_grace: timedelta = timedelta(seconds=5)  # after SIGTERM, running jobs may finish this long before they are abandoned


@dataclass(frozen=True)
class WebConfig:
    """[web]: the read-only dashboard (spendwatch/web, docs/web.md). `listen` makes the daemon serve it too;
    a non-loopback address requires `token_env` (or `token_file`)."""

    listen: str | None = None  # Optional, not `X | None`: tomlcheck reads typing.Union
    token: Secret | None = None


@dataclass(frozen=True)
class DetectorConfig:
    name: str
    enabled: bool
    options: Any


@dataclass(frozen=True)
class Config:
    path: str
    store: StoreConfig
    sources: list[SourceConfig]
    budgets: list[BudgetConfig]
    allocation: list[AllocationRule]
    sinks: list[SinkConfig]
    daemon: DaemonConfig
    detectors: dict[str, DetectorConfig]
    prices: list[PriceOverride] = field(default_factory=list)
    gateways: list[Any] = field(default_factory=list)  # spendwatch.attribution.GatewayConfig
    web: WebConfig = field(default_factory=WebConfig)
    actions: list[Any] = field(default_factory=list)  # [[actions]] guardrails (spendwatch.actions_config)
    # The registries the config was validated against (set by parse_config); None only in a minimal config
    # (`--store` without a config file), which has no plugin entries to look up.
    plugins_: Plugins | None = field(default=None, compare=False, repr=False)

    @property
    def plugins(self) -> Plugins:
        if self.plugins_ is None:
            raise ConfigError([f"{self.path}: this command needs a config file (plugins are configured there)"])
        return self.plugins_

    def with_store(self, path: str | None) -> Config:
        """This config with `--store PATH` in place of [store] path (the CLI's, the daemon's and its workers'
        one override); None keeps the configured store."""
        return dataclasses.replace(self, store=dataclasses.replace(self.store, path=path)) if path else self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError([f"{self.path}: no source named {name!r} (configured: {', '.join(s.name for s in self.sources) or 'none'})"])

    def secrets(self) -> list[Secret]:
        """Every secret the config refers to, for check-config and for redaction."""
        found: list[Secret] = []
        for obj in ([s.options for s in self.sources] + [s.options for s in self.sinks] + [self.web]
                    + [p for a in self.actions for p in a.providers.values()]):
            if dataclasses.is_dataclass(obj):
                for f in dataclasses.fields(obj):
                    v = getattr(obj, f.name)
                    if isinstance(v, Secret):
                        found.append(v)
        return found


def minimal_config(store_path: str, plugins: Plugins | None = None) -> Config:
    """A config with only a store, for commands given --store without a config file. Read-only commands
    pass no plugins, so `spendwatch --store s.duckdb sql ...` imports no plugin package (start-up time)."""
    return Config(path="(none)", store=StoreConfig(path=store_path), sources=[], budgets=[], allocation=[],
                  sinks=[], daemon=DaemonConfig(), detectors={}, plugins_=plugins)
