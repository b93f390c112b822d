"""`check-config`: what the daemon would do with this config, and which secrets are missing."""

from __future__ import annotations

import dataclasses

from .config import Config
from .timeutil import format_duration
from .values import Secret


def describe_plan(cfg: Config) -> tuple[list[str], list[str]]:
    lines = [f"config: {cfg.path}", f"store: {cfg.store.path} (lock timeout {format_duration(cfg.store.lock_timeout)})",
             f"daemon: timezone {cfg.daemon.timezone}, digest at {cfg.daemon.digest_at.strftime('%H:%M')}"]
    missing: list[str] = []
    lines.append(f"sources ({len(cfg.sources)}):")
    for s in cfg.sources:
        state = "" if s.enabled else " (disabled)"
        describe = getattr(s.options, "describe", None)  # sources that pull no window say what they do
        what = describe() if callable(describe) else f"re-pulling {format_duration(s.lookback)}"
        lines.append(f"  {s.name}: {s.type} every {format_duration(s.interval)}, {what}{state}")
        missing += _secrets(s.options, lines)
    lines.append(f"budgets ({len(cfg.budgets)}):")
    for b in cfg.budgets:
        match = ", ".join(f"{k}={v}" for k, v in sorted(b.match.items())) or "all spend"
        ths = ", ".join(_percent(t) for t in b.thresholds)
        lines.append(f"  {b.name}: ${b.amount} per {b.period} on {match}; alerts at {ths}")
    lines.append(f"allocation rules ({len(cfg.allocation)}): " + "; ".join(
        f"{', '.join(f'{k}={v}' for k, v in sorted(a.match.items()))} -> {a.team}" for a in cfg.allocation))
    from .attribution import describe_gateways

    lines += describe_gateways(cfg)
    lines.append(f"sinks ({len(cfg.sinks)}):")
    for k in cfg.sinks:
        lines.append(f"  {k.name}: {k.type}, {k.min_severity} and above")
        missing += _secrets(k.options, lines)
    return lines, missing


def _secrets(options: object, lines: list[str]) -> list[str]:
    missing: list[str] = []
    if not dataclasses.is_dataclass(options):
        return missing
    for f in dataclasses.fields(options):
        v = getattr(options, f.name)
        if isinstance(v, Secret):
            ok = v.present()
            lines.append(f"    secret {v.key}: {v.describe()} {'present' if ok else 'MISSING'}")
            if not ok:
                missing.append(f"{v.key}: {v.describe()} is not set" if v.env else f"{v.key}: {v.describe()} is missing or empty")
    return missing


def _percent(share: object) -> str:
    text = f"{share * 100:f}"  # type: ignore[operator]
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"
