"""Fixtures for the collector tests: a small deterministic dataset over the last 7 complete UTC days and
fake provider servers on 127.0.0.1 (stopped at teardown)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from collector_helpers import DAYS, WAIT_SCALE

from spendwatch.fakes import FAKE_KEYS, KEY_ENV, PROVIDERS, Dataset, FakeProvider, generate
from spendwatch.timeutil import day_start, utcnow


@pytest.fixture(autouse=True)
def _fast_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDWATCH_HTTP_WAIT_SCALE", WAIT_SCALE)
    for name, env in KEY_ENV.items():
        monkeypatch.setenv(env, FAKE_KEYS[name])


@pytest.fixture(scope="session")
def period() -> tuple[datetime, datetime]:
    end = day_start(utcnow())
    return end - timedelta(days=DAYS), end


@pytest.fixture(scope="session")
def dataset(period: tuple[datetime, datetime]) -> Dataset:
    return generate(period[0], DAYS, seed=11, density=0.45)


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(provider, dataset, **kw) → a started fake, stopped at teardown."""
    started: list[FakeProvider] = []

    def start(name: str, ds: Dataset, **kw: Any) -> FakeProvider:
        kw.setdefault("page_buckets", 24)
        server = PROVIDERS[name](ds, api_key=FAKE_KEYS[name], **kw).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()
