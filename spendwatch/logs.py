"""Logging: stderr, one line per event, `key=value` fields, secrets redacted.

Under journald (JOURNAL_STREAM set) the timestamp is left to the journal and each line carries the
`<N>` syslog priority prefix so `journalctl -p` filters work.
"""

from __future__ import annotations

import logging
import os
import sys

from .redact import RedactingFilter

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_PRIORITY.get(record.levelno, 6)}>level={record.levelname.lower()} logger={record.name} {record.getMessage()}"


def setup_logging(level: str = "warning") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_spendwatch", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._spendwatch = True  # type: ignore[attr-defined]
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
                                               datefmt="%Y-%m-%dT%H:%M:%S%z"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
