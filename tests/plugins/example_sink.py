"""Example sink plugin: `type = "example-jsonl"` appends each notice as one JSON line to a file.

One file: registered by name, Options extend the common DeliveryOptions (retries, timeout, digest…),
`send` renders and transmits one grouped message or raises a SinkError; the alert log, dedup and
retries are the spine's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sinks import SINKS
from spendwatch.contracts import SinkBase
from spendwatch.delivery import DeliveryOptions
from spendwatch.errors import RetryableSinkError
from spendwatch.notice import Notice


@SINKS.register("example-jsonl")
class ExampleJsonl(SinkBase):
    supports_digest = True

    @dataclass(frozen=True, kw_only=True)
    class Options(DeliveryOptions):
        path: str

    def send(self, notices: Sequence[Notice]) -> None:
        self._append([n.to_json() for n in notices])

    def send_digest(self, digest: Any) -> None:
        self._append([{"digest": digest.title}])

    def _append(self, items: list[dict[str, Any]]) -> None:
        try:
            with open(self.config.options.path, "a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(i, sort_keys=True) + "\n" for i in items)
        except OSError as exc:
            raise RetryableSinkError(self.config.name, f"cannot write {self.config.options.path}: "
                                                       f"{exc.strerror}") from None
