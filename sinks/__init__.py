"""Sinks deliver findings. One module per type, registered by name in SINKS.

A sink class:
    Options                 frozen dataclass of its config keys
    __init__(config: SinkConfig)
    send(findings) -> None  deliver one grouped message; raise RetryableSinkError (down, timeout, 5xx) or
                            PermanentSinkError (bad token, 4xx). Returning means the sink accepted it.
"""

from __future__ import annotations

from typing import Any

from spendwatch.registry import Registry

SINKS: Registry[Any] = Registry("sink", "sinks", "spendwatch.sinks")
