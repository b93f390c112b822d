"""Where one machine stops: import, chargeback, Parquet export and request rollup at 5M and 20M rows.

    python bench/scale.py [--rows 20000000] [--small-rows ROWS/4] [--days 2] [--workdir DIR]

Generates LiteLLM SpendLogs as Parquet with DuckDB (`--days` of traffic, so 20M rows over 2 days is
10M requests a day; 200 keys, 500 users, 20 teams, 5,000 end customers, 4 models), then, for the small
and the large file, runs each step in its own process (so its peak RSS is its own, ru_maxrss via wait4):
  import     `import --format litellm` of the file into a fresh store (what the command runs)
  chargeback `report chargeback --month M --by team --by model` on the request-level store
  export     `export --format parquet` of the whole store (raw requests kept in the lake)
  rollup     `compact` with keep_requests = 30d at 30 days after the data (every row rolls up), file rewrite
  chargeback `report chargeback` again, on the rolled-up store
and prints wall time, CPU time, peak RSS and the store (or lake) size after each. Growth: the large run's
CPU time over the small one's, per step and in total; bar: total <= 4.4x for 4x the rows. CPU time is the
judge because wall time on a machine shared with other jobs measures the neighbours. Nothing is asserted
on wall time. Default run: ~10 min on 2 busy cores, ~3 GB of temp files (`--rows 2000000` for a quick one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GENERATE = r"""
COPY (
  SELECT
    'req-' || i::VARCHAR AS request_id,
    CASE WHEN i % 10 = 0 THEN 'aembedding' ELSE 'acompletion' END AS call_type,
    md5('key' || (i % 200)::VARCHAR) AS api_key,
    CAST(((i % 9973) * 0.0000123456789 + 0.00001) AS DECIMAL(18, 10)) AS spend,
    200 + i % 3000 AS prompt_tokens,
    50 + i % 700 AS completion_tokens,
    TIMESTAMP '2026-10-01 00:00:00' + to_microseconds((i * @STEP_US@)::BIGINT) AS "startTime",
    (['gpt-4o-2024-08-06', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'gpt-4.1-mini'])[1 + i % 4] AS model,
    (['openai', 'anthropic', 'vertex_ai', 'openai'])[1 + i % 4] AS custom_llm_provider,
    'user_' || (i % 500)::VARCHAR AS "user",
    'team_' || (i % 20)::VARCHAR AS team_id,
    'org_' || (i % 3)::VARCHAR AS organization_id,
    'customer_' || (i % 5000)::VARCHAR AS end_user
  FROM range(@ROWS@) t(i)
) TO '@PATH@' (FORMAT parquet, COMPRESSION zstd)
"""

CHILD = r"""
import sys, time, json, os
sys.path.insert(0, {root!r})
t0, c0 = time.perf_counter(), time.process_time()
step = {step!r}
out = {{}}
if step == "import":
    from spendwatch.store import Store
    from collector import FORMATS
    with Store.open({db!r}) as st:
        FORMATS.get("litellm")().import_file(st, {src!r})
        st.conn.execute("CHECKPOINT")
        out["rows"] = st.conn.execute("SELECT count(*) FROM records").fetchone()[0]
elif step == "chargeback":
    from spendwatch.store import Store
    from spendwatch.reports import chargeback_report
    with Store.open({db!r}, read_only=True) as st:
        cols, rows, footer = chargeback_report(st, "2026-10", ["team", "model"])
    out["rows"] = len(rows)
    out["total"] = str(footer[3])
elif step == "export":
    from spendwatch.store import Store
    from spendwatch.export import export
    with Store.open({db!r}, read_only=True) as st:
        res = export(st.conn, "parquet", {lake!r})
    out["rows"] = res.rows
elif step == "rollup":
    from datetime import datetime, timedelta, timezone
    from spendwatch.store import Store
    from spendwatch.compact import compact
    with Store.open({db!r}) as st:
        r = compact(st, timedelta(days=30), datetime(2026, 12, 1, tzinfo=timezone.utc), rewrite=True)
    out["rows"] = r.requests_rolled
    out["cells"] = r.cells_written
out["seconds"] = time.perf_counter() - t0
out["cpu"] = time.process_time() - c0
print(json.dumps(out))
"""


def size_of(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return sum(os.path.getsize(p) for p in (path, path + ".wal") if os.path.exists(p))


def run_measured(step: str, db: str, src: str, lake: str) -> dict:
    """Like run(), with the child's own peak RSS from wait4 (communicate() would reap it first)."""
    code = CHILD.format(root=ROOT, step=step, db=db, src=src, lake=lake)
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=fo, stderr=fe, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": ROOT})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{err.decode()[-2000:]}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    return res


def one_size(rows: int, days: float, workdir: str) -> dict[str, dict]:
    import duckdb

    src = os.path.join(workdir, f"spendlogs_{rows}.parquet")
    db = os.path.join(workdir, f"store_{rows}.duckdb")
    lake = os.path.join(workdir, f"lake_{rows}")
    for p in (db, db + ".wal", lake):
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))
    step_us = int(days * 86400e6 / rows)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(GENERATE.replace("@ROWS@", str(rows)).replace("@PATH@", src).replace("@STEP_US@", str(step_us)))
    con.close()
    print(f"\n{rows:,} rows over {days:g} day(s) ({rows / days:,.0f} requests/day): generated {src} "
          f"({size_of(src) / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f}s", flush=True)
    results: dict[str, dict] = {}
    for label, step in (("import", "import"), ("chargeback", "chargeback"), ("export", "export"),
                        ("rollup", "rollup"), ("chargeback after rollup", "chargeback")):
        r = run_measured(step, db, src, lake)
        where = lake if step == "export" else db
        r["size_mb"] = size_of(where) / 1e6
        results[label] = r
        extra = f"  ({r['rows']:,} rows -> {r['cells']:,} hourly cells)" if step == "rollup" else ""
        print(f"  {label:<24} wall {r['seconds']:7.1f}s  cpu {r['cpu']:7.1f}s  peak RSS {r['peak_rss_mb']:6.0f} MB  "
              f"{'lake' if step == 'export' else 'store'} {r['size_mb']:8.0f} MB{extra}", flush=True)
    os.remove(src)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--small-rows", type=int, default=None, help="the growth baseline (default: rows / 4)")
    ap.add_argument("--days", type=float, default=2.0, help="days of traffic the rows cover (default 2)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    small_rows = args.small_rows or args.rows // 4
    workdir = args.workdir or tempfile.mkdtemp(prefix="spendwatch-scale-")
    os.makedirs(workdir, exist_ok=True)
    print(f"cpus={os.cpu_count()}  python={sys.version.split()[0]}  load average={os.getloadavg()[0]:.1f}")
    try:
        small = one_size(small_rows, args.days * small_rows / args.rows, workdir)
        big = one_size(args.rows, args.days, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    bar = 4.4 * (args.rows / small_rows) / 4
    print(f"\ngrowth {args.rows:,} / {small_rows:,} rows (CPU time; wall in brackets), bar <= {bar:.2f}x:")
    for step in big:
        print(f"  {step:<24} {big[step]['cpu'] / small[step]['cpu']:5.2f}x  "
              f"[{big[step]['seconds'] / small[step]['seconds']:5.2f}x]")
    total_big, total_small = sum(v["cpu"] for v in big.values()), sum(v["cpu"] for v in small.values())
    growth = total_big / total_small
    wall = sum(v["seconds"] for v in big.values()) / sum(v["seconds"] for v in small.values())
    ok = growth <= bar
    print(f"  {'total':<24} {growth:5.2f}x  [{wall:5.2f}x]   {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
