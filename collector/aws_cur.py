"""`import --format aws-cur`: AWS Cost and Usage Report 2.0 (AWS Data Exports, Parquet or gzip CSV;
flat column names such as `line_item_usage_type`). docs/provider-apis.md §7.

Rows kept (the AI rows only): Amazon Bedrock, i.e. line_item_product_code 'AmazonBedrock' (or another
product code containing 'Bedrock', or a `product` map/`product_servicename` naming Bedrock, as
Marketplace-sold Bedrock models are labelled). [Assumption: Marketplace model product codes vary.]

Mapping: one 'cost' record per kept line (the bill's own lines, cost_basis 'billed'), provider 'bedrock',
account_id = bill_payer_account_id, project_id = line_item_usage_account_id, user_id =
line_item_iam_principal (when the export includes caller identity), line_item = line_item_usage_type,
model from the usage type ("USE1-Claude4.5Sonnet-input-tokens" → claude4.5sonnet; region prefix and token
suffix removed), tokens = line_item_usage_amount × pricing_unit ("1K tokens" → ×1000, "tokens"/"count" → ×1)
into input (incl. cache read/write parts), cached_input (`cache-read`), cache_write (`cache-write`) or
output by the usage type; covers_usage for token lines. Money = line_item_unblended_cost in
line_item_currency_code. Discounts, credits and refunds (line_item_line_item_type Credit, Refund,
*Discount, *Negation) are their own negative lines not covering usage; Tax is its own line.

Replace rule: per payer account, the file covers [first line_item_usage_start_date, last
line_item_usage_end_date); older aws-cur rows of that source and payer in that span are replaced (each CUR
delivery restates the billing period, so a re-delivered or overlapping file replaces, never adds).
"""

from __future__ import annotations

from typing import Any

from . import FORMATS, ImportResult
from ._files import (
    Check,
    Columns,
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

KIND = "aws-cur"


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "aws-cur", [("line_item_usage_start_date",), ("line_item_unblended_cost",),
                                   ("line_item_product_code",)])
    t = cols.text
    code, utype, litype = t("line_item_product_code"), t("line_item_usage_type"), t("line_item_line_item_type")
    start, end = cols.must("line_item_usage_start_date"), cols.ref("line_item_usage_end_date")
    cost, amount = cols.must("line_item_unblended_cost"), cols.ref("line_item_usage_amount")
    product = cols.ref("product")
    names = [f"coalesce({code}, '')", f"coalesce({t('product_servicename')}, '')",
             f"coalesce({t('product_product_name')}, '')"]
    if product and cols.type_of("product").upper().startswith("MAP"):
        names.append(f"coalesce(CAST({product}['product_name'] AS VARCHAR), '')")
        names.append(f"coalesce(CAST({product}['servicename'] AS VARCHAR), '')")
    elif product:
        names.append(f"coalesce(CAST({product} AS VARCHAR), '')")
    keep = f"regexp_matches({' || chr(10) || '.join(names)}, '(?i)bedrock')"
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    ut = let.pure(f"coalesce({utype}, '')")
    is_tokens = let.pure(f"regexp_matches({ut}, '(?i)token')")
    credit = let.pure(f"regexp_matches(coalesce({litype}, ''), '(?i)(credit|refund|discount|negation)')")
    # strict (a bad quantity fails the import): a kept let over exactly the rows the token columns below
    # evaluated it on before (every row but credits)
    tokens = (let.kept(f"CASE WHEN NOT {credit} AND {is_tokens} THEN "
                       f"CAST(round({money(amount)} * coalesce({unit_multiplier(t('pricing_unit'), let)}, 1)) AS BIGINT) END")
              if amount else "NULL")
    out = let.pure(f"regexp_matches({ut}, '(?i)output')")
    read = f"regexp_matches({ut}, '(?i)cache-?read')"
    write = f"regexp_matches({ut}, '(?i)cache-?write')"
    model = let.pure(f"lower(regexp_replace(regexp_replace({ut}, '^[A-Z]{{2,4}}[0-9]?-', ''), "
                     f"'(?i)-(mantle-)?(cache-(read|write)-)?(input|output)-token.*$', ''))")
    model = f"nullif({model}, '')"
    ts = let.kept(instant(start))  # strict, and every kept row evaluates it (the ts column)
    pe = let.kept(instant(end)) if end else f"{ts} + INTERVAL 1 HOUR"
    gran = (f"CASE WHEN {pe} - {ts} <= INTERVAL 1 HOUR THEN 'hour' WHEN {pe} - {ts} <= INTERVAL 1 DAY THEN 'day' "
            f"ELSE 'month' END")
    exprs = {
        "record_type": "'cost'", "cost_basis": "'billed'", "ts": ts, "period_end": pe, "granularity": gran,
        "provider": "'bedrock'", "account_id": t("bill_payer_account_id"),
        "project_id": t("line_item_usage_account_id"), "user_id": t("line_item_iam_principal"),
        "line_item": f"CASE WHEN {credit} OR {litype} = 'Tax' THEN {litype} || coalesce(': ' || {utype}, '') "
                     f"ELSE {utype} END",
        "model": f"CASE WHEN {is_tokens} THEN {model} END",
        "input_tokens": f"CASE WHEN NOT {credit} AND NOT {out} THEN {tokens} END",
        "cached_input_tokens": f"CASE WHEN NOT {credit} AND {read} THEN {tokens} END",
        "cache_write_tokens": f"CASE WHEN NOT {credit} AND {write} THEN {tokens} END",
        "output_tokens": f"CASE WHEN NOT {credit} AND {out} THEN {tokens} END",
        "cost_usd": money(cost), "covers_usage": f"(NOT {credit} AND coalesce({litype}, 'Usage') <> 'Tax' AND {is_tokens})",
        "currency": f"coalesce(upper({t('line_item_currency_code')}), 'USD')",
    }
    checks = [Check("line_item_usage_start_date", start, instant_ok(start), "not a timestamp"),
              Check("line_item_unblended_cost", cost, money_ok(cost), "not a number")]
    if amount:
        checks.append(Check("line_item_usage_amount", amount, money_ok(amount), "not a number"))
    return Plan([Part(exprs, where=keep)], checks, scope=("account_id",))


@FORMATS.register("aws-cur")
class AwsCurFormat:
    """Bedrock lines of a CUR 2.0 export → billed cost lines, discounts and credits."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="aws-cur", kind=KIND, source=source or "aws-cur",
                          build=lambda cols: plan(cols, path))
