"""`import --format litellm`: LiteLLM_SpendLogs exports (CSV, gzip CSV, JSONL, Parquet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from spendwatch.errors import InputFileError

from .conftest import dsum, write_csv, write_jsonl, write_parquet

COLUMNS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
           "startTime", "endTime", "request_duration_ms", "model", "model_group", "custom_llm_provider", "user",
           "metadata", "cache_hit", "request_tags", "team_id", "organization_id", "end_user", "status"]


def spend_logs(start: datetime, hours: int, per_hour: int = 3, spend_scale: str = "1") -> list[dict]:
    rows = []
    for h in range(hours):
        for k in range(per_hour):
            i = h * per_hour + k
            ts = start + timedelta(hours=h, minutes=k)
            rows.append({
                "request_id": f"chatcmpl-{start:%m%d}-{i}", "call_type": "acompletion",
                "api_key": f"hash{i % 3:02d}" * 8,
                "spend": str(Decimal("0.0001234567") * (i + 1) * Decimal(spend_scale)),
                "total_tokens": 100 + i + 10 * i, "prompt_tokens": 100 + i, "completion_tokens": 10 * i,
                "startTime": ts.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                "endTime": (ts + timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                "request_duration_ms": 2000, "model": ["gpt-4o", "claude-sonnet-4-5"][i % 2],
                "model_group": "default", "custom_llm_provider": ["openai", "anthropic"][i % 2],
                "user": f"user{i % 2}", "metadata": '{"user_api_key_alias": "svc, a", "status": "success"}',
                "cache_hit": "False", "request_tags": '["prod"]', "team_id": f"team{i % 2}",
                "organization_id": "org1", "end_user": "cust-7" if i == 0 else "", "status": "success",
            })
    return rows


NOV1 = datetime(2026, 11, 1, tzinfo=UTC)


def test_csv_exact_totals_and_mapping(imp, tmp_path):
    rows = spend_logs(NOV1, hours=24)
    f = write_csv(tmp_path / "spendlogs.csv", rows, COLUMNS)
    [res] = imp("litellm", f)
    assert (res.format, res.source, res.rows) == ("litellm", "litellm", 72)
    assert res.cost_usd == dsum(r["spend"] for r in rows)
    n, cost, inp, _cached, _cw, out = imp.totals()
    assert (n, cost) == (72, dsum(r["spend"] for r in rows))
    assert inp == sum(r["prompt_tokens"] for r in rows) and out == sum(r["completion_tokens"] for r in rows)
    first = imp.one("""SELECT record_type, cost_basis, granularity, provider, account_id, project_id, api_key_id,
                              user_id, model, line_item, requests, covers_usage, kind, tags FROM records
                              ORDER BY ts LIMIT 2""")
    assert first == ("usage", "billed", "request", "litellm", "org1", "team0", "hash00" * 8, "user0", "gpt-4o",
                     "openai/acompletion", 1, False, "litellm", '{"end_user": "cust-7"}')
    assert imp.query("SELECT count(*) FROM records WHERE tags IS NOT NULL") == [(1,)]
    assert res.window.start == NOV1 and res.window.end == NOV1 + timedelta(hours=23, minutes=2, microseconds=1)
    # visible through the contract view, unchanged (billed usage is not reconciled away)
    assert imp.one("SELECT sum(cost_usd), min(cost_basis) FROM spend") == (cost, "billed")


def test_import_twice_changes_nothing(imp, tmp_path):
    f = write_csv(tmp_path / "spendlogs.csv", spend_logs(NOV1, hours=5), COLUMNS)
    imp("litellm", f)
    before = imp.snapshot()
    imp("litellm", f)
    assert imp.snapshot() == before
    assert imp.one("SELECT count(*) FROM imported_files") == (1,)


def test_overlapping_reissued_export_replaces(imp, tmp_path):
    day1 = spend_logs(NOV1, hours=48)                      # Nov 1 00:00 .. Nov 2 23:02
    day2 = spend_logs(NOV1 + timedelta(days=1), hours=48, spend_scale="2")  # Nov 2 .. Nov 3, revised prices
    imp("litellm", write_csv(tmp_path / "a.csv", day1, COLUMNS))
    imp("litellm", write_csv(tmp_path / "b.csv", day2, COLUMNS))
    kept = [r for r in day1 if r["startTime"] < day2[0]["startTime"]]
    n, cost, inp, *_ = imp.totals()
    assert n == len(kept) + len(day2)
    assert cost == dsum(r["spend"] for r in kept) + dsum(r["spend"] for r in day2)
    assert inp == sum(r["prompt_tokens"] for r in kept + day2)


@pytest.mark.parametrize("name", ["logs.csv.gz", "logs.jsonl", "logs.jsonl.gz", "logs.parquet"])
def test_other_containers_give_the_same_totals(imp, tmp_path, name):
    rows = spend_logs(NOV1, hours=6)
    if name.endswith((".csv.gz",)):
        f = write_csv(tmp_path / name, rows, COLUMNS)
    else:
        typed = [dict(r, spend=float(r["spend"])) for r in rows]  # JSON/Parquet carry spend as a float
        f = (write_parquet if name.endswith(".parquet") else write_jsonl)(tmp_path / name, typed)
    [res] = imp("litellm", f)
    assert res.rows == 18
    n, cost, inp, _c, _w, out = imp.totals()
    assert abs(cost - dsum(r["spend"] for r in rows)) <= Decimal("0.000001")
    assert (n, inp, out) == (18, sum(r["prompt_tokens"] for r in rows), sum(r["completion_tokens"] for r in rows))


def test_bad_value_names_file_line_and_column_and_writes_nothing(imp, tmp_path):
    rows = spend_logs(NOV1, hours=3)
    rows[4]["spend"] = "0.12x"
    f = write_csv(tmp_path / "bad.csv", rows, COLUMNS)
    with pytest.raises(InputFileError) as e:
        imp("litellm", f)
    assert str(e.value) == f'{f}:6: column spend: not a number ("0.12x")'
    assert imp.totals()[0] == 0 and imp.one("SELECT count(*) FROM imported_files") == (0,)


def test_bad_timestamp_and_tokens(imp, tmp_path):
    rows = spend_logs(NOV1, hours=2)
    rows[2]["startTime"] = "yesterday"
    f = write_csv(tmp_path / "bad.csv", rows, COLUMNS)
    with pytest.raises(InputFileError, match=r"bad\.csv:4: column startTime: not a timestamp \(\"yesterday\"\)$"):
        imp("litellm", f)
    rows = spend_logs(NOV1, hours=2)
    rows[5]["prompt_tokens"] = "-3"
    f = write_csv(tmp_path / "bad2.csv", rows, COLUMNS)
    with pytest.raises(InputFileError, match=r'bad2\.csv:7: column prompt_tokens: not a non-negative whole number \("-3"\)$'):
        imp("litellm", f)


def test_malformed_csv_line_is_named(imp, tmp_path):
    f = tmp_path / "ragged.csv"
    lines = ["request_id,startTime,spend"] + [f"r{i},2026-11-01 00:00:00,0.1" for i in range(25000)]
    lines.insert(24001, "r99,2026-11-01 00:00:00,1,5")
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFileError) as e:
        imp("litellm", f)
    assert str(e.value) == f"{f}:24002: malformed CSV line (Expected Number of Columns: 3 Found: 4)"


def test_wrong_format_names_what_it_looks_like(imp, tmp_path):
    f = write_csv(tmp_path / "focus.csv", [{"ChargePeriodStart": "2026-11-01", "BilledCost": "1", "ServiceName": "x"}])
    with pytest.raises(InputFileError) as e:
        imp("litellm", f)
    assert str(e.value) == f"{f}: not a litellm file (missing column startTime); it looks like focus (use --format focus)"
    with pytest.raises(InputFileError, match=r"nope\.csv: no such file$"):
        imp("litellm", tmp_path / "nope.csv")


def test_failed_reimport_leaves_the_store_as_it_was(imp, tmp_path):
    """Atomic: a revised export with one bad value changes nothing, not even the rows it would replace."""
    imp("litellm", write_csv(tmp_path / "a.csv", spend_logs(NOV1, hours=4), COLUMNS))
    snap, ledger = imp.snapshot(), imp.query("SELECT * FROM imported_files")
    revised = spend_logs(NOV1, hours=4, spend_scale="3")
    revised[-1]["completion_tokens"] = "many"
    with pytest.raises(InputFileError, match=r"b\.csv:13: column completion_tokens: not a non-negative whole number"):
        imp("litellm", write_csv(tmp_path / "b.csv", revised, COLUMNS))
    assert imp.snapshot() == snap and imp.query("SELECT * FROM imported_files") == ledger


def test_same_export_as_csv_then_parquet_does_not_double_count(imp, tmp_path):
    rows = spend_logs(NOV1, hours=3)
    imp("litellm", write_csv(tmp_path / "a.csv", rows, COLUMNS))
    imp("litellm", write_parquet(tmp_path / "a.parquet", rows))
    assert imp.totals()[:2] == (9, dsum(r["spend"] for r in rows))
