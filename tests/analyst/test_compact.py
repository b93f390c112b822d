"""keep_requests: request rows roll into exact hourly cells; every daily_spend figure stays; the file shrinks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from spendwatch.app import load_config

from ..conftest import write
from .conftest import request_rows

DIMS = ("provider, source, account_id, project_id, workspace_id, api_key_id, user_id, model, service_tier, "
        "line_item, cost_basis, team, tags")
HOURLY = (f"SELECT date_trunc('hour', ts) h, {DIMS}, sum(cost_usd), sum(input_tokens), sum(output_tokens), "
          f"sum(requests) FROM spend GROUP BY ALL ORDER BY ALL")


def snapshot(path: Path) -> tuple[list[Any], list[Any], int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return (con.execute("SELECT * FROM daily_spend ORDER BY ALL").fetchall(), con.execute(HOURLY).fetchall(),
                con.execute("SELECT count(*) FROM records WHERE granularity = 'request'").fetchone()[0])
    finally:
        con.close()


def test_compact_keeps_every_figure_and_shrinks_the_file(small: Any, tmp_path: Path, capsys: Any) -> None:
    write(tmp_path / "req.csv", request_rows(20000))
    assert small("--config", "sw.toml", "import", "req.csv", "--format", "canonical").code == 0
    daily, hourly, n = snapshot(tmp_path / "s.duckdb")
    assert n == 20000
    size = (tmp_path / "s.duckdb").stat().st_size
    # 2026-10-04T12:00 minus 1d: the first two days and half of the third roll up
    r = small("--config", "sw.toml", "compact", "--keep", "1d", "--now", "2026-10-04T12:30:00Z")
    assert r.code == 0, r
    assert r.out.startswith("rolled ") and "before 2026-10-03T12:00:00Z (older than 1d) into " in r.out
    daily2, hourly2, n2 = snapshot(tmp_path / "s.duckdb")
    assert daily2 == daily and hourly2 == hourly
    assert 0 < n2 < 20000 / 2
    size2 = (tmp_path / "s.duckdb").stat().st_size
    with capsys.disabled():
        print(f"\n  store file {size} -> {size2} bytes after compact ({r.out.strip()})")
    assert size2 < size
    # running it again finds nothing more and changes no figure
    r = small("--config", "sw.toml", "compact", "--keep", "1d", "--now", "2026-10-04T12:30:00Z")
    assert r.out.startswith("rolled 0 request rows")
    assert snapshot(tmp_path / "s.duckdb")[:2] == (daily, hourly)
    # the rewritten store is a normal store: a writer opens it and imports
    assert small("--config", "sw.toml", "import", "rows.csv", "--format", "canonical").code == 0


def test_estimated_rows_reconciled_against_a_bill_stay_requests(small: Any, tmp_path: Path) -> None:
    write(tmp_path / "est.csv",
          "ts,granularity,provider,project_id,model,input_tokens,output_tokens,requests,cost_usd,cost_basis\n"
          + "".join(f"2026-10-01T0{i}:00:0{i}Z,request,openai,p1,gpt-4.1,10,1,1,0.3333333333,estimated\n"
                    for i in range(3)))
    assert small("--config", "sw.toml", "import", "est.csv", "--format", "canonical", "--source", "est").code == 0
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute("INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider, "
                "project_id, cost_usd, cost_basis) VALUES ('bill', 'cost', 'cost', TRUE, '2026-10-01', '2026-10-02', "
                "'day', 'openai', 'p1', 1.00, 'billed')")
    con.close()
    assert small("--config", "sw.toml", "compact", "--keep", "1d", "--now", "2026-11-01").out.startswith(
        "rolled 0 request rows")


def test_keep_requests_in_config_and_daemon_housekeeping(small: Any, tmp_path: Path) -> None:
    from spendwatch.jobs import job_housekeeping

    write(tmp_path / "req.csv", request_rows(500))
    assert small("--config", "sw.toml", "import", "req.csv", "--format", "canonical").code == 0
    daily = snapshot(tmp_path / "s.duckdb")[0]
    text = (tmp_path / "sw.toml").read_text().replace('path = "s.duckdb"',
                                                       f'path = "{tmp_path / "s.duckdb"}"\nkeep_requests = "30d"')
    write(tmp_path / "sw2.toml", text)
    cfg = load_config(str(tmp_path / "sw2.toml"))
    assert cfg.store.keep_requests is not None and cfg.store.keep_requests.days == 30
    res = job_housekeeping(cfg, {})
    assert res.to_dict() == {"ok": True, "requests_rolled": 500}  # the rows are from 2026-10, long before now - 30d
    daily2, _, n = snapshot(tmp_path / "s.duckdb")
    assert n == 0 and daily2 == daily
    r = small("--config", "sw2.toml", "compact", "--no-rewrite")
    assert r.code == 0 and r.out.startswith("rolled 0 request rows")


def test_compact_needs_a_retention(small: Any) -> None:
    r = small("--config", "sw.toml", "compact")
    assert r.code == 2 and "set [store] keep_requests in the config or pass --keep" in r.err
    write(Path("bad.toml"), '[store]\npath = "s.duckdb"\nkeep_requests = "soon"\n')
    r = small("--config", "bad.toml", "compact")
    assert r.code == 1 and "store.keep_requests" in r.err and "not a duration" in r.err
