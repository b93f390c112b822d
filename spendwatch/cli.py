"""The `spendwatch` command line. Heavy libraries (pandas, pyarrow, httpx, slack-sdk) are imported inside
commands so that `spendwatch --help` and `spendwatch sql` start fast.

Errors: a SpendwatchError is a user-facing problem, printed as one line per problem on stderr with exit
code 1 (click usage errors exit 2); `--debug` shows the traceback instead. Anything else is a bug and says
so.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .output import instant_option, output_option

QUIET_COMMANDS = {"sql", "report", "status", "check-config", "actions"}  # read-only: nothing to log, so skip the setup


class Ctx:
    """Global options, resolved lazily (a command that needs no config never reads one)."""

    def __init__(self, config_path: str | None, store_path: str | None, debug: bool) -> None:
        self.config_path = config_path
        self.store_path = store_path
        self.debug = debug
        self.log_level: str | None = None
        self._config: Any = None

    def config(self, *, required: bool = True) -> Any:
        from .config_path import find_config_path
        from .config_schema import minimal_config  # the schema alone: no validator, no plugins
        from .errors import ConfigError

        if self._config is None:
            try:
                path = find_config_path(self.config_path)
            except ConfigError:
                if self.store_path and not required:
                    self._config = minimal_config(self.store_path)  # no plugins: nothing configured uses one
                    return self._config
                raise
            from .app import load_config  # the plugin registries: only where a config file names plugins

            self._config = load_config(path).with_store(self.store_path)
        return self._config

    def reader(self, *, lean: bool = False) -> Any:
        """`lean`: plain SQL only (spendwatch.engine), for `sql`'s start-up time; then `--store` with no
        config file opens the store directly, as `minimal_config` would (no schema dataclasses built):
        Store.open's defaults are the minimal config's (no allocation rules, StoreConfig's lock wait; a
        test keeps them equal)."""
        from .store import Store

        if lean and self._config is None and self.store_path and not self._config_file_exists():
            return Store.open(self.store_path, read_only=True, lean=True)
        cfg = self.config(required=False)
        return Store.open_for(cfg, read_only=True, lean=lean)

    def _config_file_exists(self) -> bool:
        from .config_path import find_config_path
        from .errors import ConfigError

        try:
            find_config_path(self.config_path)
        except ConfigError:
            return False
        return True

    def writer(self) -> Any:
        from .store import Store

        cfg = self.config(required=False)
        return Store.open_for(cfg)


class SpendwatchGroup(click.Group):
    """Turns our exceptions into one-line errors at the single CLI boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import SpendwatchError

        try:
            return super().invoke(ctx)
        except SpendwatchError as exc:
            if _debug(ctx):
                raise
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(f"spendwatch: {line}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("spendwatch: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if _debug(ctx):
                raise
            click.echo(f"spendwatch: internal error: {type(exc).__name__}: {_redacted(str(exc))} "
                       "(run with --debug for the traceback, and please report it)", err=True)
            ctx.exit(70)


def _redacted(text: str) -> str:
    from .redact import redact

    return redact(text)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Ctx)
    return bool(obj and obj.debug)




@click.group(cls=SpendwatchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", metavar="PATH", envvar=None,
              help="Config file (else $SPENDWATCH_CONFIG, ./spendwatch.toml, /etc/spendwatch/config.toml).")
@click.option("--store", "store_path", metavar="PATH", help="Use this DuckDB store instead of [store] path.")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
              help="Log verbosity on stderr (default: [daemon] log_level, else warning for commands).")
@click.version_option(package_name="spendwatch")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, store_path: str | None, debug: bool,
         log_level: str | None) -> None:
    """spendwatch: collect LLM API usage and cost into DuckDB, detect budget breaches and anomalies, alert."""
    ctx.obj = Ctx(config_path, store_path, debug)
    ctx.obj.log_level = log_level  # explicit --log-level wins over [daemon] log_level in `run`
    if ctx.invoked_subcommand not in QUIET_COMMANDS or log_level or debug:
        from .logs import setup_logging

        setup_logging(log_level or ("debug" if debug else "warning"))


# ------------------------------------------------------------------------------------------------- sql
@main.command(context_settings={"ignore_unknown_options": True})  # a QUERY may start with a `--` comment
@click.argument("query")
@output_option()
@click.pass_obj
def sql(obj: Ctx, query: str, fmt: str) -> None:
    """Run a read-only SQL QUERY on the store (views: spend, daily_spend, chargeback, alerts)."""
    from .engine import duckdb_module
    from .errors import SpendwatchError
    from .output import render
    from .sqlguard import check_read_only, check_text, fence

    check_text(query)
    with obj.reader(lean=True) as store:
        duckdb = duckdb_module(lean=True)  # whatever opened the store: its Error is duckdb.Error
        check_read_only(query, store.conn)  # parsed by the store's connection: no second DuckDB instance
        fence(store.conn)
        try:
            cur = store.conn.execute(query)
            cols = [d[0] for d in cur.description] if cur.description else []
            rows = cur.fetchall()
        except duckdb.Error as exc:
            raise SpendwatchError(f"SQL error: {str(exc).splitlines()[0]}") from None
    click.echo(render(cols, rows, fmt), nl=False)


# ---------------------------------------------------------------------------------------------- import
@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, metavar="FORMAT",
              help="canonical, litellm, openai-costs-csv, anthropic-costs-csv, gcp-billing, aws-cur, focus, azure-costs, "
                   "or auto (recognise each file by its header).")
@click.option("--source", metavar="NAME", help="Source name to store the rows under (default: per format).")
@click.pass_obj
def import_(obj: Ctx, files: tuple[str, ...], fmt: str, source: str | None) -> None:
    """Load export FILES into the store; each file is one transaction (all or nothing)."""
    from collector import FORMATS

    from .errors import SpendwatchError
    from .findings import money_str

    try:
        importer = FORMATS.get(fmt)()
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--format") from None
    failed = 0
    with obj.writer() as store:
        for path in files:
            try:
                results = importer.import_file(store, path, source=source)
            except SpendwatchError as exc:
                failed += 1
                click.echo(f"spendwatch: {exc}", err=True)
                continue
            for r in results if isinstance(results, list) else [results]:
                span = f" {r.window.start.date()}..{r.window.end.date()}" if r.window else ""
                click.echo(f"{r.path}: {r.rows} rows, ${money_str(r.cost_usd)} into source {r.source}{span}"
                           + (f" (format {r.format})" if r.format != fmt else ""))
    if failed:
        sys.exit(1)


# --------------------------------------------------------------------------------------------- collect
@main.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--since", callback=instant_option, metavar="T", help="Backfill from T (inclusive), per UTC day.")
@click.option("--until", callback=instant_option, metavar="T", help="Up to T (exclusive); default now.")
@click.pass_obj
def collect(obj: Ctx, sources: tuple[str, ...], since: Any, until: Any) -> None:
    """One collection pass now: pull each source's revision window (or backfill with --since)."""
    from .collect import collect_all

    cfg = obj.config()
    if since and until and until <= since:
        raise click.BadParameter("--until must be after --since")
    outcomes = collect_all(cfg, list(sources), since=since, until=until, progress=True)
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        if o.ok:
            click.echo(f"{o.source}: ok, {o.rows} rows in {o.windows} window(s)")
            for note in o.notes:
                click.echo(f"{o.source}: note: {note}")
        else:
            click.echo(f"spendwatch: {o.error}", err=True)
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------------------------------------- detect
@main.command()
@click.option("--at", callback=instant_option, metavar="T", help="Judge as of T (default now).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of findings.")
@click.option("--no-send", is_flag=True, help="Only print; do not deliver alerts to sinks.")
@click.pass_obj
def detect(obj: Ctx, at: Any, as_json: bool, no_send: bool) -> None:
    """Run every detector as of --at and deliver new alerts (unless --no-send)."""
    from .alerts import deliver
    from .detect import run_detectors
    from .timeutil import utcnow

    cfg = obj.config()
    now = at or utcnow()
    with obj.reader() as store:
        findings = run_detectors(store, cfg, now)
    if as_json:
        click.echo(json.dumps([f.to_json() for f in findings], indent=2, sort_keys=True))
    else:
        from sinks.console import render_text

        click.echo(render_text(findings, cfg) if findings else "no findings")
    if not no_send:
        problems = deliver(cfg, findings, now)
        for p in problems:
            click.echo(f"spendwatch: {p}", err=True)
        if problems:
            sys.exit(1)


@main.command()
@click.option("--send", is_flag=True, help="Deliver it to every sink with `digest` on (else only print it).")
@click.option("--at", callback=instant_option, metavar="T", help="As of T (default now): the digest covers the day before.")
@click.option("--chart", "chart_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="Also write the 30-day PNG chart to PATH.")
@click.option("--force", is_flag=True, help="With --send: send again to sinks that already had this day's digest.")
@click.pass_obj
def digest(obj: Ctx, send: bool, at: Any, chart_path: str | None, force: bool) -> None:
    """The daily digest: yesterday's spend, budgets to date, open alerts, a 30-day chart."""
    from .digest import run_digest
    from .timeutil import utcnow

    cfg = obj.config()
    result = run_digest(cfg, at or utcnow(), send, force=force)
    if chart_path and result.digest.chart_png:
        with open(chart_path, "wb") as fh:
            fh.write(result.digest.chart_png)
    if not send:
        click.echo(result.digest.text)
        return
    for name in result.sent:
        click.echo(f"digest sent to {name}")
    for name in result.already_sent:
        click.echo(f"digest for {result.digest.day} already sent to {name} (--force sends it again)")
    for p in result.problems:
        click.echo(f"spendwatch: {p}", err=True)
    if result.problems:
        sys.exit(1)


@main.command()
@click.option("--since", callback=instant_option, required=True, metavar="T", help="First step starts here.")
@click.option("--until", callback=instant_option, required=True, metavar="T", help="Last step ends here (exclusive).")
@click.option("--step", type=click.Choice(["1h", "1d"]), default="1d", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON array of findings, each with `at`.")
@click.pass_obj
def backtest(obj: Ctx, since: Any, until: Any, step: str, as_json: bool) -> None:
    """Replay the detectors over stored history as of each step's end; print what would have fired."""
    from .detect import backtest as run_backtest
    from .timeutil import parse_duration

    cfg = obj.config()
    if until <= since:
        raise click.BadParameter("--until must be after --since")
    with obj.reader() as store:
        results = run_backtest(store, cfg, since, until, parse_duration(step))
    if as_json:
        click.echo(json.dumps([dict(f.to_json(), at=at.isoformat().replace("+00:00", "Z")) for at, f in results],
                              indent=2, sort_keys=True))
    else:
        for at, f in results:
            click.echo(f"{at.isoformat().replace('+00:00', 'Z')}  [{f.severity}] {f.detector}: {f.message}")
        click.echo(f"{len(results)} finding(s)")


# ---------------------------------------------------------------------------------------------- report
@main.group()
def report() -> None:
    """Prepared reports."""


@report.command()
@click.option("--month", metavar="YYYY-MM", help="Calendar month in UTC (default: the previous month).")
@click.option("--by", "by", multiple=True, type=click.Choice(["team", "project", "provider", "model", "api_key"]),
              help="Group by (repeatable, in order; default: team).")
@output_option()
@click.pass_obj
def chargeback(obj: Ctx, month: str | None, by: tuple[str, ...], fmt: str) -> None:
    """Who spent what: cost and tokens per team (or project/provider/model/api_key) for one month."""
    from .output import render
    from .reports import chargeback_report

    with obj.reader() as store:
        cols, rows, footer = chargeback_report(store, month, list(by) or ["team"])
    click.echo(render(cols, rows, fmt, footer=footer if fmt == "table" else None), nl=False)


# ---------------------------------------------------------------------------------------------- status
@main.command()
@output_option()
@click.pass_obj
def status(obj: Ctx, fmt: str) -> None:
    """Per source: last success, last error, rows, data complete through; unpriced models; sink errors."""
    from .output import render
    from .reports import status_report

    cfg = obj.config(required=False)
    with obj.reader() as store:
        sections = status_report(store, cfg)
    if fmt == "json":
        from .output import cell

        click.echo(json.dumps({name: [dict(zip(cols, map(cell, r), strict=False)) for r in rows]
                               for name, cols, rows in sections}, indent=2))
        return
    for i, (name, cols, rows) in enumerate(sections):
        if fmt == "table":
            click.echo(("\n" if i else "") + f"{name}:")
        if rows or fmt == "table":
            click.echo(render(cols, rows, fmt), nl=False)


# ----------------------------------------------------------------------------------------- check-config
@main.command("check-config")
@click.pass_obj
def check_config(obj: Ctx) -> None:
    """Validate the config and that every secret is present; print the plan. Exit 0 if all is well."""
    from .plan import describe_plan

    cfg = obj.config()
    lines, missing = describe_plan(cfg)
    for line in lines:
        click.echo(line)
    for m in missing:
        click.echo(f"spendwatch: {m}", err=True)
    if missing:
        sys.exit(1)


# ------------------------------------------------------------------------------------------------- run
@main.command()
@click.pass_obj
def run(obj: Ctx) -> None:
    """Run the daemon in the foreground (what systemd starts)."""
    from .daemon import run_daemon

    sys.exit(run_daemon(obj.config(), config_path=obj.config_path, store_path=obj.store_path,
                        log_level=obj.log_level or ("debug" if obj.debug else None)))


# ------------------------------------------------------------------------------------------------- web
@main.command()
@click.option("--listen", metavar="HOST:PORT",
              help="Address to serve on (default: [web] listen, else 127.0.0.1:8787). A non-loopback address "
                   "needs [web] token_env.")
@click.pass_obj
def web(obj: Ctx, listen: str | None) -> None:
    """Serve the read-only web dashboard: Overview, Breakdown, Alerts, Sources, Chargeback."""
    from .web.serve import run_web

    sys.exit(run_web(obj.config(required=False), listen, lambda line: click.echo(line, err=True)))


# ------------------------------------------------------------------------------------------------ demo
@main.command()
@click.option("--dir", "directory", default="spendwatch-demo", show_default=True,
              help="Where to leave the demo config and store.")
@click.pass_obj
def demo(obj: Ctx, directory: str) -> None:
    """The whole pipeline on bundled data: no keys, no network; leaves a store to query."""
    from .demo import run_demo

    run_demo(directory)


# -------------------------------------------------------------------------------------- export, compact
from .cli_export import compact_cmd, export_cmd  # noqa: E402  (their own module: the analyst surface)

main.add_command(export_cmd)
main.add_command(compact_cmd)


# --------------------------------------------------------------------------------------------- actions
@main.group("actions", invoke_without_command=True)
@output_option()
@click.pass_context
def actions_(ctx: click.Context, fmt: str) -> None:
    """Guardrail actions taken or planned ([[actions]]): list them; `actions undo ID` restores one."""
    if ctx.invoked_subcommand is not None:
        return
    from .output import render

    with ctx.obj.reader() as store:
        cols, rows = store.query("SELECT * FROM actions ORDER BY id")
    click.echo(render(cols, rows, fmt), nl=False)


@actions_.command("undo")
@click.argument("action_id", type=int)
@click.pass_obj
def actions_undo(obj: Ctx, action_id: int) -> None:
    """Restore what action ACTION_ID changed (re-enable the key, unblock the team, restore the limits)."""
    from .actions import undo

    click.echo(undo(obj.config(), action_id))


def entry() -> None:
    main(prog_name="spendwatch")


if __name__ == "__main__":
    entry()
