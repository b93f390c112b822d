"""stale_data: a configured source whose data is not complete through its expected lag, or whose collects
keep failing.

Expected lag of a source = its `interval` plus `max_delay` (how long a provider may take to publish a
period; cost APIs typically finalise a day within hours). Behind: `now − complete_through` exceeds it
(critical past `critical_factor` × that). Failing: `consecutive_failures ≥ failures`, with the last
(already redacted) error. Identity: source, kind, problem and the stuck `complete_through` / the last
success, so one episode keeps one key.

As of `now`: the state is the last `sync_history` snapshot taken at or before `now` (one per collect
attempt), so `detect --at` and `backtest` judge what the daemon knew then. A source with no snapshot at
all (a store older than the history, or rows only ever imported) falls back to `sync_state` when its
last attempt is not after `now` (assumption: such a state has not changed since).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding, iso
from spendwatch.history import History
from spendwatch.timeutil import format_duration

from . import DETECTORS

AS_OF = """
WITH h AS (
    SELECT source, kind, arg_max(complete_through, (attempted_at, seq)) AS complete_through,
           arg_max(last_success, (attempted_at, seq)) AS last_success, arg_max(last_error, (attempted_at, seq)) AS last_error,
           arg_max(consecutive_failures, (attempted_at, seq)) AS consecutive_failures
    FROM sync_history WHERE attempted_at <= ? GROUP BY source, kind
)
SELECT * FROM h
UNION ALL
SELECT s.source, s.kind, s.complete_through, s.last_success, s.last_error, s.consecutive_failures
FROM sync_state s
WHERE coalesce(s.last_attempt <= ?, TRUE)
  AND NOT EXISTS (SELECT 1 FROM sync_history x WHERE x.source = s.source AND x.kind = s.kind)
ORDER BY source, kind
"""


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


@DETECTORS.register("stale_data")
class StaleData(DetectorBase):
    resolution = "hour"

    @dataclass(frozen=True)
    class Options:
        max_delay: timedelta = timedelta(hours=26)
        failures: int = 3
        critical_factor: int = 3

    def run(self, history: History, config: Any, options: StaleData.Options, now: datetime) -> list[Finding]:
        o = options
        sources = {s.name: s for s in config.sources if s.enabled}
        if not sources:
            return []
        rows = history.conn.execute(AS_OF, [now, now]).fetchall()
        out = []
        for source, kind, through, last_ok, last_error, fails in rows:
            sc = sources.get(source)
            if sc is None:
                continue
            allowed = sc.interval + o.max_delay
            scope = {"source": source, "kind": kind}
            if through is not None and through < now and now - through > allowed:
                late = now - through
                crit = late > allowed * o.critical_factor
                msg = (f"Source {source} ({kind}) has data only through {iso(through)}, {_ago(late)} behind; "
                       f"expected within {format_duration(allowed)} (interval {format_duration(sc.interval)} + "
                       f"max_delay {format_duration(o.max_delay)})")
                out.append(Finding("stale_data", "critical" if crit else "warning", dict(scope, problem="behind"),
                                   through, now, msg, step=1 if crit else 0, identity_period=iso(through)))
            if fails >= o.failures:
                since = f" since its last success at {iso(last_ok)}" if last_ok else " and has never succeeded"
                err = (last_error or "unknown error").splitlines()[0][:300]
                msg = f"Source {source} ({kind}) failed {fails} collects in a row{since}: {err}"
                out.append(Finding("stale_data", "warning", dict(scope, problem="failing"), last_ok or now, now, msg,
                                   identity_period=iso(last_ok) if last_ok else "never"))
        return out
