"""Running detectors (now, or replayed for a backtest) and handing findings to delivery.

Findings are sorted by (detector, key) so that `detect --at T --json` is byte-identical for the same store
and T. A detector that raises does not take the run down: its failure becomes a `detector_error` finding
of its own (warning, one alert per failing detector and UTC day) and the other detectors' findings stand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from .config import Config
from .contracts import Detector, options_of
from .findings import Finding
from .history import History, today
from .redact import redact
from .store import Store
from .timeutil import day_start

log = logging.getLogger("spendwatch.detect")


Enabled = list[tuple[str, type[Detector], Any]]


def enabled_detectors(config: Config) -> Enabled:
    """Every registered detector not switched off, with its options (the defaults when not configured)."""
    out: Enabled = []
    for name, cls in config.plugins.detectors.items():
        dc = config.detectors.get(name)
        if dc is not None and not dc.enabled:
            continue
        out.append((name, cls, dc.options if dc is not None else options_of(cls)()))
    return out


def _horizon(dets: Enabled) -> timedelta:
    """How far back the snapshot must reach: the most any enabled detector looks back."""
    return max([timedelta(days=1)] + [cls().horizon(opts) for _, cls, opts in dets])


def _level_dims(dets: Enabled) -> list[str]:
    """Every column some enabled detector groups by (its `levels`), for the first-seen table."""
    out: set[str] = set()
    for _, _, opts in dets:
        for level in getattr(opts, "levels", None) or []:
            out |= {d.strip() for d in level.split(",") if d.strip()}
    return sorted(out)


def guarded(name: str, now: datetime, run: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one detector; a crash becomes a finding naming it (message redacted), never a failed run."""
    try:
        return run()
    except Exception as exc:  # a detector's bug must not hide every other detector's findings
        log.exception("detector=%s failed", name)
        day = day_start(now)
        detail = redact(" ".join(str(exc).split()))[:300]
        return [Finding(detector="detector_error", severity="warning", scope={"detector": name},
                        period_start=day, period_end=day + timedelta(days=1),
                        message=f"Detector {name} failed: {type(exc).__name__}" + (f": {detail}" if detail else "")
                        + "; its findings are missing from this run")]


def run_detectors(store: Store, config: Config, now: datetime) -> list[Finding]:
    """Every enabled detector as of `now`, over one snapshot of what is visible at `now`."""
    findings: list[Finding] = []
    dets = enabled_detectors(config)
    with History.snapshot(store, now, horizon=_horizon(dets), rules=list(config.allocation),
                          first_dims=_level_dims(dets)) as history:
        for name, cls, opts in dets:
            findings.extend(guarded(name, now, partial(cls().run, history, config, opts, now)))
    return sorted(findings, key=lambda f: (f.detector, f.key, f.step))


def backtest(store: Store, config: Config, since: datetime, until: datetime, step: timedelta) -> list[tuple[datetime, Finding]]:
    """Replay every detector as of each step's end; a finding is printed when it first fires or escalates.

    No peeking: each step sees only rows visible at its time (ts < at, period ended by at; see
    spendwatch/history.py). The view is materialised once for the whole replay. Not every detector needs
    every step: one whose output depends only on the UTC day (`resolution = "day"`) runs at the first
    step of each day; one that can say in bulk at which steps it could fire (`fire_times`, e.g. runaway
    judges every hour of the replay in one query) runs only there; `run` at those steps produces the
    findings, so the printed result is what stepping through every hour would print. Detectors that read
    only the present state (`resolution = "state"`, e.g. stale_data: sync_state keeps no history) are
    skipped.
    """
    dets = enabled_detectors(config)
    times = []
    at = since + step
    while at <= until:
        times.append(at)
        at += step
    found: list[tuple[datetime, Finding]] = []
    with History.snapshot(store, until, since, horizon=_horizon(dets), rules=list(config.allocation),
                          first_dims=_level_dims(dets)) as history:
        for name, cls, opts in dets:
            det = cls()
            if det.resolution == "state":
                continue
            try:
                bulk = det.fire_times(history, config, opts, times)
            except Exception:  # judged step by step instead, where `guarded` reports the failure
                log.exception("detector=%s fire_times failed", name)
                bulk = None
            if bulk is not None:
                chosen = bulk
            elif det.resolution == "day":
                chosen, seen_days = [], set()
                for t in times:
                    if today(t) not in seen_days:
                        seen_days.add(today(t))
                        chosen.append(t)
            else:
                chosen = times
            for t in chosen:
                found.extend((t, f) for f in guarded(name, t, partial(det.run, history, config, opts, t)))
    seen: dict[str, int] = {}
    out: list[tuple[datetime, Finding]] = []
    for t, f in sorted(found, key=lambda x: (x[0], x[1].detector, x[1].key, x[1].step)):
        if seen.get(f.key, -1) < f.step:
            seen[f.key] = f.step
            out.append((t, f))
    return out
