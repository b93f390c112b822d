"""Plain HTTP against the dashboard: read-only methods, 404 outside the app, no query string reaches SQL,
the token policy, CSV formula injection, and the same figures as the CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import run_cli, write
from .conftest import Served, sql_value

PATHS = ["/", "/breakdown", "/alerts", "/sources", "/chargeback", "/chargeback.csv", "/login", "/logout",
         "/static/style.css", "/nope"]
INJECTIONS = [
    "' OR 1=1 --",
    "x'); DROP TABLE records; --",
    "%' UNION SELECT sum(cost_usd) FROM records --",
    "openai' OR provider <> '",
    "1; COPY records TO '/tmp/x.csv'",
    "\" OR \"\"=\"",
    "'; ATTACH '/tmp/evil.db' AS e; --",
    "${jndi:x}",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", PATHS)
def test_every_method_but_get_and_head_is_405(served: Served, method: str, path: str) -> None:
    r = served.request(method, path, content=b"token=x")
    assert r.status_code == 405, (method, path, r.status_code)
    assert r.headers["allow"] == "GET, HEAD"


def test_head_answers_like_get_without_a_body(served: Served) -> None:
    r = served.request("HEAD", "/sources")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/nope", "/admin", "/static/../spendwatch.toml", "/static/%2e%2e/app.py",
                                  "/static/..%2f..%2fdata.py", "/sql", "/static/nothing.js", "/breakdown/x"])
def test_paths_outside_the_app_are_404(served: Served, path: str) -> None:
    assert served.get(path).status_code == 404


def test_security_headers(served: Served) -> None:
    r = served.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_a_foreign_host_name_is_refused_without_a_token(served: Served) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the dashboard."""
    assert served.get("/", headers={"Host": "evil.example:8787"}).status_code == 421
    assert served.get("/", headers={"Host": "localhost:8787"}).status_code == 200


def _records(demo_dir: Path) -> str:
    return sql_value(demo_dir / "spendwatch.toml", "select count(*) || ':' || sum(cost_usd) from records")


@pytest.mark.parametrize("dim", ["team", "project", "model", "key", "user", "provider", "source"])
def test_injection_strings_in_every_filter_match_nothing_and_change_nothing(served: Served, demo_dir: Path,
                                                                             dim: str) -> None:
    before = _records(demo_dir)
    for value in INJECTIONS:
        r = served.get("/breakdown", params={dim: value, "by": "model"})
        assert r.status_code == 200, (dim, value, r.text[:300])
        assert "No spend matches." in r.text
        assert 'id="breakdown-total"><data value="0E-10">$0.00</data>' in r.text \
            or 'id="breakdown-total"><data value="0">$0.00</data>' in r.text
        assert "<script>alert(1)</script>" not in r.text  # escaped wherever it is echoed
    assert _records(demo_dir) == before


@pytest.mark.parametrize("params", [
    {"by": "model; DROP TABLE records"}, {"by": "cost_usd"}, {"by": "1"}, {"since": "2026-01-01' OR '1'='1"},
    {"until": "now()"}, {"evil": "1"}, {"since": "2026-02-01", "until": "2026-01-01"},
])
def test_bad_breakdown_parameters_are_400_with_one_sentence(served: Served, params: dict[str, str]) -> None:
    r = served.get("/breakdown", params=params)
    assert r.status_code == 400
    assert re.search(r'<p role="alert" class="error">[^<]+</p>', r.text)


@pytest.mark.parametrize("params", [
    {"month": "2026-11' OR 1=1 --"}, {"month": "2026-13"}, {"by": "user_id); DROP TABLE records; --"},
    {"by": "team", "x": "1"},
])
def test_bad_chargeback_parameters_are_400(served: Served, params: dict[str, str]) -> None:
    assert served.get("/chargeback", params=params).status_code == 400
    assert served.get("/chargeback.csv", params=params).status_code == 400


@pytest.mark.parametrize("path", ["/?x=1", "/alerts?state=resolved' --", "/sources?source=x"])
def test_pages_without_parameters_refuse_them(served: Served, path: str) -> None:
    assert served.get(path).status_code == 400


def test_breakdown_filter_figures_equal_sql(served: Served, demo_dir: Path) -> None:
    r = served.get("/breakdown", params={"by": "key", "provider": "openai", "team": ["search", "support"],
                                         "since": "2026-01-01", "until": "2100-01-01"})
    assert r.status_code == 200
    exact = sql_value(demo_dir / "spendwatch.toml",
                      "select sum(cost_usd) from spend where provider = 'openai' and team in ('search', 'support')"
                      " and ts >= '2026-01-01'")
    assert f'id="breakdown-total"><data value="{Decimal(exact):f}">' in r.text or \
        Decimal(re.search(r'id="breakdown-total"><data value="([^"]+)"', r.text).group(1)) == Decimal(exact)
    per_key = run_cli("--config", str(demo_dir / "spendwatch.toml"), "sql",
                      "select coalesce(api_key_id, '(none)'), sum(cost_usd) from spend where provider = 'openai' and "
                      "team in ('search', 'support') and ts >= '2026-01-01' group by 1", "--format", "csv")
    for line in per_key.out.splitlines()[1:]:
        key, value = line.rsplit(",", 1)
        m = re.search(re.escape(f">{key}</a>") + r'</th>\s*<td class="num"><data value="([^"]+)"', r.text)
        assert m and Decimal(m.group(1)) == Decimal(value), key


def test_chargeback_csv_equals_the_cli_for_every_grouping(served: Served, demo_dir: Path) -> None:
    from spendwatch.timeutil import utcnow

    month = utcnow().strftime("%Y-%m")
    for by in (["team"], ["provider", "model"], ["api_key", "project"]):
        r = served.get("/chargeback.csv", params={"month": month, "by": by})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        args = [a for b in by for a in ("--by", b)]
        cli = run_cli("--config", str(demo_dir / "spendwatch.toml"), "report", "chargeback", "--month", month,
                      *args, "--format", "csv")
        assert r.text == cli.out


def test_csv_cells_cannot_start_a_formula(tmp_path: Path) -> None:
    """A model or project named like a formula reaches the CSV quoted-out; money stays a number."""
    store = tmp_path / "s.duckdb"
    csv_in = write(tmp_path / "rows.csv",
                   "ts,provider,model,project_id,cost_usd\n"
                   "2026-03-02T00:00:00Z,openai,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",@SUM(A1),1.25\n"
                   "2026-03-02T00:00:00Z,openai,+cmd|' /C calc'!A0,-2+3,-0.50\n"
                   "2026-03-03T00:00:00Z,openai,gpt-4.1,\tproj,2.00\n")
    assert run_cli("--store", str(store), "import", str(csv_in), "--format", "canonical").code == 0
    from spendwatch.app import minimal_config

    s = Served(minimal_config(str(store)))
    try:
        r = s.get("/chargeback.csv", params={"month": "2026-03", "by": ["model", "project"]})
    finally:
        s.stop()
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert lines[0] == "month,model,project_id,cost_usd,input_tokens,output_tokens,requests,share"
    body = "\n".join(lines[1:])
    assert "'=HYPERLINK" in body and "'@SUM(A1)" in body and "'+cmd|" in body and "'-2+3" in body
    assert "2026-03,gpt-4.1,'\tproj,2.00" in body or "2026-03,gpt-4.1,\"'\tproj\",2.00" in body
    assert ",-0.50," in body  # a negative amount is a number, not a formula
    for line in lines[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "@", "\t")), line


def test_safe_csv_cell_unit() -> None:
    from spendwatch.web.data import safe_csv_cell

    assert safe_csv_cell("=1+1") == "'=1+1"
    assert safe_csv_cell("-12.50") == "-12.50"
    assert safe_csv_cell("-1+2") == "'-1+2"
    assert safe_csv_cell("\r=x") == "'\r=x"
    assert safe_csv_cell("team a") == "team a"


# ----------------------------------------------------------------------------------------- listening


def _start_web(config: Path, listen: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    full = dict(os.environ, **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "spendwatch", "--config", str(config), "web", "--listen", listen],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=full)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    return proc, line


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_non_loopback_without_a_token_refuses_to_start_with_one_line(demo_dir: Path) -> None:
    r = run_cli("--config", str(demo_dir / "spendwatch.toml"), "web", "--listen", "0.0.0.0:0", timeout=60)
    assert r.code == 1
    assert r.err.count("\n") == 1 and "token_env" in r.err and "Traceback" not in r.err, r.err


def test_non_loopback_with_a_token_demands_it(demo_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "web.toml"
    cfg.write_text((demo_dir / "spendwatch.toml").read_text() + '\n[web]\ntoken_env = "SW_WEB_TOKEN"\n')
    proc, line = _start_web(cfg, "0.0.0.0:0", {"SW_WEB_TOKEN": "s3cret-t0ken"})
    try:
        assert "token required" in line, line
        port = int(re.search(r":(\d+)/", line).group(1))  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/breakdown?by=model", "/alerts", "/sources", "/chargeback", "/chargeback.csv"):
            assert httpx.get(base + path, timeout=60).status_code == 401, path
            assert httpx.get(base + path, headers={"Authorization": "Bearer wrong"}, timeout=60).status_code == 401
        assert httpx.get(base + "/", headers={"Authorization": "Bearer s3cret-t0ken"}, timeout=60).status_code == 200
        # login form → cookie → pages
        bad = httpx.post(base + "/login", data={"token": "nope", "next": "/alerts"}, timeout=60)
        assert bad.status_code == 401
        ok = httpx.post(base + "/login", data={"token": "s3cret-t0ken", "next": "//evil.example/"}, timeout=60)
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # no open redirect
        cookie = ok.cookies.get("spendwatch_session")
        assert cookie and "s3cret" not in cookie
        assert httpx.get(base + "/sources", cookies={"spendwatch_session": cookie}, timeout=60).status_code == 200
        assert httpx.get(base + "/sources", cookies={"spendwatch_session": cookie + "0"}, timeout=60).status_code == 401
        # still read-only with a token: only POST /login is a form
        assert httpx.post(base + "/", headers={"Authorization": "Bearer s3cret-t0ken"}, timeout=60).status_code == 405
    finally:
        assert _stop(proc) == 0


def test_missing_token_variable_is_one_line(demo_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "web.toml"
    cfg.write_text((demo_dir / "spendwatch.toml").read_text() + '\n[web]\ntoken_env = "SW_WEB_TOKEN_UNSET"\n')
    r = run_cli("--config", str(cfg), "web", "--listen", "0.0.0.0:0", env={"SW_WEB_TOKEN_UNSET": ""})
    assert r.code == 1 and "SW_WEB_TOKEN_UNSET" in r.err and r.err.count("\n") == 1, r


def test_bad_listen_values_are_one_line(demo_dir: Path, tmp_path: Path) -> None:
    r = run_cli("--config", str(demo_dir / "spendwatch.toml"), "web", "--listen", "localhost")
    assert r.code == 1 and r.err.startswith("spendwatch: --listen: not HOST:PORT"), r
    cfg = tmp_path / "bad.toml"
    cfg.write_text((demo_dir / "spendwatch.toml").read_text() + '\n[web]\nlisten = "8787"\n')
    c = run_cli("--config", str(cfg), "check-config")
    assert c.code == 1 and "web.listen: not HOST:PORT" in c.err, c


def test_loopback_start_line_and_clean_stop(demo_dir: Path) -> None:
    proc, line = _start_web(demo_dir / "spendwatch.toml", "127.0.0.1:0")
    try:
        assert "loopback only, no token" in line and "read-only" in line
        port = int(re.search(r":(\d+)/", line).group(1))  # type: ignore[union-attr]
        t0 = time.monotonic()
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=60).status_code == 200
        assert time.monotonic() - t0 < 60
    finally:
        assert _stop(proc) == 0


def test_alerts_page_shows_guardrail_actions_when_the_view_exists(demo_dir: Path, demo_config: Any,
                                                                  tmp_path: Path, served: Served) -> None:
    """The guardrails work adds an `actions` view; the Alerts page shows it per alert and as a table."""
    import shutil
    from dataclasses import replace

    from spendwatch.store import Store

    store = tmp_path / "copy.duckdb"
    shutil.copy(demo_dir / "spend.duckdb", store)
    with Store.open(str(store), allocation=demo_config.allocation) as s:
        alert_id = s.conn.execute("SELECT alert_id FROM alerts WHERE detector = 'budget' LIMIT 1").fetchone()[0]
        s.conn.execute("""INSERT INTO actions_log (rule, action, alert_id, episode, provider, target_kind, target,
                                                   mode, state, requested_at)
                          VALUES ('stop', 'disable_key', ?, 1, 'openai', 'api_key_id', 'key_search_a1', 'dry-run',
                                  'planned', TIMESTAMPTZ '2026-11-28 10:00:00+00')""", [alert_id])
    cfg = replace(demo_config, store=replace(demo_config.store, path=str(store)))
    s2 = Served(cfg)
    try:
        page = s2.get("/alerts").text
        plain = s2.get("/alerts")
    finally:
        s2.stop()
    assert plain.status_code == 200
    assert 'id="actions-table"' in page
    assert "disable_key key_search_a1: planned (dry-run)" in page
    # and with no action recorded (the demo store), no actions column at all
    assert "Guardrail actions" not in served.get("/alerts").text
