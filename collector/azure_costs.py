"""`import --format azure-costs`: Azure Cost Management cost details (an export to storage or the Cost
Details API download), CSV or Parquet, MCA camelCase (`costInBillingCurrency`) or EA PascalCase
(`CostInBillingCurrency`) columns, matched case-insensitively. docs/provider-apis.md §8.

Rows kept (the AI rows only): consumedService Microsoft.CognitiveServices or Microsoft.MachineLearningServices
(or a meterCategory of Cognitive Services / Azure OpenAI / Foundry) whose meterSubCategory, productName or
meterName names OpenAI, GPT, Foundry or tokens. Speech, Vision and other Cognitive Services meters are
left out. [Assumption: meter wording such as "gpt-4.1-Inp-glbl Tokens" is inferred, not documented.]

Mapping: one 'cost' record per kept row per day (cost_basis 'billed'), provider 'azure-openai',
account_id = billingAccountId, project_id = subscriptionId, workspace_id = the resource name (last
segment of resourceId: the Azure OpenAI / Foundry resource), line_item = meterName, model from meterName
("gpt-4.1-Inp-glbl Tokens" → gpt-4.1), tokens = quantity × unitOfMeasure ("1K" → ×1000, "1M" → ×1e6)
into input / cached input ("cchd", "cached") / output ("Outp", "output"); covers_usage for token Usage
lines. Money = costInUsd when the file has it (so currency 'USD'), else costInBillingCurrency (or EA
`Cost`/`PreTaxCost`) in billingCurrency. chargeType Refund, negative amounts, Purchase and unused
reservations are their own lines not covering usage. `date` is read as MM/DD/YYYY or YYYY-MM-DD.

Replace rule: per billing account, the file covers the whole UTC days from its first to its last `date`;
older azure-costs rows of that source and account on those days are replaced.
"""

from __future__ import annotations

from typing import Any

from . import FORMATS, ImportResult
from ._files import Check, Columns, Part, Plan, money, money_ok, require, run_import, unit_multiplier

KIND = "azure-costs"
DATE_FORMATS = "['%m/%d/%Y', '%Y-%m-%d', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%d %H:%M:%S', " \
               "'%m/%d/%Y %H:%M:%S', '%Y-%m-%dT%H:%M:%S.%fZ']"


WORKSPACE = "'([^/]+)/?$'"  # the last segment of a resource id


def day(expr: str, strict: bool = True) -> str:
    fn = "strptime" if strict else "try_strptime"
    return f"CAST(date_trunc('day', {fn}(trim(CAST({expr} AS VARCHAR)), {DATE_FORMATS})) AS TIMESTAMPTZ)"


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "azure-costs", [("date", "UsageDateTime"), ("meterName",),
                                       ("costInUsd", "costInBillingCurrency", "Cost", "PreTaxCost")])
    t = cols.text
    date = cols.must("date", "UsageDateTime")
    usd = cols.ref("costInUsd")
    cost = usd or cols.must("costInBillingCurrency", "Cost", "PreTaxCost")
    cost_name = "costInUsd" if usd else ("costInBillingCurrency" if cols.has("costInBillingCurrency") else
                                        ("Cost" if cols.has("Cost") else "PreTaxCost"))
    currency = "'USD'" if usd else \
        f"coalesce(upper({t('billingCurrency', 'billingCurrencyCode', 'Currency')}), 'USD')"
    svc, cat = t("consumedService"), t("meterCategory")
    meter = t("meterName")
    names = f"(coalesce({t('meterSubCategory')}, '') || ' ' || coalesce({t('productName')}, '') || ' ' || coalesce({meter}, ''))"
    keep = (f"((regexp_matches(coalesce({svc}, ''), '(?i)cognitiveservices|machinelearningservices') OR "
            f"regexp_matches(coalesce({cat}, ''), '(?i)cognitive services|openai|foundry')) AND "
            f"regexp_matches({names}, '(?i)(openai|gpt|foundry|token)'))")
    qty, unit = cols.ref("quantity", "UsageQuantity"), t("unitOfMeasure")
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    is_tokens = let.pure(f"regexp_matches(coalesce({meter}, '') || ' ' || coalesce({unit}, ''), '(?i)token')")
    charge = t("chargeType")
    # strict (a bad cost fails the import), and the line_item column evaluates it on every kept row
    usage = let.kept(f"(coalesce({charge}, 'Usage') = 'Usage' AND {money(cost)} >= 0)")
    # strict too; the three token columns together evaluate it on every kept row
    tokens = (let.kept(f"CASE WHEN {usage} AND {is_tokens} THEN "
                       f"CAST(round({money(qty)} * coalesce({unit_multiplier(unit, let)}, 1)) AS BIGINT) END")
              if qty else "NULL")
    out = let.pure(f"regexp_matches(coalesce({meter}, ''), '(?i)(outp|output)')")
    cached = f"regexp_matches(coalesce({meter}, ''), '(?i)(cchd|cached|cache)')"
    model = let.pure(f"lower(trim(regexp_replace(coalesce({meter}, ''), "
                     f"'(?i)[- ](cached|cchd|cd|inp|input|outp|output|batch|bt|glbl|gl|rgnl|regional|global|dz|datazone|data zone|ft|tokens?)\\b.*$', '')))")
    model = f"nullif({model}, '')"
    resource = t("resourceId", "InstanceId", "ResourceId")
    ts = let.kept(day(date))  # strict, and every kept row evaluates it (the ts column)
    exprs = {
        "record_type": "'cost'", "cost_basis": "'billed'", "ts": ts, "period_end": f"{ts} + INTERVAL 1 DAY",
        "granularity": "'day'", "provider": "'azure-openai'",
        "account_id": t("billingAccountId"), "project_id": t("subscriptionId", "SubscriptionGuid"),
        "workspace_id": f"nullif({let.pure(f'regexp_extract({resource}, {WORKSPACE}, 1)')}, '')",
        "line_item": f"CASE WHEN NOT {usage} THEN coalesce({charge}, 'Adjustment') || coalesce(': ' || {meter}, '') "
                     f"ELSE {meter} END",
        "model": f"CASE WHEN {is_tokens} THEN {model} END",
        "input_tokens": f"CASE WHEN NOT {out} THEN {tokens} END",
        "cached_input_tokens": f"CASE WHEN NOT {out} AND {cached} THEN {tokens} END",
        "output_tokens": f"CASE WHEN {out} THEN {tokens} END",
        "cost_usd": money(cost), "covers_usage": f"({usage} AND {is_tokens})", "currency": currency,
    }
    checks = [Check(date.strip('"'), date, f"({day(date, strict=False)} IS NOT NULL)", "not a date"),
              Check(cost_name, cost, money_ok(cost), "not a number")]
    if qty:
        checks.append(Check(qty.strip('"'), qty, money_ok(qty), "not a number"))
    return Plan([Part(exprs, where=keep)], checks, scope=("account_id",), whole_days=True)


@FORMATS.register("azure-costs")
class AzureCostsFormat:
    """Azure OpenAI / AI Foundry rows of a cost-details export → billed daily cost lines."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="azure-costs", kind=KIND, source=source or "azure-costs",
                          build=lambda cols: plan(cols, path))
