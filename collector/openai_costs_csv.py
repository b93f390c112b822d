"""`import --format openai-costs-csv`: the Cost export of OpenAI's usage dashboard (Usage → Export → Cost
data, CSV, 1-day interval, grouped by line item), whose columns mirror the Costs API result
(docs/provider-apis.md §2.2): start_time, end_time (unix seconds, UTC), amount_value (dollars), amount_currency,
line_item ("gpt-4o-2024-08-06, input"), project_id, project_name, organization_id, organization_name, and
api_key_id when grouped by key. [Assumption: column list from third-party import guides; ISO times are
accepted too.]

Mapping: one 'cost' record per row (the bill's own lines, cost_basis 'billed'), provider 'openai',
account_id = organization_id, project_id, api_key_id, line_item as written, model = the line item's text
before its last comma, covers_usage for token charges (line items naming input/output/cached tokens), so
`spend` reconciles estimated usage of the same project and day against them. Money exact from the text.

Replace rule: per (organization, project), the file covers the whole UTC days from its first start_time
to its last end_time; older openai-costs-csv rows of that source, organization and project on those days
are replaced (a dashboard export may be filtered to some projects; the others stay).
"""

from __future__ import annotations

from typing import Any

from . import FORMATS, ImportResult
from ._files import Check, Columns, Part, Plan, money, money_ok, require, run_import

KIND = "openai-costs-csv"


def when(expr: str, strict: bool = True) -> str:
    """Unix seconds or an ISO time, as TIMESTAMPTZ."""
    v = f"trim(CAST({expr} AS VARCHAR))"
    cast = "CAST" if strict else "try_cast"
    return (f"CASE WHEN regexp_matches({v}, '^[0-9]+(\\.0+)?$') THEN to_timestamp({cast}({v} AS DOUBLE)) "
            f"ELSE {cast}({v} AS TIMESTAMPTZ) END")


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "openai-costs-csv", [("start_time",), ("amount_value",)])
    t = cols.text
    start, end, amount = cols.must("start_time"), cols.ref("end_time"), cols.must("amount_value")
    item = t("line_item")
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    ts = let.kept(f"CAST({when(start)} AS TIMESTAMPTZ)")  # strict, and every kept row evaluates it
    pe = let.kept(f"CAST({when(end)} AS TIMESTAMPTZ)") if end else f"{ts} + INTERVAL 1 DAY"
    model = let.pure(f"trim(regexp_extract({item}, '^(.*),[^,]*$', 1))")
    exprs = {
        "record_type": "'cost'", "cost_basis": "'billed'", "ts": ts, "period_end": pe,
        "granularity": f"CASE WHEN {pe} - {ts} <= INTERVAL 1 HOUR THEN 'hour' ELSE 'day' END",
        "provider": "'openai'", "account_id": t("organization_id"), "project_id": t("project_id"),
        "api_key_id": t("api_key_id"), "line_item": item,
        "model": f"CASE WHEN contains({item}, ',') THEN nullif({model}, '') END",
        "covers_usage": f"coalesce(regexp_matches({item}, '(?i)(input|output|cached|token)'), FALSE)",
        "cost_usd": money(amount), "currency": f"coalesce(upper({t('amount_currency')}), 'USD')",
    }
    checks = [Check("start_time", start, f"({when(start, strict=False)} IS NOT NULL)", "not a unix time or timestamp"),
              Check("amount_value", amount, f"({amount} IS NOT NULL AND {money_ok(amount)})", "not a number")]
    return Plan([Part(exprs)], checks, scope=("account_id", "project_id"), whole_days=True)


@FORMATS.register("openai-costs-csv")
class OpenAICostsCsvFormat:
    """OpenAI dashboard cost export → billed daily line items."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="openai-costs-csv", kind=KIND, source=source or "openai-costs-csv",
                          build=lambda cols: plan(cols, path))
