"""OpenRouter: `PATCH /api/v1/keys/{hash}` with `{"disabled": true}` (and `false` to undo); the key row is
read with `GET /api/v1/keys/{hash}` → `{"data": {..., "disabled": bool}}`. Management key, Bearer.
Sources in docs/guardrails.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..http import HttpClient
from . import bearer


class OpenRouterActuator:
    provider = "openrouter"
    noun = {"disable_key": "key"}

    def headers(self, admin_key: str | None) -> dict[str, str]:
        return bearer(admin_key)

    def read(self, client: HttpClient, action: str, target: str) -> Any:
        row = (client.get_json(f"keys/{quote(target, safe='')}") or {}).get("data") or {}
        return {"disabled": bool(row.get("disabled"))}

    def already(self, action: str, before: Any) -> bool:
        return bool(before.get("disabled"))

    def in_effect(self, action: str, before: Any, current: Any) -> bool:
        return bool(current.get("disabled"))

    def apply(self, client: HttpClient, action: str, target: str, before: Any, *, throttle_to: Any = None) -> None:
        client.send_json("PATCH", f"keys/{quote(target, safe='')}", {"disabled": True})

    def revert(self, client: HttpClient, action: str, target: str, before: Any) -> None:
        client.send_json("PATCH", f"keys/{quote(target, safe='')}", {"disabled": False})
