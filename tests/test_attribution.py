"""One truth for money (spendwatch/attribution.py): gateway attribution, unpriced usage, duplicate bills.

Real parts: export files written to the documented columns, imported through the CLI into a real DuckDB
store with a [[gateways]] config; figures read through the `spend`/`chargeback` views. Exact Decimals.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendwatch.app import load_config
from spendwatch.attribution import rules_of
from spendwatch.store import Store, Window

from .conftest import write
from .importers.conftest import write_csv

UTC = UTC
NOV1 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 3  # Nov 1..3; the OpenAI bill covers Nov 1 and 2 only (it lags a day)
BILLED_DAYS = 2
MODELS = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14"}
TEAMS = ("team_a", "team_b", "team_c")
LOG_COLUMNS = ["request_id", "call_type", "api_key", "spend", "prompt_tokens", "completion_tokens", "startTime",
               "model", "custom_llm_provider", "user", "team_id", "end_user"]
BILL_COLUMNS = ["start_time", "end_time", "amount_value", "amount_currency", "line_item", "project_id",
                "organization_id"]
CONFIG = """[store]
path = "s.duckdb"

[[gateways]]
source = "litellm-proxy"
upstreams = ["openai", "anthropic"]
upstream_match = { project_id = ["proj_gateway"] }

[[allocation]]
match = { source = "litellm-proxy", project_id = "team_a" }
team = "alpha"
[[allocation]]
match = { source = "litellm-proxy", project_id = ["team_b", "team_c"] }
team = "beta"
"""


def proxy_logs(skip_day: int | None = None, skip_share: int = 3) -> list[dict[str, Any]]:
    """LiteLLM SpendLogs rows: 3 days × 2 OpenAI models × 3 teams × 6 requests, plus a few Anthropic ones.
    On `skip_day`, every `skip_share`-th request is missing (lost proxy logs)."""
    rows = []
    i = 0
    for d in range(DAYS):
        for m, model in enumerate(MODELS):
            for t, team in enumerate(TEAMS):
                for k in range(6):
                    i += 1
                    if d == skip_day and i % skip_share == 0:
                        continue
                    ts = NOV1 + timedelta(days=d, hours=2 + 3 * k + t, minutes=m * 7)
                    spend = Decimal("0.37") * (t + 1) * (m + 1) + Decimal(k) * Decimal("0.0123456789")
                    rows.append({"request_id": f"req-{i}", "call_type": "acompletion", "api_key": f"hash-{team}",
                                 "spend": str(spend), "prompt_tokens": 1000 + 10 * k, "completion_tokens": 200 + k,
                                 "startTime": ts.strftime("%Y-%m-%d %H:%M:%S.%f"), "model": model,
                                 "custom_llm_provider": "openai", "user": f"u{t}", "team_id": team,
                                 "end_user": f"cust-{k % 2}"})
        i += 1
        ts = NOV1 + timedelta(days=d, hours=20)
        rows.append({"request_id": f"req-{i}", "call_type": "acompletion", "api_key": "hash-team_a", "spend": "0.5",
                     "prompt_tokens": 500, "completion_tokens": 50, "startTime": ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                     "model": "claude-sonnet-4-5", "custom_llm_provider": "anthropic", "user": "u0",
                     "team_id": "team_a", "end_user": ""})
    return rows


def gateway_cost(rows: list[dict[str, Any]], day: int, model: str) -> Decimal:
    return sum((Decimal(r["spend"]) for r in rows if r["model"] == model and r["startTime"].startswith(
        (NOV1 + timedelta(days=day)).strftime("%Y-%m-%d"))), Decimal(0))


def bill_lines(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The OpenAI cost export: the gateway project's token lines (3% above the proxy's own prices), direct
    traffic in another project (~30% of the bill), and a tool line."""
    out = []
    for d in range(BILLED_DAYS):
        start = int((NOV1 + timedelta(days=d)).timestamp())

        def line(item: str, amount: Decimal, project: str, start: int = start) -> None:
            out.append({"start_time": start, "end_time": start + 86400, "amount_value": str(amount),
                        "amount_currency": "usd", "line_item": item, "project_id": project,
                        "organization_id": "org-1"})

        for model, snapshot in MODELS.items():
            total = (gateway_cost(logs, d, model) * Decimal("1.03")).quantize(Decimal("0.0000001"))
            line(f"{snapshot}, input", (total * Decimal("0.6")).quantize(Decimal("0.0000001")), "proj_gateway")
            line(f"{snapshot}, output", total - (total * Decimal("0.6")).quantize(Decimal("0.0000001")), "proj_gateway")
        line(f"{MODELS['gpt-4o']}, input", Decimal("13.1234567") + d, "proj_direct")
        line("web search tool calls", Decimal("1.25"), "proj_direct")
    return out


def setup(tmp_path: Path, cli: Any, order: tuple[str, ...] = ("logs", "bill"), logs: Any = None,
          store: str = "s.duckdb") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    logs = logs if logs is not None else proxy_logs()
    bill = bill_lines(proxy_logs())
    write(tmp_path / "sw.toml", CONFIG.replace("s.duckdb", store))
    write_csv(tmp_path / "logs.csv", logs, LOG_COLUMNS)
    write_csv(tmp_path / "bill.csv", bill, BILL_COLUMNS)
    for what in order:
        args = (("logs.csv", "--format", "litellm", "--source", "litellm-proxy") if what == "logs"
                else ("bill.csv", "--format", "openai-costs-csv", "--source", "openai"))
        r = cli("--config", "sw.toml", "import", *args)
        assert r.code == 0, r
    return logs, bill


def query(tmp_path: Path, sql: str, store: str = "s.duckdb") -> list[tuple[Any, ...]]:
    cfg = load_config(str(tmp_path / "sw.toml"))
    with Store.open(str(tmp_path / store), read_only=True, allocation=cfg.allocation) as st:
        return st.query(sql)[1]


def day_of(d: int) -> Any:
    return (NOV1 + timedelta(days=d)).date()


# ------------------------------------------------------------------------------------------ acceptance 1
def test_gateway_rows_carry_the_bill_exactly_and_direct_traffic_keeps_the_rest(tmp_path: Path, cli: Any) -> None:
    logs, bill = setup(tmp_path, cli)
    per_day = dict(query(tmp_path, "SELECT CAST(ts AS DATE), sum(cost_usd) FROM spend WHERE provider = 'openai' "
                                   "GROUP BY 1"))
    for d in range(BILLED_DAYS):
        billed = sum(Decimal(b["amount_value"]) for b in bill if b["start_time"] == int((NOV1 + timedelta(days=d)).timestamp()))
        assert per_day[day_of(d)] == billed  # exact, to 1e-10
    # the lag day: the gateway's own cost, estimated, already under the upstream provider
    assert per_day[day_of(2)] == sum(gateway_cost(logs, 2, m) for m in MODELS)
    assert query(tmp_path, "SELECT DISTINCT cost_basis FROM spend WHERE via IS NOT NULL AND ts >= '2026-11-03' "
                           "ORDER BY 1") == [("estimated",)]

    # per (day, model, team): the group's bill lines in proportion to the team's own gateway cost
    got = {(r[0], r[1], r[2]): r[3] for r in query(tmp_path, """
        SELECT CAST(ts AS DATE), model, project_id, sum(cost_usd) FROM spend
        WHERE via = 'litellm-proxy' AND provider = 'openai' GROUP BY ALL""")}
    for d in range(BILLED_DAYS):
        for model, snapshot in MODELS.items():
            group_bill = sum(Decimal(b["amount_value"]) for b in bill if b["project_id"] == "proj_gateway"
                             and b["line_item"].startswith(snapshot) and b["start_time"] == int((NOV1 + timedelta(days=d)).timestamp()))
            own = gateway_cost(logs, d, model)
            for team in TEAMS:
                team_own = sum((Decimal(r["spend"]) for r in logs if r["team_id"] == team and r["model"] == model
                                and r["startTime"].startswith(str(day_of(d)))), Decimal(0))
                assert abs(got[(day_of(d), model, team)] - group_bill * team_own / own) <= Decimal("0.000001")
            assert sum(got[(day_of(d), model, t)] for t in TEAMS) == group_bill  # exact

    # the direct remainder is the bill minus the attributed part, as the provider's own rows
    direct = dict(query(tmp_path, "SELECT CAST(ts AS DATE), sum(cost_usd) FROM spend WHERE provider = 'openai' "
                                  "AND via IS NULL GROUP BY 1"))
    attributed = dict(query(tmp_path, "SELECT CAST(ts AS DATE), sum(cost_usd) FROM spend WHERE provider = 'openai' "
                                      "AND cost_basis = 'attributed' GROUP BY 1"))
    for d in range(BILLED_DAYS):
        assert direct[day_of(d)] == per_day[day_of(d)] - attributed[day_of(d)] == Decimal("14.3734567") + d

    # attributed rows keep the gateway's dimensions; `via` marks them and nothing else
    assert query(tmp_path, """SELECT DISTINCT source, provider, cost_basis, api_key_id, user_id, tags FROM spend
                              WHERE via IS NOT NULL AND project_id = 'team_a' AND model = 'gpt-4o'
                                AND ts < '2026-11-03' ORDER BY ALL""") == [
        ("litellm-proxy", "openai", "attributed", "hash-team_a", "u0", '{"end_user": "cust-0"}'),
        ("litellm-proxy", "openai", "attributed", "hash-team_a", "u0", '{"end_user": "cust-1"}')]
    assert query(tmp_path, "SELECT count(*) FROM spend WHERE via IS NULL AND source = 'litellm-proxy'") == [(0,)]
    # Anthropic traffic through the proxy, no Anthropic bill in the store: provider anthropic, estimated
    assert query(tmp_path, "SELECT DISTINCT provider, cost_basis, via FROM spend WHERE model LIKE 'claude%'") == [
        ("anthropic", "estimated", "litellm-proxy")]

    # chargeback by gateway team sums to the invoice (plus the direct rows, which no team owns)
    cb = dict(query(tmp_path, "SELECT team, sum(cost_usd) FROM chargeback WHERE provider = 'openai' "
                              "AND month = '2026-11' GROUP BY 1"))
    assert sum(cb.values()) == sum(per_day.values())
    assert cb["(unallocated)"] == sum(direct.values())
    assert query(tmp_path, "SELECT count(*) FROM daily_spend WHERE via = 'litellm-proxy'")[0][0] > 0


# ------------------------------------------------------------------------------------------ acceptance 2
def test_rerun_and_order_of_arrival_change_nothing(tmp_path: Path, cli: Any) -> None:
    everything = "SELECT * FROM spend ORDER BY ALL"
    setup(tmp_path, cli, order=("logs", "bill"), store="a.duckdb")
    first = query(tmp_path, everything, "a.duckdb")
    setup(tmp_path, cli, order=("bill", "logs"), store="b.duckdb")
    assert query(tmp_path, everything, "b.duckdb") == first
    setup(tmp_path, cli, order=("bill", "logs", "bill", "logs", "bill"), store="a.duckdb")  # re-runs
    assert query(tmp_path, everything, "a.duckdb") == first
    assert len(first) > 100 and any(r[-1] == "litellm-proxy" for r in first)


def test_config_change_recomputes_and_a_bare_store_keeps_its_rules(tmp_path: Path, cli: Any) -> None:
    setup(tmp_path, cli)
    attributed = "SELECT count(*) FROM spend WHERE cost_basis = 'attributed'"
    n = query(tmp_path, attributed)[0][0]
    assert n > 0
    # `--store` without a config must not forget the store's gateways
    assert cli("--store", "s.duckdb", "import", "bill.csv", "--format", "openai-costs-csv", "--source", "openai").code == 0
    assert query(tmp_path, attributed)[0][0] == n
    # a config without the gateway: the next writer recomputes every day; the rows are LiteLLM's again
    write(tmp_path / "sw.toml", CONFIG.split("[[gateways]]")[0])
    assert cli("--config", "sw.toml", "import", "bill.csv", "--format", "openai-costs-csv", "--source", "openai").code == 0
    assert query(tmp_path, attributed)[0][0] == 0
    assert query(tmp_path, "SELECT DISTINCT provider FROM spend WHERE source = 'litellm-proxy'") == [("litellm",)]


# ------------------------------------------------------------------------------------------ acceptance 3
def usage(hour: int, model: str, cost: str | None, tokens: int, key: str = "k1") -> dict[str, Any]:
    return {"ts": NOV1 + timedelta(hours=hour), "granularity": "hour", "provider": "anthropic",
            "project_id": "wrk_1", "workspace_id": "wrk_1", "api_key_id": key, "model": model,
            "input_tokens": tokens, "output_tokens": tokens // 10, "record_type": "usage", "cost_basis": "estimated",
            "cost_usd": None if cost is None else Decimal(cost)}


def cost_line(model: str, item: str, amount: str, day: int = 0) -> dict[str, Any]:
    return {"ts": NOV1 + timedelta(days=day), "granularity": "day", "provider": "anthropic", "project_id": "wrk_1",
            "workspace_id": "wrk_1", "model": model, "line_item": item, "record_type": "cost", "covers_usage": True,
            "cost_basis": "billed", "cost_usd": Decimal(amount)}


def test_unpriced_model_gets_its_billed_money_and_no_finding(tmp_path: Path, cli: Any) -> None:
    write(tmp_path / "sw.toml", '[store]\npath = "s.duckdb"\n')
    two = Window(NOV1, NOV1 + timedelta(days=2))
    with Store.open(str(tmp_path / "s.duckdb")) as st:
        st.replace_window("anthropic", "usage", two, [
            usage(1, "claude-sonnet-4-20250514", "3.00", 1000), usage(2, "claude-sonnet-4-20250514", "1.00", 300, "k2"),
            usage(3, "claude-mystery-9", None, 4000), usage(4, "claude-mystery-9", None, 2000, "k2"),
            usage(30, "claude-mystery-9", None, 777),  # Nov 2: no bill yet, its money is truly unknown
        ])
        st.replace_window("anthropic", "cost", Window(NOV1, NOV1 + timedelta(days=1)), [
            cost_line("claude-sonnet-4", "Claude Sonnet 4 input", "3.3000000001"),
            cost_line("claude-mystery-9", "Claude Mystery 9 input", "7.00"),
            cost_line("claude-mystery-9", "Claude Mystery 9 output", "2.0000000002"),
        ])
    rows = query(tmp_path, "SELECT model, api_key_id, cost_usd, cost_basis FROM spend WHERE ts < '2026-11-02' ORDER BY ALL")
    assert rows == [
        ("claude-mystery-9", "k1", Decimal("6.0000000002"), "reconciled"),  # 2/3 of 9.0000000002, remainder here
        ("claude-mystery-9", "k2", Decimal("3.0000000000"), "reconciled"),
        ("claude-sonnet-4-20250514", "k1", Decimal("2.4750000001"), "reconciled"),
        ("claude-sonnet-4-20250514", "k2", Decimal("0.8250000000"), "reconciled")]
    r = cli("--config", "sw.toml", "detect", "--no-send", "--json", "--at", "2026-11-03T00:00:00Z")
    assert r.code == 0, r
    unpriced = [f for f in json.loads(r.out) if f["detector"] == "unpriced_model"]
    # only Nov 2's row (no bill) is unknown money
    assert [(f["scope"], f["period_start"]) for f in unpriced] == [
        ({"provider": "anthropic", "model": "claude-mystery-9"}, "2026-11-02T06:00:00Z")]
    assert "777" in unpriced[0]["message"].replace(",", "") or "854" in unpriced[0]["message"].replace(",", "")


# ------------------------------------------------------------------------------------------ acceptance 4
def test_same_bill_from_two_sources_counts_once_and_fires_once(tmp_path: Path, cli: Any) -> None:
    write(tmp_path / "sw.toml", '[store]\npath = "s.duckdb"\n')
    bill = bill_lines(proxy_logs())
    write_csv(tmp_path / "bill.csv", bill, BILL_COLUMNS)
    for source in ("openai-finance", "openai-costs"):
        assert cli("--config", "sw.toml", "import", "bill.csv", "--format", "openai-costs-csv",
                   "--source", source).code == 0
    total = sum(Decimal(b["amount_value"]) for b in bill)
    assert query(tmp_path, "SELECT sum(cost_usd), list(DISTINCT source) FROM spend") == [(total, ["openai-costs"])]
    r = cli("--config", "sw.toml", "detect", "--no-send", "--json", "--at", "2026-11-04T00:00:00Z")
    found = [f for f in json.loads(r.out) if f["detector"] == "duplicate_bill"]
    assert len(found) == 1
    f = found[0]
    assert f["severity"] == "critical"
    assert f["scope"] == {"provider": "openai", "source": "openai-costs", "duplicate_source": "openai-finance"}
    assert "openai-finance" in f["message"] and "openai-costs" in f["message"]
    assert "2026-11-01, 2026-11-02" in f["message"] and "2 days" in f["message"]
    status = cli("--config", "sw.toml", "status", "--format", "json")
    assert status.code == 0
    assert "openai-finance" in status.out and "bills stored twice" in status.out
    # a configured source wins over unconfigured ones, whatever their names
    write(tmp_path / "sw.toml", '[store]\npath = "s.duckdb"\n[[sources]]\nname = "openai-finance"\ntype = "files"\n'
                                'path = "bill.csv"\nformat = "openai-costs-csv"\n')
    assert cli("--config", "sw.toml", "import", "bill.csv", "--format", "openai-costs-csv",
               "--source", "openai-costs").code == 0
    assert query(tmp_path, "SELECT sum(cost_usd), list(DISTINCT source) FROM spend") == [(total, ["openai-finance"])]


# ------------------------------------------------------------------------------------------ acceptance 5
def test_gateway_gap_fires_on_the_day_with_lost_logs_only(tmp_path: Path, cli: Any) -> None:
    setup(tmp_path, cli, logs=proxy_logs(skip_day=1))
    r = cli("--config", "sw.toml", "detect", "--no-send", "--json", "--at", "2026-11-04T00:00:00Z")
    assert r.code == 0, r
    gaps = [f for f in json.loads(r.out) if f["detector"] == "gateway_gap"]
    assert [(f["scope"], f["period_start"]) for f in gaps] == [
        ({"source": "litellm-proxy", "provider": "openai"}, "2026-11-02T00:00:00Z")]
    g = gaps[0]
    assert Decimal(g["observed"]) < Decimal(g["expected"]) * Decimal("0.75")
    assert {d["value"] for d in g["drivers"]} == {"gpt-4o", "gpt-4.1-mini"}
    assert "missing" in g["message"]


def test_check_config_shows_gateways(tmp_path: Path, cli: Any) -> None:
    write(tmp_path / "sw.toml", CONFIG)
    r = cli("--config", "sw.toml", "check-config")
    assert r.code == 0, r
    assert "gateways (1):" in r.out
    assert "litellm-proxy: gateway logs; upstreams openai, anthropic; attributes bill lines matching " \
           "project_id=['proj_gateway']" in r.out
    write(tmp_path / "bad.toml", '[[gateways]]\nsource = "gw"\nupstreams = []\nupstream_match = { team = "x" }\n')
    r = cli("--config", "bad.toml", "check-config")
    assert r.code == 1
    assert "gateways[0].upstreams" in r.err and "gateways[0].upstream_match.team" in r.err


# ------------------------------------------------------------------------- money at the import bound
BIG = Decimal("999999999999999.9999999999")  # the largest |cost| an import accepts (docs/input-limits.md)
TOK = 999_999_999_999_999


def test_splits_at_the_import_bound_stay_exact_and_never_overflow(tmp_path: Path) -> None:
    """Pools whose money × weight leaves HUGEINT (1e25-unit bills × 1e25-unit costs, 1e15 tokens, many rows,
    credits): every path of the split (cost share, token share, unpriced model, rest of a bill) still sums
    exactly to the bill, and the cost-share split stays proportional."""
    write(tmp_path / "sw.toml", CONFIG)
    cfg = load_config(str(tmp_path / "sw.toml"))
    day = Window(NOV1, NOV1 + timedelta(days=1))
    q = Decimal("0.0000000001")

    def gw(i: int, model: str, cost: Decimal | None) -> dict[str, Any]:
        return {"ts": NOV1 + timedelta(minutes=i), "granularity": "request", "provider": "litellm",
                "project_id": TEAMS[i % 3], "api_key_id": f"hash-{i}", "model": model, "line_item": "openai/acompletion",
                "input_tokens": TOK - i, "output_tokens": TOK, "requests": 1, "record_type": "usage",
                "cost_basis": "billed", "cost_usd": cost}

    # 30 gateway charges of growing size and 10 credits (cost share), 12 unpriced gateway rows (token share)
    costs = [(BIG * (i + 1) / 30).quantize(q) for i in range(30)] + [-(BIG / (i + 3)).quantize(q) for i in range(10)]
    gateway = [gw(i, "gpt-4o", c) for i, c in enumerate(costs)] + [gw(100 + i, "o4-mini", None) for i in range(12)]

    def usage_row(i: int, model: str, cost: Decimal | None) -> dict[str, Any]:
        return {"ts": NOV1 + timedelta(hours=i % 24), "granularity": "hour", "provider": "openai",
                "project_id": "proj_direct", "api_key_id": f"k{i}", "model": model, "input_tokens": TOK - i,
                "output_tokens": TOK, "record_type": "usage", "cost_basis": "estimated", "cost_usd": cost}

    # direct traffic, reconciled: priced rows, an unpriced model with its own bill lines, one without
    direct = ([usage_row(i, "gpt-4.1", (BIG / (i + 1)).quantize(q)) for i in range(20)]
              + [usage_row(20 + i, "mystery-1", None) for i in range(8)]
              + [usage_row(30 + i, "mystery-2", None) for i in range(8)])

    def bill_row(i: int, project: str, model: str, amount: Decimal) -> dict[str, Any]:
        return {"ts": NOV1, "granularity": "day", "provider": "openai", "project_id": project, "model": model,
                "line_item": f"{model}, line {i}", "record_type": "cost", "covers_usage": True,
                "cost_basis": "billed", "cost_usd": amount}

    bill = ([bill_row(i, "proj_gateway", "gpt-4o-2024-08-06", BIG - i) for i in range(40)]
            + [bill_row(40 + i, "proj_gateway", "o4-mini-2025-04-16", BIG) for i in range(6)]
            + [bill_row(50 + i, "proj_direct", "gpt-4.1", BIG - i) for i in range(30)]
            + [bill_row(80 + i, "proj_direct", "mystery-1", BIG) for i in range(5)]
            + [bill_row(90, "proj_direct", "gpt-4.1", (-BIG / 2).quantize(q))])  # a credit line
    with Store.open(str(tmp_path / "s.duckdb"), allocation=cfg.allocation, money=rules_of(cfg)) as st:
        st.replace_window("litellm-proxy", "litellm", day, gateway)
        st.replace_window("openai", "cost", day, bill)
        st.replace_window("openai", "usage", day, direct)

    def billed(project: str, prefix: str = "") -> Decimal:
        return sum((b["cost_usd"] for b in bill if b["project_id"] == project and b["model"].startswith(prefix)),
                   Decimal(0))

    total = sum((b["cost_usd"] for b in bill), Decimal(0))
    assert query(tmp_path, "SELECT sum(cost_usd), count(*) FILTER (WHERE cost_usd IS NULL) FROM spend") == [(total, 0)]
    got = {(r[0], r[1]): (r[2], r[3]) for r in query(tmp_path, """
        SELECT cost_basis, model, sum(cost_usd), count(*) FROM spend GROUP BY ALL""")}
    assert got == {("attributed", "gpt-4o"): (billed("proj_gateway", "gpt-4o"), 40),
                   ("attributed", "o4-mini"): (billed("proj_gateway", "o4-mini"), 12),
                   ("reconciled", "mystery-1"): (billed("proj_direct", "mystery-1"), 8),
                   ("reconciled", "gpt-4.1"): (got[("reconciled", "gpt-4.1")][0], 20),
                   ("reconciled", "mystery-2"): (got[("reconciled", "mystery-2")][0], 8)}
    assert got[("reconciled", "gpt-4.1")][0] + got[("reconciled", "mystery-2")][0] == billed("proj_direct", "gpt-4.1")
    # mystery-2 takes the token share of the rest of the bill: 8 of 28 rows' (nearly equal) tokens; weights
    # scaled by 10^k keep ~10 significant digits at these sizes
    rest = billed("proj_direct", "gpt-4.1")
    assert abs(got[("reconciled", "mystery-2")][0] - rest * 8 / 28) < rest * Decimal("1e-8")
    # each gateway row's share is proportional to its own cost (credits take negative shares)
    pool = billed("proj_gateway", "gpt-4o")
    shares = dict(query(tmp_path, "SELECT api_key_id, cost_usd FROM spend WHERE model = 'gpt-4o'"))
    for i, c in enumerate(costs):
        assert abs(shares[f"hash-{i}"] - pool * c / sum(costs)) < abs(pool) * Decimal("1e-8"), i


def test_migration_0007_fills_spend_money_of_existing_rows(tmp_path: Path, cli: Any) -> None:
    """A store written before migration 0007 (no spend_usd/in_spend), holding attributed, hidden and
    reconciled rows and a cost beyond the import bound: after the migration `spend` shows the same figures,
    the out-of-bound cost reads as unknown, and the next write keeps the columns right."""
    import duckdb

    setup(tmp_path, cli)
    everything = "SELECT * FROM spend ORDER BY ALL"
    before = query(tmp_path, everything)
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    for col in ("spend_usd", "in_spend"):
        con.execute(f"ALTER TABLE records DROP COLUMN {col}")
    con.execute("DELETE FROM schema_migrations WHERE name = '0007_spend_money'")
    con.execute("""INSERT INTO records (source, kind, record_type, covers_usage, ts, period_end, granularity, provider,
                       cost_usd, cost_basis, currency)
                   VALUES ('old', 'canonical', 'usage', FALSE, '2026-11-05', '2026-11-06', 'day', 'x', 1e18,
                           'estimated', 'USD')""")
    con.close()
    cfg = load_config(str(tmp_path / "sw.toml"))
    with Store.open(str(tmp_path / "s.duckdb"), allocation=cfg.allocation, money=rules_of(cfg)):
        pass
    after = query(tmp_path, everything)
    assert [r for r in after if r[3] != "x"] == before  # r[3]: provider
    assert query(tmp_path, "SELECT count(*), count(cost_usd) FROM spend WHERE provider = 'x'") == [(1, 0)]
    assert query(tmp_path, "SELECT count(*) FROM records WHERE in_spend <> (hidden_by IS NULL) "
                           "OR spend_usd IS DISTINCT FROM coalesce(spend_cost, cost_usd) AND provider <> 'x'") == [(0,)]
    # the next import recomputes its days and keeps both columns right
    assert cli("--config", "sw.toml", "import", "bill.csv", "--format", "openai-costs-csv", "--source", "openai").code == 0
    assert [r for r in query(tmp_path, everything) if r[3] != "x"] == before
