"""Prepared reports on the stable views: chargeback and status."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import SpendwatchError
from .timeutil import UTC, utcnow

BY_COLUMNS = {
    "team": ("team", "coalesce(team, '(unallocated)')"),
    "project": ("project_id", "coalesce(project_id, '(none)')"),
    "provider": ("provider", "provider"),
    "model": ("model", "coalesce(model, '(none)')"),
    "api_key": ("api_key_id", "coalesce(api_key_id, '(none)')"),
}


def month_bounds(month: str | None, now: datetime | None = None) -> tuple[datetime, datetime, str]:
    """[first instant, first instant of next month) in UTC; default: the previous calendar month."""
    if month is None:
        now = now or utcnow()
        y, m = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    else:
        try:
            y, m = (int(x) for x in month.split("-"))
            if not (1 <= m <= 12 and len(month) == 7):
                raise ValueError
        except ValueError:
            raise SpendwatchError(f'--month: not a month ("{month}"); use YYYY-MM') from None
        if not 2000 <= y <= 2099:  # spendwatch/limits.py: the supported time range
            raise SpendwatchError(f'--month: "{month}" is outside the supported time range (2000-01 to 2099-12)')
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return start, end, f"{y:04d}-{m:02d}"


def chargeback_report(store: Any, month: str | None, by: list[str], now: datetime | None = None
                      ) -> tuple[list[str], list[tuple[Any, ...]], tuple[Any, ...]]:
    start, end, label = month_bounds(month, now)
    names = [BY_COLUMNS[b][0] for b in by]
    exprs = [f"{BY_COLUMNS[b][1]} AS {BY_COLUMNS[b][0]}" for b in by]
    sql = f"""
        SELECT {', '.join(exprs)}, CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) AS cost_usd,
               coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(output_tokens), 0) AS output_tokens,
               coalesce(sum(requests), 0) AS requests
        FROM spend WHERE ts >= ? AND ts < ?
        GROUP BY ALL ORDER BY cost_usd DESC, {', '.join(names)}
    """
    rows = store.conn.execute(sql, [start, end]).fetchall()
    total = sum((r[len(by)] for r in rows), Decimal(0))
    out = []
    for r in rows:
        share = (r[len(by)] / total * 100).quantize(Decimal("0.1")) if total else Decimal("0.0")
        out.append((label,) + tuple(r) + (f"{share}%",))
    cols = ["month"] + names + ["cost_usd", "input_tokens", "output_tokens", "requests", "share"]
    footer = ("TOTAL",) + ("",) * len(by) + (total, sum(int(r[len(by) + 1]) for r in rows),
                                            sum(int(r[len(by) + 2]) for r in rows),
                                            sum(int(r[len(by) + 3]) for r in rows), "100.0%" if rows else "")
    return cols, out, footer


def spend_month_to_date(conn: Any, config: Any, now: datetime | None = None
                        ) -> tuple[datetime, list[tuple[str, Decimal]]]:
    """(month start, [(provider, USD)]) for the calendar month of `now` in [daemon] timezone (as budgets
    count it). Shared by `status` and the daemon's metrics so both show the same figures."""
    from zoneinfo import ZoneInfo

    now = now or utcnow()
    local = now.astimezone(ZoneInfo(config.daemon.timezone))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = conn.execute("SELECT provider, sum(cost_usd) FROM spend WHERE ts >= ? AND ts < ? AND cost_usd IS NOT NULL "
                        "GROUP BY provider ORDER BY provider", [start, now]).fetchall()
    return start, [(p, v) for p, v in rows]


def status_report(store: Any, config: Any) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    conn = store.conn
    configured = [(s.name, s.type) for s in config.sources]
    src_rows = conn.execute("""
        WITH counts AS (SELECT source, kind, count(*) AS n FROM records GROUP BY ALL)
        SELECT coalesce(s.source, c.source) AS source, coalesce(s.kind, c.kind) AS kind, s.last_success,
               s.last_error_at, s.last_error, coalesce(s.consecutive_failures, 0) AS failures,
               coalesce(c.n, 0) AS rows, s.complete_through
        FROM sync_state s FULL OUTER JOIN counts c ON s.source = c.source AND s.kind = c.kind
        ORDER BY 1, 2
    """).fetchall()
    seen = {r[0] for r in src_rows}
    rows = [r for r in src_rows]
    for name, _typ in configured:
        if name not in seen:
            rows.append((name, "-", None, None, "never collected", 0, 0, None))
    sources = ("sources", ["source", "kind", "last_success", "last_error_at", "last_error", "failures", "rows",
                           "complete_through"], rows)
    unpriced = ("unpriced models (tokens without a price: their cost is unknown, not $0)",
                ["provider", "model", "source", "input_tokens", "output_tokens", "rows", "first_seen", "last_seen"],
                conn.execute("""
        SELECT provider, coalesce(model, '(none)'), source, sum(coalesce(input_tokens, 0)),
               sum(coalesce(output_tokens, 0)), count(*), min(ts), max(ts)
        FROM spend
        WHERE record_type = 'usage' AND cost_usd IS NULL
          AND coalesce(input_tokens, 0) + coalesce(output_tokens, 0) > 0
        GROUP BY ALL ORDER BY 4 + 5 DESC, 1, 2
    """).fetchall())
    sections = [sources, unpriced]
    from .attribution import status_sections

    sections += status_sections(conn, config)
    broken = conn.execute("SELECT path, format, source, error, imported_at FROM imported_files "
                          "WHERE error IS NOT NULL ORDER BY imported_at DESC").fetchall()
    if broken:
        sections.append(("import errors", ["path", "format", "source", "error", "at"], broken))
    extra = conn.execute("""
        SELECT sink, count(*) FILTER (WHERE error_kind IS DISTINCT FROM 'expired') AS pending,
               count(*) FILTER (WHERE error_kind = 'expired') AS expired,
               arg_max(error_kind, coalesce(last_attempt_at, queued_at)) AS error_kind,
               arg_max(last_error, coalesce(last_attempt_at, queued_at)) AS last_error,
               max(last_attempt_at) AS last_attempt_at, min(queued_at) AS oldest_queued
        FROM alert_deliveries WHERE delivered_at IS NULL GROUP BY sink ORDER BY sink
    """).fetchall()
    if extra:
        sections.append(("sinks with undelivered alerts (error_kind permanent: fix the sink's config)",
                         ["sink", "pending", "expired", "error_kind", "last_error", "last_attempt_at",
                          "oldest_queued"], extra))
    start, mtd = spend_month_to_date(conn, config)
    if mtd:
        sections.append(("spend this month (known prices only)", ["provider", "since", "cost_usd"],
                         [(p, start, v) for p, v in mtd]))
    return sections
