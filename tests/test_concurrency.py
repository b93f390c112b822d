"""Two real processes: a writer holding the DuckDB file, and `spendwatch sql` that must wait or fail cleanly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from .conftest import run_cli, write

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS hold(x INT)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
"""


def _hold(store: Path, seconds: float) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(store), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def _store(tmp_path: Path, lock_timeout: str) -> None:
    write(tmp_path / "sw.toml", f'[store]\npath = "s.duckdb"\nlock_timeout = "{lock_timeout}"\n')
    write(tmp_path / "a.csv", "ts,provider,cost_usd\n2026-10-01,openai,1.25\n")
    r = run_cli("--config", "sw.toml", "import", "a.csv", "--format", "canonical", cwd=tmp_path)
    assert r.code == 0, r


def test_reader_waits_for_the_writer_then_succeeds(tmp_path: Path) -> None:
    _store(tmp_path, "60s")
    holder = _hold(tmp_path / "s.duckdb", 3.0)
    try:
        start = time.monotonic()
        r = run_cli("--config", "sw.toml", "sql", "select sum(cost_usd) as c from spend", "--format", "csv", cwd=tmp_path)
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert (r.code, r.out, r.err) == (0, "c\n1.25\n", "")
    assert waited >= 1.5  # it really waited for the holder (behaviour, not a speed bound)


def test_reader_fails_after_the_bound_naming_the_holder(tmp_path: Path) -> None:
    _store(tmp_path, "1s")
    holder = _hold(tmp_path / "s.duckdb", 20.0)
    try:
        r = run_cli("--config", "sw.toml", "sql", "select 1", cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert r.code == 1
    assert r.err.startswith("spendwatch: s.duckdb: locked by ")
    assert f"(PID {holder.pid})" in r.err
    assert r.err.endswith("for more than 1s; try again when it finishes, or raise [store] lock_timeout\n")
    assert len(r.err.splitlines()) == 1 and "Traceback" not in r.err


def test_writer_waits_for_a_reader(tmp_path: Path) -> None:
    _store(tmp_path, "60s")
    reader = subprocess.Popen([sys.executable, "-c", HOLDER.replace("duckdb.connect(sys.argv[1])",
                              "duckdb.connect(sys.argv[1], read_only=True)").replace(
                              'con.execute("CREATE TABLE IF NOT EXISTS hold(x INT)")', ""),
                              str(tmp_path / "s.duckdb"), "2"], stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "locked"
    write(tmp_path / "b.csv", "ts,provider,cost_usd\n2026-10-02,openai,2.50\n")
    try:
        r = run_cli("--config", "sw.toml", "import", "b.csv", "--format", "canonical", cwd=tmp_path)
    finally:
        reader.wait(timeout=30)
    assert r.code == 0, r
    out = run_cli("--config", "sw.toml", "sql", "select sum(cost_usd) c from spend", "--format", "csv", cwd=tmp_path)
    assert out.out == "c\n3.75\n"
