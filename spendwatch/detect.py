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


def _horizon(dets: list[tuple[str, Any, Any]]) -> timedelta:
    """How far back the snapshot must reach: the most any enabled detector looks back."""
    return max([timedelta(days=1)] + [cls().horizon(opts) for _, cls, opts in dets if hasattr(cls, "horizon")])


def _level_dims(dets: list[tuple[str, Any, Any]]) -> list[str]:
    """Every column some enabled detector groups by (its `levels`), for the first-seen table."""
    out: set[str] = set()
    for _, _, opts in dets:
        for level in getattr(opts, "levels", None) or []:
            out |= {d.strip() for d in level.split(",") if d.strip()}
    return sorted(out)


def run_detectors(store: Any, config: Config, now: datetime) -> list[Finding]:
    """Every enabled detector as of `now`, over one snapshot of what is visible at `now`."""
    from detectors._data import snapshot

    findings: list[Finding] = []
    dets = enabled_detectors(config)
    with snapshot(store, now, horizon=_horizon(dets), rules=list(config.allocation),
                  first_dims=_level_dims(dets)):
        for name, cls, opts in dets:
            findings.extend(cls().run(store, config, opts, now))
    return sorted(findings, key=lambda f: (f.detector, f.key, f.step))


def backtest(store: Any, config: Any, since: datetime, until: datetime, step: timedelta) -> list[tuple[datetime, Finding]]:
    """Replay every detector as of each step's end; a finding is printed when it first fires or escalates.

    No peeking: each step sees only rows visible at its time (ts < at, period ended by at; see
    detectors/_data.py). The view is materialised once for the whole replay. Not every detector needs
    every step: one whose output depends only on the UTC day (`resolution = "day"`) runs at the first
    step of each day; one that can say in bulk at which steps it could fire (`fire_times`, e.g. runaway
    judges every hour of the replay in one query) runs only there; `run` at those steps produces the
    findings, so the printed result is what stepping through every hour would print. Detectors that read
    only the present state (`resolution = "state"`, e.g. stale_data: sync_state keeps no history) are
    skipped.
    """
    from detectors._data import snapshot, today

    dets = enabled_detectors(config)
    times = []
    at = since + step
    while at <= until:
        times.append(at)
        at += step
    found: list[tuple[datetime, Finding]] = []
    with snapshot(store, until, since, horizon=_horizon(dets), rules=list(config.allocation),
                  first_dims=_level_dims(dets)):
        for name, cls, opts in dets:
            det = cls()
            res = getattr(cls, "resolution", "hour")
            if res == "state":
                continue
            if hasattr(det, "fire_times"):
                chosen = det.fire_times(store, config, opts, times)
            elif res == "day":
                chosen, seen_days = [], set()
                for t in times:
                    if today(t) not in seen_days:
                        seen_days.add(today(t))
                        chosen.append(t)
            else:
                chosen = times
            for t in chosen:
                found.extend((t, f) for f in det.run(store, config, opts, t))
    seen: dict[str, int] = {}
    out: list[tuple[datetime, Finding]] = []
    for t, f in sorted(found, key=lambda x: (x[0], x[1].detector, x[1].key, x[1].step)):
        if seen.get(f.key, -1) < f.step:
            seen[f.key] = f.step
            out.append((t, f))
    return out


def deliver(config: Config, findings: list[Finding], now: datetime) -> list[str]:
    """Send findings to every configured sink at or above its min_severity; returns problems (one line
    each). The alert log with dedup and queueing lives in spendwatch.alerts when present."""
    try:
        from . import alerts  # type: ignore[attr-defined]
    except ImportError:
        alerts = None
    from .actions import run_actions  # guardrails act first, so each notice says what was done

    acted = run_actions(config, findings, now)
    if alerts is not None:
        return acted + alerts.deliver(config, findings, now)
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
