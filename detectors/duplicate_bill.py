"""duplicate_bill: the same provider bill stored from two sources (critical: without the rule below,
every total of that provider would be twice the invoice).

`spend` counts such a bill once (spendwatch/attribution.py: per provider, UTC day and project, the
source configured first in [[sources]] wins; unconfigured sources rank after, alphabetically) and hides
the other source's lines as `duplicate:<winner>`. This finding says so, once per (provider, counted
source, ignored source), naming both sources and the days, so that someone removes one of the two (two
collectors on one organisation, or an export imported under a second source name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding
from spendwatch.history import History
from spendwatch.timeutil import UTC

from . import DETECTORS
from ._data import ts_lit
from ._text import provider_name


@DETECTORS.register("duplicate_bill")
class DuplicateBill(DetectorBase):
    resolution = "day"

    @dataclass(frozen=True)
    class Options:
        pass

    def run(self, history: History, config: Any, options: DuplicateBill.Options, now: datetime) -> list[Finding]:
        rows = history.conn.execute(f"""
            SELECT provider, substr(hidden_by, 11) AS counted, source AS ignored,
                   list(DISTINCT CAST(timezone('UTC', ts) AS DATE) ORDER BY CAST(timezone('UTC', ts) AS DATE))
            FROM records WHERE record_type = 'cost' AND hidden_by LIKE 'duplicate:%'
              AND ts < {ts_lit(now)} AND period_end <= {ts_lit(now)}
            GROUP BY ALL ORDER BY ALL""").fetchall()
        out = []
        for provider, counted, ignored, days in rows:
            shown = ", ".join(d.isoformat() for d in days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
            msg = (f"The {provider_name(provider)} bill is stored twice: source {ignored} repeats source {counted} on "
                   f"{len(days)} day{'s' if len(days) != 1 else ''} ({shown}); spend counts {counted} only. "
                   f"Remove one of the two (a second collector or an import under another source name)")
            start = datetime.combine(days[0], datetime.min.time(), UTC)
            end = datetime.combine(days[-1], datetime.min.time(), UTC) + timedelta(days=1)
            out.append(Finding("duplicate_bill", "critical",
                               {"provider": provider, "source": counted, "duplicate_source": ignored}, start, end,
                               msg, drivers=[{"dimension": "day", "value": d.isoformat()} for d in days[:10]],
                               identity_period="duplicate"))
        return out
