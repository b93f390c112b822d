"""Actuators: how each provider's admin API stops spend and restores it (one small module per provider).

Why a folder inside the spine and not a plugin package like `collector/`: what may act on a provider is
part of the safety case (docs/guardrails.md) and must not grow by dropping a third-party module on the
path; the four actuators are listed here by hand.

An actuator works on one target (a key, a team, a project) in three idempotent steps, each one a plain
"set this field to this value" call, so a retry or a re-issue after a crash never changes more:

    read(client, action, target)               -> state    the provider's current state (JSON-able)
    already(action, before)                    -> bool     `before` already stops spend: nothing to do
    in_effect(action, before, current)         -> bool     the change computed from `before` is in place
    apply(client, action, target, before)                  make the change
    revert(client, action, target, before)                 restore `before`
"""

from __future__ import annotations

from typing import Any, Protocol

from ..http import HttpClient


class Actuator(Protocol):
    provider: str
    noun: dict[str, str]   # action -> what the target is called ("key", "team", "project")

    def headers(self, admin_key: str | None) -> dict[str, str]: ...
    def read(self, client: HttpClient, action: str, target: str) -> Any: ...
    def already(self, action: str, before: Any) -> bool: ...
    def in_effect(self, action: str, before: Any, current: Any) -> bool: ...
    def apply(self, client: HttpClient, action: str, target: str, before: Any, *, throttle_to: Any) -> None: ...
    def revert(self, client: HttpClient, action: str, target: str, before: Any) -> None: ...


def actuator(provider: str) -> Actuator:
    from .anthropic import AnthropicActuator
    from .litellm import LiteLLMActuator
    from .openai import OpenAIActuator
    from .openrouter import OpenRouterActuator

    table: dict[str, Actuator] = {"openrouter": OpenRouterActuator(), "litellm": LiteLLMActuator(),
                                  "anthropic": AnthropicActuator(), "openai": OpenAIActuator()}
    return table[provider]


def bearer(admin_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
