"""Detectors: pure functions of (store, config, now) that return Findings. One module each, registered
by name in DETECTORS. A detector sends nothing and reads only data visible at `now` (backtests replay it).

A detector is a class with:
    Options                     frozen dataclass of its `[detectors.NAME]` keys (may be empty)
    run(store, config, options, now) -> list[Finding]
"""

from __future__ import annotations

from typing import Any

from spendwatch.registry import Registry

DETECTORS: Registry[Any] = Registry("detector", "detectors", "spendwatch.detectors")
