"""Sinks deliver alerts. One module per type, registered by name in SINKS.

A sink class:
    Options                      frozen dataclass of its config keys; extend `sinks._base.DeliveryOptions`
                                 (kw_only) to accept the common delivery keys (send_resolved, max_alerts,
                                 digest, timeout, retries, retry_wait)
    __init__(config: SinkConfig)
    send(notices) -> None        deliver ONE grouped message for all notices (`sinks._notice.Notice`; a plain
                                 `Finding` is accepted too); raise RetryableSinkError (down, timeout, 5xx) or
                                 PermanentSinkError (bad token, 4xx). Returning means the sink accepted it.
    send_digest(digest) -> None  optional: the daily digest (`spendwatch.digest.Digest`), same error contract

Dedup, escalation, retries and the alert log live in `spendwatch.alerts`, not in sinks: a sink only
renders and transmits.
"""

from __future__ import annotations

from typing import Any

from spendwatch.registry import Registry

SINKS: Registry[Any] = Registry("sink", "sinks", "spendwatch.sinks")
