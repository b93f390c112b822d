"""TOML config → typed, validated objects.

Why a hand-rolled checker instead of a schema library: every error must name the file, the key path and
(where TOML lets us find it) the line, and *all* errors are reported at once, so that a user fixes a config
in one round. Plugin-specific keys (a collector's, a sink's, a detector's) are declared by the plugin as a
frozen dataclass `Options`; this module validates any such dataclass by its type hints, so adding a
provider never touches this file.

Secrets are never values in the file: a field typed `Secret` is written as `<field>_env = "VAR"` or
`<field>_file = "/path"` (relative paths resolve under $CREDENTIALS_DIRECTORY when systemd sets it).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Optional, Union

from .errors import ConfigError, SecretMissing
from .timeutil import parse_clock, parse_duration

SPEND_COLUMNS = (
    "ts", "period_end", "granularity", "provider", "source", "account_id", "project_id", "workspace_id",
    "api_key_id", "user_id", "model", "service_tier", "line_item", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens", "requests", "cost_usd", "cost_basis", "team",
    "tags",
)
# Columns a budget/allocation `match` may name: the text dimensions of `spend`.
MATCH_COLUMNS = (
    "provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id", "model",
    "service_tier", "line_item", "granularity", "cost_basis", "team",
)
SECTIONS = ("store", "sources", "budgets", "allocation", "sinks", "daemon", "detectors", "prices", "actions")
DEFAULT_CONFIG_PATHS = ("./spendwatch.toml", "/etc/spendwatch/config.toml")


@dataclass(frozen=True)
class Secret:
    """A reference to a secret; the value is read only when used and never stored on the object."""

    key: str  # config key path, e.g. "sources[0].api_key"
    env: Optional[str] = None
    file: Optional[str] = None

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolved_path(self) -> Path:
        assert self.file is not None
        p = Path(self.file)
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if not p.is_absolute() and creds:
            return Path(creds) / p
        return p

    def get(self) -> str:
        """The secret's value; raises SecretMissing naming where we looked (never a value)."""
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise SecretMissing(f"{self.key}: environment variable {self.env} is not set")
            return _registered(value.strip())
        try:
            value = self.resolved_path().read_text().strip()
        except OSError as exc:
            raise SecretMissing(f"{self.key}: cannot read secret file {self.resolved_path()} ({exc.strerror})") from None
        if not value:
            raise SecretMissing(f"{self.key}: secret file {self.resolved_path()} is empty")
        return _registered(value)

    def present(self) -> bool:
        try:
            self.get()
            return True
        except SecretMissing:
            return False


def _registered(value: str) -> str:
    from .redact import register_secret

    register_secret(value)
    return value


class Ratio(Decimal):
    """A share such as a budget threshold (0.8 = 80%). Unlike money, TOML floats are accepted: they are
    converted through their shortest decimal repr ("0.8" → Decimal("0.8")), which is exact for what a
    person types."""


Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class StoreConfig:
    path: str = "/var/lib/spendwatch/spend.duckdb"
    lock_timeout: timedelta = timedelta(seconds=30)  # how long readers/writers wait for a conflicting lock


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
    thresholds: list[Ratio] = field(default_factory=lambda: [Decimal("0.5"), Decimal("0.8"), Decimal("1.0")])
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
    cached_input_per_mtok: Optional[Decimal] = None
    cache_write_per_mtok: Optional[Decimal] = None
    since: Optional[str] = None
    until: Optional[str] = None

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
    metrics_listen: Optional[str] = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    job_timeout: timedelta = timedelta(minutes=15)  # a daemon job (collect, digest) running longer is stopped


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
    actions: list[Any] = field(default_factory=list)  # [[actions]] guardrails (spendwatch.actions_config)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError([f"{self.path}: no source named {name!r} (configured: {', '.join(s.name for s in self.sources) or 'none'})"])

    def secrets(self) -> list[Secret]:
        """Every secret the config refers to, for check-config and for redaction."""
        found: list[Secret] = []
        for obj in ([s.options for s in self.sources] + [s.options for s in self.sinks]
                    + [p for a in self.actions for p in a.providers.values()]):
            if dataclasses.is_dataclass(obj):
                for f in dataclasses.fields(obj):
                    v = getattr(obj, f.name)
                    if isinstance(v, Secret):
                        found.append(v)
        return found


# --------------------------------------------------------------------------------------------- locating


class _Locator:
    """Finds the line of a key path in TOML text. tomllib keeps no positions, so we scan headers and keys;
    good enough for the shapes people write by hand, and silent (no line) when unsure."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, path: tuple[Any, ...]) -> Optional[int]:
        if not path:
            return None
        head, rest = path[0], path[1:]
        index = rest[0] if rest and isinstance(rest[0], int) else None
        keys = [k for k in (rest[1:] if index is not None else rest) if isinstance(k, str)]
        seen = -1
        in_section = False
        header_line = None
        for no, raw in enumerate(self.lines, 1):
            line = raw.strip()
            m = re.match(r"^\[\[?\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?", line)
            if m:
                name = m.group(1).strip('"')
                if index is not None:
                    if line.startswith("[[") and name == head:
                        seen += 1
                        in_section = seen == index
                    else:
                        in_section = False
                else:
                    in_section = name == head or (keys and name == f"{head}.{keys[0]}")
                if in_section:
                    header_line = no
                continue
            if in_section and keys:
                if re.match(rf"^{re.escape(keys[0])}(_env|_file)?\s*=", line):
                    return no
        return header_line


# ------------------------------------------------------------------------------------------------ parsing


class _Problems:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.locator = _Locator(text)
        self._found: list[tuple[int, int, str]] = []

    def add(self, path: tuple[Any, ...], message: str) -> None:
        line = self.locator.line_of(path)
        where = f"{self.file}:{line}" if line else self.file
        self._found.append((line or 0, len(self._found), f"{where}: {format_path(path)}: {message}"))

    @property
    def items(self) -> list[str]:
        """In file order (problems without a line first), so the report reads top to bottom."""
        return [text for _, _, text in sorted(self._found)]


def format_path(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", Decimal: 'a decimal string (e.g. "5000.00")',
            timedelta: 'a duration (e.g. "1h")', time: 'a clock time ("HH:MM")'}.get(tp, str(tp))


def _convert(value: Any, tp: Any, path: tuple[Any, ...], probs: _Problems) -> Any:
    """Convert one TOML value to the annotated type; on failure record a problem and return a sentinel."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union:  # Optional[X]
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], path, probs)
    if origin is Literal:
        if value not in args:
            probs.add(path, f"must be one of {', '.join(map(str, args))} (got {value!r})")
            return _BAD
        return value
    if tp is Ratio:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            probs.add(path, f"not a number ({value!r})")
            return _BAD
        try:
            r = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
            if not r.is_finite():
                raise InvalidOperation
            return r
        except InvalidOperation:
            probs.add(path, f'not a number ("{value}")')
            return _BAD
    if tp is Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            if isinstance(value, float):
                probs.add(path, f'write money as a decimal string, not a float (e.g. "{value}")')
            else:
                probs.add(path, f"not a decimal ({value!r})")
            return _BAD
        try:
            d = Decimal(str(value).strip())
            if not d.is_finite():
                raise InvalidOperation
            return d
        except InvalidOperation:
            probs.add(path, f'not a decimal ("{value}")')
            return _BAD
    if tp is timedelta:
        try:
            return parse_duration(value)
        except ValueError as exc:
            probs.add(path, str(exc))
            return _BAD
    if tp is time:
        try:
            return parse_clock(value)
        except ValueError as exc:
            probs.add(path, str(exc))
            return _BAD
    if tp is bool:
        if not isinstance(value, bool):
            probs.add(path, f"expected true or false, got {type(value).__name__} ({value!r})")
            return _BAD
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            probs.add(path, f"expected an integer, got {type(value).__name__} ({value!r})")
            return _BAD
        return value
    if tp is str:
        if not isinstance(value, str):
            probs.add(path, f"expected a string, got {type(value).__name__} ({value!r})")
            return _BAD
        return value
    if origin is list:
        (inner,) = args
        if isinstance(value, str) and inner is str:
            value = [value]
        if not isinstance(value, list):
            probs.add(path, f"expected a list, got {type(value).__name__}")
            return _BAD
        out = [_convert(v, inner, path + (i,), probs) for i, v in enumerate(value)]
        return _BAD if any(v is _BAD for v in out) else out
    if origin is dict:
        if not isinstance(value, dict):
            probs.add(path, f"expected a table, got {type(value).__name__}")
            return _BAD
        return dict(value)
    raise TypeError(f"config type {tp!r} not supported")  # a programming error in a plugin's Options


class _Bad:
    def __repr__(self) -> str:
        return "<invalid>"


_BAD = _Bad()


def toml_key(field_name: str) -> str:
    """A field named after a Python keyword plus "_" (`from_`) is written without the "_" (`from`)."""
    import keyword

    return field_name[:-1] if field_name.endswith("_") and keyword.iskeyword(field_name[:-1]) else field_name


def parse_options(cls: type, table: dict[str, Any], path: tuple[Any, ...], probs: _Problems,
                  skip: frozenset[str] = frozenset()) -> Any:
    """Build dataclass `cls` from `table`, reporting unknown keys, missing required ones and bad types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    known: set[str] = set(skip)
    for name, f in fields.items():
        tp = hints[name]
        is_secret = tp is Secret or (typing.get_origin(tp) is Union and Secret in typing.get_args(tp))
        if is_secret:
            known |= {f"{name}_env", f"{name}_file"}
            env, file = table.get(f"{name}_env"), table.get(f"{name}_file")
            if env is not None and file is not None:
                probs.add(path + (f"{name}_env",), f"give either {name}_env or {name}_file, not both")
                kwargs[name] = _BAD
                continue
            if env is None and file is None:
                if f.default is dataclasses.MISSING:
                    probs.add(path + (f"{name}_env",), f"missing: set {name}_env (an environment variable name) or {name}_file")
                    kwargs[name] = _BAD
                continue
            ref_key = f"{name}_env" if env is not None else f"{name}_file"
            ref_val = env if env is not None else file
            if not isinstance(ref_val, str) or not ref_val:
                probs.add(path + (ref_key,), "expected the name of an environment variable or a file path")
                kwargs[name] = _BAD
                continue
            if env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                probs.add(path + (ref_key,), f"not an environment variable name ({env!r}); put the secret in the environment, not in this file")
                kwargs[name] = _BAD
                continue
            kwargs[name] = Secret(key=format_path(path + (name,)), env=env, file=file)
            continue
        key = toml_key(name)
        known.add(key)
        if key in table:
            kwargs[name] = _convert(table[key], tp, path + (key,), probs)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            probs.add(path + (key,), "missing (required)")
            kwargs[name] = _BAD
    for key in table:
        if key not in known:
            hint = _closest(key, sorted(known))
            probs.add(path + (key,), "unknown key" + (f" (did you mean {hint!r}?)" if hint else ""))
    if any(v is _BAD for v in kwargs.values()):
        return _BAD
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        probs.add(path, str(exc))
        return _BAD


def _closest(key: str, candidates: list[str]) -> Optional[str]:
    import difflib

    m = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return m[0] if m else None


def _check_match(match: Any, path: tuple[Any, ...], probs: _Problems) -> None:
    if match is _BAD:
        return
    for col, pat in match.items():
        if col not in MATCH_COLUMNS:
            probs.add(path + (col,), f"not a column of spend usable in match (use one of {', '.join(MATCH_COLUMNS)})")
        elif not (isinstance(pat, str) or (isinstance(pat, list) and all(isinstance(p, str) for p in pat))):
            probs.add(path + (col,), "expected a string pattern or a list of them")


def _table_list(raw: dict[str, Any], key: str, probs: _Problems) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        probs.add((key,), f"expected [[{key}]] tables")
        return []
    return value


def _duplicates(items: list[Any], kind: str, probs: _Problems) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = getattr(item, "name", None)
        if name in seen:
            probs.add((kind, i, "name"), f"duplicate name {name!r}")
        seen.add(name)


def find_config_path(explicit: Optional[str]) -> str:
    """--config, else $SPENDWATCH_CONFIG, else ./spendwatch.toml, else /etc/spendwatch/config.toml."""
    if explicit:
        return explicit
    env = os.environ.get("SPENDWATCH_CONFIG")
    if env:
        return env
    for p in DEFAULT_CONFIG_PATHS:
        if Path(p).exists():
            return p
    raise ConfigError([f"no config file: pass --config, set SPENDWATCH_CONFIG, or create {' or '.join(DEFAULT_CONFIG_PATHS)}"])


def load_config(path: str) -> Config:
    """Read and validate `path`; raises ConfigError listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config ({exc.strerror})"]) from None
    return parse_config(text, path)


def parse_config(text: str, path: str = "spendwatch.toml") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        raise ConfigError([f"{where}: not valid TOML ({exc})"]) from None
    probs = _Problems(path, text)
    for key in raw:
        if key not in SECTIONS:
            hint = _closest(key, list(SECTIONS))
            probs.add((key,), "unknown section" + (f" (did you mean {hint!r}?)" if hint else ""))

    store = parse_options(StoreConfig, raw.get("store", {}), ("store",), probs)
    daemon_raw = raw.get("daemon", {})
    daemon = parse_options(DaemonConfig, daemon_raw, ("daemon",), probs)
    tz = daemon_raw.get("timezone") if isinstance(daemon_raw, dict) else None
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(tz)
        except Exception:
            probs.add(("daemon", "timezone"), f'unknown time zone ("{tz}"); use an IANA name such as "Europe/Berlin"')
            daemon = _BAD

    from collector import COLLECTORS
    from detectors import DETECTORS
    from sinks import SINKS

    sources = []
    for i, t in enumerate(_table_list(raw, "sources", probs)):
        sources.append(_parse_plugin_entry(t, ("sources", i), COLLECTORS, "collector", probs, _parse_source))
    budgets = []
    for i, t in enumerate(_table_list(raw, "budgets", probs)):
        b = parse_options(BudgetConfig, t, ("budgets", i), probs)
        if isinstance(t.get("match"), dict):
            _check_match(t["match"], ("budgets", i, "match"), probs)
        if b is not _BAD:
            if b.amount <= 0:
                probs.add(("budgets", i, "amount"), f'must be positive ("{b.amount}")')
            for j, th in enumerate(b.thresholds):
                if th <= 0:
                    probs.add(("budgets", i, "thresholds", j), f"must be a positive share of the budget (got {th})")
        budgets.append(b)
    allocation = []
    for i, t in enumerate(_table_list(raw, "allocation", probs)):
        a = parse_options(AllocationRule, t, ("allocation", i), probs)
        if isinstance(t.get("match"), dict):
            _check_match(t["match"], ("allocation", i, "match"), probs)
        if a is not _BAD:
            if "team" in a.match:
                probs.add(("allocation", i, "match", "team"), "an allocation rule cannot match on the team it assigns")
        allocation.append(a)
    prices = [parse_options(PriceOverride, t, ("prices", i), probs)
              for i, t in enumerate(_table_list(raw, "prices", probs))]
    sinks = []
    for i, t in enumerate(_table_list(raw, "sinks", probs)):
        sinks.append(_parse_plugin_entry(t, ("sinks", i), SINKS, "sink", probs, _parse_sink))
    detectors: dict[str, DetectorConfig] = {}
    det_raw = raw.get("detectors", {})
    if not isinstance(det_raw, dict):
        probs.add(("detectors",), "expected a table of [detectors.NAME] tables")
        det_raw = {}
    for name, table in det_raw.items():
        if name not in DETECTORS:
            hint = _closest(name, DETECTORS.names())
            probs.add(("detectors", name), "unknown detector" + (f" (did you mean {hint!r}?)" if hint else f" (known: {', '.join(DETECTORS.names())})"))
            continue
        if not isinstance(table, dict):
            probs.add(("detectors", name), "expected a table")
            continue
        det = DETECTORS.get(name)
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            probs.add(("detectors", name, "enabled"), "expected true or false")
        opts_cls = getattr(det, "Options", None) or _EmptyOptions
        opts = parse_options(opts_cls, table, ("detectors", name), probs, skip=frozenset({"enabled"}))
        detectors[name] = DetectorConfig(name=name, enabled=bool(enabled), options=opts)

    from .actions_config import parse_actions

    actions = parse_actions(raw, probs, detectors=DETECTORS.names(), budgets=budgets)
    for kind, items in (("sources", sources), ("budgets", budgets), ("sinks", sinks), ("actions", actions)):
        _duplicates([x for x in items if x is not _BAD], kind, probs)
    if probs.items:
        raise ConfigError(probs.items)
    return Config(path=path, store=store, sources=sources, budgets=budgets, allocation=allocation,
                  sinks=sinks, daemon=daemon, detectors=detectors, prices=prices, actions=actions)


@dataclass(frozen=True)
class _EmptyOptions:
    pass


def _parse_plugin_entry(t: dict[str, Any], path: tuple[Any, ...], registry: Any, kind: str, probs: _Problems,
                        build: Any) -> Any:
    typ = t.get("type")
    if not isinstance(typ, str):
        probs.add(path + ("type",), f"missing (required): the {kind} type, one of {', '.join(registry.names())}")
        return _BAD
    if typ not in registry:
        hint = _closest(typ, registry.names())
        probs.add(path + ("type",), f"unknown {kind} type {typ!r}" + (f" (did you mean {hint!r}?)" if hint else f" (known: {', '.join(registry.names())})"))
        return _BAD
    return build(t, path, registry.get(typ), probs)


def _parse_source(t: dict[str, Any], path: tuple[Any, ...], plugin: Any, probs: _Problems) -> Any:
    common = {"name", "type", "interval", "lookback", "enabled"}
    name = t.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*", name or ""):
        probs.add(path + ("name",), "missing or invalid: a unique name of letters, digits, '-', '_', '.'")
    interval = _convert(t.get("interval", "1h"), timedelta, path + ("interval",), probs)
    lookback = _convert(t.get("lookback", getattr(plugin, "default_lookback", "3d")), timedelta, path + ("lookback",), probs)
    enabled = _convert(t.get("enabled", True), bool, path + ("enabled",), probs)
    opts = parse_options(plugin.Options, t, path, probs, skip=frozenset(common))
    if _BAD in (interval, lookback, enabled, opts) or not isinstance(name, str):
        return _BAD
    return SourceConfig(name=name, type=t["type"], interval=interval, lookback=lookback, enabled=enabled, options=opts)


def _parse_sink(t: dict[str, Any], path: tuple[Any, ...], plugin: Any, probs: _Problems) -> Any:
    common = {"name", "type", "min_severity"}
    name = t.get("name")
    if not isinstance(name, str) or not name:
        probs.add(path + ("name",), "missing (required): a unique sink name")
    sev = _convert(t.get("min_severity", "warning"), Severity, path + ("min_severity",), probs)
    opts = parse_options(plugin.Options, t, path, probs, skip=frozenset(common))
    if _BAD in (sev, opts) or not isinstance(name, str):
        return _BAD
    return SinkConfig(name=name, type=t["type"], min_severity=sev, options=opts)


def minimal_config(store_path: str) -> Config:
    """A config with only a store, for commands given --store without a config file."""
    return Config(path="(none)", store=StoreConfig(path=store_path), sources=[], budgets=[], allocation=[],
                  sinks=[], daemon=DaemonConfig(), detectors={})
