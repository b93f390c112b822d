"""The dashboard's queries: the only SQL the web app runs, each on a read-only connection.

Why a module of its own: the read-only promise is easiest to check when every statement is in one file.
User input (filters, months, dimensions) never becomes SQL text: dimensions and months are looked up in
fixed tables below (unknown → `BadRequest`), and filter values are bound as parameters.

Money stays Decimal (DECIMAL(38,10) from DuckDB) until a template rounds it for display; pages carry the
exact value beside the rounded one (`<data value="…">`), so a test can hold every figure to the SQL answer.

Assumptions, named:
* Chart days, movers and breakdown dates are UTC days (as providers report them); budgets count in
  `[daemon] timezone`, as the budget detector and the digest do (their code is reused here).
* "Month to date" on the Overview is the UTC calendar month: exactly
  `select sum(cost_usd) from spend where ts >= date_trunc('month', now())` (the store's session is UTC).
* "Top movers this week" compare the last 7 complete UTC days with the 7 before, per provider and model.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from ..timeutil import UTC

CHART_DAYS = 90
MOVERS = 5
BREAKDOWN_ROWS = 1000
RECENT_ALERT_DAYS = 30

# Breakdown dimensions: URL name → (column label, SQL expression). The only way a name reaches SQL.
DIMENSIONS: dict[str, tuple[str, str]] = {
    "team": ("team", "coalesce(team, '(unallocated)')"),
    "project": ("project_id", "coalesce(project_id, '(none)')"),
    "model": ("model", "coalesce(model, '(none)')"),
    "key": ("api_key_id", "coalesce(api_key_id, '(none)')"),
    "user": ("user_id", "coalesce(user_id, '(none)')"),
    "provider": ("provider", "provider"),
    "source": ("source", "source"),
}


class BadRequest(ValueError):
    """A query string the pages cannot answer (unknown dimension, malformed date or month)."""


class Tracer:
    """Records every statement a page runs (the benchmark replays them straight in DuckDB)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any]]] = []


class _TracingConnection:
    """The DuckDB connection, with every `execute` recorded (shared code such as the digest's budget
    figures runs its statements through it too, so the benchmark replays all of them)."""

    def __init__(self, conn: Any, tracer: Tracer) -> None:
        self._conn = conn
        self._tracer = tracer

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        self._tracer.statements.append((sql, list(params or [])))
        return self._conn.execute(sql, params or [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class Reader:
    """A read-only connection that runs this module's statements (and can trace them)."""

    def __init__(self, store: Any, tracer: Tracer | None = None) -> None:
        self.store = store
        self.conn = _TracingConnection(store.conn, tracer) if tracer is not None else store.conn
        self.tracer = tracer

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        result: list[tuple[Any, ...]] = self.conn.execute(sql, params or []).fetchall()
        return result


@contextlib.contextmanager
def reader(config: Any, tracer: Tracer | None = None) -> Iterator[Reader]:
    """Open the store read-only for one request, as `spendwatch sql` does (retry a writer's lock with
    backoff up to [store] lock_timeout), and close it when the page is built."""
    from ..store import Store

    with Store.open_for(config, read_only=True) as store:
        yield Reader(store, tracer)


# ------------------------------------------------------------------------------------------- overview


@dataclass
class Overview:
    month_start: date
    month_total: Decimal | None
    month_by_provider: list[tuple[str, Decimal | None]]
    budgets: list[Any]  # digest.BudgetLine
    days: list[date]
    series: dict[str, list[Decimal]]
    movers: list[dict[str, Any]]
    movers_window: tuple[date, date, date]  # previous week start, this week start, this week end (exclusive)


def overview(r: Reader, config: Any, now: datetime) -> Overview:
    """Month to date, budgets with forecasts, 90 daily bars by provider, top movers.

    Why the page narrows `spend` first: every figure here looks at most 91 days back, and each query on
    the `spend` view re-does its reconciliation over the whole store. So the rows of the last 91 days
    (only the columns these queries and the budgets' `match` use) are copied once into a TEMP table of
    this request's connection, and a TEMP view `spend` over it shadows the real one for the rest of the
    request (the connection is closed with the page). Same rows, same exact sums, one scan instead of
    six; nothing is written to the store (temporary objects live in the connection's memory).
    """
    from zoneinfo import ZoneInfo

    from ..alerts import open_alerts
    from ..digest import budget_line
    from ..values import MATCH_COLUMNS

    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    # a day more than the chart: covers the UTC month, budget periods in any [daemon] timezone, the movers
    since = _instant(days[0] - timedelta(days=1))
    used = {"ts", "provider", "model", "cost_usd"} | {c for b in config.budgets for c in b.match if c in MATCH_COLUMNS}
    r.conn.execute(f"CREATE TEMP TABLE overview_spend AS SELECT {', '.join(sorted(used))} FROM spend WHERE ts >= ?",
                   [since])
    r.conn.execute("CREATE OR REPLACE TEMP VIEW spend AS SELECT * FROM overview_spend")

    by_provider = r.rows(
        "SELECT provider, sum(cost_usd) AS cost_usd FROM spend WHERE ts >= date_trunc('month', now()) "
        "GROUP BY provider ORDER BY cost_usd DESC NULLS LAST, provider")
    known = [v for _, v in by_provider if v is not None]
    # The sum of exact per-provider sums is the SQL sum of the whole (DECIMAL addition is exact).
    total = sum(known, Decimal(0)) if known else None
    tz = ZoneInfo(config.daemon.timezone)
    alerts = open_alerts(r.conn, config) if config.budgets else []
    budgets = [budget_line(r.conn, b, now, tz, alerts) for b in config.budgets]

    series: dict[str, list[Decimal]] = {}
    for d, p, v in r.rows(
            "SELECT CAST(timezone('UTC', ts) AS DATE) AS day, provider, sum(cost_usd) AS cost_usd FROM spend "
            "WHERE ts >= ? AND ts < ? GROUP BY ALL HAVING sum(cost_usd) IS NOT NULL",
            [_instant(days[0]), _instant(today + timedelta(days=1))]):
        series.setdefault(p, [Decimal(0)] * CHART_DAYS)[(d - days[0]).days] = v

    this_start, prev_start = today - timedelta(days=7), today - timedelta(days=14)
    movers = [dict(provider=p, model=m, this_week=a, last_week=b, change=a - b) for p, m, a, b in r.rows(
        """SELECT provider, coalesce(model, '(none)') AS model,
                  coalesce(sum(cost_usd) FILTER (WHERE ts >= ?), 0) AS this_week,
                  coalesce(sum(cost_usd) FILTER (WHERE ts < ?), 0) AS last_week
           FROM spend WHERE ts >= ? AND ts < ? AND cost_usd IS NOT NULL
           GROUP BY ALL HAVING this_week <> last_week
           ORDER BY abs(this_week - last_week) DESC, provider, model LIMIT ?""",
        [_instant(this_start), _instant(this_start), _instant(prev_start), _instant(today), MOVERS])]
    month_start = today.replace(day=1)
    return Overview(month_start, total, by_provider, budgets, days, dict(sorted(series.items())), movers,
                    (prev_start, this_start, today))


def _instant(d: date) -> datetime:
    return datetime.combine(d, time(0), UTC)


# ------------------------------------------------------------------------------------------ breakdown


@dataclass
class Breakdown:
    by: list[str]
    filters: dict[str, list[str]]
    since: date
    until: date  # exclusive
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: Decimal
    truncated: bool


def parse_day(value: str | None, name: str, default: date) -> date:
    if value is None or value == "":
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: not a date ({value[:40]!r}); use YYYY-MM-DD") from None


def parse_breakdown(params: Any, now: datetime) -> tuple[list[str], dict[str, list[str]], date, date]:
    """(by, filters, since, until) from the query string; unknown names are refused, not ignored."""
    known = set(DIMENSIONS) | {"by", "since", "until"}
    unknown = sorted(k for k in params.keys() if k not in known)
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:40]!r} (use by, since, until, {', '.join(DIMENSIONS)})")
    by = [b for b in params.getlist("by") if b != ""] or ["team"]
    for b in by:
        if b not in DIMENSIONS:
            raise BadRequest(f"by: unknown dimension {b[:40]!r} (use one of {', '.join(DIMENSIONS)})")
    by = list(dict.fromkeys(by))
    filters = {k: [v for v in params.getlist(k) if v != ""] for k in DIMENSIONS}
    filters = {k: v for k, v in filters.items() if v}
    today = now.astimezone(UTC).date()
    since = parse_day(params.get("since"), "since", today - timedelta(days=29))
    until = parse_day(params.get("until"), "until", today + timedelta(days=1))
    if until <= since:
        raise BadRequest("until must be after since")
    return by, filters, since, until


def breakdown(r: Reader, by: list[str], filters: dict[str, list[str]], since: date, until: date) -> Breakdown:
    names = [DIMENSIONS[b][0] for b in by]
    exprs = [f"{DIMENSIONS[b][1]} AS {DIMENSIONS[b][0]}" for b in by]
    where = ["ts >= ?", "ts < ?"]
    params: list[Any] = [_instant(since), _instant(until)]
    for dim, values in filters.items():
        where.append(f"{DIMENSIONS[dim][1]} IN ({', '.join('?' for _ in values)})")
        params.extend(values)
    rows = r.rows(
        f"""SELECT {', '.join(exprs)}, CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) AS cost_usd,
                   coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
                   coalesce(sum(requests), 0) AS requests
            FROM spend WHERE {' AND '.join(where)}
            GROUP BY ALL ORDER BY cost_usd DESC, {', '.join(names)}""", params)
    total = sum((row[len(by)] for row in rows), Decimal(0))
    return Breakdown(by, filters, since, until, names + ["cost_usd", "input_tokens", "output_tokens", "requests"],
                     rows[:BREAKDOWN_ROWS], total, len(rows) > BREAKDOWN_ROWS)


# --------------------------------------------------------------------------------------------- alerts


@dataclass
class AlertRow:
    alert_id: str
    detector: str
    severity: str
    state: str
    scope: dict[str, Any]
    period_start: datetime | None
    period_end: datetime | None
    observed: Decimal | None
    expected: Decimal | None
    threshold: Decimal | None
    message: str
    drivers: list[dict[str, Any]]
    first_seen: datetime | None
    last_seen: datetime | None
    resolved_at: datetime | None
    delivered_to: list[str]
    pending_deliveries: int
    last_delivery_error: str | None
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Alerts:
    open: list[AlertRow]
    recent: list[AlertRow]
    actions_view: bool  # the guardrails' `actions` view exists in this store
    actions_columns: list[str]
    actions: list[tuple[Any, ...]]


ALERT_COLUMNS = ("alert_id, detector, severity, state, scope, period_start, period_end, observed, expected, "
                 "threshold, message, drivers, first_seen, last_seen, resolved_at, delivered_to, "
                 "pending_deliveries, last_delivery_error")
SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


def _alert(row: tuple[Any, ...]) -> AlertRow:
    values = list(row)
    values[4] = _json(values[4], {})
    values[11] = _json(values[11], [])
    values[15] = list(values[15] or [])
    values[16] = int(values[16] or 0)
    return AlertRow(*values)


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def alerts(r: Reader, now: datetime) -> Alerts:
    open_rows = [_alert(x) for x in r.rows(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'open' ORDER BY {SEVERITY_ORDER}, last_seen DESC, alert_id")]
    recent = [_alert(x) for x in r.rows(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE state <> 'open' AND coalesce(resolved_at, last_seen) >= ? "
        "ORDER BY coalesce(resolved_at, last_seen) DESC, alert_id LIMIT 200",
        [now - timedelta(days=RECENT_ALERT_DAYS)])]
    # the guardrails' view exists in every migrated store; the section shows once an action was recorded
    has_actions = bool(r.rows("SELECT count(*) FROM duckdb_views() WHERE view_name = 'actions'")[0][0]) and bool(
        r.rows("SELECT count(*) FROM actions")[0][0])
    cols: list[str] = []
    acts: list[tuple[Any, ...]] = []
    if has_actions:
        cur = r.conn.execute("SELECT * FROM actions LIMIT 500")
        cols = [d[0] for d in cur.description]
        acts = cur.fetchall()
        if "alert_id" in cols:
            i = cols.index("alert_id")
            by_alert: dict[str, list[dict[str, Any]]] = {}
            for a in acts:
                by_alert.setdefault(a[i], []).append(dict(zip(cols, a, strict=True)))
            for row in open_rows + recent:
                row.actions = by_alert.get(row.alert_id, [])
    return Alerts(open_rows, recent, has_actions, cols, acts)


# ----------------------------------------------------------------------------------- sources, chargeback


def sources(r: Reader, config: Any) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """The `spendwatch status` sections, from the same function."""
    from ..reports import status_report

    sections: list[tuple[str, list[str], list[tuple[Any, ...]]]] = status_report(r.store, config)
    return sections


CHARGEBACK_BY = ("team", "project", "provider", "model", "api_key")


def parse_chargeback(params: Any, now: datetime) -> tuple[str, list[str]]:
    from ..errors import SpendwatchError
    from ..reports import month_bounds

    unknown = sorted(k for k in params.keys() if k not in ("month", "by"))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:40]!r} (use month, by)")
    month = params.get("month") or now.astimezone(UTC).strftime("%Y-%m")
    try:
        _, _, label = month_bounds(month, now)
    except SpendwatchError:
        raise BadRequest(f"month: not a month ({month[:40]!r}); use YYYY-MM") from None
    by = [b for b in params.getlist("by") if b != ""] or ["team"]
    for b in by:
        if b not in CHARGEBACK_BY:
            raise BadRequest(f"by: unknown dimension {b[:40]!r} (use one of {', '.join(CHARGEBACK_BY)})")
    return label, list(dict.fromkeys(by))


def chargeback(r: Reader, month: str, by: list[str], now: datetime
               ) -> tuple[list[str], list[tuple[Any, ...]], tuple[Any, ...]]:
    """`spendwatch report chargeback --month M --by …`: the same function, so the same figures."""
    from ..reports import chargeback_report

    return chargeback_report(r.store, month, by, now)


def safe_csv_cell(text: str) -> str:
    """Spreadsheet formula injection guard (OWASP): a text cell starting with = + - @ or a tab/CR is
    prefixed with a single quote, unless it is a plain number (money may be negative)."""
    if text and text[0] in "=+-@\t\r":
        try:
            Decimal(text)
            return text
        except ArithmeticError:
            return "'" + text
    return text


def chargeback_csv(cols: list[str], rows: list[tuple[Any, ...]]) -> str:
    """The rows exactly as `report chargeback --format csv` prints them, formula-injection safe."""
    import csv
    import io

    from ..output import text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in rows:
        w.writerow([safe_csv_cell(text(v)) for v in row])
    return buf.getvalue()
