"""Loopback fake provider servers speaking the documented APIs of OpenAI, Anthropic, OpenRouter and LiteLLM.

Used by the tests (conformance suite), `bench/collect.py` and the demo; no network beyond 127.0.0.1.

    from spendwatch.fakes import Fleet, generate
    ds = generate(start, days=7)
    with Fleet.start(ds) as fleet:
        fleet.openai.base_url            # "http://127.0.0.1:PORT/v1", as the SDK writes it
        fleet.config_toml("store.duckdb")  # a config with one source per provider
        fleet.openai.truth(start, end)   # what a correct collect must store
        fleet.openai.violations          # documented limits a client broke
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._server import FakeProvider, Faults
from .anthropic import FakeAnthropic
from .dataset import BilledLine, Cell, Dataset, generate
from .litellm import FakeLiteLLM
from .openai import FakeOpenAI
from .openrouter import FakeOpenRouter

PROVIDERS: dict[str, type[FakeProvider]] = {
    "openai": FakeOpenAI, "anthropic": FakeAnthropic, "openrouter": FakeOpenRouter, "litellm": FakeLiteLLM}
KEY_ENV = {"openai": "SPENDWATCH_FAKE_OPENAI_KEY", "anthropic": "SPENDWATCH_FAKE_ANTHROPIC_KEY",
           "openrouter": "SPENDWATCH_FAKE_OPENROUTER_KEY", "litellm": "SPENDWATCH_FAKE_LITELLM_KEY"}
FAKE_KEYS = {"openai": "sk-admin-fake-0001-openai", "anthropic": "sk-ant-admin01-fake-0002",
             "openrouter": "sk-or-v1-fake-0003-mgmt", "litellm": "sk-litellm-fake-0004"}

__all__ = ["BilledLine", "Cell", "Dataset", "Faults", "FakeProvider", "FakeAnthropic", "FakeLiteLLM", "FakeOpenAI",
           "FakeOpenRouter", "Fleet", "PROVIDERS", "KEY_ENV", "FAKE_KEYS", "generate"]


@dataclass
class Fleet:
    """All four fakes started together over one dataset; stop() (or the context manager) shuts them down."""

    servers: dict[str, FakeProvider]

    @classmethod
    def start(cls, dataset: Dataset, *, providers: list[str] | None = None, now: datetime | None = None,
              page_buckets: int | None = None, faults: dict[str, Faults] | None = None) -> Fleet:
        servers: dict[str, FakeProvider] = {}
        try:
            for name in providers or list(PROVIDERS):
                servers[name] = PROVIDERS[name](dataset, api_key=FAKE_KEYS[name], now=now,
                                                page_buckets=page_buckets,
                                                faults=(faults or {}).get(name)).start()
        except BaseException:
            for s in servers.values():
                s.stop()
            raise
        return cls(servers)

    def __getattr__(self, name: str) -> FakeProvider:
        try:
            return self.__dict__["servers"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[FakeProvider]:
        return iter(self.servers.values())

    def stop(self) -> None:
        for s in self.servers.values():
            s.stop()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables holding the fakes' keys (the config names them)."""
        return {KEY_ENV[n]: FAKE_KEYS[n] for n in self.servers}

    def sources_toml(self, *, lookback: str = "3d", extra: str = "") -> str:
        out = []
        for name, s in self.servers.items():
            out.append(f'[[sources]]\nname = "{name}-fake"\ntype = "{name}"\napi_key_env = "{KEY_ENV[name]}"\n'
                       f'base_url = "{s.base_url}"\nlookback = "{lookback}"\n{extra}')
        return "\n".join(out)

    def config_toml(self, store_path: str, **kw: Any) -> str:
        return f'[store]\npath = "{store_path}"\n\n' + self.sources_toml(**kw)
