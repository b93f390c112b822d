"""Admin endpoints of the fake providers, for the guardrail actions (docs/guardrails.md has the sources).

Each mixin keeps state (which keys are disabled, which teams blocked, each project's rate limits) that a
test can read back, and checks the request shape the provider documents; a wrong shape is a 400 and a
recorded violation. Requests are counted by the base server (`requests`, `writes()`).

    OpenRouter  GET/PATCH /api/v1/keys/{hash}                       {"disabled": bool} → {"data": key row}
    LiteLLM     GET /key/info?key=  POST /key/block|/key/unblock    {"key": token or hash}
                GET /team/info?team_id=  POST /team/block|/team/unblock  {"team_id": ...}
    Anthropic   GET/POST /v1/organizations/api_keys/{id}            {"status": "active"|"inactive"|"archived"}
    OpenAI      GET  /v1/organization/projects/{p}/rate_limits      ?limit=&after=  (cursor list)
                POST /v1/organization/projects/{p}/rate_limits/{id} {"max_…": int, …}
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ._server import ApiError, Query, Reply, int_param, one


def _body(body: Any, allowed: set[str]) -> dict[str, Any]:
    if body is ApiError or not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(sorted(unknown))}")
    return body


class OpenRouterAdmin:
    """`/api/v1/keys/{hash}`; keys come from the dataset's api_key_ids plus `add_key`."""

    admin_keys: dict[str, dict[str, Any]]

    def add_key(self, key_hash: str, name: str = "") -> None:
        if not hasattr(self, "admin_keys"):
            self.admin_keys = {}
        self.admin_keys[key_hash] = {"hash": key_hash, "name": name or key_hash, "label": f"sk-or-v1-…{key_hash[-3:]}",
                                     "disabled": False, "limit": None, "usage": 0, "created_at": "2026-01-01T00:00:00Z",
                                     "updated_at": None}

    def admin_route(self, method: str, path: str, query: Query, body: Any) -> Reply | None:
        m = re.fullmatch(r"/api/v1/keys/([^/]+)", path)
        if not m:
            return None
        row = getattr(self, "admin_keys", {}).get(m.group(1))
        if row is None:
            raise ApiError(404, f"key {m.group(1)} not found", violation=False)
        if method == "GET":
            return 200, {}, {"data": dict(row)}
        if method != "PATCH":
            raise ApiError(405, "use GET or PATCH")
        b = _body(body, {"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"})
        if "disabled" in b and not isinstance(b["disabled"], bool):
            raise ApiError(400, "disabled must be a boolean")
        row.update(b)
        row["updated_at"] = "2026-01-01T00:00:01Z"
        return 200, {}, {"data": dict(row)}


class LiteLLMAdmin:
    """Virtual keys (by hash; an "sk-" key is hashed like the proxy does) and teams, each with `blocked`."""

    virtual_keys: dict[str, dict[str, Any]]
    teams: dict[str, dict[str, Any]]

    @staticmethod
    def token_hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest() if key.startswith("sk-") else key

    def add_virtual_key(self, key: str, team_id: str | None = None) -> str:
        if not hasattr(self, "virtual_keys"):
            self.virtual_keys = {}
        h = self.token_hash(key)
        self.virtual_keys[h] = {"token": h, "key_alias": None, "team_id": team_id, "blocked": None, "spend": 0}
        return h

    def add_team(self, team_id: str) -> None:
        if not hasattr(self, "teams"):
            self.teams = {}
        self.teams[team_id] = {"team_id": team_id, "team_alias": team_id, "blocked": False, "spend": 0}

    def admin_route(self, method: str, path: str, query: Query, body: Any) -> Reply | None:
        keys, teams = getattr(self, "virtual_keys", {}), getattr(self, "teams", {})
        if path == "/key/info" and method == "GET":
            key = one(query, "key", required=True) or ""
            row = keys.get(self.token_hash(key))
            if row is None:
                raise ApiError(404, "key not found", violation=False)
            return 200, {}, {"key": key, "info": dict(row)}
        if path in ("/key/block", "/key/unblock") and method == "POST":
            b = _body(body, {"key"})
            row = keys.get(self.token_hash(str(b.get("key") or "")))
            if row is None:
                raise ApiError(404, f"Key {b.get('key')} not found", violation=False)
            row["blocked"] = path == "/key/block"
            return 200, {}, dict(row)
        if path == "/team/info" and method == "GET":
            team_id = one(query, "team_id", required=True) or ""
            if team_id not in teams:
                raise ApiError(404, f"Team not found, passed team_id={team_id}", violation=False)
            return 200, {}, {"team_id": team_id, "team_info": dict(teams[team_id]), "keys": []}
        if path in ("/team/block", "/team/unblock") and method == "POST":
            b = _body(body, {"team_id"})
            row = teams.get(str(b.get("team_id") or ""))
            if row is None:
                raise ApiError(404, "team not found", violation=False)
            row["blocked"] = path == "/team/block"
            return 200, {}, dict(row)
        return None


class AnthropicAdmin:
    """`/v1/organizations/api_keys/{id}` with `status`."""

    api_keys: dict[str, dict[str, Any]]

    def add_api_key(self, key_id: str, status: str = "active") -> None:
        if not hasattr(self, "api_keys"):
            self.api_keys = {}
        self.api_keys[key_id] = {"type": "api_key", "id": key_id, "name": key_id, "status": status,
                                 "created_at": "2026-01-01T00:00:00Z", "partial_key_hint": "sk-ant-api03-…AAAA",
                                 "workspace_id": None}

    def admin_route(self, method: str, path: str, query: Query, body: Any) -> Reply | None:
        m = re.fullmatch(r"/v1/organizations/api_keys/([^/]+)", path)
        if not m:
            return None
        row = getattr(self, "api_keys", {}).get(m.group(1))
        if row is None:
            raise ApiError(404, f"api key {m.group(1)} not found", violation=False)
        if method == "GET":
            return 200, {}, dict(row)
        if method != "POST":
            raise ApiError(405, "use GET or POST")
        b = _body(body, {"name", "status"})
        if "status" in b:
            if b["status"] not in ("active", "inactive", "archived"):
                raise ApiError(400, "status must be active, inactive or archived")
            if row["status"] == "archived":
                raise ApiError(400, "an archived key cannot be changed")
            row["status"] = b["status"]
        return 200, {}, dict(row)


LIMIT_FIELDS = ("max_requests_per_1_minute", "max_tokens_per_1_minute", "max_images_per_1_minute",
                "max_audio_megabytes_per_1_minute", "max_requests_per_1_day", "batch_1_day_max_input_tokens")


class OpenAIAdmin:
    """Project rate limits: a cursor list and per-limit updates."""

    rate_limits: dict[str, dict[str, dict[str, Any]]]

    def add_rate_limit(self, project_id: str, model: str, rpm: int, tpm: int, **more: int) -> str:
        if not hasattr(self, "rate_limits"):
            self.rate_limits = {}
        rl = f"rl-{model}"
        self.rate_limits.setdefault(project_id, {})[rl] = {
            "object": "project.rate_limit", "id": rl, "model": model, "max_requests_per_1_minute": rpm,
            "max_tokens_per_1_minute": tpm, **more}
        return rl

    def admin_route(self, method: str, path: str, query: Query, body: Any) -> Reply | None:
        m = re.fullmatch(r"/v1/organization/projects/([^/]+)/rate_limits(?:/([^/]+))?", path)
        if not m:
            return None
        project = getattr(self, "rate_limits", {}).get(m.group(1))
        if project is None:
            raise ApiError(404, f"project {m.group(1)} not found", violation=False)
        if m.group(2) is None:
            if method != "GET":
                raise ApiError(405, "use GET")
            limit = int_param(query, "limit", 100, 1, 100)
            ids = sorted(project)
            after = one(query, "after")
            start = ids.index(after) + 1 if after in ids else 0
            page = [dict(project[i]) for i in ids[start:start + limit]]
            return 200, {}, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                             "last_id": page[-1]["id"] if page else None, "has_more": start + limit < len(ids)}
        row = project.get(m.group(2))
        if row is None:
            raise ApiError(404, f"rate limit {m.group(2)} not found", violation=False)
        if method != "POST":
            raise ApiError(405, "use POST")
        b = _body(body, set(LIMIT_FIELDS))
        for k, v in b.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ApiError(400, f"{k} must be a positive integer")
            row[k] = v
        return 200, {}, dict(row)
