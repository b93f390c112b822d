"""Fixtures for the web dashboard: a demo store with recorded alerts, the server on 127.0.0.1:0 in a
thread, and a real headless Chromium driven by Playwright (Debian's /usr/bin/chromium, never a
browser downloaded by `playwright install`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import demo_with_alerts, run_cli

CHROMIUM = os.environ.get("SPENDWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`spendwatch demo`'s store, plus `spendwatch detect` so the alert log has open alerts with deliveries
    (built once per run, shared read-only; a test that writes works on a copy)."""
    return demo_with_alerts(tmp_path_factory)


@pytest.fixture(scope="session")
def demo_config(demo_dir: Path) -> Any:
    from spendwatch.app import load_config

    return load_config(str(demo_dir / "spendwatch.toml"))


class Served:
    """A WebServer on 127.0.0.1:0 in a thread, stopped by the fixture that made it."""

    def __init__(self, config: Any, listen: str = "127.0.0.1:0") -> None:
        from spendwatch.web.serve import ListenPolicy, WebServer

        self.server = WebServer(ListenPolicy.decide(listen, config), lambda: config)
        self.server.start()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def get(self, path: str, **kw: Any) -> Any:
        import httpx

        return httpx.get(self.base + path, timeout=60, **kw)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        return httpx.request(method, self.base + path, timeout=60, **kw)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="session")
def served(demo_config: Any) -> Iterator[Served]:
    s = Served(demo_config)
    yield s
    s.stop()


def sql_value(config_path: Path, query: str) -> str:
    """The answer of `spendwatch sql QUERY --format csv` (one cell), exactly as the CLI prints it."""
    r = run_cli("--config", str(config_path), "sql", query, "--format", "csv")
    assert r.code == 0, r
    return r.out.splitlines()[1]


def _browser_problem() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return (f"Debian's chromium is not installed at {CHROMIUM} and could not be installed "
                "(`make test` runs apt-get install chromium when it can)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = _browser_problem()
    if problem:
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                               args=CHROMIUM_ARGS)
        yield b
        b.close()
    finally:
        pw.stop()


class Page:
    """A browser page that collects console errors and page errors, so a test can require none."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()
