"""`import --format openai-costs-csv | anthropic-costs-csv | auto`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from spendwatch.errors import InputFileError

from .conftest import write_csv

DAY = 86400
NOV1 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


def openai_rows(days=(0,), project="proj_a", scale=1):
    rows = []
    for d in days:
        for item, amount in (("gpt-4o-2024-08-06, input", "0.123456"), ("gpt-4o-2024-08-06, output", "1.5"),
                             ("gpt-4.1-mini, cached input", "0.0125"), ("web search tool calls", "0.02")):
            rows.append({"start_time": NOV1 + d * DAY, "end_time": NOV1 + (d + 1) * DAY,
                         "amount_value": str(Decimal(amount) * scale), "amount_currency": "usd", "line_item": item,
                         "project_id": project, "project_name": project.upper(), "organization_id": "org-1",
                         "organization_name": "Acme"})
    return rows


def test_openai_costs_exact(imp, tmp_path):
    [res] = imp("openai-costs-csv", write_csv(tmp_path / "costs.csv", openai_rows(days=(0, 1))))
    assert (res.rows, res.cost_usd) == (8, 2 * Decimal("1.655956"))
    assert res.window.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert res.window.end == datetime(2026, 11, 3, tzinfo=UTC)
    assert imp.query("SELECT model, covers_usage, provider, account_id, project_id, currency, granularity FROM records "
                     "WHERE ts = '2026-11-01' ORDER BY cost_usd") == [
        ("gpt-4.1-mini", True, "openai", "org-1", "proj_a", "USD", "day"),
        (None, False, "openai", "org-1", "proj_a", "USD", "day"),
        ("gpt-4o-2024-08-06", True, "openai", "org-1", "proj_a", "USD", "day"),
        ("gpt-4o-2024-08-06", True, "openai", "org-1", "proj_a", "USD", "day")]


def test_openai_twice_and_overlap_per_project(imp, tmp_path):
    imp("openai-costs-csv", write_csv(tmp_path / "a.csv", openai_rows(days=(0, 1))))
    imp("openai-costs-csv", write_csv(tmp_path / "b.csv", openai_rows(days=(0, 1), project="proj_b")))
    snap = imp.snapshot()
    imp("openai-costs-csv", tmp_path / "a.csv")
    assert imp.snapshot() == snap
    imp("openai-costs-csv", write_csv(tmp_path / "c.csv", openai_rows(days=(1, 2), scale=3)))
    assert imp.totals("project_id = 'proj_a'")[:2] == (12, 7 * Decimal("1.655956"))
    assert imp.totals("project_id = 'proj_b'")[:2] == (8, 2 * Decimal("1.655956"))


def test_openai_bad_amount(imp, tmp_path):
    rows = openai_rows()
    rows[2]["amount_value"] = "$0.01"
    f = write_csv(tmp_path / "costs.csv", rows)
    with pytest.raises(InputFileError) as e:
        imp("openai-costs-csv", f)
    assert str(e.value) == f'{f}:4: column amount_value: not a number ("$0.01")'


ANTHROPIC_COLUMNS = ["usage_date_utc", "model", "workspace", "api_key", "usage_type", "context_window", "token_type",
                     "cost_usd", "list_price_usd", "cost_type", "inference_geo", "speed", "api_key_id", "api_key_status"]


def anthropic_rows(dates=("2026-11-01",), workspace="Default", scale=1):
    rows = []
    for d in dates:
        for model, tt, cost, ct, ut in (("Claude Sonnet 4.5", "input_no_cache", "0.05", "token", "message"),
                                        ("Claude Sonnet 4.5", "output", "0.375", "token", "message"),
                                        ("Claude Haiku 4.5", "input_cache_read", "0.0008", "token", "batch"),
                                        ("", "", "0.5", "web_search", "")):
            rows.append({"usage_date_utc": d, "model": model, "workspace": workspace, "api_key": "ci-key",
                         "usage_type": ut, "context_window": "≤ 200k", "token_type": tt,
                         "cost_usd": str(Decimal(cost) * scale), "list_price_usd": cost, "cost_type": ct,
                         "inference_geo": "global", "speed": "", "api_key_id": "apikey_01A" if model else "",
                         "api_key_status": "active"})
    return rows


def test_anthropic_costs_exact(imp, tmp_path):
    [res] = imp("anthropic-costs-csv", write_csv(tmp_path / "claude.csv", anthropic_rows(), ANTHROPIC_COLUMNS))
    assert (res.rows, res.cost_usd) == (4, Decimal("0.9258"))
    assert imp.query("SELECT model, line_item, service_tier, covers_usage, workspace_id, api_key_id FROM records "
                     "ORDER BY cost_usd") == [
        ("claude-haiku-4-5", "input_cache_read", "batch", True, "Default", "apikey_01A"),
        ("claude-sonnet-4-5", "input_no_cache", None, True, "Default", "apikey_01A"),
        ("claude-sonnet-4-5", "output", None, True, "Default", "apikey_01A"),
        (None, "web_search", None, False, "Default", "ci-key")]


def test_anthropic_twice_and_overlap_per_workspace(imp, tmp_path):
    imp("anthropic-costs-csv", write_csv(tmp_path / "a.csv", anthropic_rows(("2026-11-01", "2026-11-02")), ANTHROPIC_COLUMNS))
    imp("anthropic-costs-csv", write_csv(tmp_path / "b.csv", anthropic_rows(("2026-11-02",), workspace="Research"),
                                         ANTHROPIC_COLUMNS))
    snap = imp.snapshot()
    imp("anthropic-costs-csv", tmp_path / "a.csv")
    assert imp.snapshot() == snap
    imp("anthropic-costs-csv", write_csv(tmp_path / "c.csv", anthropic_rows(("2026-11-02", "2026-11-03"), scale=2),
                                         ANTHROPIC_COLUMNS))
    assert imp.totals("workspace_id = 'Default'")[:2] == (12, 5 * Decimal("0.9258"))
    assert imp.totals("workspace_id = 'Research'")[:2] == (4, Decimal("0.9258"))


def test_anthropic_bad_date(imp, tmp_path):
    rows = anthropic_rows()
    rows[1]["usage_date_utc"] = "Nov 1"
    f = write_csv(tmp_path / "claude.csv", rows, ANTHROPIC_COLUMNS)
    with pytest.raises(InputFileError) as e:
        imp("anthropic-costs-csv", f)
    assert str(e.value) == f'{f}:3: column usage_date_utc: not a date ("Nov 1")'


def test_auto_recognises_and_says_which(imp, tmp_path):
    [a] = imp("auto", write_csv(tmp_path / "o.csv", openai_rows()))
    [b] = imp("auto", write_csv(tmp_path / "c.csv", anthropic_rows(), ANTHROPIC_COLUMNS))
    assert (a.format, a.source, b.format, b.source) == ("openai-costs-csv", "openai-costs-csv",
                                                       "anthropic-costs-csv", "anthropic-costs-csv")
    f = write_csv(tmp_path / "x.csv", [{"when": "2026-11-01", "what": "x", "amount": "1"}])
    with pytest.raises(InputFileError) as e:
        imp("auto", f)
    assert str(e.value).startswith(f"{f}: cannot tell the export format from its columns (when, what, amount); "
                                   "give --format (one of anthropic-costs-csv, aws-cur, azure-costs, canonical,")


def test_cli_auto_prints_the_chosen_format(tmp_path):
    import subprocess
    import sys

    f = write_csv(tmp_path / "o.csv", openai_rows())
    out = subprocess.run([sys.executable, "-m", "spendwatch", "--store", str(tmp_path / "s.duckdb"), "import", str(f),
                          "--format", "auto"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (f"{f}: 4 rows, $1.655956 into source openai-costs-csv 2026-11-01..2026-11-02 "
                          "(format openai-costs-csv)\n")
