"""`import --format gcp-billing`: the Google Cloud Billing standard export (BigQuery table
`gcp_billing_export_v1_<BILLING_ACCOUNT_ID>`) saved as Parquet or JSONL (nested: `service.description`,
`credits[]`) or as CSV (flattened headers `service.description` or `service_description`, with `credits`
as the JSON text BigQuery writes for a repeated field). docs/provider-apis.md §6.

Rows kept (the AI rows only): service.description "Gemini API" / "Generative Language API" (AI Studio),
and "Vertex AI" rows whose SKU names a generative model or a token/character charge (Gemini, Claude,
Llama, Mistral, Gemma, Imagen, Veo, PaLM, Codey, Chirp, embeddings, "token", "character"); Vertex AI
training, endpoints and notebooks are left out. [Assumption: SKU wording, not documented by Google.]

Mapping: one 'cost' record per kept row (billed line items, cost_basis 'billed': they are the bill's own
lines, so `spend` treats them as truth and reconciles any estimated usage of the same provider/project/day
against them), provider 'vertex-ai' or 'gemini-api', account_id = billing_account_id, project_id =
project.id, line_item = sku.description, model from the SKU text ("Gemini 2.5 Flash Input Text Tokens"
→ gemini-2.5-flash), tokens from usage.amount × usage.unit ("count" = 1, "1000 count" / "1K tokens" =
1,000, "1M tokens" = 1,000,000; else usage.amount_in_pricing_units × usage.pricing_unit) into
input/cached_input/output by the SKU's direction words; covers_usage for token lines. Money = `cost`
(before credits) in `currency`, exact: CSV text is read as decimal, FLOAT columns are rounded to 1e-10.
Each credit (credits[].amount, negative) is its own 'cost' line "credit: <full_name|name>", not covering
usage, so net = gross + credits in `spend`. Non-USD exports keep their currency in `currency` (no FX).

Replace rule: per billing account, the file covers [first usage_start_time, last usage_end_time); older
gcp-billing rows of that source and account inside it are replaced (re-issued exports and late rows).
"""

from __future__ import annotations

from typing import Any

from . import FORMATS, ImportResult
from ._files import (
    Check,
    Columns,
    Lets,
    Part,
    Plan,
    instant,
    instant_ok,
    money,
    money_ok,
    require,
    run_import,
    unit_multiplier,
)

KIND = "gcp-billing"
AI_SKU = (r"(?i)(gemini|claude|llama|mistral|gemma|imagen|veo|palm|codey|chirp|embedding|token|character|"
          r"generative|anthropic)")
FAMILY = (r"(?i)((gemini|claude|llama|mistral|gemma|imagen|veo|palm|codey|chirp|text-embedding|embedding)"
          r"[\w .\-]*?)(\s+(input|output|cache|cached|text|audio|image|video|thinking|reasoning|long|short|batch|"
          r"predictions?|characters?|tokens?|context|count|storage|for|with|in)\b|$)")
CREDIT_TYPE = '[{"name": "VARCHAR", "amount": "VARCHAR", "full_name": "VARCHAR", "id": "VARCHAR", "type": "VARCHAR"}]'


def model_from(text: str, lets: Lets) -> str:
    m = f"regexp_extract({text}, '{FAMILY}', 1)"
    name = lets.pure(f"regexp_replace(lower(trim({m})), '\\s+', '-', 'g')")
    return f"nullif({name}, '')"


def token_exprs(sku: str, tokens: str, lets: Lets) -> dict[str, str]:
    """Split a token quantity into our token columns by the SKU's direction words."""
    out = lets.pure(f"regexp_matches({sku}, '(?i)(output|thinking|reasoning)')")
    cached = f"(NOT {out} AND regexp_matches({sku}, '(?i)cach'))"
    return {
        "input_tokens": f"CASE WHEN NOT {out} THEN {tokens} END",
        "cached_input_tokens": f"CASE WHEN {cached} THEN {tokens} END",
        "output_tokens": f"CASE WHEN {out} THEN {tokens} END",
    }


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "gcp-billing", [("usage_start_time",), ("cost",), ("service.description",),
                                       ("sku.description",)])
    t = cols.text
    svc, sku = t("service.description"), t("sku.description")
    start, end = cols.must("usage_start_time"), cols.ref("usage_end_time")
    cost = cols.must("cost")
    keep = (f"({svc} IN ('Gemini API', 'Generative Language API') OR "
            f"({svc} = 'Vertex AI' AND regexp_matches(coalesce({sku}, ''), '{AI_SKU}')))")
    provider = f"CASE WHEN {svc} = 'Vertex AI' THEN 'vertex-ai' ELSE 'gemini-api' END"
    amount, unit = cols.ref("usage.amount"), t("usage.unit")
    p_amount, p_unit = cols.ref("usage.amount_in_pricing_units"), t("usage.pricing_unit")
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    is_tokens = let.pure(f"regexp_matches(coalesce({sku}, '') || ' ' || coalesce({unit}, '') || ' ' || "
                         f"coalesce({p_unit}, ''), '(?i)token')")
    qty = []
    if amount:
        qty.append(f"{money(amount)} * {unit_multiplier(unit, let)}")
    if p_amount:
        qty.append(f"{money(p_amount)} * {unit_multiplier(p_unit, let)}")
    # strict (a bad quantity fails the import): a kept let, as the three token columns together evaluate it
    # on every row of the line items' part (the credits' part does not reach it)
    tokens = (let.kept(f"CASE WHEN {is_tokens} THEN CAST(round(coalesce({', '.join(qty)})) AS BIGINT) END")
              if qty else "NULL")
    ts = let.kept(instant(start))  # strict, and every kept row evaluates it (the ts column)
    pe = let.kept(instant(end)) if end else f"{ts} + INTERVAL 1 HOUR"
    gran = (f"CASE WHEN {pe} - {ts} <= INTERVAL 1 MINUTE THEN 'minute' WHEN {pe} - {ts} <= INTERVAL 1 HOUR THEN 'hour' "
            f"WHEN {pe} - {ts} <= INTERVAL 1 DAY THEN 'day' ELSE 'month' END")
    common = {
        "record_type": "'cost'", "cost_basis": "'billed'", "ts": ts, "period_end": pe, "granularity": gran,
        "provider": provider, "account_id": t("billing_account_id"), "project_id": t("project.id"),
        "model": model_from(sku, let), "currency": f"coalesce(upper({t('currency')}), 'USD')",
    }
    base = dict(common)
    base.update(token_exprs(sku, tokens, let))
    base.update({"line_item": sku, "cost_usd": money(cost), "covers_usage": f"coalesce({is_tokens}, FALSE)"})
    parts = [Part(base, where=keep)]
    credits = cols.ref("credits")
    if credits:
        # CSV: BigQuery's JSON text; JSONL/Parquet: a LIST of STRUCT (or of JSON/NULL when every row of the
        # sample had no credits), normalised through JSON so the fields are always typed the same way.
        text = (f"CAST({credits} AS VARCHAR)" if cols.type_of("credits").upper() == "VARCHAR"
                else f"CAST(to_json({credits}) AS VARCHAR)")
        lst = f"from_json(coalesce(nullif(trim({text}), ''), '[]'), '{CREDIT_TYPE}')"
        credit = dict(common)
        credit.update({
            "line_item": "'credit: ' || coalesce(nullif(cr_.full_name, ''), nullif(cr_.name, ''), cr_.type, 'credit')",
            "cost_usd": money("cr_.amount"), "covers_usage": "FALSE",
        })
        parts.append(Part(credit, where=f"{keep} AND cr_.amount IS NOT NULL AND {money('cr_.amount')} <> 0",
                          from_=f"(SELECT *, unnest({lst}) AS cr_ FROM " + "{src})"))
    checks = [Check("usage_start_time", start, instant_ok(start), "not a timestamp"),
              Check("cost", cost, money_ok(cost), "not a number")]
    if end:
        checks.append(Check("usage_end_time", end, f"({end} IS NULL OR try_cast({end} AS TIMESTAMPTZ) IS NOT NULL)",
                            "not a timestamp"))
    if amount:
        checks.append(Check("usage.amount", amount, money_ok(amount), "not a number"))
    return Plan(parts, checks, scope=("account_id",))


@FORMATS.register("gcp-billing")
class GcpBillingFormat:
    """Gemini API and Vertex AI lines of a Cloud Billing export → billed cost lines and credits."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="gcp-billing", kind=KIND, source=source or "gcp-billing",
                          build=lambda cols: plan(cols, path))
