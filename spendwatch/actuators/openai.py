"""OpenAI Admin API: a project's per-model rate limits, lowered and later restored. Never a key deleted
or a project archived (both irreversible; refused at check-config).

    GET  /v1/organization/projects/{project_id}/rate_limits?limit=100[&after=<last_id>]
         → {"object": "list", "data": [{"object": "project.rate_limit", "id": "rl-…", "model": "…",
            "max_requests_per_1_minute": int, "max_tokens_per_1_minute": int, optional others}],
            "first_id", "last_id", "has_more"}
    POST /v1/organization/projects/{project_id}/rate_limits/{rate_limit_id}  {"max_…": int, …}

Throttling keeps `throttle_to` (e.g. 0.1) of every limit the project has, rounded down, at least 1. The
values are computed from the limits read *before* the change (kept in the action row), so re-applying
after a crash sets the same numbers again instead of lowering twice; undo writes the saved values back.
Sources in docs/guardrails.md.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import quote

from ..http import HttpClient
from . import bearer

LIMIT_FIELDS = ("max_requests_per_1_minute", "max_tokens_per_1_minute", "max_images_per_1_minute",
                "max_audio_megabytes_per_1_minute", "max_requests_per_1_day", "batch_1_day_max_input_tokens")


def _limit_path(project: str, rate_limit_id: str) -> str:
    return f"organization/projects/{quote(project, safe='')}/rate_limits/{quote(rate_limit_id, safe='')}"


class OpenAIActuator:
    provider = "openai"
    noun = {"throttle_project": "project"}

    def headers(self, admin_key: str | None) -> dict[str, str]:
        return bearer(admin_key)

    def read(self, client: HttpClient, action: str, target: str) -> Any:
        limits: dict[str, dict[str, int]] = {}
        after: str | None = None
        path = f"organization/projects/{quote(target, safe='')}/rate_limits"
        for _ in range(1000):  # loop guard: 100 per page
            page = client.get_json(path, [("limit", 100)] + ([("after", after)] if after else []))
            for rl in page.get("data") or []:
                limits[rl["id"]] = {f: int(rl[f]) for f in LIMIT_FIELDS if rl.get(f) is not None}
            if not page.get("has_more"):
                break
            nxt = page.get("last_id")
            if not nxt or nxt == after:
                break
            after = nxt
        return {"limits": limits}

    def lowered(self, before: Any, throttle_to: Any) -> dict[str, dict[str, int]]:
        share = Decimal(str(throttle_to))
        return {rl: {f: max(1, int((Decimal(v) * share).to_integral_value(ROUND_FLOOR))) for f, v in vals.items()}
                for rl, vals in before["limits"].items()}

    def already(self, action: str, before: Any) -> bool:
        return False

    def in_effect(self, action: str, before: Any, current: Any) -> bool:
        want = before.get("_lowered") or {}
        have = current.get("limits") or {}
        return all(have.get(rl, {}).get(f) == v for rl, vals in want.items() for f, v in vals.items())

    def apply(self, client: HttpClient, action: str, target: str, before: Any, *, throttle_to: Any = None) -> None:
        for rl, vals in (before.get("_lowered") or self.lowered(before, throttle_to)).items():
            client.send_json("POST", _limit_path(target, rl), vals)

    def revert(self, client: HttpClient, action: str, target: str, before: Any) -> None:
        for rl, vals in before["limits"].items():
            client.send_json("POST", _limit_path(target, rl), vals)
