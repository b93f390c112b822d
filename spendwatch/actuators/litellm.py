"""LiteLLM proxy: `POST /key/block` / `/key/unblock` with `{"key": <token or its hash>}` and
`POST /team/block` / `/team/unblock` with `{"team_id": ...}`; state from `GET /key/info?key=` →
`{"info": {"blocked": ...}}` and `GET /team/info?team_id=` → `{"team_info": {"blocked": ...}}`. Proxy
admin (master) key, Bearer. The SpendLogs `api_key` we store is the key's hash, which these endpoints
accept as it is (litellm key_management_endpoints.py: a key not starting with "sk-" is taken as the hash).
Sources in docs/guardrails.md."""

from __future__ import annotations

from typing import Any

from ..http import HttpClient
from . import bearer


class LiteLLMActuator:
    provider = "litellm"
    noun = {"disable_key": "key", "block_team": "team"}

    def headers(self, admin_key: str | None) -> dict[str, str]:
        return bearer(admin_key)

    def read(self, client: HttpClient, action: str, target: str) -> Any:
        if action == "block_team":
            body = client.get_json("team/info", {"team_id": target}) or {}
            info = body.get("team_info") or {}
        else:
            body = client.get_json("key/info", {"key": target}) or {}
            info = body.get("info") or {}
        return {"blocked": bool(info.get("blocked"))}

    def already(self, action: str, before: Any) -> bool:
        return bool(before.get("blocked"))

    def in_effect(self, action: str, before: Any, current: Any) -> bool:
        return bool(current.get("blocked"))

    def apply(self, client: HttpClient, action: str, target: str, before: Any, *, throttle_to: Any = None) -> None:
        if action == "block_team":
            client.send_json("POST", "team/block", {"team_id": target})
        else:
            client.send_json("POST", "key/block", {"key": target})

    def revert(self, client: HttpClient, action: str, target: str, before: Any) -> None:
        if action == "block_team":
            client.send_json("POST", "team/unblock", {"team_id": target})
        else:
            client.send_json("POST", "key/unblock", {"key": target})
