"""The finding: what a detector reports and what sinks deliver (the `detect --json` object).

Identity follows Alertmanager: labels (detector, scope, period) identify a finding; everything else
(figures, message, drivers) annotates it. `key` is a hash of the identity, so the same problem seen on
consecutive runs keeps one key, and a budget going 80% → 100% is one alert whose `step` rises.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

SEVERITIES = ("info", "warning", "critical")


def money_str(value: Decimal | None) -> str | None:
    """Exact decimal string with at least two places ("12.50", "0.0000123"); None stays None."""
    if value is None:
        return None
    d = Decimal(value)
    if d == d.to_integral_value():
        return f"{d.quantize(Decimal('0.01')):f}"
    s = f"{d.normalize():f}"
    if "." in s and len(s.split(".")[1]) < 2:
        s = f"{d.quantize(Decimal('0.01')):f}"
    return s


def dollars(value: Decimal | None, *, whole_from: Decimal = Decimal(1000)) -> str:
    """Money for people: "$5,210" (whole dollars from `whole_from` up), "$812.40", "$0.0042" for tiny sums,
    "$?" when unknown. Exact Decimal rounding (half up), never float; shared by detector messages and sinks."""
    from decimal import ROUND_HALF_UP

    if value is None:
        return "$?"
    d = Decimal(value)
    sign = "-" if d < 0 else ""
    a = abs(d)
    if a >= whole_from:
        return f"{sign}${a.quantize(Decimal('1'), rounding=ROUND_HALF_UP):,f}"
    if a >= Decimal("0.01") or a == 0:
        return f"{sign}${a.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,f}"
    return f"{sign}${a.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):f}"


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


@dataclass(frozen=True)
class Finding:
    detector: str
    severity: str
    scope: dict[str, Any]
    period_start: datetime
    period_end: datetime
    message: str
    observed: Decimal | None = None
    expected: Decimal | None = None
    threshold: Decimal | None = None
    drivers: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0  # escalation step within one identity (e.g. index of the budget threshold crossed)
    identity_period: str | None = None  # what "the same period" means; defaults to period_start

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")
        for name in ("observed", "expected", "threshold"):
            v = getattr(self, name)
            if isinstance(v, float):
                raise TypeError(f"{name} must be Decimal, not float")

    @property
    def key(self) -> str:
        ident = {"detector": self.detector, "scope": self.scope,
                 "period": self.identity_period or iso(self.period_start)}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "key": self.key,
            "severity": self.severity,
            "scope": self.scope,
            "period_start": iso(self.period_start),
            "period_end": iso(self.period_end),
            "observed": money_str(self.observed),
            "expected": money_str(self.expected),
            "threshold": money_str(self.threshold),
            "message": self.message,
            "drivers": [{k: (money_str(v) if isinstance(v, Decimal) else v) for k, v in d.items()} for d in self.drivers],
            "step": self.step,
        }
