"""TOML config → typed, validated objects: the sections spendwatch knows and how their entries are assembled.

The schema (what a config holds) is `spendwatch.config_schema`; the generic validator (TOML values → typed
dataclass fields, every error with file:line and key path) is `spendwatch.tomlcheck`. This module names the
sections, checks what crosses fields (matches, duplicates, time zones) and builds plugin entries from the
registries it is handed (`Plugins`, assembled by the app layer in `spendwatch.app`), so it never imports a
plugin package.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .actions_config import parse_actions
from .attribution import parse_gateways
from .config_schema import (
    AllocationRule,
    BudgetConfig,
    Config,
    DaemonConfig,
    DetectorConfig,
    PriceOverride,
    SinkConfig,
    SourceConfig,
    StoreConfig,
    WebConfig,
    find_config_path,
    minimal_config,
)
from .contracts import options_of
from .errors import ConfigError
from .limits import cost_problem
from .tomlcheck import BAD, Problems, closest, convert, parse_options, table_list
from .values import MATCH_COLUMNS, Severity, parse_listen

if TYPE_CHECKING:
    from .contracts import Plugins

__all__ = ["AllocationRule", "BudgetConfig", "Config", "DaemonConfig", "DetectorConfig", "PriceOverride",
           "SinkConfig", "SourceConfig", "StoreConfig", "find_config_path", "load_config", "minimal_config",
           "parse_config"]

# The grace must end well before systemd's TimeoutStopSec (deploy/spendwatch.service: 30s) would SIGKILL the
# daemon itself; a longer one is refused so a typo ("5m" for "5s") cannot turn a restart into a hang.
MAX_STOP_GRACE = timedelta(minutes=10)

SECTIONS = ("store", "sources", "budgets", "allocation", "sinks", "daemon", "detectors", "prices", "gateways", "web", "actions")


def _check_match(match: Any, path: tuple[Any, ...], probs: Problems) -> None:
    if match is BAD:
        return
    for col, pat in match.items():
        if col not in MATCH_COLUMNS:
            probs.add(path + (col,), f"not a column of spend usable in match (use one of {', '.join(MATCH_COLUMNS)})")
        elif not (isinstance(pat, str) or (isinstance(pat, list) and all(isinstance(p, str) for p in pat))):
            probs.add(path + (col,), "expected a string pattern or a list of them")


def _duplicates(items: list[Any], kind: str, probs: Problems) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = str(getattr(item, "name", ""))
        if name in seen:
            probs.add((kind, i, "name"), f"duplicate name {name!r}")
        seen.add(name)


def load_config(path: str, plugins: Plugins) -> Config:
    """Read and validate `path` against the plugins' options; raises ConfigError listing every problem."""
    return parse_config(read_config_text(path), path, plugins)


def read_config_text(path: str) -> str:
    """The config file's text; unreadable or not UTF-8 (TOML is UTF-8) is a ConfigError naming the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config ({exc.strerror})"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); TOML files are UTF-8"]) from None


def parse_config(text: str, path: str, plugins: Plugins) -> Config:
    """Validate TOML text. Plugin types and their Options come from `plugins`, which the app layer
    assembles (spendwatch.app), so this module never imports a plugin package."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        raise ConfigError([f"{where}: not valid TOML ({exc})"]) from None
    probs = Problems(path, text)
    for key in raw:
        if key not in SECTIONS:
            hint = closest(key, list(SECTIONS))
            probs.add((key,), "unknown section" + (f" (did you mean {hint!r}?)" if hint else ""))

    store = parse_options(StoreConfig, raw.get("store", {}), ("store",), probs)
    daemon_raw = raw.get("daemon", {})
    daemon = parse_options(DaemonConfig, daemon_raw, ("daemon",), probs)
    if daemon is not BAD and daemon.metrics_listen is not None:
        try:
            parse_listen(daemon.metrics_listen)
        except ValueError as exc:
            probs.add(("daemon", "metrics_listen"), str(exc))
    if daemon is not BAD and not timedelta(0) < daemon.stop_grace <= MAX_STOP_GRACE:
        probs.add(("daemon", "stop_grace"), f"must be more than 0s and at most {MAX_STOP_GRACE.total_seconds():g}s "
                  "(keep it under the service's TimeoutStopSec)")
    tz = daemon_raw.get("timezone") if isinstance(daemon_raw, dict) else None
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(tz)
        except Exception:
            probs.add(("daemon", "timezone"), f'unknown time zone ("{tz}"); use an IANA name such as "Europe/Berlin"')
            daemon = BAD

    COLLECTORS, DETECTORS, SINKS = plugins.collectors, plugins.detectors, plugins.sinks
    sources = []
    for i, t in enumerate(table_list(raw, "sources", probs)):
        sources.append(_parse_plugin_entry(t, ("sources", i), COLLECTORS, "collector", probs, _parse_source))
    budgets = []
    for i, t in enumerate(table_list(raw, "budgets", probs)):
        b = parse_options(BudgetConfig, t, ("budgets", i), probs)
        if isinstance(t.get("match"), dict):
            _check_match(t["match"], ("budgets", i, "match"), probs)
        if b is not BAD:
            if b.amount <= 0:
                probs.add(("budgets", i, "amount"), f'must be positive ("{b.amount}")')
            elif cost_problem(b.amount):
                probs.add(("budgets", i, "amount"), f'{cost_problem(b.amount)} ("{b.amount}")')
            for j, th in enumerate(b.thresholds):
                if th <= 0:
                    probs.add(("budgets", i, "thresholds", j), f"must be a positive share of the budget (got {th})")
        budgets.append(b)
    allocation = []
    for i, t in enumerate(table_list(raw, "allocation", probs)):
        a = parse_options(AllocationRule, t, ("allocation", i), probs)
        if isinstance(t.get("match"), dict):
            _check_match(t["match"], ("allocation", i, "match"), probs)
        if a is not BAD:
            if "team" in a.match:
                probs.add(("allocation", i, "match", "team"), "an allocation rule cannot match on the team it assigns")
        allocation.append(a)
    prices = [parse_options(PriceOverride, t, ("prices", i), probs)
              for i, t in enumerate(table_list(raw, "prices", probs))]
    gateways = parse_gateways(table_list(raw, "gateways", probs), probs, parse_options, _check_match)
    sinks = []
    for i, t in enumerate(table_list(raw, "sinks", probs)):
        sinks.append(_parse_plugin_entry(t, ("sinks", i), SINKS, "sink", probs, _parse_sink))
    detectors: dict[str, DetectorConfig] = {}
    det_raw = raw.get("detectors", {})
    if not isinstance(det_raw, dict):
        probs.add(("detectors",), "expected a table of [detectors.NAME] tables")
        det_raw = {}
    for name, table in det_raw.items():
        if name not in DETECTORS:
            hint = closest(name, DETECTORS.names())
            probs.add(("detectors", name), "unknown detector" + (f" (did you mean {hint!r}?)" if hint else f" (known: {', '.join(DETECTORS.names())})"))
            continue
        if not isinstance(table, dict):
            probs.add(("detectors", name), "expected a table")
            continue
        det = DETECTORS.get(name)
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            probs.add(("detectors", name, "enabled"), "expected true or false")
        opts = parse_options(options_of(det), table, ("detectors", name), probs, skip=frozenset({"enabled"}))
        detectors[name] = DetectorConfig(name=name, enabled=bool(enabled), options=opts)

    web = parse_options(WebConfig, raw.get("web", {}), ("web",), probs)
    if web is not BAD and web.listen is not None:
        try:
            parse_listen(web.listen)
        except ValueError as exc:
            probs.add(("web", "listen"), str(exc))
    actions = parse_actions(raw, probs, detectors=DETECTORS.names(), budgets=budgets)
    for kind, items in (("sources", sources), ("budgets", budgets), ("sinks", sinks), ("actions", actions)):
        _duplicates([x for x in items if x is not BAD], kind, probs)
    if probs.items:
        raise ConfigError(probs.items)
    return Config(path=path, store=store, sources=sources, budgets=budgets, allocation=allocation,
                  sinks=sinks, daemon=daemon, detectors=detectors, prices=prices, gateways=gateways, web=web, actions=actions,
                  plugins_=plugins)


def _parse_plugin_entry(t: dict[str, Any], path: tuple[Any, ...], registry: Any, kind: str, probs: Problems,
                        build: Any) -> Any:
    typ = t.get("type")
    if not isinstance(typ, str):
        probs.add(path + ("type",), f"missing (required): the {kind} type, one of {', '.join(registry.names())}")
        return BAD
    if typ not in registry:
        hint = closest(typ, registry.names())
        probs.add(path + ("type",), f"unknown {kind} type {typ!r}" + (f" (did you mean {hint!r}?)" if hint else f" (known: {', '.join(registry.names())})"))
        return BAD
    return build(t, path, registry.get(typ), probs)


def _parse_source(t: dict[str, Any], path: tuple[Any, ...], plugin: Any, probs: Problems) -> Any:
    common = {"name", "type", "interval", "lookback", "enabled"}
    name = t.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*", name or ""):
        probs.add(path + ("name",), "missing or invalid: a unique name of letters, digits, '-', '_', '.'")
    interval = convert(t.get("interval", "1h"), timedelta, path + ("interval",), probs)
    lookback = convert(t.get("lookback", getattr(plugin, "default_lookback", "3d")), timedelta, path + ("lookback",), probs)
    enabled = convert(t.get("enabled", True), bool, path + ("enabled",), probs)
    opts = parse_options(options_of(plugin), t, path, probs, skip=frozenset(common))
    if BAD in (interval, lookback, enabled, opts) or not isinstance(name, str):
        return BAD
    return SourceConfig(name=name, type=t["type"], interval=interval, lookback=lookback, enabled=enabled, options=opts)


def _parse_sink(t: dict[str, Any], path: tuple[Any, ...], plugin: Any, probs: Problems) -> Any:
    common = {"name", "type", "min_severity"}
    name = t.get("name")
    if not isinstance(name, str) or not name:
        probs.add(path + ("name",), "missing (required): a unique sink name")
    sev = convert(t.get("min_severity", "warning"), Severity, path + ("min_severity",), probs)
    opts = parse_options(options_of(plugin), t, path, probs, skip=frozenset(common))
    if BAD in (sev, opts) or not isinstance(name, str):
        return BAD
    return SinkConfig(name=name, type=t["type"], min_severity=sev, options=opts)
