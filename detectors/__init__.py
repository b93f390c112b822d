"""Detectors: pure functions of (history as of `now`, config, options) that return Findings. One module
each, registered by name in DETECTORS. A detector sends nothing and reads only data visible at `now`
(`spendwatch.history.History`), so backtests can replay it.

The contract is `spendwatch.contracts.Detector`; subclass `DetectorBase` for the optional capabilities:
    Options                          frozen dataclass of its `[detectors.NAME]` keys (may be empty)
    run(history, config, options, now) -> list[Finding]
    resolution                       "hour" (default) | "day" | "state"
    horizon(options) -> timedelta    how far back it reads (default one day)
    fire_times(history, config, options, times)   bulk backtest shortcut (default None: every step)
"""

from __future__ import annotations

from spendwatch.contracts import Detector
from spendwatch.registry import Registry

DETECTORS: Registry[type[Detector]] = Registry("detector", "detectors", "spendwatch.detectors")
