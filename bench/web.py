"""How fast the Overview renders on a large store, against the same queries run straight in DuckDB.

A 5M-row store is generated in DuckDB SQL (120 days to now: gateway request rows billed by the gateway,
plus OpenAI usage priced by us and reconciled to daily billed lines, so the `spend` view does its full
work), with two budgets and three allocation rules. Then, in the same run:
  * web: median wall time of `GET /` from the real server (uvicorn on 127.0.0.1:0, a read-only connection
    opened per request, templates rendered), measured with an HTTP client;
  * baseline: median wall time of the statements that page ran (recorded by data.Tracer), executed on
    one already-open read-only DuckDB connection.
Prints both and the ratio (target ≤ 1.5×). No network beyond loopback; a temporary store is removed.

    .venv/bin/python bench/web.py [--rows 5000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spendwatch.app import load_config  # noqa: E402
from spendwatch.attribution import refresh, stored_rules  # noqa: E402
from spendwatch.store import Store  # noqa: E402

CONFIG = """
[store]
path = "{path}"

[[budgets]]
name = "openai-monthly"
amount = "250000.00"
match = {{ provider = "openai" }}

[[budgets]]
name = "all-monthly"
amount = "900000.00"

[[allocation]]
match = {{ project_id = "proj_1*" }}
team = "search"

[[allocation]]
match = {{ provider = "anthropic" }}
team = "research"

[[allocation]]
match = {{ api_key_id = ["key_7", "key_8"] }}
team = "support"
"""


def fill(store: Store, rows: int) -> None:
    """`rows` usage rows over the 120 days before now (hourly cells), 5% of them OpenAI estimates with
    one billed token line per (project, day) that they are reconciled to."""
    c = store.conn
    c.execute(f"""
        INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                             project_id, api_key_id, user_id, model, requests, input_tokens, output_tokens,
                             cost_usd, cost_basis, currency)
        SELECT CASE WHEN est THEN 'openai-api' ELSE 'gateway' END, 'usage', 'usage', FALSE, ts,
               ts + INTERVAL 1 HOUR, 'hour', CASE WHEN est THEN 'openai' ELSE prov END,
               'proj_' || (i % 37), 'key_' || (i % 211), 'user_' || (i % 97), 'model_' || (i % 23), 1,
               1000 + i % 5000, 100 + i % 700,
               CAST((1 + i % 997) / 100000.0 * (1 + (hash(i) % 100) / 100.0) AS DECIMAL(38, 10)),
               CASE WHEN est THEN 'estimated' ELSE 'billed' END, 'USD'
        FROM (SELECT i, i % 20 = 0 AS est, ['openai', 'anthropic', 'openrouter', 'litellm'][i % 4 + 1] AS prov,
                     date_trunc('hour', now()) - INTERVAL 120 DAY + (i % 2880) * INTERVAL 1 HOUR AS ts
              FROM range({rows}) r(i))
    """)
    c.execute("""
        INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                             project_id, line_item, cost_usd, cost_basis, currency)
        SELECT 'openai-api', 'cost', 'cost', TRUE, date_trunc('day', ts), date_trunc('day', ts) + INTERVAL 1 DAY,
               'day', 'openai', project_id, 'tokens', CAST(sum(cost_usd) * 1.07 AS DECIMAL(38, 10)), 'billed', 'USD'
        FROM records WHERE cost_basis = 'estimated' GROUP BY ALL
    """)
    # What every writer does after its insert: materialise the figures `spend` shows (reconciliation
    # included; docs/attribution.md).
    refresh(c, None, None, stored_rules(c))
    c.execute("CHECKPOINT")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    import duckdb
    import httpx

    from spendwatch.timeutil import utcnow
    from spendwatch.web import data
    from spendwatch.web.serve import ListenPolicy, WebServer

    with tempfile.TemporaryDirectory(prefix="spendwatch-bench-web-") as tmp:
        path = Path(tmp) / "spend.duckdb"
        (Path(tmp) / "spendwatch.toml").write_text(CONFIG.format(path=path))
        cfg = load_config(str(Path(tmp) / "spendwatch.toml"))
        t0 = time.perf_counter()
        with Store.open(str(path), allocation=cfg.allocation) as store:  # persists the views for these rules
            fill(store, args.rows)
            n = store.conn.execute("SELECT count(*) FROM records").fetchone()[0]
        print(f"store: {n:,} records in {time.perf_counter() - t0:.1f}s, {path.stat().st_size / 1e6:.0f} MB")

        tracer = data.Tracer()
        with data.reader(cfg, tracer) as r:
            data.overview(r, cfg, utcnow())
        statements = tracer.statements
        print(f"the Overview runs {len(statements)} statements")

        conn = duckdb.connect(str(path), read_only=True)
        conn.execute("SET TimeZone = 'UTC'")

        def direct() -> None:
            cur = conn.cursor()  # a fresh connection to the open database: its own TEMP objects, no file open
            cur.execute("SET TimeZone = 'UTC'")
            for sql, params in statements:
                cur.execute(sql, params).fetchall()
            cur.close()

        def direct_fresh() -> None:
            c = duckdb.connect(str(path), read_only=True)  # a new database instance: its buffer cache is cold
            c.execute("SET TimeZone = 'UTC'")
            for sql, params in statements:
                c.execute(sql, params).fetchall()
            c.close()

        server = WebServer(ListenPolicy.decide("127.0.0.1:0", cfg), lambda: cfg)
        server.start()
        url = f"http://127.0.0.1:{server.port}/"
        client = httpx.Client(timeout=300)

        def web() -> None:
            r = client.get(url)
            assert r.status_code == 200 and "month-total" in r.text

        # Interleaved, after one warm-up each: load from other processes on a shared box then hits all three
        # alike instead of whichever ran last. The open connection is closed before each page (a reader in
        # this process would otherwise share its warm database instance with the server's).
        times: dict[str, list[float]] = {"open": [], "fresh": [], "web": []}
        try:
            for i in range(args.runs + 1):
                direct()
                t = time.perf_counter()
                direct()
                if i:
                    times["open"].append(time.perf_counter() - t)
                conn.close()
                for name, fn in (("fresh", direct_fresh), ("web", web)):
                    t = time.perf_counter()
                    fn()
                    if i:
                        times[name].append(time.perf_counter() - t)
                conn = duckdb.connect(str(path), read_only=True)
                conn.execute("SET TimeZone = 'UTC'")
        finally:
            conn.close()
            client.close()
            server.stop()
        base, fresh, page = (statistics.median(times[k]) for k in ("open", "fresh", "web"))
    ratio, ratio_fresh = page / base, page / fresh
    print(f"direct DuckDB, same statements, one open connection:  median {base * 1000:6.0f} ms over {args.runs} runs")
    print(f"direct DuckDB, same statements, fresh connection/run: median {fresh * 1000:6.0f} ms over {args.runs} runs")
    print(f"web GET / (read-only connection per request + render): median {page * 1000:6.0f} ms over {args.runs} runs")
    print(f"ratio to the open connection  {ratio:.2f}x (target <= 1.5x): {'ok' if ratio <= 1.5 else 'OVER'}")
    print(f"ratio to a fresh connection   {ratio_fresh:.2f}x (the web layer's own cost: HTTP, templates, view checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
