"""How findings read: money, ratios, masked keys and the scope in words.

One sentence a person understands, e.g. "OpenAI spend on gpt-4.1 for project search was $1,240 on Tue
2026-11-24, 6.2× the usual $200 for a Tuesday; 83% from key sk-…abcd". Key identifiers are masked in
text (first 3 and last 4 characters), because people paste alerts into tickets.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from spendwatch.findings import dollars

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "litellm": "LiteLLM",
                  "google": "Google", "gcp": "Google Cloud", "vertex": "Vertex AI", "aws": "AWS",
                  "bedrock": "Bedrock", "azure": "Azure", "mistral": "Mistral", "cohere": "Cohere"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def money(d: Decimal | None) -> str:
    """$1,240 for sums from $100 up (messages read better without cents), else as `dollars`."""
    return dollars(d, whole_from=Decimal(100))


def ratio(obs: Decimal, exp: Decimal) -> str:
    """'6.2×' (one decimal); 'new' against nothing."""
    if not exp or exp <= 0:
        return "new"
    return f"{(Decimal(obs) / Decimal(exp)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}×"


def pct(share: Decimal) -> str:
    return f"{(Decimal(share) * 100).quantize(Decimal('1'), rounding=ROUND_HALF_UP)}%"


def mask_key(key: str | None) -> str:
    """'sk-proj-abcdefgh1234' -> 'sk-…1234'; short ids are shown as they are (nothing to hide)."""
    if not key:
        return "(none)"
    if len(key) <= 8:
        return key
    return f"{key[:3]}…{key[-4:]}"


def provider_name(p: str | None) -> str:
    return PROVIDER_NAMES.get(p or "", p or "")


def show_value(dim: str, value: Any) -> str:
    return mask_key(value) if dim == "api_key_id" else str(value)


def describe(scope: Mapping[str, Any], lead: bool = True) -> str:
    """Scope in words: 'OpenAI spend on gpt-4.1 for project search via key sk-…abcd' ("spend …" when
    not at the start of a sentence)."""
    head = f"{provider_name(scope['provider'])} spend" if scope.get("provider") else ("Spend" if lead else "spend")
    parts = [head]
    if scope.get("model"):
        parts.append(f"on {scope['model']}")
    if scope.get("project_id"):
        parts.append(f"for project {scope['project_id']}")
    if scope.get("team"):
        parts.append(f"of team {scope['team']}")
    if scope.get("source"):
        parts.append(f"from source {scope['source']}")
    for dim in ("account_id", "workspace_id", "user_id", "service_tier", "line_item"):
        if scope.get(dim):
            parts.append(f"with {dim.replace('_id', '').replace('_', ' ')} {scope[dim]}")
    if scope.get("api_key_id"):
        parts.append(f"via key {mask_key(scope['api_key_id'])}")
    return " ".join(parts)


def day_words(d: date) -> str:
    """'Tue 2026-11-24'."""
    return f"{WEEKDAYS[d.weekday()][:3]} {d.isoformat()}"


def driver_clause(drivers: list[dict[str, Any]]) -> str:
    """'; 83% from key sk-…abcd' for the top driver, or '' when there is none worth naming."""
    if not drivers:
        return ""
    top = drivers[0]
    share = Decimal(top["share"])
    if share < Decimal("0.2"):
        return ""
    label = {"api_key_id": "key", "model": "model", "project_id": "project", "team": "team",
             "provider": "provider", "user_id": "user"}.get(top["dimension"], top["dimension"])
    return f"; {pct(share)} from {label} {top['value']}"
