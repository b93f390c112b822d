"""Test-only plugins for the daemon tests, loaded by the daemon through SPENDWATCH_PLUGINS.

`loopback-minutes` collects one usage row per minute of the window from a tiny loopback HTTP server
(tests/daemon/loopserver.py), so the tests can make a source slow, hang or refuse connections.
`test_spend_seen` fires one warning finding per provider with any usage, so that an alert reaches
the console sink without depending on the real detectors. Both use only the public plugin contract.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from collector import COLLECTORS
from detectors import DETECTORS
from spendwatch.contracts import CollectorBase, DetectorBase
from spendwatch.errors import RetryableSourceError
from spendwatch.findings import Finding, money_str
from spendwatch.store import Window

PROVIDER = "loopprov"


@COLLECTORS.register("loopback-minutes")
class LoopbackMinutes(CollectorBase):
    @dataclass(frozen=True)
    class Options:
        base_url: str

    kinds = ("usage",)
    default_lookback = "10m"

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        self.base = source.options.base_url.rstrip("/")

    def plan(self, kind: str, window: Window, now: datetime) -> Window | None:
        return window

    def fetch(self, kind: str, window: Window) -> list[dict[str, Any]]:
        q = f"start={window.start.isoformat()}&end={window.end.isoformat()}".replace("+", "%2B")
        try:
            with urllib.request.urlopen(f"{self.base}/usage?{q}", timeout=60) as resp:
                data = json.loads(resp.read(), parse_float=Decimal)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetryableSourceError(self.source.name, f"GET {self.base}/usage: {reason}") from None
        return [{"ts": datetime.fromisoformat(r["ts"]), "granularity": "minute", "provider": PROVIDER,
                 "model": r["model"], "input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
                 "requests": r["requests"], "cost_usd": Decimal(r["cost_usd"]), "project_id": r["project"]}
                for r in data["rows"]]

    def close(self) -> None:
        pass


@DETECTORS.register("test_spend_seen")
class SpendSeen(DetectorBase):
    """One warning per provider that has any usage in the store (identity: provider and UTC day)."""

    @dataclass(frozen=True)
    class Options:
        pass

    def run(self, history: Any, config: Any, options: Any, now: datetime) -> list[Finding]:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        rows = history.conn.execute("SELECT provider, sum(cost_usd), count(*) FROM spend GROUP BY provider "
                                  "ORDER BY provider").fetchall()
        return [Finding(detector="test_spend_seen", severity="warning", scope={"provider": provider},
                        period_start=day, period_end=day + timedelta(days=1), observed=cost,
                        message=f"{provider} has usage in the store ({n} rows, ${money_str(cost)})")
                for provider, cost, n in rows if n]
