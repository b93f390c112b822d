"""How fast `spend` stays when a gateway's logs are attributed to their upstream bills.

5M LiteLLM request rows (one gateway source, upstreams OpenAI and Anthropic, 20 teams, 400 keys, 6 models)
over 90 days, plus 90 days of both providers' bills (token lines per project and model for the gateway's
project and a direct project, tool lines). Measured, each the median of `--reps` runs on a warm store:
  1. `select sum(cost_usd) from spend` vs the same query over `records` (bar ≤ 2×);
  2. the monthly chargeback (`select … from chargeback where month = M`) vs the same aggregation over
     `records` with the same allocation CASE (bar ≤ 2×).
Also prints the one-off cost of computing the attribution for all 90 days (write time, not a bar), and
checks the invariant on the bench data (sum per provider and billed day = the bill, exactly).

    .venv/bin/python bench/attribution.py [--rows 5000000] [--days 90] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spendwatch.app import parse_config  # noqa: E402
from spendwatch.attribution import rules_of  # noqa: E402
from spendwatch.store import Store  # noqa: E402
from spendwatch.views import team_sql  # noqa: E402

UTC = UTC
START = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = """
[store]
path = "{path}"

[[sources]]
name = "openai"
type = "openai"
api_key_env = "BENCH_UNUSED"

[[gateways]]
source = "litellm-proxy"
upstreams = ["openai", "anthropic"]
upstream_match = {{ project_id = ["proj_gateway", "wrk_gateway"] }}

[[allocation]]
match = {{ project_id = ["team_0*", "team_1*"] }}
team = "platform"

[[allocation]]
match = {{ project_id = "proj_direct" }}
team = "direct"
"""
# (upstream, gateway model, bill model) — the bill names dated snapshots, as OpenAI's and Anthropic's do
MODELS = [("openai", "gpt-4o", "gpt-4o-2024-08-06"), ("openai", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
          ("openai", "o4-mini", "o4-mini-2025-04-16"), ("anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514"),
          ("anthropic", "claude-3-5-haiku", "claude-3-5-haiku-20241022"), ("openai", "text-embedding-3-small",
                                                                        "text-embedding-3-small")]


def fill(store: Store, rows: int, days: int) -> None:
    """Gateway rows in SQL (money DECIMAL(38,10)), then per (provider, day, model) bill lines at 1.02× the
    gateway's own cost in the gateway's project, plus direct lines and a tool line per provider and day."""
    models = "[" + ", ".join(f"{{'up': '{u}', 'gm': '{g}', 'bm': '{b}'}}" for u, g, b in MODELS) + "]"
    step_us = days * 86_400_000_000 // rows
    store.conn.execute(f"""
        INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                             account_id, project_id, api_key_id, user_id, model, line_item, input_tokens,
                             output_tokens, requests, cost_usd, cost_basis, currency, tags)
        SELECT 'litellm-proxy', 'litellm', 'usage', FALSE, ts, ts, 'request', 'litellm', 'org1',
               'team_' || (i % 20), 'hash' || (i % 400), 'user' || (i % 1000), m.gm, m.up || '/acompletion',
               500 + i % 3000, 50 + i % 700, 1,
               CAST((500 + i % 3000) * 0.0000025 + (50 + i % 700) * 0.00001 AS DECIMAL(38, 10)),
               'billed', 'USD', CASE WHEN i % 7 = 0 THEN '{{"end_user": "cust-' || (i % 50) || '"}}' END
        FROM range({rows}) r(i),
             LATERAL (SELECT TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(i * {step_us}) AS ts),
             LATERAL (SELECT {models}[CAST(1 + hash(i) % {len(MODELS)} AS BIGINT)] AS m)
    """)
    values = ", ".join(f"('{u}', '{g}', '{b}')" for u, g, b in MODELS)
    store.conn.execute(f"""
        INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                             project_id, model, line_item, cost_usd, cost_basis, currency)
        WITH mm(up, gm, bm) AS (VALUES {values}),
        g AS (
            SELECT split_part(line_item, '/', 1) AS provider, date_trunc('day', ts) AS day, model, sum(cost_usd) AS c
            FROM records GROUP BY ALL
        ), lines AS (
            SELECT g.provider, g.day, mm.bm AS model,
                   CASE g.provider WHEN 'openai' THEN 'proj_gateway' ELSE 'wrk_gateway' END AS project,
                   part.name AS charge, CAST(g.c * 1.02 * part.share AS DECIMAL(38, 10)) AS amount
            FROM g JOIN mm ON mm.gm = g.model, (VALUES ('input', 0.4), ('output', 0.6)) part(name, share)
            UNION ALL
            SELECT g.provider, g.day, mm.bm, CASE g.provider WHEN 'openai' THEN 'proj_direct' ELSE 'wrk_direct' END,
                   'input', CAST(g.c * 0.3 AS DECIMAL(38, 10))
            FROM g JOIN mm ON mm.gm = g.model
        )
        SELECT provider, 'cost', 'cost', TRUE, day, day + INTERVAL 1 DAY, 'day', provider, project, model,
               model || ', ' || charge, amount, 'billed', 'USD'
        FROM lines
        UNION ALL
        SELECT DISTINCT provider, 'cost', 'cost', FALSE, day, day + INTERVAL 1 DAY, 'day', provider, 'proj_direct',
               NULL, 'web search tool calls', CAST(1.25 AS DECIMAL(38, 10)), 'billed', 'USD'
        FROM g
    """)


def timed(conn: object, sql: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        conn.execute(sql).fetchall()  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.duckdb")
        cfg = parse_config(CONFIG.format(path=path))
        t = time.perf_counter()
        with Store.open(path) as st:
            with st.transaction():
                fill(st, args.rows, args.days)
            n = st.conn.execute("SELECT count(*) FROM records").fetchone()[0]
        print(f"generated {n:,} records ({args.rows:,} gateway rows, {args.days} days of bills) "
              f"in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        with Store.open(path, allocation=cfg.allocation, money=rules_of(cfg)) as st:
            st.conn.execute("CHECKPOINT")
        print(f"attribution of all {args.days} days at write time: {time.perf_counter() - t:.1f}s (one-off; a "
              f"collect re-computes only the days it wrote)")
        month = "2026-02"
        with Store.open(path, read_only=True, allocation=cfg.allocation) as st:
            c = st.conn
            bad = c.execute("""
                WITH s AS (SELECT provider, CAST(ts AS DATE) AS d, sum(cost_usd) AS c FROM spend GROUP BY ALL),
                     b AS (SELECT provider, CAST(ts AS DATE) AS d, sum(cost_usd) AS c FROM records
                           WHERE record_type = 'cost' GROUP BY ALL)
                SELECT count(*) FROM b JOIN s USING (provider, d) WHERE b.c <> s.c""").fetchone()[0]
            attributed = c.execute("SELECT count(*) FROM spend WHERE cost_basis = 'attributed'").fetchone()[0]
            print(f"invariant: {bad} (provider, day) totals differ from the bill (must be 0); "
                  f"{attributed:,} rows attributed")
            plain_team = team_sql(cfg.allocation)
            plain_cb = (f"SELECT strftime(timezone('UTC', ts), '%Y-%m') AS month, coalesce(team, '(unallocated)') AS team, "
                        f"provider, project_id, model, CAST(sum(cost_usd) AS DECIMAL(38, 10)) AS cost_usd, "
                        f"sum(input_tokens), sum(output_tokens), sum(requests) "
                        f"FROM (SELECT *, {plain_team} AS team FROM records b) GROUP BY ALL HAVING month = '{month}'")
            spend_cb = (f"SELECT month, team, provider, project_id, model, sum(cost_usd), sum(input_tokens), "
                        f"sum(output_tokens), sum(requests) FROM chargeback WHERE month = '{month}' GROUP BY ALL")
            bars = []
            for label, ours, plain in (
                    ("select sum(cost_usd) from spend", "SELECT sum(cost_usd) FROM spend",
                     "SELECT sum(cost_usd) FROM records"),
                    (f"monthly chargeback ({month})", spend_cb, plain_cb)):
                timed(c, ours, 1), timed(c, plain, 1)  # warm
                a, b = timed(c, ours, args.reps), timed(c, plain, args.reps)
                ratio = a / b
                bars.append(ratio <= 2.0)
                print(f"{label:<36} spend {a * 1000:8.1f} ms   records {b * 1000:8.1f} ms   ratio {ratio:.2f}x "
                      f"(bar <= 2x) {'ok' if ratio <= 2.0 else 'OVER'}")
    print(f"cpus={os.cpu_count()} load average={os.getloadavg()[0]:.1f}")
    return 0 if all(bars) and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
