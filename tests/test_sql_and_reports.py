"""`spendwatch sql` is read-only; `report chargeback` is exact in every format; every command has help."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from .conftest import write

ROWS = """ts,provider,project_id,api_key_id,model,input_tokens,output_tokens,requests,cost_usd
2026-10-03T10:00:00Z,openai,proj_search_1,k1,gpt-4.1,1000,100,3,10.50
2026-10-04T10:00:00Z,openai,proj_search_2,k1,gpt-4.1-mini,2000,200,4,0.25
2026-10-05,anthropic,wrk_research,k2,claude-sonnet-4,500,50,1,7.125
2026-10-06,openai,proj_support,k3,gpt-4.1,300,30,2,2.00
2026-10-07,openrouter,or,k4,llama,100,10,1,0.0001
2026-10-31T23:59:59Z,litellm,team_x,k5,gpt-4.1-mini,50,5,1,1.10
2026-11-01T00:00:00Z,openai,proj_search_1,k1,gpt-4.1,999,99,9,99.99
"""
CONFIG = """[store]
path = "s.duckdb"
[[allocation]]
match = { provider = "openai", project_id = "proj_search*" }
team = "search"
[[allocation]]
match = { provider = ["anthropic", "litellm"] }
team = "research"
[[allocation]]
match = { model = "gpt-4.1", provider = "openai" }
team = "support"
"""


@pytest.fixture
def populated(tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", CONFIG)
    write(tmp_path / "rows.csv", ROWS)
    assert cli("--config", "sw.toml", "import", "rows.csv", "--format", "canonical").code == 0
    return cli


@pytest.mark.parametrize("statement", [
    "delete from spend", "insert into records select * from records", "drop view spend",
    "attach 'other.duckdb' as o", "copy (select 1) to 'out.csv'", "update records set cost_usd = 0",
    "create table t(a int)", "select 1; delete from records", "install httpfs", "pragma version",
    "set threads = 1", "export database 'dump'", "checkpoint",
])
def test_sql_refuses_writes(populated, statement: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = populated("--config", "sw.toml", "sql", statement)
    assert r.code == 1
    assert r.err.startswith("spendwatch: refused: ") and r.err.endswith(
        "statements are not allowed; `spendwatch sql` is read-only (SELECT and EXPLAIN only)\n")
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert populated("--config", "sw.toml", "sql", "select count(*) from spend", "--format", "csv").out == "count_star()\n7\n"


def test_sql_cannot_reach_files(populated) -> None:  # type: ignore[no-untyped-def]
    r = populated("--config", "sw.toml", "sql", "select * from read_csv('rows.csv')")
    assert r.code == 1 and "file system operations are disabled" in r.err


def test_sql_formats(populated) -> None:  # type: ignore[no-untyped-def]
    q = "select provider, sum(cost_usd) as cost from spend where ts < '2026-11-01' group by 1 order by 1"
    assert populated("--config", "sw.toml", "sql", q, "--format", "csv").out == (
        "provider,cost\nanthropic,7.125\nlitellm,1.10\nopenai,12.75\nopenrouter,0.0001\n")
    assert json.loads(populated("--config", "sw.toml", "sql", q, "--format", "json").out)[0] == {
        "provider": "anthropic", "cost": "7.125"}
    assert populated("--config", "sw.toml", "sql", q).out == (
        "provider      cost\n"
        "----------  ------\n"
        "anthropic    7.125\n"
        "litellm       1.10\n"
        "openai       12.75\n"
        "openrouter  0.0001\n"
        "(4 rows)\n")


def test_chargeback_three_rules_and_remainder_table(populated) -> None:  # type: ignore[no-untyped-def]
    r = populated("--config", "sw.toml", "report", "chargeback", "--month", "2026-10")
    assert r.code == 0, r
    assert r.out == (
        "month    team           cost_usd  input_tokens  output_tokens  requests  share\n"
        "-------  -------------  --------  ------------  -------------  --------  ------\n"
        "2026-10  search            10.75          3000            300         7  51.3%\n"
        "2026-10  research          8.225           550             55         2  39.2%\n"
        "2026-10  support            2.00           300             30         2  9.5%\n"
        "2026-10  (unallocated)    0.0001           100             10         1  0.0%\n"
        "-------  -------------  --------  ------------  -------------  --------  ------\n"
        "TOTAL                    20.9751          3950            395        12  100.0%\n"
        "(4 rows)\n")


def test_chargeback_csv_and_json_by_team_and_model(populated) -> None:  # type: ignore[no-untyped-def]
    args = ("--config", "sw.toml", "report", "chargeback", "--month", "2026-10", "--by", "team", "--by", "model")
    assert populated(*args, "--format", "csv").out == (
        "month,team,model,cost_usd,input_tokens,output_tokens,requests,share\n"
        "2026-10,search,gpt-4.1,10.50,1000,100,3,50.1%\n"
        "2026-10,research,claude-sonnet-4,7.125,500,50,1,34.0%\n"
        "2026-10,support,gpt-4.1,2.00,300,30,2,9.5%\n"
        "2026-10,research,gpt-4.1-mini,1.10,50,5,1,5.2%\n"
        "2026-10,search,gpt-4.1-mini,0.25,2000,200,4,1.2%\n"
        "2026-10,(unallocated),llama,0.0001,100,10,1,0.0%\n")
    assert json.loads(populated(*args, "--format", "json").out) == [
        {"month": "2026-10", "team": "search", "model": "gpt-4.1", "cost_usd": "10.50", "input_tokens": 1000,
         "output_tokens": 100, "requests": 3, "share": "50.1%"},
        {"month": "2026-10", "team": "research", "model": "claude-sonnet-4", "cost_usd": "7.125",
         "input_tokens": 500, "output_tokens": 50, "requests": 1, "share": "34.0%"},
        {"month": "2026-10", "team": "support", "model": "gpt-4.1", "cost_usd": "2.00", "input_tokens": 300,
         "output_tokens": 30, "requests": 2, "share": "9.5%"},
        {"month": "2026-10", "team": "research", "model": "gpt-4.1-mini", "cost_usd": "1.10", "input_tokens": 50,
         "output_tokens": 5, "requests": 1, "share": "5.2%"},
        {"month": "2026-10", "team": "search", "model": "gpt-4.1-mini", "cost_usd": "0.25", "input_tokens": 2000,
         "output_tokens": 200, "requests": 4, "share": "1.2%"},
        {"month": "2026-10", "team": "(unallocated)", "model": "llama", "cost_usd": "0.0001", "input_tokens": 100,
         "output_tokens": 10, "requests": 1, "share": "0.0%"},
    ]


def test_chargeback_view_and_bad_month(populated) -> None:  # type: ignore[no-untyped-def]
    out = populated("--config", "sw.toml", "sql",
                    "select month, team, sum(cost_usd) c from chargeback group by all order by all", "--format", "csv").out
    assert out == ("month,team,c\n2026-10,(unallocated),0.0001\n2026-10,research,8.225\n2026-10,search,10.75\n"
                   "2026-10,support,2.00\n2026-11,search,99.99\n")
    r = populated("--config", "sw.toml", "report", "chargeback", "--month", "2026-13")
    assert (r.code, r.err) == (1, 'spendwatch: --month: not a month ("2026-13"); use YYYY-MM\n')


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        out.append(prefix + (name,))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, prefix + (name,))
    return out


def test_every_command_has_help(cli) -> None:  # type: ignore[no-untyped-def]
    from spendwatch.cli import main

    commands = _commands(main)
    expected = {"run", "collect", "import", "detect", "backtest", "sql", "report", "status", "check-config", "demo"}
    assert expected <= {c[0] for c in commands}
    assert ("report", "chargeback") in commands
    for c in commands:
        r = cli(*c, "--help")
        assert r.code == 0 and r.out.startswith(f"Usage: spendwatch {' '.join(c)}"), c
        doc = main.get_command(None, c[0]).help if len(c) == 1 else None  # type: ignore[arg-type]
        assert len(r.out.splitlines()) > 3
        if doc is not None:
            assert doc.strip(), f"{c} has no docstring"


def test_usage_error_exits_2_and_user_error_exits_1(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("sql").code == 2
    r = cli("--store", str(tmp_path / "none.duckdb"), "sql", "select 1")
    assert (r.code, r.err) == (1, f"spendwatch: {tmp_path / 'none.duckdb'}: store does not exist yet; run "
                                  "`spendwatch collect` or `spendwatch import` first\n")
