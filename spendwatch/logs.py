"""Logging: stderr, one line per event, `key=value` fields, secrets redacted.

Why one line per event: a journal entry, a `grep` and a log shipper all see one record per line, so a
traceback or a multi-line provider message is folded into the same line (newlines become ` | `).

Under journald the timestamp is left to the journal (it has its own) and each line starts with the
`<N>` syslog priority prefix so that `journalctl -p warning` works. We are "under journald" when
$JOURNAL_STREAM names the device:inode of our actual stderr (systemd's documented check; a child of a
service whose stderr was redirected elsewhere must not emit `<N>` prefixes into a file).

Redaction runs on the final formatted line, exception text included, because a secret may hide in an
exception message as easily as in our own.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from .redact import RedactingFilter, redact

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
LEVELS = ("debug", "info", "warning", "error")


def _one_line(text: str) -> str:
    return " | ".join(part for part in text.replace("\r", "").split("\n") if part.strip())


class LineFormatter(logging.Formatter):
    """`[ts=… ]level=… logger=… <message>` on one line; `<N>` prefix and no ts for the journal."""

    def __init__(self, journal: bool) -> None:
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%S%z")
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += f" exc={record.exc_text!r}"
        text = redact(_one_line(text))
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return f"ts={self.formatTime(record, self.datefmt)} {text}"


def under_journald(stream: TextIO | None = None) -> bool:
    """True when our stderr is the journal stream systemd connected (JOURNAL_STREAM=dev:ino)."""
    value = os.environ.get("JOURNAL_STREAM")
    if not value:
        return False
    stream = stream or sys.stderr
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def setup_logging(level: str = "warning") -> None:
    """(Re)configure the root logger; idempotent, so the daemon can change the level on reload."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_spendwatch", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._spendwatch = True  # type: ignore[attr-defined]
    handler.setFormatter(LineFormatter(journal=under_journald(sys.stderr)))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
