"""Sinks deliver alerts. One module per type, registered by name in SINKS.

The contract is `spendwatch.contracts.Sink` (subclass `SinkBase`):
    Options                      frozen dataclass of its config keys; extend
                                 `spendwatch.delivery.DeliveryOptions` (kw_only) to accept the common delivery
                                 keys (send_resolved, max_alerts, digest, timeout, retries, retry_wait)
    __init__(config: SinkConfig)
    send(notices) -> None        deliver ONE grouped message for all notices (`spendwatch.notice.Notice`);
                                 raise RetryableSinkError (down, timeout, 5xx) or PermanentSinkError (bad
                                 token, 4xx). Returning means the sink accepted it.
    supports_digest, send_digest(digest)   the daily digest (`spendwatch.digest.Digest`), same error contract

Dedup, escalation, retries and the alert log live in `spendwatch.alerts` and `spendwatch.delivery`, not in
sinks: a sink only renders and transmits.
"""

from __future__ import annotations

from spendwatch.contracts import Sink
from spendwatch.registry import Registry

SINKS: Registry[type[Sink]] = Registry("sink", "sinks", "spendwatch.sinks")
