"""`import --format litellm`: the LiteLLM proxy's `LiteLLM_SpendLogs` table exported as CSV, JSONL or
Parquet (e.g. `COPY "LiteLLM_SpendLogs" TO … CSV HEADER` from its PostgreSQL), with the table's own column
names (docs/provider-apis.md §5.1). Named litellm_logs.py because collector/litellm.py is the proxy API collector.

Mapping (one record per request): record_type 'usage', cost_basis 'billed' (the proxy's own `spend`, USD),
granularity 'request', provider 'litellm' (the gateway that charged the team; the upstream
`custom_llm_provider` and `call_type` are kept in `line_item` as "<provider>/<call_type>", from which a
[[gateways]] entry attributes the upstream's bill to these rows in `spend`: docs/attribution.md),
ts = startTime (UTC, as LiteLLM writes it), account_id = organization_id, project_id = team_id,
api_key_id = api_key (the SHA-256 hash LiteLLM stores, never a key), user_id = user, model = model,
input_tokens = prompt_tokens, output_tokens = completion_tokens, requests = 1, tags = {"end_user": …}
when the request named a customer (as the LiteLLM API collector stores it).

Replace rule: a SpendLogs export is every request of a time range, so the file covers [first startTime,
last startTime] for its source; importing it replaces that source's LiteLLM rows in exactly that span.
Re-importing changes nothing; an export overlapping an earlier one by days replaces the overlap.
"""

from __future__ import annotations

from typing import Any

from . import FORMATS, ImportResult
from ._files import (
    Check,
    Columns,
    Part,
    Plan,
    count,
    count_ok,
    instant,
    instant_ok,
    money,
    money_ok,
    require,
    run_import,
)

KIND = "litellm"


def end_user_tags(end_user: str) -> str:
    """'{"end_user": "…"}' exactly as json.dumps writes it for the API collector's rows."""
    return (f"CASE WHEN {end_user} IS NOT NULL THEN "
            + "'{\"end_user\": ' || CAST(to_json(" + end_user + ") AS VARCHAR) || '}' END")


def plan(cols: Columns, path: str) -> Plan:
    require(cols, path, "litellm", [("startTime",), ("spend",), ("request_id",)])
    t = cols.text
    start, spend = cols.must("startTime"), cols.must("spend")
    prompt, completion = cols.ref("prompt_tokens"), cols.ref("completion_tokens")
    provider = t("custom_llm_provider")
    call = t("call_type")
    let = cols.lets  # values several columns use, computed once per row (see Lets)
    ts = let.kept(instant(start))  # strict, and every kept row evaluates it (the ts column)
    exprs = {
        "record_type": "'usage'", "covers_usage": "FALSE", "granularity": "'request'",
        "ts": ts, "period_end": ts,
        "provider": "'litellm'",
        "account_id": t("organization_id"), "project_id": t("team_id"), "api_key_id": t("api_key"),
        "user_id": t("user"), "model": t("model"),
        "line_item": f"CASE WHEN {provider} IS NULL AND {call} IS NULL THEN NULL "
                     f"ELSE concat_ws('/', {provider}, {call}) END",
        "input_tokens": count(prompt, let) if prompt else "NULL",
        "output_tokens": count(completion, let) if completion else "NULL",
        "requests": "1",
        # the customer (`end_user`) as the LiteLLM API collector stores it, so both sources read alike
        "tags": end_user_tags(t("end_user")) if cols.has("end_user") else "NULL",
        "cost_usd": money(spend), "cost_basis": "'billed'", "currency": "'USD'",
    }
    checks = [Check("startTime", start, instant_ok(start), "not a timestamp"),
              Check("spend", spend, money_ok(spend), "not a number")]
    for name, ref in (("prompt_tokens", prompt), ("completion_tokens", completion)):
        if ref:
            checks.append(Check(name, ref, count_ok(ref), "not a non-negative whole number"))
    return Plan([Part(exprs)], checks, scope=())


@FORMATS.register("litellm")
class LiteLLMLogsFormat:
    """LiteLLM SpendLogs rows → request-level billed usage."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        return run_import(store, path, fmt="litellm", kind=KIND, source=source or "litellm",
                          build=lambda cols: plan(cols, path))
