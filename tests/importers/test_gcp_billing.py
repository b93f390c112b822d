"""`import --format gcp-billing`: Cloud Billing standard export (nested JSONL/Parquet, flattened CSV)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from spendwatch.errors import InputFileError

from .conftest import write_csv, write_jsonl, write_parquet


def line(account, service, sku, start_hour, cost, amount, unit="count", credits=(), project="proj-a", day=1,
         pricing_unit="1000000 count"):
    return {
        "billing_account_id": account,
        "service": {"id": "svc-" + service[:3], "description": service},
        "sku": {"id": "sku-" + sku[:6], "description": sku},
        "usage_start_time": f"2026-11-{day:02d}T{start_hour:02d}:00:00Z",
        "usage_end_time": f"2026-11-{day:02d}T{start_hour:02d}:59:59.999999Z" if start_hour == 23 else
                          f"2026-11-{day:02d}T{start_hour + 1:02d}:00:00Z",
        "project": {"id": project, "number": "123", "name": project.upper()},
        "labels": [{"key": "team", "value": "search"}],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": None},
        "export_time": "2026-11-03T00:00:00Z",
        "cost": cost, "currency": "USD", "currency_conversion_rate": 1.0,
        "usage": {"amount": amount, "unit": unit,
                  "amount_in_pricing_units": None if amount is None else amount / 1_000_000,
                  "pricing_unit": pricing_unit},
        "credits": [dict(c) for c in credits],
        "invoice": {"month": "202611"}, "cost_type": "regular",
    }


def export(day=1, scale=1):
    free = [{"name": "FreeTrial", "amount": -0.25 * scale, "full_name": "Free trial credit", "id": "c1",
             "type": "FREE_TRIAL"}]
    return [
        line("0A-1", "Vertex AI", "Gemini 2.5 Flash Input Text Tokens", 10, 1.25 * scale, 1_250_000, credits=free, day=day),
        line("0A-1", "Vertex AI", "Gemini 2.5 Flash Output Text Tokens", 10, 0.5 * scale, 200_000, day=day),
        line("0A-1", "Vertex AI", "Gemini 2.5 Flash Cached Input Text Tokens", 11, 0.03 * scale, 300_000, day=day),
        line("0A-1", "Vertex AI", "Custom Training n1-standard-4 running in Americas", 11, 7.0, 3600, unit="seconds", day=day),
        line("0A-1", "Gemini API", "Gemini 2.5 Pro Output Text Tokens", 12, 0.1 * scale, 10_000, project="proj-b", day=day),
        line("0A-1", "Compute Engine", "N1 Predefined Instance Core", 12, 3.0, 3600, unit="seconds", day=day),
    ]


AI = ["Flash Input", "Flash Output", "Flash Cached", "Pro Output"]


def flatten(rows):
    """The CSV shape: dotted headers, repeated fields as BigQuery's JSON text."""
    out = []
    for r in rows:
        flat = {}
        for k, v in r.items():
            if isinstance(v, dict):
                flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
            elif isinstance(v, list):
                flat[k] = json.dumps(v)
            else:
                flat[k] = v
        out.append(flat)
    return out


@pytest.mark.parametrize("container", ["jsonl", "parquet", "csv"])
def test_only_ai_rows_exact_totals(imp, tmp_path, container):
    rows = export()
    f = tmp_path / f"billing.{container}"
    {"jsonl": write_jsonl, "parquet": write_parquet}.get(container, lambda p, r: write_csv(p, flatten(r)))(f, rows)
    [res] = imp("gcp-billing", f)
    assert res.rows == 5  # 4 AI lines + 1 credit line
    assert imp.query("SELECT DISTINCT provider FROM records ORDER BY 1") == [("gemini-api",), ("vertex-ai",)]
    n, cost, inp, cached, _cw, out = imp.totals()
    assert cost == Decimal("1.25") + Decimal("0.5") + Decimal("0.03") + Decimal("0.1") - Decimal("0.25")
    assert (inp, cached, out) == (1_250_000 + 300_000, 300_000, 200_000 + 10_000)
    assert imp.query("SELECT line_item, cost_usd, covers_usage, model, project_id FROM records "
                     "WHERE cost_usd < 0") == [("credit: Free trial credit", Decimal("-0.25"), False,
                                                "gemini-2.5-flash", "proj-a")]
    assert imp.one("SELECT model, account_id, granularity, record_type, cost_basis, covers_usage FROM records "
                   "WHERE line_item = 'Gemini 2.5 Pro Output Text Tokens'") == \
        ("gemini-2.5-pro", "0A-1", "hour", "cost", "billed", True)


def test_twice_changes_nothing_and_reissue_replaces_by_account(imp, tmp_path):
    imp("gcp-billing", write_jsonl(tmp_path / "a.jsonl", export()))
    other = [dict(r, billing_account_id="0B-2") for r in export()]
    imp("gcp-billing", write_jsonl(tmp_path / "other.jsonl", other))
    snap = imp.snapshot()
    imp("gcp-billing", tmp_path / "a.jsonl")
    assert imp.snapshot() == snap
    # re-issued export of account 0A-1 with revised costs: replaces that account only
    imp("gcp-billing", write_jsonl(tmp_path / "a2.jsonl", export(scale=2)))
    assert imp.totals("account_id = '0A-1'")[1] == 2 * (Decimal("1.88") - Decimal("0.25"))
    assert imp.totals("account_id = '0B-2'")[1] == Decimal("1.88") - Decimal("0.25")
    # an export of the next day overlaps nothing of day 1 and adds
    imp("gcp-billing", write_jsonl(tmp_path / "d2.jsonl", export(day=2)))
    assert imp.totals("account_id = '0A-1'")[1] == 3 * Decimal("1.63")


def test_bad_cost_names_line_and_column(imp, tmp_path):
    rows = flatten(export())
    rows[2]["cost"] = "n/a"
    f = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(InputFileError) as e:
        imp("gcp-billing", f)
    assert str(e.value) == f'{f}:4: column cost: not a number ("n/a")'
