"""`spendwatch demo` runs the whole pipeline offline and leaves a store to query."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_cli


def test_demo_end_to_end(tmp_path: Path) -> None:
    r = run_cli("demo", "--dir", "d", cwd=tmp_path, timeout=300)
    assert r.code == 0, r
    assert "== Chargeback" in r.out and "(unallocated)" in r.out and "TOTAL" in r.out
    assert "Traceback" not in r.err
    q = run_cli("--config", "d/spendwatch.toml", "sql",
                "select count(distinct provider) p, count(*) > 1000 many from spend", "--format", "csv", cwd=tmp_path)
    assert q.out == "p,many\n4,true\n", q
    # a second run starts from a fresh store: the figures do not double
    first = run_cli("--config", "d/spendwatch.toml", "sql", "select count(*) from spend", "--format", "csv", cwd=tmp_path).out
    assert run_cli("demo", "--dir", "d", cwd=tmp_path, timeout=300).code == 0
    assert run_cli("--config", "d/spendwatch.toml", "sql", "select count(*) from spend", "--format", "csv",
                   cwd=tmp_path).out == first
