"""The dashboard in a real headless Chromium: every page loads with no console error, the chart draws,
figures equal the SQL answers, the keyboard reaches everything, the CSV download matches the CLI."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from ..conftest import run_cli
from .conftest import Page, Served, sql_value

PAGES = ["/", "/breakdown", "/alerts", "/sources", "/chargeback"]
MTD_SQL = "select sum(cost_usd) from spend where ts >= date_trunc('month', now())"


def cents(text: str) -> str:
    d = Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${d:,f}"


@pytest.mark.parametrize("path", PAGES)
def test_each_page_loads_without_console_errors(served: Served, page: Page, path: str) -> None:
    response = page.page.goto(served.base + path)
    assert response is not None and response.status == 200
    page.page.wait_for_load_state("networkidle")
    assert page.problems == []
    assert page.page.locator("h1").count() == 1
    assert page.page.locator("table").count() >= 1
    assert page.page.locator("nav a[aria-current=page]").count() == 1


def test_overview_month_total_equals_the_sql_answer_and_the_chart_draws(served: Served, page: Page,
                                                                        demo_dir: Path, demo_config: Any) -> None:
    page.page.goto(served.base + "/")
    page.page.wait_for_load_state("networkidle")
    exact = sql_value(demo_dir / "spendwatch.toml", MTD_SQL)
    total = page.page.locator("#month-total data")
    assert total.get_attribute("value") is not None
    assert Decimal(total.get_attribute("value")) == Decimal(exact)
    assert total.inner_text() == cents(exact)
    # the chart: Chart.js drew one stacked dataset per provider onto a canvas that has a size
    drawn = page.page.evaluate("""() => { const c = Chart.getChart('daily-chart');
        return c ? {sets: c.data.datasets.map(d => d.label), days: c.data.labels.length,
                    w: c.canvas.width, h: c.canvas.height, stacked: c.options.scales.y.stacked} : null; }""")
    assert drawn is not None
    # the demo's LiteLLM proxy rows are attributed to their upstream providers (issue 11): three providers
    assert sorted(drawn["sets"]) == ["anthropic", "openai", "openrouter"]
    assert drawn["days"] == 90 and drawn["w"] > 300 and drawn["h"] > 200 and drawn["stacked"] is True
    # each budget's "spent" equals the SQL sum of its match over its period (both are month budgets in UTC)
    rows = page.page.locator("#budget-table tbody tr")
    assert rows.count() == len(demo_config.budgets) == 2
    openai_spent = rows.nth(0).locator("td").nth(2).locator("data").get_attribute("value")
    assert Decimal(openai_spent) == Decimal(sql_value(demo_dir / "spendwatch.toml",
                                                      MTD_SQL + " and provider = 'openai'"))
    all_spent = rows.nth(1).locator("td").nth(2).locator("data").get_attribute("value")
    assert Decimal(all_spent) == Decimal(exact)
    assert page.problems == []


def test_keyboard_reaches_the_navigation_and_the_breakdown_form(served: Served, page: Page) -> None:
    p = page.page
    p.goto(served.base + "/")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.textContent") == "Skip to content"
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.textContent") == "Overview"
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.textContent") == "Breakdown"
    p.keyboard.press("Enter")
    p.wait_for_url(served.base + "/breakdown")
    # the form by keyboard: every input has a label; group by model, filter provider=openai, submit with Enter
    p.get_by_role("checkbox", name="model", exact=True).check()
    p.get_by_role("checkbox", name="team", exact=True).uncheck()
    assert p.get_by_label("provider is").count() == 1
    p.locator("#f-provider").fill("openai")
    p.locator("#f-provider").press("Enter")
    p.wait_for_url("**/breakdown?**")
    assert "by=model" in p.url and "provider=openai" in p.url and "by=team" not in p.url
    assert p.locator("#breakdown-table caption").inner_text().startswith("Spend by model")
    assert p.locator("#breakdown-table tbody tr").count() >= 3
    assert page.problems == []


def test_breakdown_url_is_shareable_and_its_total_equals_sql(served: Served, page: Page, demo_dir: Path) -> None:
    url = "/breakdown?by=team&by=model&provider=anthropic&since=2026-01-01&until=2100-01-01"
    page.page.goto(served.base + url)
    exact = sql_value(demo_dir / "spendwatch.toml",
                      "select sum(cost_usd) from spend where provider = 'anthropic' and ts >= '2026-01-01'")
    assert Decimal(page.page.locator("#breakdown-total data").get_attribute("value")) == Decimal(exact)
    heads = page.page.locator("#breakdown-table thead th").all_inner_texts()
    assert heads[:2] == ["team", "model"]


def test_chargeback_csv_download_equals_report_chargeback(served: Served, page: Page, demo_dir: Path) -> None:
    from spendwatch.timeutil import utcnow

    month = utcnow().strftime("%Y-%m")
    page.page.goto(served.base + f"/chargeback?month={month}&by=team&by=provider")
    with page.page.expect_download() as info:
        page.page.locator("#csv-link").click()
    got = Path(info.value.path()).read_text()
    cli = run_cli("--config", str(demo_dir / "spendwatch.toml"), "report", "chargeback", "--month", month,
                  "--by", "team", "--by", "provider", "--format", "csv")
    assert cli.code == 0, cli
    assert got == cli.out
    # and the page's TOTAL is the sum of the CLI's rows
    total = sum(Decimal(line.split(",")[3]) for line in cli.out.splitlines()[1:])
    assert Decimal(page.page.locator("#chargeback-total data").get_attribute("value")) == total
    assert page.problems == []


def test_alerts_page_shows_open_alerts_with_drivers_and_delivery(served: Served, page: Page, demo_dir: Path) -> None:
    page.page.goto(served.base + "/alerts")
    n_open = int(sql_value(demo_dir / "spendwatch.toml", "select count(*) from alerts where state = 'open'"))
    assert n_open >= 1
    rows = page.page.locator("#open-alerts tbody tr")
    assert rows.count() == n_open
    text = page.page.locator("#open-alerts").inner_text()
    assert "Budget openai-monthly" in text and "sent to console" in text and "of the change" in text
    assert page.problems == []


def test_sign_in_with_the_token_in_the_browser(browser: Any, demo_config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from spendwatch.config_schema import WebConfig
    from spendwatch.values import Secret

    monkeypatch.setenv("SW_TEST_WEB_TOKEN", "correct horse battery staple")
    cfg = replace(demo_config, web=WebConfig(token=Secret("web.token", env="SW_TEST_WEB_TOKEN")))
    s = Served(cfg)
    p = Page(browser)
    try:
        r = p.page.goto(s.base + "/alerts")
        assert r is not None and r.status == 401
        p.page.get_by_label("Access token").fill("wrong")
        p.page.get_by_label("Access token").press("Enter")
        p.page.wait_for_load_state()
        assert "not the one" in p.page.locator("[role=alert]").inner_text()
        p.page.get_by_label("Access token").fill("correct horse battery staple")
        p.page.get_by_role("button", name="Sign in").click()
        p.page.wait_for_url(s.base + "/alerts")
        assert p.page.locator("h1").inner_text() == "Alerts"
        cookie = [c for c in p.context.cookies() if c["name"] == "spendwatch_session"][0]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert "correct horse" not in cookie["value"]
        # the 401s on the way in were the only console errors
        assert all("401" in x for x in p.problems), p.problems
    finally:
        p.close()
        s.stop()
