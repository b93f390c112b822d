"""Anthropic Admin API: `POST /v1/organizations/api_keys/{api_key_id}` with `{"status": "inactive"}`
(`"active"` to undo); `GET` on the same path returns the key with its `status` (active | inactive |
archived | expired). `archived` is never written: it cannot be undone. Headers `x-api-key: <admin key>`
and `anthropic-version: 2023-06-01`. Sources in docs/guardrails.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..http import HttpClient


class AnthropicActuator:
    provider = "anthropic"
    noun = {"disable_key": "key"}

    def headers(self, admin_key: str | None) -> dict[str, str]:
        h = {"anthropic-version": "2023-06-01"}
        if admin_key:
            h["x-api-key"] = admin_key
        return h

    def _path(self, target: str) -> str:
        return f"v1/organizations/api_keys/{quote(target, safe='')}"

    def read(self, client: HttpClient, action: str, target: str) -> Any:
        return {"status": (client.get_json(self._path(target)) or {}).get("status")}

    def already(self, action: str, before: Any) -> bool:
        return before.get("status") != "active"   # inactive, archived or expired: spends nothing

    def in_effect(self, action: str, before: Any, current: Any) -> bool:
        return current.get("status") == "inactive"

    def apply(self, client: HttpClient, action: str, target: str, before: Any, *, throttle_to: Any = None) -> None:
        client.send_json("POST", self._path(target), {"status": "inactive"})

    def revert(self, client: HttpClient, action: str, target: str, before: Any) -> None:
        client.send_json("POST", self._path(target), {"status": "active"})
