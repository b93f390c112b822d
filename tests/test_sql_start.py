"""`spendwatch sql` imports only what it needs (issue 12's start-up goal; the time itself is measured by
bench/cli_start.py, never asserted here), and its lean path answers exactly like the full one.

The lean path (spendwatch.engine: DuckDB's C extension without the package's Python layer; `--store`
without a config file opening the store without building the config schema) only runs in a fresh
process, so these tests use subprocesses: in-process CLI tests have the whole package loaded already.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run_cli, write

# What `sql` must not load: data-frame stacks, HTTP clients, the scheduler, the plugin registries and
# packages, the config schema and validator (with --store and no config file), logging.
NOT_FOR_SQL = ("pandas", "pyarrow", "numpy", "polars", "httpx", "slack_sdk", "apscheduler", "tomllib",
               "collector", "detectors", "sinks", "spendwatch.app", "spendwatch.config", "spendwatch.config_schema",
               "spendwatch.tomlcheck", "spendwatch.values", "spendwatch.redact", "logging", "csv")
PROBE = """
import json, os, sys
import spendwatch.engine
if os.environ.get("SW_TEST_NEEDS"):  # pretend the extension lacks a method the lean path needs
    spendwatch.engine.LEAN_METHODS += (os.environ["SW_TEST_NEEDS"],)
from spendwatch.cli import main
try:
    main(sys.argv[1:], prog_name="spendwatch")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    write(tmp_path / "a.csv", "ts,provider,model,cost_usd\n2026-10-01,openai,gpt-4.1,1.25\n2026-10-02,openai,gpt-4.1,2.5\n")
    assert run_cli("--store", "s.duckdb", "import", "a.csv", "--format", "canonical", cwd=tmp_path).code == 0
    return tmp_path / "s.duckdb"


def probe(cwd: Path, *args: str, needs: str = "") -> tuple[int, str, set[str]]:
    env = {k: v for k, v in os.environ.items() if k != "SPENDWATCH_CONFIG"}
    env["SW_TEST_NEEDS"] = needs
    p = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                       env=env)
    out, _, last = p.stdout.rstrip("\n").rpartition("\n")
    result = json.loads(last)
    return result["code"], out, set(result["modules"])


def test_sql_loads_nothing_it_does_not_need(store: Path) -> None:
    code, out, modules = probe(store.parent, "--store", "s.duckdb", "sql", "select sum(cost_usd) AS total from spend")
    assert code == 0
    assert out == "total\n-----\n 3.75\n(1 row)"
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_SQL or m in NOT_FOR_SQL)
    assert loaded == []
    if importlib.util.find_spec("_duckdb") is not None:  # duckdb 2.x: the engine alone, not the package
        assert "_duckdb" in modules and "duckdb" not in modules


def test_an_extension_without_a_needed_method_falls_back_to_the_package(store: Path) -> None:
    code, out, modules = probe(store.parent, "--store", "s.duckdb", "sql", "select sum(cost_usd) AS total from spend",
                               needs="no_such_method")
    assert (code, out) == (0, "total\n-----\n 3.75\n(1 row)")
    assert "duckdb" in modules
    code, out, modules = probe(store.parent, "--store", "s.duckdb", "sql", "select * from nosuch", needs="no_such_method")
    assert (code, out) == (1, "")


def test_sql_with_a_config_file_still_reads_it(store: Path) -> None:
    """A config file found next to --store is still read (its allocation rules shape `spend`'s team)."""
    write(store.parent / "spendwatch.toml", '[store]\npath = "other.duckdb"\n[[allocation]]\nmatch = { provider = "openai" }\nteam = "t1"\n')
    code, out, modules = probe(store.parent, "--store", "s.duckdb", "sql", "select distinct team from spend")
    assert (code, out.splitlines()[2].strip()) == (0, "t1")
    assert "spendwatch.config_schema" in modules


@pytest.mark.parametrize(("query", "error"), [
    ("select * from nosuch", "spendwatch: SQL error: Catalog Error: Table with name nosuch does not exist!"),
    ("delete from records", "spendwatch: refused: DELETE statements are not allowed; `spendwatch sql` is read-only "
                            "(SELECT and EXPLAIN only)"),
    ("selec 1", 'spendwatch: SQL error: Parser Error: syntax error at or near "selec"'),
    ("select * from read_csv('a.csv')",
     'spendwatch: SQL error: Permission Error: Cannot access file "a.csv" - file system operations are disabled by configuration'),
])
def test_lean_sql_errors_are_the_same_one_line_errors(store: Path, query: str, error: str) -> None:
    r = run_cli("--store", "s.duckdb", "sql", query, cwd=store.parent)
    assert (r.code, r.out, r.err.strip()) == (1, "", error)


def test_missing_store_and_missing_config_are_one_line_errors(tmp_path: Path) -> None:
    r = run_cli("--store", "none.duckdb", "sql", "select 1", cwd=tmp_path)
    assert (r.code, r.err.strip()) == (1, "spendwatch: none.duckdb: store does not exist yet; run `spendwatch collect` "
                                          "or `spendwatch import` first")
    r = run_cli("sql", "select 1", cwd=tmp_path)
    assert (r.code, r.err.strip()) == (1, "spendwatch: no config file: pass --config, set SPENDWATCH_CONFIG, or create "
                                          "./spendwatch.toml or /etc/spendwatch/config.toml")


def test_lean_open_has_the_minimal_configs_defaults() -> None:
    """`--store` without a config opens with Store.open's defaults instead of minimal_config's: keep them equal."""
    from spendwatch.config_schema import minimal_config
    from spendwatch.store import Store

    params = inspect.signature(Store.open.__wrapped__).parameters  # type: ignore[attr-defined]
    cfg = minimal_config("x.duckdb")
    assert params["lock_timeout"].default == cfg.store.lock_timeout.total_seconds()
    assert list(params["allocation"].default) == cfg.allocation == []
    assert params["money"].default is None
