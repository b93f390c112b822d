"""`import --format focus`: FinOps FOCUS 1.x cost and usage files (CSV or Parquet; AWS `FOCUS_1_2_AWS`,
the Google Cloud FOCUS export, Azure FocusCost, or any FOCUS-aligned provider). FOCUS column names:
ChargePeriodStart/End, BilledCost, BillingCurrency, BillingAccountId, SubAccountId, ServiceName,
ServiceCategory, ServiceSubcategory (1.1+), ProviderName, ChargeCategory, ChargeDescription, SkuMeter (1.1+),
ConsumedQuantity, ConsumedUnit.

Rows kept (the AI rows only): ServiceSubcategory 'Generative AI', or a ServiceName of a generative-AI
service (Bedrock, Vertex AI, Gemini API, Azure OpenAI, AI Foundry, Anthropic, Generative Language), or an
'AI and Machine Learning' row whose meter or description counts tokens.

Mapping: one 'cost' record per kept row (cost_basis 'billed'), provider from ServiceName ('bedrock',
'vertex-ai', 'gemini-api', 'azure-openai') else the lower-cased ProviderName, account_id =
BillingAccountId, project_id = SubAccountId, line_item = SkuMeter (else ChargeDescription), model found in
SkuMeter/ChargeDescription (gpt-*, o1…, claude*, gemini*, llama*, mistral*, nova*, titan*), tokens =
ConsumedQuantity × ConsumedUnit ("Tokens", "1K Tokens", "1M Tokens") by direction words (output,
cache read/write, else input); covers_usage for token Usage lines. Money = BilledCost in BillingCurrency.
ChargeCategory Credit (negative), Tax, Purchase and Adjustment rows are their own lines not covering usage.

Replace rule: per BillingAccountId, the file covers [first ChargePeriodStart, last ChargePeriodEnd); older
focus rows of that source and account inside it are replaced.
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

KIND = "focus"
AI_SERVICE = r"(?i)(bedrock|vertex ai|gemini|openai|ai foundry|anthropic|claude|generative language)"
MODEL = (r"(?i)\b(gpt-[0-9][\w.\-]*|o[1-9](-mini|-pro)?\b|claude[ -](sonnet|opus|haiku)[ -][0-9][\w.]*|claude[ -][0-9][\w.\-]*|gemini[ -][0-9][\w.]*"
         r"([ -](pro|flash-lite|flash|ultra))?|llama[ -]?[0-9][\w.\-]*|mistral[\w.\-]*|nova[ -](pro|lite|micro|premier)"
         r"|titan[\w.\-]*|text-embedding-[\w\-]*)")


def model_in(text: str, lets: Lets) -> str:
    name = lets.pure(f"regexp_replace(lower(regexp_extract({text}, '{MODEL}', 1)), '\\s+', '-', 'g')")
    return f"nullif({name}, '')"


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "focus", [("ChargePeriodStart",), ("BilledCost",), ("ServiceName",)])
    t = cols.text
    svc, cat, sub = t("ServiceName"), t("ServiceCategory"), t("ServiceSubcategory")
    meter, desc = t("SkuMeter"), t("ChargeDescription")
    charge = t("ChargeCategory")
    start, end, cost = cols.must("ChargePeriodStart"), cols.ref("ChargePeriodEnd"), cols.must("BilledCost")
    qty, unit = cols.ref("ConsumedQuantity"), t("ConsumedUnit")
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    text = let.pure(f"(coalesce({meter}, '') || ' ' || coalesce({desc}, ''))")
    keep = (f"(coalesce({sub}, '') = 'Generative AI' OR regexp_matches(coalesce({svc}, ''), '{AI_SERVICE}') OR "
            f"(coalesce({cat}, '') = 'AI and Machine Learning' AND regexp_matches({text}, '(?i)token')))")
    is_tokens = let.pure(f"regexp_matches(coalesce({unit}, '') || ' ' || {text}, '(?i)token')")
    usage = let.pure(f"coalesce({charge}, 'Usage') = 'Usage'")
    # strict (a bad quantity fails the import): a kept let, as the four token columns below together
    # evaluate it on every kept row
    tokens = (let.kept(f"CASE WHEN {usage} AND {is_tokens} THEN "
                       f"CAST(round({money(qty)} * coalesce({unit_multiplier(unit, let)}, 1)) AS BIGINT) END")
              if qty else "NULL")
    out = let.pure(f"regexp_matches({text}, '(?i)(output|completion)')")
    service = let.pure(f"coalesce({svc}, '')")
    read = f"regexp_matches({text}, '(?i)cache[ -_]?read|cached')"
    write = f"regexp_matches({text}, '(?i)cache[ -_]?write')"
    provider = (f"CASE WHEN regexp_matches({service}, '(?i)bedrock') THEN 'bedrock' "
                f"WHEN regexp_matches({service}, '(?i)gemini api|generative language') THEN 'gemini-api' "
                f"WHEN regexp_matches({service}, '(?i)vertex') THEN 'vertex-ai' "
                f"WHEN regexp_matches({service}, '(?i)openai|foundry') THEN 'azure-openai' "
                f"ELSE coalesce(regexp_replace(lower({t('ProviderName')}), '\\s+', '-', 'g'), 'focus') END")
    ts = let.kept(instant(start))  # strict, and every kept row evaluates it (the ts column)
    pe = let.kept(instant(end)) if end else f"{ts} + INTERVAL 1 DAY"
    gran = (f"CASE WHEN {pe} - {ts} <= INTERVAL 1 HOUR THEN 'hour' WHEN {pe} - {ts} <= INTERVAL 1 DAY THEN 'day' "
            f"ELSE 'month' END")
    exprs = {
        "record_type": "'cost'", "cost_basis": "'billed'", "ts": ts, "period_end": pe, "granularity": gran,
        "provider": provider, "account_id": t("BillingAccountId"), "project_id": t("SubAccountId"),
        "line_item": f"CASE WHEN NOT {usage} THEN {charge} || coalesce(': ' || coalesce({meter}, {desc}), '') "
                     f"ELSE coalesce({meter}, {desc}) END",
        "model": model_in(text, let),
        "input_tokens": f"CASE WHEN NOT {out} THEN {tokens} END",
        "cached_input_tokens": f"CASE WHEN {read} THEN {tokens} END",
        "cache_write_tokens": f"CASE WHEN {write} THEN {tokens} END",
        "output_tokens": f"CASE WHEN {out} THEN {tokens} END",
        "cost_usd": money(cost), "covers_usage": f"({usage} AND {is_tokens})",
        "currency": f"coalesce(upper({t('BillingCurrency')}), 'USD')",
    }
    checks = [Check("ChargePeriodStart", start, instant_ok(start), "not a timestamp"),
              Check("BilledCost", cost, money_ok(cost), "not a number")]
    if qty:
        checks.append(Check("ConsumedQuantity", qty, money_ok(qty), "not a number"))
    return Plan([Part(exprs, where=keep)], checks, scope=("account_id",))


@FORMATS.register("focus")
class FocusFormat:
    """Generative-AI rows of a FOCUS 1.x file → billed cost lines and credits."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="focus", kind=KIND, source=source or "focus",
                          build=lambda cols: plan(cols, path))
