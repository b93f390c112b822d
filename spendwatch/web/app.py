"""The Starlette application: five server-rendered pages, a CSV download, and nothing that writes.

Every request passes `Guard` first: GET and HEAD only (else 405; the one exception is POST /login, and
only when a token is required, since a login form must not put the token in a URL), the Host header
must name a loopback address when no token protects the server (a DNS-rebinding page in the user's
browser cannot read the dashboard), and a token is checked when one is configured. Every response gets
a strict Content-Security-Policy: scripts and styles only from /static (no inline code, no CDN).

Pages build their data in a worker thread (DuckDB calls block) on a read-only connection that lives for
that one request (see data.py), then render a Jinja2 template with autoescaping on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from .auth import COOKIE, TokenCheck
from .data import BadRequest, Tracer

log = logging.getLogger("spendwatch.web")
HERE = Path(__file__).resolve().parent
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGES = (("/", "Overview"), ("/breakdown", "Breakdown"), ("/alerts", "Alerts"), ("/sources", "Sources"),
         ("/chargeback", "Chargeback"))
MAX_LOGIN_BODY = 4096


@dataclass
class Settings:
    """What the app needs from its host (the `web` command or the daemon)."""

    config: Callable[[], Any]                    # the current Config (the daemon's changes on SIGHUP)
    token: str | None = None                  # None: no token; only loopback Host headers are served
    now: Callable[[], datetime] = field(default=lambda: _utcnow())
    tracer: Tracer | None = None              # bench/web.py: record the statements a page runs


def _utcnow() -> datetime:
    from ..timeutil import utcnow

    return utcnow()


# --------------------------------------------------------------------------------------- formatting


def _money(value: Any) -> Any:
    """$1,234.57 for people, the exact decimal in `<data value>` for machines and tests."""
    from markupsafe import Markup, escape

    if value is None:
        return Markup('<span class="unknown">unknown</span>')
    d = Decimal(value)
    shown = d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if shown == 0 and d != 0:
        text = f"{'-' if d < 0 else ''}<$0.01"
    else:
        text = f"-${abs(shown):,f}" if shown < 0 else f"${shown:,f}"
    return Markup(f'<data value="{escape(format(d, "f"))}">{escape(text)}</data>')


def _count(value: Any) -> Any:
    from markupsafe import Markup

    if value is None:
        return ""
    return Markup(f'<data value="{int(value)}">{int(value):,}</data>')


def _when(value: Any) -> Any:
    from markupsafe import Markup, escape

    if value is None:
        return ""
    if isinstance(value, datetime):
        from ..timeutil import UTC

        v = value.astimezone(UTC)
        return Markup(f'<time datetime="{escape(v.isoformat())}">{v.strftime("%Y-%m-%d %H:%M")}</time>')
    if isinstance(value, date):
        return Markup(f'<time datetime="{value.isoformat()}">{value.isoformat()}</time>')
    return str(value)


def _percent(part: Any, whole: Any) -> str:
    if part is None or not whole:
        return ""
    return f"{(Decimal(part) / Decimal(whole) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _cell(value: Any) -> Any:
    """Any status/actions value: money exact, times as <time>, the rest as text."""
    if isinstance(value, Decimal):
        return _money(value)
    if isinstance(value, (datetime, date)):
        return _when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return _count(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(default=True), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(money=_money, count=_count, when=_when, cell=_cell)
    env.globals.update(percent=_percent, pages=PAGES, urlencode=_urlencode)
    return env


def _urlencode(pairs: Any) -> str:
    return urlencode(list(pairs), doseq=True)


# -------------------------------------------------------------------------------------------- guard


class Guard:
    """Method, host and token checks, and security headers, in front of every route."""

    def __init__(self, app: Any, settings: Settings, check: TokenCheck, render: Callable[..., Any]) -> None:
        self.app = app
        self.settings = settings
        self.check = check
        self.render = render

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse

        async def send_secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for k, v in ((b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                             (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                             (b"cache-control", b"no-store")):
                    if k not in names:
                        headers.append((k, v))
                message = dict(message, headers=headers)
            await send(message)

        request = Request(scope)
        path = scope.get("path", "")
        method = scope["method"]
        login_post = method == "POST" and path == "/login" and self.check.required
        if method not in ("GET", "HEAD") and not login_post:
            await PlainTextResponse("405 Method Not Allowed: this dashboard is read-only (GET and HEAD only)\n",
                                    status_code=405, headers={"Allow": "GET, HEAD"})(scope, receive, send_secured)
            return
        if not self.check.required:
            host = (request.headers.get("host") or "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in LOOPBACK_HOSTS:
                await PlainTextResponse("421 Misdirected Request: without [web] token_env this dashboard answers "
                                        "only to a loopback host name\n", status_code=421)(scope, receive, send_secured)
                return
        public = path == "/login" or path.startswith("/static/")
        if not public and not self.check.allows(request.headers.get("authorization"), request.cookies.get(COOKIE)):
            nxt = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            response = self.render(request, "login.html", status=401, title="Sign in", next=nxt, error=None)
            response.headers["WWW-Authenticate"] = 'Bearer realm="spendwatch"'
            await response(scope, receive, send_secured)
            return
        await self.app(scope, receive, send_secured)


def _safe_next(value: str | None) -> str:
    """Only a path on this server (no scheme, no //host): an open redirect is refused."""
    if not value or not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return "/"
    return value


# ---------------------------------------------------------------------------------------------- app


def create_app(settings: Settings) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from ..errors import StoreError, StoreLocked
    from . import data

    env = _environment()
    check = TokenCheck(settings.token)

    def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
        body = env.get_template(template).render(request=request, path=request.url.path,
                                                 token_required=check.required, **context)
        return HTMLResponse(body, status_code=status)

    async def load(fn: Callable[..., Any], *args: Any) -> Any:
        cfg = settings.config()

        def run() -> Any:
            with data.reader(cfg, settings.tracer) as r:
                return fn(r, cfg, *args)

        return await run_in_threadpool(run)

    def page(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """Turns bad input into 400 and a busy or missing store into 503, each with one sentence."""

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except BadRequest as exc:
                return render(request, "error.html", status=400, title="Bad request", message=str(exc))
            except StoreLocked as exc:
                return render(request, "error.html", status=503, title="Store busy", message=str(exc))
            except StoreError as exc:
                return render(request, "error.html", status=503, title="Store unavailable", message=str(exc))

        return wrapped

    @page
    async def overview(request: Request) -> Response:
        if request.query_params:
            raise BadRequest("the Overview takes no parameters")
        now = settings.now()
        ov = await load(lambda r, cfg: data.overview(r, cfg, now))
        chart = {"days": [d.isoformat() for d in ov.days],
                 "series": {p: [format(v, "f") for v in vs] for p, vs in ov.series.items()}}
        return render(request, "overview.html", title="Overview", ov=ov, chart=chart, now=now)

    @page
    async def breakdown(request: Request) -> Response:
        now = settings.now()
        by, filters, since, until = data.parse_breakdown(request.query_params, now)
        bd = await load(lambda r, cfg: data.breakdown(r, by, filters, since, until))
        return render(request, "breakdown.html", title="Breakdown", bd=bd, dimensions=data.DIMENSIONS,
                      query=list(request.query_params.multi_items()))

    @page
    async def alerts(request: Request) -> Response:
        if request.query_params:
            raise BadRequest("the Alerts page takes no parameters")
        now = settings.now()
        al = await load(lambda r, cfg: data.alerts(r, now))
        return render(request, "alerts.html", title="Alerts", al=al, recent_days=data.RECENT_ALERT_DAYS)

    @page
    async def sources(request: Request) -> Response:
        if request.query_params:
            raise BadRequest("the Sources page takes no parameters")
        sections = await load(lambda r, cfg: data.sources(r, cfg))
        return render(request, "sources.html", title="Sources", sections=sections)

    @page
    async def chargeback(request: Request) -> Response:
        now = settings.now()
        month, by = data.parse_chargeback(request.query_params, now)
        cols, rows, footer = await load(lambda r, cfg: data.chargeback(r, month, by, now))
        csv_query = _urlencode([("month", month)] + [("by", b) for b in by])
        return render(request, "chargeback.html", title="Chargeback", month=month, by=by, cols=cols, rows=rows,
                      footer=footer, choices=data.CHARGEBACK_BY, csv_query=csv_query)

    @page
    async def chargeback_csv(request: Request) -> Response:
        now = settings.now()
        month, by = data.parse_chargeback(request.query_params, now)
        cols, rows, _ = await load(lambda r, cfg: data.chargeback(r, month, by, now))
        name = f"spendwatch-chargeback-{month}-{'-'.join(by)}.csv"
        return Response(data.chargeback_csv(cols, rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def login(request: Request) -> Response:
        if not check.required:
            return RedirectResponse("/", status_code=303)
        if request.method != "POST":
            return render(request, "login.html", title="Sign in", next=_safe_next(request.query_params.get("next")),
                          error=None)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_LOGIN_BODY:
                return render(request, "login.html", status=400, title="Sign in", next="/", error="Request too large.")
        form = parse_qs(body.decode("utf-8", "replace"))
        nxt = _safe_next((form.get("next") or ["/"])[0])
        if not check.token_ok((form.get("token") or [""])[0]):
            return render(request, "login.html", status=401, title="Sign in", next=nxt,
                          error="That token is not the one this server was started with.")
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(COOKIE, check.cookie_value, httponly=True, samesite="strict", path="/")
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    routes = [
        Route("/", overview, methods=["GET"]),
        Route("/breakdown", breakdown, methods=["GET"]),
        Route("/alerts", alerts, methods=["GET"]),
        Route("/sources", sources, methods=["GET"]),
        Route("/chargeback", chargeback, methods=["GET"]),
        Route("/chargeback.csv", chargeback_csv, methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    return Guard(app, settings, check, render)
