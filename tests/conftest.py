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
