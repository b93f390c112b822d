"""Console sink: findings as readable text on stdout (the demo, `detect --no-send`, debugging)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Sequence, TextIO

from spendwatch.findings import Finding, money_str

from . import SINKS


def render_text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"[{f.severity.upper()}] {f.detector}: {f.message}")
        figures = [f"{label} ${money_str(v)}" for label, v in
                   (("observed", f.observed), ("expected", f.expected), ("threshold", f.threshold)) if v is not None]
        if figures:
            lines.append("    " + ", ".join(figures))
        for d in f.drivers[:5]:
            lines.append("    driver: " + ", ".join(f"{k}={money_str(v) if not isinstance(v, (str, int)) else v}"
                                                     for k, v in d.items()))
    return "\n".join(lines)


@SINKS.register("console")
class ConsoleSink:
    @dataclass(frozen=True)
    class Options:
        stream: str = "stdout"  # stdout | stderr

    def __init__(self, config: Any, out: TextIO | None = None) -> None:
        self.config = config
        self.out = out

    def send(self, findings: Sequence[Finding]) -> None:
        out = self.out or (sys.stderr if self.config.options.stream == "stderr" else sys.stdout)
        out.write(render_text(findings) + "\n")
        out.flush()
