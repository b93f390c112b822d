"""`[[actions]]`: opt-in guardrails, parsed and checked (see docs/guardrails.md).

Why its own module: the rules about what may act are the safety case of the feature, and they are easier
to read (and to review) in one place: which provider can do which action *reversibly*, which credentials
an enforcing rule needs, and what is refused at `check-config`.

    [[actions]]
    name = "stop-runaway-keys"
    when = { detector = "runaway", min_severity = "critical" }   # or { budget = "b", threshold = 1.0 }
    do = "disable_key"          # disable_key | block_team | throttle_project
    mode = "dry-run"            # the default; "enforce" calls the provider
    protect = { api_key_id = ["key_prod_checkout"] }
    cooldown = "1h"
    [actions.openrouter]        # one table per provider the rule may act on
    admin_key_env = "OPENROUTER_MANAGEMENT_KEY"
    base_url = "https://openrouter.ai/api/v1"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Optional
from urllib.parse import urlsplit

from .tomlcheck import BAD, parse_options, table_list
from .values import Ratio, Secret

ACTIONS = ("disable_key", "block_team", "throttle_project")
# What each action may do on each provider, reversibly. Anything else is refused at check-config.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "disable_key": ("openrouter", "litellm", "anthropic"),
    "block_team": ("litellm",),
    "throttle_project": ("openai",),
}
# Why the other combinations are refused: the only way the provider offers cannot be undone.
REFUSED: dict[tuple[str, str], str] = {
    ("disable_key", "openai"): "OpenAI's Admin API can only delete a project API key, which cannot be undone; "
                               'use do = "throttle_project" for OpenAI',
    ("block_team", "anthropic"): "Anthropic workspaces can only be archived, which cannot be undone",
    ("block_team", "openai"): "OpenAI projects can only be archived, which cannot be undone; "
                              'use do = "throttle_project"',
    ("throttle_project", "anthropic"): "Anthropic's Admin API has no rate-limit setting to lower and restore",
}
IRREVERSIBLE = {"delete_key": "deleting a key", "archive_project": "archiving a project",
                "archive_workspace": "archiving a workspace", "delete_team": "deleting a team"}
PROVIDERS = ("openrouter", "litellm", "anthropic", "openai")
DEFAULT_BASE_URL = {"openrouter": "https://openrouter.ai/api/v1", "anthropic": "https://api.anthropic.com",
                    "openai": "https://api.openai.com/v1"}  # LiteLLM is self-hosted: base_url is required
# The spend column that holds each action's target, and what the provider calls it.
TARGET_COLUMN = {"disable_key": "api_key_id", "block_team": "project_id", "throttle_project": "project_id"}
TARGET_KIND = {"disable_key": "api_key_id", "block_team": "team_id", "throttle_project": "project_id"}


@dataclass(frozen=True)
class ProviderAccess:
    """`[actions.<provider>]`: the admin credential and endpoint one rule uses for one provider."""

    # Optional[...], not "X | None": config.parse_options reads typing.Union (the kernel's checker).
    admin_key: Optional[Secret] = None  # noqa: UP045  admin_key_env / admin_key_file
    base_url: Optional[str] = None  # noqa: UP045


@dataclass(frozen=True)
class ActionRule:
    name: str
    when: dict[str, Any]
    do: str
    mode: str = "dry-run"
    protect: dict[str, Any] = field(default_factory=dict)
    cooldown: timedelta = timedelta(hours=1)
    max_targets: int = 1            # at most this many targets per finding (the top spenders in its scope)
    throttle_to: Ratio = Ratio("0.1")  # throttle_project: the share of each current limit to keep
    providers: dict[str, ProviderAccess] = field(default_factory=dict)

    @property
    def enforce(self) -> bool:
        return self.mode == "enforce"

    def acts_on(self) -> tuple[str, ...]:
        """Providers this rule may touch: those given a table, else (dry-run only) every supporting one."""
        supported = SUPPORTED[self.do]
        if self.providers:
            return tuple(p for p in supported if p in self.providers)
        return () if self.enforce else supported

    def base_url(self, provider: str) -> str:
        access = self.providers.get(provider)
        return (access.base_url if access and access.base_url else DEFAULT_BASE_URL.get(provider, ""))

    def protected(self, value: str) -> bool:
        """Whether `protect` names this target (by the provider's word or the spend column; globs allowed)."""
        from fnmatch import fnmatchcase

        pats: list[str] = []
        for col in {TARGET_KIND[self.do], TARGET_COLUMN[self.do]}:
            p = self.protect.get(col)
            pats += [p] if isinstance(p, str) else list(p or [])
        return any(fnmatchcase(value, p) for p in pats)


@dataclass(frozen=True)
class _RuleKeys:
    """The keys of one [[actions]] table besides the provider tables (parsed by config.parse_options)."""

    name: str
    when: dict[str, Any]
    do: str
    mode: str = "dry-run"
    protect: dict[str, Any] = field(default_factory=dict)
    cooldown: timedelta = timedelta(hours=1)
    max_targets: int = 1
    throttle_to: Ratio = Ratio("0.1")


def describe_rule(rule: ActionRule) -> str:
    """One line for check-config: what the rule does, when, where, and whether for real."""
    when = (f"{rule.when['detector']} findings at {rule.when.get('min_severity', 'critical')} or above"
            if "detector" in rule.when else f"budget {rule.when['budget']} at {rule.when.get('threshold', 1.0)}")
    where = ", ".join(f"{p} ({rule.base_url(p)})" for p in rule.acts_on()) or "no provider"
    mode = "ENFORCE: calls the provider" if rule.enforce else "dry-run: only says what it would do"
    prot = sum(len(v) if isinstance(v, list) else 1 for v in rule.protect.values())
    from .timeutil import format_duration

    return (f"{rule.name}: {rule.do} on {when}; {where}; {mode}; {prot} protected; "
            f"cooldown {format_duration(rule.cooldown)}")


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or bool(re.fullmatch(r"127(\.\d{1,3}){3}", host))


def parse_actions(raw: Any, probs: Any, *, detectors: list[str], budgets: list[Any]) -> list[Any]:
    """Every [[actions]] table as an ActionRule (or config.BAD), problems recorded in `probs`."""
    out: list[Any] = []
    for i, t in enumerate(table_list(raw, "actions", probs)):
        path: tuple[Any, ...] = ("actions", i)
        prov_tables = {k: v for k, v in t.items() if k in PROVIDERS}
        keys = parse_options(_RuleKeys, t, path, probs, skip=frozenset(prov_tables))
        providers: dict[str, ProviderAccess] = {}
        bad = keys is BAD
        for p, table in prov_tables.items():
            if not isinstance(table, dict):
                probs.add(path + (p,), f"expected a table [actions.{p}] with admin_key_env and base_url")
                bad = True
                continue
            access = parse_options(ProviderAccess, table, path + (p,), probs)
            if access is BAD:
                bad = True
            else:
                providers[p] = access
        if bad:
            out.append(BAD)
            continue
        rule = ActionRule(providers=providers, **{k: getattr(keys, k) for k in _RuleKeys.__dataclass_fields__})
        if _check(rule, path, probs, detectors, budgets):
            out.append(rule)
        else:
            out.append(BAD)
    return out


def _check(rule: ActionRule, path: tuple[Any, ...], probs: Any, detectors: list[str], budgets: list[Any]) -> bool:
    n = len(getattr(probs, "_found", []))
    if rule.do in IRREVERSIBLE:
        probs.add(path + ("do",), f"refused: {IRREVERSIBLE[rule.do]} cannot be undone; spendwatch only takes "
                                  f"actions it can undo ({', '.join(ACTIONS)})")
    elif rule.do not in ACTIONS:
        probs.add(path + ("do",), f"must be one of {', '.join(ACTIONS)} (got {rule.do!r})")
    if rule.mode not in ("dry-run", "enforce"):
        probs.add(path + ("mode",), f'must be "dry-run" or "enforce" (got {rule.mode!r})')
    when = rule.when
    if "detector" in when and "budget" not in when:
        if when["detector"] not in detectors:
            probs.add(path + ("when",), f"unknown detector {when['detector']!r} (known: {', '.join(detectors)})")
        extra = set(when) - {"detector", "min_severity"}
        if when.get("min_severity", "critical") not in ("info", "warning", "critical"):
            probs.add(path + ("when",), "min_severity must be one of info, warning, critical")
    elif "budget" in when and "detector" not in when:
        names = [b.name for b in budgets if hasattr(b, "name")]
        if when["budget"] not in names:
            probs.add(path + ("when",), f"no [[budgets]] named {when['budget']!r} "
                                        f"(configured: {', '.join(names) or 'none'})")
        extra = set(when) - {"budget", "threshold"}
        try:
            raw_th = when.get("threshold", "1.0")
            th = Decimal(repr(raw_th) if isinstance(raw_th, float) else str(raw_th))
            if not th.is_finite() or th <= 0:
                raise ValueError
        except Exception:
            probs.add(path + ("when",), "threshold must be a positive share of the budget "
                                        f"(got {when.get('threshold')!r})")
    else:
        extra = set()
        probs.add(path + ("when",), 'give either { detector = "...", min_severity = "..." } or '
                                    '{ budget = "...", threshold = 1.0 }')
    if extra:
        probs.add(path + ("when",), f"unknown key(s) {', '.join(sorted(extra))}")
    for col, pats in rule.protect.items():
        if col not in ("api_key_id", "project_id", "team_id", "team"):
            probs.add(path + ("protect", col), "protect by api_key_id, project_id or team_id")
        elif not (isinstance(pats, str) or (isinstance(pats, list) and all(isinstance(p, str) for p in pats))):
            probs.add(path + ("protect", col), "expected a list of ids (globs allowed)")
    if rule.max_targets < 1:
        probs.add(path + ("max_targets",), "must be at least 1")
    if not Decimal(0) < rule.throttle_to < Decimal(1):
        probs.add(path + ("throttle_to",), f"must be between 0 and 1, exclusive (got {rule.throttle_to})")
    if rule.do in ACTIONS:
        for p, access in rule.providers.items():
            if p not in SUPPORTED[rule.do]:
                why = REFUSED.get((rule.do, p), f"{p} has no reversible {rule.do}")
                probs.add(path + (p,), f"refused: {rule.do} on {p}: {why}")
                continue
            url = rule.base_url(p)
            if not url:
                probs.add(path + (p, "base_url"), f"missing (required): the {p} proxy's root URL")
            elif not url.startswith(("http://", "https://")):
                probs.add(path + (p, "base_url"), f"not an http(s) URL ({url!r})")
            elif rule.enforce and access.admin_key is None and not is_loopback(url):
                probs.add(path + (p, "admin_key_env"), f'mode = "enforce" on {url} needs an admin key: set '
                                                       "admin_key_env or admin_key_file")
        if rule.enforce and not rule.providers:
            probs.add(path + ("mode",), f'"enforce" needs at least one provider table ([actions.<provider>] with '
                                        f"admin_key_env), one of {', '.join(SUPPORTED[rule.do])}")
    return len(getattr(probs, "_found", [])) == n
