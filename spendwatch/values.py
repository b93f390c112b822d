"""The value types every layer shares: secrets, ratios, severities and the column lists of `spend`.

This module is part of the kernel: plugins (`collector/`, `detectors/`, `sinks/`) and the spine import it,
and it imports nothing of either (only `errors` and `redact`), so it can sit at the bottom of the graph.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from .errors import SecretMissing

SPEND_COLUMNS = (
    "ts", "period_end", "granularity", "provider", "source", "account_id", "project_id", "workspace_id",
    "api_key_id", "user_id", "model", "service_tier", "line_item", "input_tokens", "cached_input_tokens",
    "cache_write_tokens", "output_tokens", "reasoning_tokens", "requests", "cost_usd", "cost_basis", "team",
    "tags",
)
# The text dimensions of `spend`: what a budget/allocation `match` may name and what detectors group by.
MATCH_COLUMNS = (
    "provider", "source", "account_id", "project_id", "workspace_id", "api_key_id", "user_id", "model",
    "service_tier", "line_item", "granularity", "cost_basis", "team", "via",
)

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")  # in rising order
_RANK: dict[str, int] = {name: i for i, name in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    """Position in SEVERITIES (info 0 … critical 2); an unknown word ranks lowest rather than failing a
    delivery over a third-party detector's spelling."""
    return _RANK.get(severity, 0)


def at_least(severity: str, floor: str) -> bool:
    """The one min-severity filter (sinks' `min_severity`, actions' `when.min_severity`)."""
    return severity_rank(severity) >= severity_rank(floor)


@dataclass(frozen=True)
class Secret:
    """A reference to a secret; the value is read only when used and never stored on the object."""

    key: str  # config key path, e.g. "sources[0].api_key"
    env: str | None = None
    file: str | None = None

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolved_path(self) -> Path:
        assert self.file is not None
        p = Path(self.file)
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if not p.is_absolute() and creds:
            return Path(creds) / p
        return p

    def get(self) -> str:
        """The secret's value; raises SecretMissing naming where we looked (never a value)."""
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise SecretMissing(f"{self.key}: environment variable {self.env} is not set")
            return _registered(value.strip())
        try:
            value = self.resolved_path().read_text().strip()
        except OSError as exc:
            raise SecretMissing(f"{self.key}: cannot read secret file {self.resolved_path()} ({exc.strerror})") from None
        if not value:
            raise SecretMissing(f"{self.key}: secret file {self.resolved_path()} is empty")
        return _registered(value)

    def present(self) -> bool:
        try:
            self.get()
            return True
        except SecretMissing:
            return False


def _registered(value: str) -> str:
    """Every secret read is registered for redaction before anyone can log it. (Imported here, not at the
    top: a command that reads no secret, such as `spendwatch sql`, then never loads logging.)"""
    from .redact import register_secret

    register_secret(value)
    return value


def parse_listen(value: str) -> tuple[str, int]:
    """A listen address: '127.0.0.1:9464', '[::1]:9464', 'localhost:9464' or ':9464' (all interfaces) →
    (host, port). Raises ValueError saying what is wrong, for check-config to report with the key."""
    m = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.\-]*)):(\d{1,5})", value.strip())
    if not m or int(m.group(3)) > 65535:
        raise ValueError(f'not HOST:PORT ("{value}"); e.g. "127.0.0.1:9464"')
    return (m.group(1) or m.group(2) or "0.0.0.0"), int(m.group(3))


class Ratio(Decimal):
    """A share such as a budget threshold (0.8 = 80%). Unlike money, TOML floats are accepted: they are
    converted through their shortest decimal repr ("0.8" → Decimal("0.8")), which is exact for what a
    person types."""
