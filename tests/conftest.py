"""Shared test helpers: run the real CLI in-process (fast) or as a subprocess (when processes matter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback only: a proxy from the environment must never see test traffic."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("SPENDWATCH_CONFIG", raising=False)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, input: str | None = None) -> CliResult:
    """`spendwatch ARGS` as a real subprocess (same interpreter, so the venv's install is used)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run([sys.executable, "-m", "spendwatch", *args], cwd=cwd, env=full_env, capture_output=True,
                       text=True, timeout=timeout, input=input)
    return CliResult(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """`spendwatch ARGS` in-process via click's runner; cwd is tmp_path. Returns CliResult."""
    from click.testing import CliRunner

    from spendwatch.cli import main

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, env: dict[str, str] | None = None) -> CliResult:
        runner = CliRunner()
        r = runner.invoke(main, list(args), env=env, catch_exceptions=False, prog_name="spendwatch")
        return CliResult(r.exit_code, r.stdout, r.stderr)

    return invoke


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Any) -> Path:
    """A directory `build(path)` fills once per test run and every xdist worker then shares read-only.

    pytest-xdist's documented recipe for an expensive session fixture: the workers' temp dirs share a
    parent; the first worker builds under an exclusive lock there, the others wait and reuse it. A build
    that fails leaves no marker, so the next worker tries again (and fails with the same message)."""
    import fcntl
    import shutil

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".built").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            (target / ".built").touch()
    return target


def demo_with_alerts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`spendwatch demo`'s directory plus one `spendwatch detect`, so the alert log has open alerts with
    deliveries; built once per run (about 20 s) for every test that only reads it (web, analyst)."""
    def build(base: Path) -> None:
        r = run_cli("demo", "--dir", "d", cwd=base, timeout=300)
        assert r.code == 0, r
        d = run_cli("--config", "d/spendwatch.toml", "detect", cwd=base, timeout=120)
        assert d.code == 0, d

    return built_once(tmp_path_factory, "demo-with-alerts", build) / "d"
