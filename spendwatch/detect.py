"""Running detectors (now, or replayed for a backtest) and handing findings to delivery.

Findings are sorted by (detector, key) so that `detect --at T --json` is byte-identical for the same store
and T.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from .config import SEVERITY_RANK, Config
from .findings import Finding

log = logging.getLogger("spendwatch.detect")


def enabled_detectors(config: Config) -> list[tuple[str, Any, Any]]:
    from detectors import DETECTORS

    out = []
    for name, cls in DETECTORS.items():
        dc = config.detectors.get(name)
        if dc is not None and not dc.enabled:
            continue
        opts = dc.options if dc is not None else (cls.Options() if hasattr(cls, "Options") else None)
        out.append((name, cls, opts))
    return out


def run_detectors(store: Any, config: Config, now: datetime) -> list[Finding]:
    """Every enabled detector as of `now`, over one snapshot of what is visible at `now`."""
    from detectors._data import snapshot

    findings: list[Finding] = []
    with snapshot(store, now):
        for name, cls, opts in enabled_detectors(config):
            findings.extend(cls().run(store, config, opts, now))
    return sorted(findings, key=lambda f: (f.detector, f.key, f.step))


def backtest(store: Any, config: Any, since: datetime, until: datetime, step: timedelta) -> list[tuple[datetime, Finding]]:
    """Replay every detector as of each step's end; a finding is printed when it first fires or escalates.

    No peeking: each step sees only rows visible at its time (ts < at, period ended by at; see
    detectors/_data.py). The view is materialised once for the whole replay. A detector whose output
    depends only on the UTC day (`resolution = "day"`) is evaluated once per day, not once per step: the
    same day gives the same findings, so the printed result is unchanged. Detectors that read only the
    present state (`resolution = "state"`, e.g. stale_data: sync_state keeps no history) are skipped.
    """
    from detectors._data import snapshot, today

    dets = enabled_detectors(config)
    seen: dict[str, int] = {}
    out: list[tuple[datetime, Finding]] = []
    last: dict[str, Any] = {}
    with snapshot(store, until):
        at = since + step
        while at <= until:
            found: list[Finding] = []
            for name, cls, opts in dets:
                res = getattr(cls, "resolution", "hour")
                if res == "state":
                    continue
                marker = today(at) if res == "day" else at
                if last.get(name) == marker:
                    continue
                last[name] = marker
                found.extend(cls().run(store, config, opts, at))
            for f in sorted(found, key=lambda f: (f.detector, f.key, f.step)):
                if seen.get(f.key, -1) < f.step:
                    seen[f.key] = f.step
                    out.append((at, f))
            at += step
    return out


def deliver(config: Config, findings: list[Finding], now: datetime) -> list[str]:
    """Send findings to every configured sink at or above its min_severity; returns problems (one line
    each). The alert log with dedup and queueing lives in spendwatch.alerts when present."""
    try:
        from . import alerts  # type: ignore[attr-defined]
    except ImportError:
        alerts = None
    if alerts is not None:
        return alerts.deliver(config, findings, now)
    from sinks import SINKS

    from .errors import SinkError

    problems = []
    for sc in config.sinks:
        chosen = [f for f in findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[sc.min_severity]]
        if not chosen:
            continue
        try:
            SINKS.get(sc.type)(sc).send(chosen)
        except SinkError as exc:
            problems.append(str(exc))
    return problems
