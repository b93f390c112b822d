"""`spendwatch export` and `spendwatch compact`: registered on the main group by spendwatch/cli.py.

Kept apart from cli.py so the analyst surface is one module; both commands use the global options
(`--config`, `--store`) through the same Ctx object as every other command.
"""

from __future__ import annotations

from typing import Any

import click

from .output import instant_option


def _duration(_ctx: Any, _param: Any, value: str | None) -> Any:
    if value is None:
        return None
    from .timeutil import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


@click.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["focus", "parquet", "csv"]),
              help="focus: FOCUS 1.2 cost rows (Parquet, or CSV if --out ends in .csv); parquet: a Hive-partitioned "
                   "directory month=YYYY-MM/provider=NAME, updated incrementally; csv: one file, every spend column.")
@click.option("--since", callback=instant_option, metavar="T", help="Rows from T (inclusive; parquet: its whole month).")
@click.option("--until", callback=instant_option, metavar="T", help="Rows before T (exclusive; parquet: its whole month).")
@click.option("--out", "out", required=True, metavar="PATH", help="File (focus, csv) or directory (parquet) to write.")
@click.pass_obj
def export_cmd(obj: Any, fmt: str, since: Any, until: Any, out: str) -> None:
    """Write the spend view to files for notebooks, data lakes and FinOps tools (read-only on the store)."""
    from .export import export
    from .findings import money_str

    if since and until and until <= since:
        raise click.BadParameter("--until must be after --since")
    with obj.reader() as store:
        res = export(store.conn, fmt, out, since, until)
        total = None
        if fmt == "focus":
            total = store.conn.execute(f"SELECT sum(BilledCost) FROM read_parquet('{res.path}')").fetchone()[0] \
                if not res.path.endswith(".csv") else None
    if fmt == "parquet":
        click.echo(f"{res.path}: {res.rows} rows in {len(res.written) + len(res.unchanged)} partition(s); "
                   f"rewritten {len(res.written)}, unchanged {len(res.unchanged)}, removed {len(res.removed)}")
        for p in res.written:
            click.echo(f"  wrote {p}")
        for p in res.removed:
            click.echo(f"  removed {p}")
    else:
        click.echo(f"{res.path}: {res.rows} rows" + (f", BilledCost ${money_str(total)}" if total is not None else ""))
    if res.skipped_unpriced:
        click.echo(f"spendwatch: note: {res.skipped_unpriced} row(s) with no known price left out of the FOCUS file "
                   "(their cost is unknown, not $0; see `spendwatch status`)", err=True)


@click.command("compact")
@click.option("--keep", callback=_duration, metavar="DURATION",
              help='Keep request rows this recent (default: [store] keep_requests, e.g. "30d").')
@click.option("--no-rewrite", is_flag=True, help="Only roll up; do not rewrite the file to give space back.")
@click.option("--now", callback=instant_option, metavar="T", hidden=True, help="Pretend it is T (tests, benchmarks).")
@click.pass_obj
def compact_cmd(obj: Any, keep: Any, no_rewrite: bool, now: Any) -> None:
    """Roll request rows older than keep_requests into exact hourly cells and shrink the store file."""
    from .compact import compact
    from .timeutil import format_duration, utcnow

    cfg = obj.config(required=False)
    keep = keep or getattr(cfg.store, "keep_requests", None)
    if keep is None:
        raise click.UsageError("no retention given: set [store] keep_requests in the config or pass --keep")
    with obj.writer() as store:
        r = compact(store, keep, now or utcnow(), rewrite=not no_rewrite)
    click.echo(f"rolled {r.requests_rolled} request rows before {r.cutoff.isoformat().replace('+00:00', 'Z')} "
               f"(older than {format_duration(keep)}) into {r.cells_written} hourly cells; "
               f"store {_mb(r.bytes_before)} -> {_mb(r.bytes_after)}")
