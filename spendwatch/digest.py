"""The daily digest: yesterday's spend, month-to-date against budgets, open alerts, and a 30-day chart.

`run_digest(config, now, send)` builds it from a read-only connection (closed before anything is sent)
and, with `send`, hands it to every sink whose `digest` option is on (the daemon calls it at
`[daemon] digest_at`; `spendwatch digest --send` runs it by hand). Each sink renders it its own way: email
with the PNG inline (Content-ID), Slack with the PNG uploaded when it has a bot token, webhooks and
Slack incoming webhooks with a text sparkline (they cannot carry files), the console as text.

Assumptions, named:
* Days are UTC days, as the providers report them (`daily_spend.day`); only "which day is yesterday" is
  decided in `[daemon] timezone` (the digest goes out in the morning of that zone).
* Budget periods are calendar-aligned in `[daemon] timezone`, like the budget detector's.
* The forecast is the budget detector's projection when an open forecast alert carries one; otherwise the
  pace of the period's complete days so far (spent ÷ complete days × days in the period). No forecast
  before the first complete day.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .alerts import open_alerts, register_secrets
from .chart import render_chart
from .config import Config
from .contracts import supports_digest
from .delivery import fan_out, option
from .findings import money_str
from .notice import Notice, headline, percent, usd, usd_cents
from .redact import redact
from .store import Store
from .timeutil import UTC, utcnow
from .views import match_sql

log = logging.getLogger("spendwatch.digest")
SPARK = "▁▂▃▄▅▆▇█"
CHART_DAYS = 30
TOP = 5


@dataclass(frozen=True)
class BudgetLine:
    name: str
    period: str
    amount: Decimal
    spent: Decimal
    start: date
    forecast: Decimal | None = None
    forecast_basis: str = ""  # "detector" | "pace" | ""

    def text(self) -> str:
        line = f"{self.name} ({self.period} from {self.start.isoformat()}): {usd_cents(self.spent)} of " \
               f"{usd_cents(self.amount)} ({percent(self.spent, self.amount)})"
        if self.forecast is not None:
            how = "budget detector" if self.forecast_basis == "detector" else "pace so far"
            line += f", forecast {usd_cents(self.forecast)} ({percent(self.forecast, self.amount)}, {how})"
        return line


@dataclass
class Digest:
    day: date                      # "yesterday"
    generated_at: datetime
    timezone: str
    total: Decimal
    by_provider: list[tuple[str, Decimal]]
    top_models: list[tuple[str, str, Decimal]]
    top_teams: list[tuple[str, Decimal]]
    budgets: list[BudgetLine]
    open_alerts: list[Notice]
    days: list[date]
    series: dict[str, list[Decimal]]  # provider → cost per day of `days`
    chart_png: bytes | None = None
    chart_filename: str = "spendwatch-daily-spend-30d.png"
    problems: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"LLM spend digest for {self.day.strftime('%a %d %b %Y')}: {usd(self.total)}"

    @property
    def chart_title(self) -> str:
        return (f"Daily LLM spend by provider (USD), {self.days[0].strftime('%d %b')} – "
                f"{self.days[-1].strftime('%d %b %Y')}, UTC days")

    def sections(self) -> list[tuple[str, list[str]]]:
        width = max([len(p) for p, _ in self.by_provider] + [8])
        yesterday = [f"{p:<{width}}  {usd_cents(v):>12}" for p, v in self.by_provider]
        if self.by_provider:
            yesterday.append(f"{'total':<{width}}  {usd_cents(self.total):>12}")
        models = [f"{p} {m}: {usd_cents(v)}" for p, m, v in self.top_models]
        teams = [f"{t}: {usd_cents(v)}" for t, v in self.top_teams]
        budgets = [b.text() for b in self.budgets]
        alerts = [f"[{n.severity.upper()}] {headline(n)} (since {n.first_seen.strftime('%Y-%m-%d')})"
                  if n.first_seen else f"[{n.severity.upper()}] {headline(n)}" for n in self.open_alerts]
        alerts = [line for n, text in zip(self.open_alerts, alerts, strict=False)
                  for line in [text] + [f"  action: {a}" for a in getattr(n, "actions", ())]]
        return [(f"Yesterday ({self.day.isoformat()}, UTC) by provider", yesterday),
                ("Top models yesterday", models), ("Top teams yesterday", teams),
                ("Budgets to date", budgets), (f"Open alerts ({len(self.open_alerts)})", alerts)]

    @property
    def sparkline_lines(self) -> list[str]:
        if not self.days:
            return []
        totals = [sum((s[i] for s in self.series.values()), Decimal(0)) for i in range(len(self.days))]
        width = max([len(p) for p in self.series] + [5])
        lines = [f"{'total':<{width}} {sparkline(totals)} max {usd(max(totals))}/day"]
        for p, values in sorted(self.series.items(), key=lambda kv: -sum(kv[1], Decimal(0)))[:4]:
            lines.append(f"{p:<{width}} {sparkline(values)} max {usd(max(values))}/day")
        lines.append(f"{'':<{width}} {self.days[0].strftime('%d %b')}{' ' * max(1, len(self.days) - 12)}"
                     f"{self.days[-1].strftime('%d %b')}")
        return lines

    @property
    def text(self) -> str:
        out = [self.title, ""]
        for title, lines in self.sections():
            out.append(f"{title}:")
            out.extend(f"  {x}" for x in lines) if lines else out.append("  none")
            out.append("")
        out.append(f"Last {len(self.days)} days (daily spend, UTC):")
        out.extend(f"  {x}" for x in self.sparkline_lines)
        return "\n".join(out).rstrip()

    def to_json(self) -> dict[str, Any]:

        return {
            "day": self.day.isoformat(), "title": self.title, "total": money_str(self.total),
            "by_provider": [{"provider": p, "cost_usd": money_str(v)} for p, v in self.by_provider],
            "top_models": [{"provider": p, "model": m, "cost_usd": money_str(v)} for p, m, v in self.top_models],
            "top_teams": [{"team": t, "cost_usd": money_str(v)} for t, v in self.top_teams],
            "budgets": [{"name": b.name, "period": b.period, "start": b.start.isoformat(),
                         "amount": money_str(b.amount), "spent": money_str(b.spent),
                         "forecast": money_str(b.forecast), "forecast_basis": b.forecast_basis or None}
                        for b in self.budgets],
            "open_alerts": [n.to_json() for n in self.open_alerts],
            "daily": {"days": [d.isoformat() for d in self.days],
                      "cost_usd": {p: [money_str(v) for v in vs] for p, vs in self.series.items()}},
            "sparkline": self.sparkline_lines,
        }


def sparkline(values: list[Decimal]) -> str:
    """One character per value, scaled to the largest (exact Decimal arithmetic)."""
    top = max(values, default=Decimal(0))
    if top <= 0:
        return SPARK[0] * len(values)
    last = len(SPARK) - 1
    return "".join(SPARK[int((v / top * last).to_integral_value(rounding=ROUND_HALF_UP))] if v > 0 else " "
                   for v in values)


# ------------------------------------------------------------------------------------------- building


def build_digest(store: Any, config: Config, now: datetime, *, chart: bool = True) -> Digest:
    tz = ZoneInfo(config.daemon.timezone)
    today = now.astimezone(tz).date()
    day = today - timedelta(days=1)
    conn = store.conn
    by_provider = [(p, v) for p, v in conn.execute(
        "SELECT provider, CAST(sum(cost_usd) AS DECIMAL(38, 10)) FROM daily_spend WHERE day = ? "
        "GROUP BY provider HAVING sum(cost_usd) IS NOT NULL ORDER BY 2 DESC, 1", [day]).fetchall()]
    total = sum((v for _, v in by_provider), Decimal(0))
    top_models = [(p, m, v) for p, m, v in conn.execute(
        "SELECT provider, coalesce(model, '(no model)'), CAST(sum(cost_usd) AS DECIMAL(38, 10)) FROM daily_spend "
        "WHERE day = ? GROUP BY ALL HAVING sum(cost_usd) > 0 ORDER BY 3 DESC, 1, 2 LIMIT ?", [day, TOP]).fetchall()]
    top_teams = [(t, v) for t, v in conn.execute(
        "SELECT coalesce(team, '(unallocated)'), CAST(sum(cost_usd) AS DECIMAL(38, 10)) FROM daily_spend "
        "WHERE day = ? GROUP BY ALL HAVING sum(cost_usd) > 0 ORDER BY 2 DESC, 1 LIMIT ?", [day, TOP]).fetchall()]
    alerts = open_alerts(conn, config)
    budgets = [budget_line(conn, b, now, tz, alerts) for b in config.budgets]
    days = [day - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    series: dict[str, list[Decimal]] = {}
    for d, p, v in conn.execute(
            "SELECT day, provider, CAST(sum(cost_usd) AS DECIMAL(38, 10)) FROM daily_spend "
            "WHERE day BETWEEN ? AND ? GROUP BY ALL HAVING sum(cost_usd) IS NOT NULL", [days[0], days[-1]]).fetchall():
        series.setdefault(p, [Decimal(0)] * CHART_DAYS)[(d - days[0]).days] = v
    digest = Digest(day=day, generated_at=now, timezone=config.daemon.timezone, total=total, by_provider=by_provider,
                    top_models=top_models, top_teams=top_teams, budgets=budgets, open_alerts=alerts, days=days,
                    series=dict(sorted(series.items())))
    if chart:

        digest.chart_png = render_chart(digest.days, digest.series, digest.chart_title)
    return digest


def period_start(now: datetime, period: str, tz: ZoneInfo) -> date:
    local = now.astimezone(tz).date()
    if period == "day":
        return local
    if period == "week":
        return local - timedelta(days=local.weekday())
    return local.replace(day=1)


def period_days(start: date, period: str) -> int:
    if period == "day":
        return 1
    if period == "week":
        return 7
    return calendar.monthrange(start.year, start.month)[1]


def budget_line(conn: Any, b: Any, now: datetime, tz: ZoneInfo, alerts: list[Any]) -> BudgetLine:

    start = period_start(now, b.period, tz)
    start_utc = datetime.combine(start, time(0), tz).astimezone(UTC)
    spent = conn.execute(f"SELECT CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) FROM spend "
                         f"WHERE {match_sql(b.match)} AND ts >= ? AND ts < ?", [start_utc, now]).fetchone()[0]
    for n in alerts:  # the budget detector's projection, when it has raised one
        if n.detector == "budget" and n.scope.get("budget") == b.name and n.scope.get("signal") == "forecast" \
                and n.expected is not None:
            return BudgetLine(b.name, b.period, b.amount, spent, start, n.expected, "detector")
    today_utc = datetime.combine(now.astimezone(tz).date(), time(0), tz).astimezone(UTC)
    complete = (now.astimezone(tz).date() - start).days
    if b.period == "day" or complete < 1:
        return BudgetLine(b.name, b.period, b.amount, spent, start)
    done = conn.execute(f"SELECT CAST(coalesce(sum(cost_usd), 0) AS DECIMAL(38, 10)) FROM spend "
                        f"WHERE {match_sql(b.match)} AND ts >= ? AND ts < ?", [start_utc, today_utc]).fetchone()[0]
    forecast = (done / complete * period_days(start, b.period)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return BudgetLine(b.name, b.period, b.amount, spent, start, max(forecast, spent), "pace")


# -------------------------------------------------------------------------------------------- running


@dataclass
class DigestRun:
    digest: Digest
    sent: list[str]
    problems: list[str]
    already_sent: list[str] = field(default_factory=list)  # sinks that had this day's digest (not resent)


def run_digest(config: Config, now: datetime, send: bool, *, chart: bool = True, force: bool = False) -> DigestRun:
    """Build the digest from a read-only connection; with `send`, deliver it to every sink whose `digest`
    option is on, each in its own thread, retried like alerts. Problems are one line per failed sink.

    Once per day and sink: a sink that accepted the digest for this day (`digest_log`) is skipped, even
    after a daemon restart, unless `force`. The log line is written after the sink accepted, so a crash
    in between means one resend, never a lost digest."""
    register_secrets(config)
    with Store.open_for(config, read_only=True) as store:
        digest = build_digest(store, config, now, chart=chart)
        done = {r[0] for r in store.conn.execute("SELECT sink FROM digest_log WHERE day = ?", [digest.day]).fetchall()}
    if not send:
        return DigestRun(digest, [], [])
    wanted = [sc for sc in config.sinks if option(sc.options, "digest")
              and supports_digest(config.plugins.sinks.get(sc.type))]
    already = [sc.name for sc in wanted if sc.name in done and not force]
    targets = [sc for sc in wanted if sc.name not in already]
    errors = fan_out(config.plugins, [(sc, _digest_sender(digest)) for sc in targets], thread_prefix="digest")
    problems = []
    for sc, exc in zip(targets, errors, strict=True):
        if exc is None:
            log.info("digest sink=%s sent", sc.name)
        else:
            log.info("digest sink=%s error=%s", sc.name, redact(str(exc)))
            problems.append(f"sink {exc}; digest not delivered")
    sent = [sc.name for sc, exc in zip(targets, errors, strict=True) if exc is None]
    if sent:
        with Store.open_for(config) as store:
            store.conn.executemany("INSERT INTO digest_log VALUES (?, ?, ?) ON CONFLICT (day, sink) DO UPDATE SET "
                                   "sent_at = excluded.sent_at", [[digest.day, name, utcnow()] for name in sent])
    return DigestRun(digest, sent, problems, already)


def _digest_sender(digest: Digest) -> Any:
    return lambda sink: sink.send_digest(digest)
