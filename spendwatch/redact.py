"""Keeping secrets out of logs, alerts, exception text and the store.

Two nets: every secret value read through `config.Secret.get()` is registered here and replaced wherever
it appears; and shapes that are secret by construction (Bearer tokens, key=… query parameters, Slack
webhook paths, URL userinfo) are masked even if we never saw the value.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_known: set[str] = set()

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)((?:api[_-]?key|token|secret|password|key|sig|signature)=)[^&\s\"']+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)(x-api-key|authorization|x-goog-api-key)(\"?\s*[:=]\s*\"?)(?!bearer\s)(?!\[REDACTED\])[^\s\",}]+"),
     r"\1\2[REDACTED]"),
    (re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"), r"\1[REDACTED]"),
    (re.compile(r"(://)[^/@\s:]+:[^/@\s]+@"), r"\1[REDACTED]@"),
    (re.compile(r"\b(sk-(?:ant-|proj-|or-)?)[A-Za-z0-9_-]{8,}"), r"\1[REDACTED]"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), "xox?-[REDACTED]"),
]


def register_secret(value: str) -> None:
    """Remember a secret value so that it is masked wherever it shows up later."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "[REDACTED]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Applied to every handler: the formatted message is redacted before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True
