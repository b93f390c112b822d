"""`spendwatch export --format focus`: the `spend` view as a FOCUS 1.2 CostAndUsage dataset.

FOCUS (the FinOps Foundation's open billing format) is what Vantage, CloudZero, Finout and the cloud
vendors' own tools load; no AI vendor exports it yet. One FOCUS row per `spend` row; the mapping, with the
assumptions it makes, is tabled in docs/analysis-and-export.md. In short:

  * money: BilledCost = EffectiveCost = ListCost = ContractedCost = cost_usd, exactly (DECIMAL(38,10)).
    Pay-as-you-go API usage has no commitment discounts, and the list price is what is billed (negotiated
    rates from [[prices]] are already in cost_usd; we do not publish unit prices, so the unit-price
    columns are absent, which FOCUS allows for providers without public price lists in the dataset);
  * rows whose price is unknown (cost_usd NULL) are left out and counted: FOCUS has no "unknown" cost and
    writing 0 would be a silent $0 (invariant 5);
  * negative amounts (credits) are ChargeCategory "Credit", everything else "Usage";
  * a request row (a point in time) is given its clock hour as charge period, because FOCUS charge periods
    are intervals; the exact time stays in x_RequestTime;
  * ProviderName/InvoiceIssuerName name who charged (the gateway for LiteLLM rows), PublisherName who made
    the model (from the model name);
  * ConsumedQuantity/PricingQuantity = prompt + completion tokens ("Tokens"), or requests ("Requests") for
    lines that carry no tokens, or 1 "Units" for a billed line that carries neither;
  * spendwatch's own columns ride along as x_* (tokens, model, team, cost basis, source, key, user, and any
    column a later version adds to `spend`, e.g. `via` -> x_Via).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from .export_common import ExportResult, _atomic_copy, _order, _window_sql, spend_columns

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "litellm": "LiteLLM",
                  "azure-openai": "Microsoft", "gcp": "Google Cloud", "vertex_ai": "Google Cloud",
                  "aws": "AWS", "bedrock": "AWS"}
SERVICE_NAMES = {"openai": "OpenAI API", "anthropic": "Anthropic API", "openrouter": "OpenRouter",
                 "litellm": "LiteLLM Proxy", "azure-openai": "Azure OpenAI", "gcp": "Vertex AI",
                 "vertex_ai": "Vertex AI", "aws": "Amazon Bedrock", "bedrock": "Amazon Bedrock"}
# model name prefix (GLOB) -> who publishes the model
PUBLISHERS = (("gpt-*", "OpenAI"), ("o1*", "OpenAI"), ("o3*", "OpenAI"), ("o4*", "OpenAI"),
              ("text-embedding*", "OpenAI"),
              ("*claude*", "Anthropic"), ("*gemini*", "Google"), ("*llama*", "Meta"), ("*mistral*", "Mistral AI"),
              ("*deepseek*", "DeepSeek"), ("*grok*", "xAI"), ("*qwen*", "Alibaba Cloud"), ("*command*", "Cohere"))
# spend column -> FOCUS extension column (carried as is)
EXTENSIONS = {"input_tokens": "x_InputTokens", "cached_input_tokens": "x_CachedInputTokens",
              "cache_write_tokens": "x_CacheWriteTokens", "output_tokens": "x_OutputTokens",
              "reasoning_tokens": "x_ReasoningTokens", "requests": "x_Requests", "model": "x_Model", "team": "x_Team",
              "cost_basis": "x_CostBasis", "source": "x_Source", "api_key_id": "x_ApiKeyId", "user_id": "x_UserId",
              "service_tier": "x_ServiceTier", "granularity": "x_Granularity", "line_item": "x_LineItem",
              "project_id": "x_ProjectId", "workspace_id": "x_WorkspaceId", "record_type": "x_RecordType"}
# columns of `spend` the mapping reads itself; any other column is carried as x_<CamelCase>
MAPPED = set(EXTENSIONS) | {"ts", "period_end", "provider", "account_id", "cost_usd", "tags", "currency"}


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _case(column: str, mapping: dict[str, str], default: str) -> str:
    whens = " ".join(f"WHEN {_q(k)} THEN {_q(v)}" for k, v in mapping.items())
    return f"CASE {column} {whens} ELSE {default} END"


def _camel(name: str) -> str:
    return "x_" + "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def focus_select(columns: list[str]) -> str:
    """SELECT list mapping `spend` (with these columns) to FOCUS 1.2; FROM spend is appended by the caller."""
    provider_name = _case("provider", PROVIDER_NAMES, "provider")
    publisher = "CASE " + " ".join(f"WHEN model GLOB {_q(g)} THEN {_q(p)}" for g, p in PUBLISHERS) \
        + f" ELSE {provider_name} END"
    tokens = "(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))"
    has_tokens = "(input_tokens IS NOT NULL OR output_tokens IS NOT NULL)"
    quantity = (f"CASE WHEN cost_usd < 0 THEN NULL WHEN {has_tokens} THEN CAST({tokens} AS DECIMAL(38, 10)) "
                "WHEN requests IS NOT NULL THEN CAST(requests AS DECIMAL(38, 10)) ELSE CAST(1 AS DECIMAL(38, 10)) END")
    unit = (f"CASE WHEN cost_usd < 0 THEN NULL WHEN {has_tokens} THEN 'Tokens' "
            "WHEN requests IS NOT NULL THEN 'Requests' ELSE 'Units' END")
    point = "(period_end <= ts)"
    team_tag = "CASE WHEN team IS NULL THEN '{}' ELSE json_object('team', team)::VARCHAR END"
    tags = ("CAST(json_merge_patch("
            "CASE WHEN json_valid(tags) AND json_type(tags) = 'OBJECT' THEN tags ELSE '{}' END, "
            f"{team_tag}) AS VARCHAR)")
    month = "date_trunc('month', timezone('UTC', ts))"
    sel = [
        "CAST(cost_usd AS DECIMAL(38, 10)) AS BilledCost",
        "CAST(cost_usd AS DECIMAL(38, 10)) AS EffectiveCost",
        "CAST(cost_usd AS DECIMAL(38, 10)) AS ListCost",
        "CAST(cost_usd AS DECIMAL(38, 10)) AS ContractedCost",
        "coalesce(account_id, source) AS BillingAccountId",
        "source AS BillingAccountName",
        "coalesce(currency, 'USD') AS BillingCurrency",
        f"timezone('UTC', {month}) AS BillingPeriodStart",
        f"timezone('UTC', {month} + INTERVAL 1 MONTH) AS BillingPeriodEnd",
        f"CASE WHEN {point} THEN date_trunc('hour', ts) ELSE ts END AS ChargePeriodStart",
        f"CASE WHEN {point} THEN date_trunc('hour', ts) + INTERVAL 1 HOUR ELSE period_end END AS ChargePeriodEnd",
        "CASE WHEN cost_usd < 0 THEN 'Credit' ELSE 'Usage' END AS ChargeCategory",
        "CAST(NULL AS VARCHAR) AS ChargeClass",
        # no commitment discounts: all NULL. Present because focus-validator 2.2.1's ConsumedQuantity-C-006-C
        # reads this column even when COMMITMENT_DISCOUNT_SUPPORTED is not claimed (fails when it is absent)
        "CAST(NULL AS VARCHAR) AS CommitmentDiscountStatus",
        # not associated with an invoice we know of (RECOMMENDED column; FOCUS: null when not invoiced)
        "CAST(NULL AS VARCHAR) AS InvoiceId",
        "coalesce(line_item, model || ' usage', provider || ' usage') AS ChargeDescription",
        "'Usage-Based' AS ChargeFrequency",
        f"{quantity} AS ConsumedQuantity",
        f"{unit} AS ConsumedUnit",
        f"{quantity} AS PricingQuantity",
        f"{unit} AS PricingUnit",
        f"{provider_name} AS ProviderName",
        f"{publisher} AS PublisherName",
        f"{provider_name} AS InvoiceIssuerName",
        f"{_case('provider', SERVICE_NAMES, 'provider')} AS ServiceName",
        "'AI and Machine Learning' AS ServiceCategory",
        "'Generative AI' AS ServiceSubcategory",
        "provider || '/' || coalesce(model, line_item, 'usage') AS SkuId",
        f"CASE WHEN {has_tokens} THEN 'Tokens' ELSE coalesce(line_item, 'Usage') END AS SkuMeter",
        "coalesce(project_id, workspace_id) AS SubAccountId",
        "coalesce(project_id, workspace_id) AS SubAccountName",
        f"{tags} AS Tags",
        "CASE WHEN granularity = 'request' THEN ts END AS x_RequestTime",
    ]
    sel += [f"{c} AS {EXTENSIONS[c]}" for c in EXTENSIONS if c in columns]
    sel += [f'"{c}" AS {_camel(c)}' for c in columns if c not in MAPPED]  # e.g. via -> x_Via
    return ",\n       ".join(sel)


def export_focus(conn: Any, out: Path, since: datetime | None, until: datetime | None) -> Any:
    """Write the FOCUS file (Parquet; CSV when `out` ends in .csv), atomically by rename."""

    cols = [c for c, _ in spend_columns(conn)]
    cond, params = _window_sql(since, until)
    select = f"SELECT {focus_select(cols)}\nFROM spend WHERE cost_usd IS NOT NULL AND {cond} ORDER BY {_order(cols)}"
    if out.suffix.lower() == ".csv":
        options = "FORMAT csv, HEADER, TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%SZ'"
    else:
        options = "FORMAT parquet, COMPRESSION zstd"
    _atomic_copy(conn, select, params, out, options)
    n, unpriced = conn.execute(f"SELECT count(cost_usd), count(*) - count(cost_usd) FROM spend WHERE {cond}",
                               params).fetchone()
    return ExportResult(str(out), int(n), skipped_unpriced=int(unpriced))
