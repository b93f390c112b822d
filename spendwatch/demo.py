"""`spendwatch demo`: the whole pipeline on bundled data with no keys and no network.

This first version loads the bundled dataset through the real canonical importer, then shows the
chargeback report, a few queries and whatever the registered detectors find (printed by the console
sink, nothing sent anywhere). It leaves the config and the store in `--dir` to explore with
`spendwatch --config DIR/spendwatch.toml sql "..."`.
"""

from __future__ import annotations

from pathlib import Path

import click

from .timeutil import utcnow

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


def run_demo(directory: str) -> None:
    from collector import FORMATS

    from .config import load_config
    from .demo_data import demo_config, demo_rows, write_canonical_csv
    from .detect import run_detectors
    from .output import render
    from .reports import chargeback_report
    from .store import Store

    out = Path(directory).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "spend.duckdb"
    for stale in (store_path, Path(str(store_path) + ".wal")):
        stale.unlink(missing_ok=True)
    cfg_path = out / "spendwatch.toml"
    cfg_path.write_text(demo_config(str(store_path)))
    cfg = load_config(str(cfg_path))
    now = utcnow()
    csv_path = out / "demo-usage.csv"
    n = write_canonical_csv(str(csv_path), demo_rows(now))
    click.secho(f"== spendwatch demo: {n} hourly usage rows across 4 providers, 60 days to {now.date()}", bold=True)
    with Store.open(str(store_path), allocation=cfg.allocation) as store:
        for r in FORMATS.get("canonical")().import_file(store, str(csv_path)):
            click.echo(f"imported {r.rows:>6} rows  ${r.cost_usd:,.2f}  source {r.source}")
        # The demo's OpenAI budget sits just under this month's spend so that its breach shows (assumption:
        # the demo is about seeing alerts, not about a realistic budget figure).
        mtd = store.conn.execute("SELECT sum(cost_usd) FROM spend WHERE provider = 'openai' AND ts >= ?",
                                 [now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)]).fetchone()[0]
    if mtd:
        cfg_path.write_text(demo_config(str(store_path), openai_budget=f"{(mtd * 95 / 100).quantize(1)}.00"))
        cfg = load_config(str(cfg_path))
    with Store.open(str(store_path), read_only=True, allocation=cfg.allocation) as store:
        month = now.strftime("%Y-%m")
        click.secho(f"\n== Chargeback {month} (month to date) by team and provider", bold=True)
        cols, rows, footer = chargeback_report(store, month, ["team", "provider"], now=now)
        click.echo(render(cols, rows, "table", footer=footer), nl=False)
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
