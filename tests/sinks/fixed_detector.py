"""A test-only detector: returns the findings stored in the JSON file named by $SW_TEST_FINDINGS (none when
unset), so `spendwatch detect` can be driven end to end without the real detectors. Registered only for
the tests that ask for it (`registered()`), so other tests never see an extra detector."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from detectors import DETECTORS
from spendwatch.contracts import DetectorBase
from spendwatch.findings import Finding


class FixedDetector(DetectorBase):
    def run(self, history: Any, config: Any, options: Any, now: datetime) -> list[Finding]:
        path = os.environ.get("SW_TEST_FINDINGS")
        if not path:
            return []
        out = []
        for o in json.loads(open(path).read()):
            money = {k: Decimal(o[k]) if o.get(k) is not None else None for k in ("observed", "expected", "threshold")}
            out.append(Finding(o["detector"], o["severity"], o["scope"],
                               datetime.fromisoformat(o["period_start"].replace("Z", "+00:00")),
                               datetime.fromisoformat(o["period_end"].replace("Z", "+00:00")), o["message"],
                               drivers=o.get("drivers", []), step=o.get("step", 0), **money))
        return out


@contextlib.contextmanager
def registered() -> Iterator[None]:
    DETECTORS.register("test-fixed")(FixedDetector)
    try:
        yield
    finally:
        DETECTORS._items.pop("test-fixed", None)
