"""One exception tree for spendwatch.

    SpendwatchError                 anything we raise on purpose; the CLI prints str(exc) on one line, exit 1
    ├── ConfigError                 the config file is wrong (carries every problem found, not just the first)
    ├── SecretMissing               a *_env variable is unset or a *_file is unreadable (names the variable, never a value)
    ├── StoreError                  the DuckDB store cannot be used as asked
    │   ├── StoreLocked             another process holds the file past the lock timeout (names the holder)
    │   ├── StoreVersionError       the store was written by a newer spendwatch
    │   └── ReadOnlyViolation       a `spendwatch sql` statement would write
    ├── InputFileError              an import file is malformed (message: FILE:LINE: column X: why)
    ├── SourceError                 a collector failed (carries the source name)
    │   ├── RetryableSourceError    429/5xx/timeouts: try again later
    │   └── FatalSourceError        auth, spend cap, protocol violations: retrying will not help
    └── SinkError                   a sink failed to deliver
        ├── RetryableSinkError      down, timeout, 5xx: keep the alert queued
        └── PermanentSinkError      bad token, 4xx: needs a human (reported by `status`)

Foreign exceptions (duckdb, httpx, smtplib) are translated at one boundary each with `raise ... from exc`,
so callers only ever catch this tree. Messages never contain secret values; redaction happens where the
foreign error is translated.
"""

from __future__ import annotations


class SpendwatchError(Exception):
    """Base class: a problem we can explain to the user in one line."""


class ConfigError(SpendwatchError):
    """Raised when the config file is invalid; `problems` holds every line of the report."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SecretMissing(SpendwatchError):
    """Raised when a secret named by *_env / *_file cannot be read."""


class StoreError(SpendwatchError):
    """Raised when the store cannot be opened, migrated or written as asked."""


class StoreLocked(StoreError):
    """Raised when another process keeps the DuckDB file locked longer than the lock timeout."""


class StoreVersionError(StoreError):
    """Raised when the store holds migrations this code does not know (written by a newer version)."""


class ReadOnlyViolation(StoreError):
    """Raised when a read-only command is asked to run a statement that writes or escapes the store."""


class InputFileError(SpendwatchError):
    """Raised when an import file is malformed; the message names file, line and column."""


class SourceError(SpendwatchError):
    """Raised by a collector; `source` names the configured source."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"{source}: {message}")


class RetryableSourceError(SourceError):
    """Raised for failures that may clear by themselves (429, 5xx, timeouts, connection refused)."""


class FatalSourceError(SourceError):
    """Raised for failures retrying cannot fix (401/403, spend caps, protocol violations)."""


class SinkError(SpendwatchError):
    """Raised by a sink; `sink` names the configured sink."""

    def __init__(self, sink: str, message: str) -> None:
        self.sink = sink
        super().__init__(f"{sink}: {message}")


class RetryableSinkError(SinkError):
    """Raised when a sink is temporarily unavailable; alerts stay queued for the next run."""


class PermanentSinkError(SinkError):
    """Raised when a sink rejects us for good (bad token, 4xx); a human must fix the config."""
