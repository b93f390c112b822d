"""A test-only source type with a secret, so config tests do not depend on any real provider module."""

from __future__ import annotations

from dataclasses import dataclass

from collector import COLLECTORS
from spendwatch.contracts import CollectorBase
from spendwatch.values import Secret


@COLLECTORS.register("test-keyed")
class KeyedCollector(CollectorBase):
    @dataclass(frozen=True)
    class Options:
        api_key: Secret
        base_url: str = "http://127.0.0.1:9"
        page_size: int = 100
        note: str | None = None

    kinds = ("usage",)
    default_lookback = "1d"
