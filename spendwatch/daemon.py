"""`spendwatch run`: the daemon. Placeholder until the scheduler lands (issue: the daemon)."""

from __future__ import annotations

from typing import Any, Optional

from .errors import SpendwatchError


def run_daemon(config: Any, config_path: Optional[str] = None) -> int:
    raise SpendwatchError("the daemon is not implemented yet; use `spendwatch collect` and `spendwatch detect` from cron")
