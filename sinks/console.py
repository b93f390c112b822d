"""Console sink: alerts and the digest as readable text on stdout (the demo, `detect --no-send`, debugging)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from spendwatch.contracts import SinkBase
from spendwatch.delivery import DeliveryOptions
from spendwatch.findings import Finding
from spendwatch.notice import Notice, with_budget
from spendwatch.notice import render_text as _render

from . import SINKS


def render_text(findings: Sequence[Finding | Notice], config: Any = None) -> str:
    """Findings in the order given (the CLI prints them sorted by detector and key)."""
    return _render([with_budget(Notice.of(f), config) for f in findings])


@SINKS.register("console")
class ConsoleSink(SinkBase):
    @dataclass(frozen=True, kw_only=True)
    class Options(DeliveryOptions):
        stream: Literal["stdout", "stderr"] = "stdout"
        max_alerts: int = 1000

    supports_digest = True

    def __init__(self, config: Any, out: TextIO | None = None) -> None:
        self.config = config
        self.name = config.name
        self.options = config.options
        self.out = out

    def _stream(self) -> TextIO:
        return self.out or (sys.stderr if self.options.stream == "stderr" else sys.stdout)

    def send(self, items: Sequence[Finding | Notice]) -> None:
        out = self._stream()
        out.write(_render([Notice.of(x) for x in items], cap=self.options.max_alerts) + "\n")
        out.flush()

    def send_digest(self, digest: Any) -> None:
        out = self._stream()
        out.write(digest.text + "\n")
        out.flush()
