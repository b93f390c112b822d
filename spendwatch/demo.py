"""`spendwatch demo`: the whole pipeline on bundled data with no keys and no network.

It serves the bundled dataset from the fake provider servers of `spendwatch.fakes` (OpenAI, Anthropic,
OpenRouter and LiteLLM APIs on 127.0.0.1, fake keys) and runs the real collectors against them, then
shows the chargeback report, a few queries and whatever the registered detectors find (printed by the
console sink, nothing sent anywhere). It leaves the config and the store in `--dir` to explore with
`spendwatch --config DIR/spendwatch.toml sql "..."` (the servers stop with the demo, so the config's
sources are for reading, not for collecting again).

Assumption: OpenRouter's /activity serves only the last 30 completed days, so the demo store holds 30
days of OpenRouter data (the other providers have all 60), exactly as a real first collect would.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from .timeutil import utcnow

M = Decimal(1_000_000)
GATEWAY_PROJECT = {"openai": "proj_gateway", "anthropic": "wrk_gateway"}  # the LiteLLM proxy's own upstream projects

QUERIES = (
    ("Spend per provider, last 7 days",
     "SELECT provider, CAST(sum(cost_usd) AS DECIMAL(18,2)) AS cost_usd, sum(input_tokens) AS input_tokens, "
     "sum(output_tokens) AS output_tokens FROM spend WHERE ts >= current_date - INTERVAL 7 DAY "
     "GROUP BY provider ORDER BY cost_usd DESC"),
    ("Top 5 models this month",
     "SELECT model, provider, CAST(sum(cost_usd) AS DECIMAL(18,2)) AS cost_usd FROM spend "
     "WHERE ts >= date_trunc('month', current_date) GROUP BY ALL ORDER BY cost_usd DESC LIMIT 5"),
    ("Busiest hour of the last 3 days, per API key",
     "SELECT api_key_id, max_by(ts, cost_usd) AS hour, CAST(max(cost_usd) AS DECIMAL(18,2)) AS cost_usd FROM "
     "(SELECT api_key_id, ts, sum(cost_usd) AS cost_usd FROM spend WHERE ts >= current_date - INTERVAL 3 DAY "
     "GROUP BY ALL) GROUP BY api_key_id ORDER BY cost_usd DESC LIMIT 5"),
)


def demo_dataset(rows: Iterable[dict]) -> Any:
    """The bundled hourly rows as the fakes' ground truth (money split into input and output charges)."""
    from .demo_data import SERIES
    from .fakes import Cell, Dataset

    prices = {(s.provider, s.model): s for s in SERIES}
    ds = Dataset()
    for r in rows:
        s = prices[(r["provider"], r["model"])]
        inp, cached, out, req = r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["requests"]
        input_cost = (Decimal(inp - cached) * s.in_price + Decimal(cached) * s.in_price / 4) / M
        provider = r["provider"]
        project = None if provider == "anthropic" and r["project_id"] == "default" else r["project_id"]
        if provider == "litellm":
            # The proxy sits in front of OpenAI and Anthropic: each of its requests is also in that provider's
            # usage and bill, under the proxy's own project and key ([[gateways]] attributes the bill back).
            upstream = "anthropic" if r["model"].startswith("claude") else "openai"
            ds.cells.append(Cell(
                upstream, r["ts"], r["model"], GATEWAY_PROJECT[upstream], "key_gateway_proxy", None,
                endpoint="completions" if upstream == "openai" else r["model"], input_tokens=inp,
                cached_input_tokens=cached, output_tokens=out, requests=req, input_cost=input_cost,
                output_cost=Decimal(out) * s.out_price / M))
            ds.cells.append(Cell(
                provider, r["ts"], r["model"], project, r["api_key_id"], r.get("user_id"), endpoint=upstream,
                input_tokens=inp, cached_input_tokens=0, output_tokens=out,
                requests=min(req, 4),  # the fake proxy serves one row per request: keep the demo light
                input_cost=input_cost, output_cost=Decimal(out) * s.out_price / M))
            continue
        ds.cells.append(Cell(
            provider, r["ts"], r["model"], project, r["api_key_id"], r.get("user_id"),
            endpoint=("embeddings" if "embedding" in r["model"] else "completions") if provider == "openai"
            else r["model"].split("/")[0], input_tokens=inp,
            cached_input_tokens=cached if provider in ("openai", "anthropic") else 0, output_tokens=out,
            requests=req, input_cost=input_cost, output_cost=Decimal(out) * s.out_price / M))
    return ds


def _sources_toml(fleet: Any) -> str:
    """One [[sources]] per fake; lookback covers the whole bundled history (OpenRouter: its 30 days)."""
    from .fakes import KEY_ENV

    out = []
    for name, server in fleet.servers.items():
        lookback = "30d" if name == "openrouter" else "61d"
        out.append(f'[[sources]]\nname = "demo-{name}"\ntype = "{name}"\napi_key_env = "{KEY_ENV[name]}"\n'
                   f'base_url = "{server.base_url}"   # a fake server, gone when the demo ends\n'
                   f'lookback = "{lookback}"\n')
    return "\n".join(out)


def run_demo(directory: str) -> None:
    import os

    from .app import load_config
    from .collect import collect_all
    from .demo_data import demo_config, demo_rows
    from .detect import run_detectors
    from .fakes import Fleet
    from .output import render
    from .reports import chargeback_report
    from .store import Store

    out = Path(directory).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "spend.duckdb"
    for stale in (store_path, Path(str(store_path) + ".wal")):
        stale.unlink(missing_ok=True)
    cfg_path = out / "spendwatch.toml"
    now = utcnow()
    dataset = demo_dataset(demo_rows(now))
    click.secho(f"== spendwatch demo: {len(dataset.cells)} hourly usage cells across 4 providers, 60 days to "
                f"{now.date()}, served by local fake provider APIs on 127.0.0.1", bold=True)
    with Fleet.start(dataset) as fleet:
        os.environ.update(fleet.env())   # fake keys for the fake servers; nothing real is needed
        sources = _sources_toml(fleet)
        cfg_path.write_text(demo_config(str(store_path)) + "\n" + sources)
        cfg = load_config(str(cfg_path))
        for o in collect_all(cfg, []):
            if o.ok:
                click.echo(f"collected {o.rows:>6} rows  from {o.source} (real collector, fake API)")
                for note in o.notes:
                    click.echo(f"   note: {note}")
            else:
                click.echo(f"collect failed: {o.error}", err=True)
        requests = sum(len(s.requests) for s in fleet)
    click.echo(f"   {requests} API requests answered by the fake servers")
    with Store.open(str(store_path), allocation=cfg.allocation) as store:
        # The demo's OpenAI budget sits just under this month's spend so that its breach shows (assumption:
        # the demo is about seeing alerts, not about a realistic budget figure).
        mtd = store.conn.execute("SELECT sum(cost_usd) FROM spend WHERE provider = 'openai' AND ts >= ?",
                                 [now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)]).fetchone()[0]
    if mtd:
        cfg_path.write_text(demo_config(str(store_path), openai_budget=f"{(mtd * 95 / 100).quantize(1)}.00"))
        cfg = load_config(str(cfg_path))
        from .attribution import rules_of

        with Store.open(str(store_path), allocation=cfg.allocation, money=rules_of(cfg)):
            pass  # the store's money rules are the final config's (whose sources are gone with the servers)
    with Store.open(str(store_path), read_only=True, allocation=cfg.allocation) as store:
        month = now.strftime("%Y-%m")
        click.secho(f"\n== Chargeback {month} (month to date) by team and provider", bold=True)
        cols, rows, footer = chargeback_report(store, month, ["team", "provider"], now=now)
        click.echo(render(cols, rows, "table", footer=footer), nl=False)
        billed, charged = store.conn.execute(
            """SELECT (SELECT sum(cost_usd) FROM records WHERE record_type = 'cost' AND provider IN ('openai', 'anthropic')
                         AND coalesce(hidden_by, '') NOT LIKE 'duplicate:%' AND strftime(ts, '%Y-%m') = ?),
                      (SELECT sum(cost_usd) FROM chargeback WHERE provider IN ('openai', 'anthropic') AND month = ?)""",
            [month, month]).fetchone()
        click.echo(f"   The LiteLLM proxy's teams are charged their share of the OpenAI and Anthropic bills "
                   f"(via = demo-litellm): chargeback ${charged} = bills ${billed}"
                   f"{'' if charged == billed else '  MISMATCH'}")
        for title, sql in QUERIES:
            click.secho(f"\n== {title}", bold=True)
            click.echo(f"   spendwatch --config {cfg_path} sql \"{sql}\"")
            c, r = store.query(sql)
            click.echo(render(c, r, "table"), nl=False)
        findings = run_detectors(store, cfg, now)
    click.secho(f"\n== Detectors as of {now.isoformat(timespec='minutes')}: {len(findings)} finding(s)", bold=True)
    if findings:
        from sinks.console import render_text

        click.echo(render_text(findings))
    click.secho("\nThe store is yours to explore:", bold=True)
    click.echo(f"   spendwatch --config {cfg_path} sql \"select * from chargeback order by cost_usd desc limit 10\"")
    click.echo(f"   spendwatch --config {cfg_path} report chargeback --month {month} --by team --by model")
