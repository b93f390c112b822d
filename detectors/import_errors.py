"""`import_errors`: a finding for every export file that failed to import and is still broken.

Why a detector: the `files` source skips a broken file so the others still land, which makes the failure
easy to miss; `spendwatch status` lists it, and this finding puts it in front of people through the
sinks. Identity is (source, file path, content hash): the same broken bytes alert once; a new broken
version of the file is a new alert. A file that imports successfully later has its error line removed
from `imported_files`, so the finding stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History

from . import DETECTORS
from ._data import steps_seeing


@DETECTORS.register("import_errors")
class ImportErrors(DetectorBase):
    """Broken export files recorded by imports (imported_files.error) up to `now`."""

    @dataclass(frozen=True)
    class Options:
        pass

    def fire_times(self, history: History, config: Any, options: Any, times: list[datetime]) -> list[datetime]:
        """For backtests: a finding is new only at a step where an error line's import time has passed (the
        table keeps no other history), so only those steps can print something."""
        if not times:
            return []
        vis = [r[0] for r in history.conn.execute(
            "SELECT DISTINCT imported_at FROM imported_files WHERE error IS NOT NULL AND imported_at <= ?",
            [max(times)]).fetchall()]
        return steps_seeing(times, vis)

    def run(self, history: History, config: Any, options: Any, now: datetime) -> list[Finding]:
        rows = history.conn.execute(
            "SELECT source, path, sha256, format, error, imported_at FROM imported_files "
            "WHERE error IS NOT NULL AND imported_at <= ? ORDER BY imported_at, path", [now]).fetchall()
        return [Finding(detector="import_errors", severity="warning",
                        scope={"source": src, "path": path, "sha256": digest[:16]},
                        period_start=at, period_end=at, identity_period="-",
                        message=f"Export file not imported ({fmt}): {error}")
                for src, path, digest, fmt, error, at in rows]
