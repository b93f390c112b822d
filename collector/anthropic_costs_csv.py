"""`import --format anthropic-costs-csv`: the CSV export of the Claude Console's Cost page, one row per
day × model × workspace × API key × token type: usage_date_utc, model (display name, "Claude Sonnet
4.5"), workspace, api_key, usage_type, context_window, token_type, cost_usd (dollars), list_price_usd,
cost_type, inference_geo, speed, api_key_id. [Assumption: column list from third-party parsers of the
export; Anthropic does not document it. Only usage_date_utc and cost_usd are required.]

Mapping: one 'cost' record per row (cost_basis 'billed'), provider 'anthropic', workspace_id = workspace
(the Console writes the workspace's name), api_key_id = api_key_id (else api_key), model = the display
name as an API-style id ("Claude Sonnet 4.5" → claude-sonnet-4-5), line_item = token_type (else
usage_type / cost_type), service_tier 'batch' for batch usage, covers_usage for token rows (cost_type
token(s) or a token_type), so estimated usage of the same day is reconciled against them. Money exact.

Replace rule: per workspace, the file covers the whole UTC days from its first to its last
usage_date_utc; older anthropic-costs-csv rows of that source and workspace on those days are replaced
(an export filtered to one workspace leaves the others alone).
"""

from __future__ import annotations

from typing import Any

from . import FORMATS, ImportResult
from ._files import Check, Columns, Part, Plan, money, money_ok, require, run_import

KIND = "anthropic-costs-csv"


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "anthropic-costs-csv", [("usage_date_utc",), ("cost_usd",)])
    t = cols.text
    date, cost = cols.must("usage_date_utc"), cols.must("cost_usd")
    model, token_type, cost_type, usage_type = t("model"), t("token_type"), t("cost_type"), t("usage_type")
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    slug = let.pure(f"regexp_replace(lower({model}), '[^a-z0-9]+', '-', 'g')")
    ts = let.kept(f"CAST(CAST(trim(CAST({date} AS VARCHAR)) AS DATE) AS TIMESTAMPTZ)")  # strict; every kept row has one
    exprs = {
        "record_type": "'cost'", "cost_basis": "'billed'", "ts": ts, "period_end": f"{ts} + INTERVAL 1 DAY",
        "granularity": "'day'", "provider": "'anthropic'", "workspace_id": t("workspace"),
        "api_key_id": f"coalesce({t('api_key_id')}, {t('api_key')})",
        "model": f"nullif({slug}, '')",
        "line_item": f"coalesce({token_type}, {usage_type}, {cost_type})",
        "service_tier": f"CASE WHEN regexp_matches(coalesce({usage_type}, ''), '(?i)batch') THEN 'batch' END",
        "covers_usage": f"({token_type} IS NOT NULL OR coalesce(lower({cost_type}) IN ('token', 'tokens'), FALSE))",
        "cost_usd": money(cost), "currency": "'USD'",
    }
    checks = [Check("usage_date_utc", date, f"try_cast(trim(CAST({date} AS VARCHAR)) AS DATE) IS NOT NULL", "not a date"),
              Check("cost_usd", cost, f"({cost} IS NOT NULL AND {money_ok(cost)})", "not a number")]
    return Plan([Part(exprs)], checks, scope=("workspace_id",), whole_days=True)


@FORMATS.register("anthropic-costs-csv")
class AnthropicCostsCsvFormat:
    """Claude Console cost export → billed daily lines per model, workspace, key and token type."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="anthropic-costs-csv", kind=KIND,
                          source=source or "anthropic-costs-csv", build=lambda cols: plan(cols, path))
