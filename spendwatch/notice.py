"""What a sink is handed, and the words every sink shares.

A `Notice` is one alert as announced to one sink: the finding's labels and figures plus the lifecycle facts
the alert log knows (firing or resolved, escalated since the last message to *this* sink). Sinks render
notices; they never look at the store. Keeping the wording here means Slack, email, webhook and console
say the same thing in the same words ("OpenAI budget 'prod' at 104% ($5,210 of $5,000)").

Money stays Decimal all the way: `usd()` rounds for people (whole dollars from $1,000, cents below, four
significant places for fractions of a cent) with exact decimal rounding, never through float.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .findings import Finding, dollars, iso, money_str
from .values import severity_rank

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "openrouter": "OpenRouter", "litellm": "LiteLLM",
                  "gcp": "Google Cloud", "vertex": "Vertex AI", "aws": "AWS", "bedrock": "Amazon Bedrock",
                  "azure": "Azure", "google": "Google", "mistral": "Mistral", "cohere": "Cohere"}
DIMENSION_WORDS = {"api_key_id": "key", "project_id": "project", "model": "model", "team": "team",
                   "provider": "provider", "user_id": "user", "workspace_id": "workspace", "source": "source",
                   "line_item": "line item", "service_tier": "tier", "account_id": "account"}


@dataclass(frozen=True)
class Notice:
    """One alert as announced to one sink."""

    key: str
    detector: str
    severity: str
    scope: dict[str, Any]
    period_start: datetime | None
    period_end: datetime | None
    message: str
    observed: Decimal | None = None
    expected: Decimal | None = None
    threshold: Decimal | None = None
    drivers: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    status: str = "firing"            # firing | resolved
    escalated: bool = False           # this sink had a lower level of the same alert before
    first_seen: datetime | None = None
    budget_amount: Decimal | None = None  # the configured budget, when scope names one
    budget_provider: str | None = None    # the budget's match.provider, to say "OpenAI budget"
    actions: tuple[str, ...] = ()            # guardrail actions taken (or, in dry-run, not) with undo hints

    @classmethod
    def of(cls, item: Finding | Notice, **extra: Any) -> Notice:
        """Accept a Finding (e.g. from `detect --no-send`) or a Notice."""
        if isinstance(item, Notice):
            return item
        return cls(key=item.key, detector=item.detector, severity=item.severity, scope=dict(item.scope),
                   period_start=item.period_start, period_end=item.period_end, message=item.message,
                   observed=item.observed, expected=item.expected, threshold=item.threshold,
                   drivers=list(item.drivers), step=item.step, **extra)

    @property
    def rank(self) -> int:
        return severity_rank(self.severity)

    def to_json(self) -> dict[str, Any]:
        """The `detect --json` object plus lifecycle fields (webhook payloads)."""
        return {
            "detector": self.detector, "key": self.key, "severity": self.severity, "status": self.status,
            "escalated": self.escalated, "scope": self.scope, "period_start": iso(self.period_start),
            "period_end": iso(self.period_end), "observed": money_str(self.observed),
            "expected": money_str(self.expected), "threshold": money_str(self.threshold),
            "message": self.message, "title": headline(self),
            "drivers": [{k: (money_str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}
                        for d in self.drivers],
            "step": self.step,
            "actions": list(self.actions),
        }


def with_budget(n: Notice, config: Any) -> Notice:
    """Add the configured budget's amount and provider, so a headline can say "104% of $5,000"."""
    name = n.scope.get("budget")
    if name is None or config is None:
        return n
    from dataclasses import replace

    for b in getattr(config, "budgets", []):
        if b.name == name:
            prov = b.match.get("provider") if isinstance(b.match.get("provider"), str) else None
            return replace(n, budget_amount=b.amount, budget_provider=prov if prov and "*" not in prov else None)
    return n


def notices(items: Iterable[Finding | Notice]) -> list[Notice]:
    """Most severe first, then firing before resolved, then by key: a stable order for every sink."""
    out = [Notice.of(x) for x in items]
    return sorted(out, key=lambda n: (n.status != "firing", -n.rank, n.detector, n.key))


# ------------------------------------------------------------------------------------------------ words


def usd(value: Decimal | None) -> str:
    """$5,210 (from $1,000) · $812.40 · $0.0042; exact decimal rounding."""
    return dollars(value)


def usd_cents(value: Decimal | None) -> str:
    """$5,210.37: for tables where columns should line up."""
    if value is None:
        return "$?"
    d = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${abs(d):,f}" if d < 0 else f"${d:,f}"


def percent(part: Decimal, whole: Decimal) -> str:
    return f"{(Decimal(part) / Decimal(whole) * 100).quantize(Decimal('1'), rounding=ROUND_HALF_UP)}%"


def provider_name(p: str) -> str:
    return PROVIDER_NAMES.get(p.lower(), p)


def describe_scope(scope: dict[str, Any]) -> str:
    """'OpenAI model gpt-4o, project search': the scope in words, provider first."""
    head = provider_name(str(scope["provider"])) if scope.get("provider") else ""
    rest = [f"{DIMENSION_WORDS.get(k, k)} {v}" for k, v in scope.items() if k not in ("provider", "budget", "signal")]
    return " ".join(filter(None, [head, ", ".join(rest)])) or "all spend"


def headline(n: Notice) -> str:
    """What and how much, one line: the email subject and the Slack section title."""
    prefix = ""  # the status label ("resolved") is the renderer's, so it is not said twice
    if "budget" in n.scope:
        owner = f"{provider_name(n.budget_provider)} " if n.budget_provider else ""
        name = f"{owner}budget '{n.scope['budget']}'"
        whole = n.budget_amount
        if n.scope.get("signal") == "forecast" and n.expected is not None and whole:
            return f"{prefix}{name} projected at {percent(n.expected, whole)} ({usd(n.expected)} of {usd(whole)})"
        if n.observed is not None and whole:
            return f"{prefix}{name} at {percent(n.observed, whole)} ({usd(n.observed)} of {usd(whole)})"
        if n.observed is not None and n.threshold is not None:  # budget not in this config: no percentage
            return f"{prefix}{name}: {usd(n.observed)} spent (threshold {usd(n.threshold)})"
        return f"{prefix}{name}"
    what = f"{n.detector.replace('_', ' ')}: {describe_scope(n.scope)}"
    if n.observed is not None and n.expected is not None:
        return f"{prefix}{what} {usd(n.observed)} vs {usd(n.expected)} expected"
    if n.observed is not None:
        return f"{prefix}{what} {usd(n.observed)}"
    return prefix + what


def figures(n: Notice) -> list[tuple[str, str]]:
    """(label, value) pairs: observed vs expected/budget/threshold, as exact cents."""
    out = []
    if n.observed is not None:
        out.append(("Observed", usd_cents(n.observed)))
    if n.expected is not None:
        out.append(("Projected" if n.scope.get("signal") == "forecast" else "Expected", usd_cents(n.expected)))
    if n.budget_amount is not None:
        out.append(("Budget", usd_cents(n.budget_amount)))
    if n.threshold is not None and n.threshold != n.budget_amount:
        out.append(("Threshold", usd_cents(n.threshold)))
    return out


def period_text(n: Notice) -> str:
    if not n.period_start:
        return ""
    end = f" – {n.period_end.strftime('%Y-%m-%d %H:%M')}" if n.period_end else ""
    return f"{n.period_start.strftime('%Y-%m-%d %H:%M')}{end} UTC"


def driver_lines(n: Notice, limit: int = 5) -> list[str]:
    """'model gpt-4o: +$812.40 (83% of the change)' for detector drivers; generic k=v otherwise."""
    out = []
    for d in n.drivers[:limit]:
        if "dimension" in d and "value" in d:
            line = f"{DIMENSION_WORDS.get(d['dimension'], d['dimension'])} {d['value']}"
            if d.get("change") is not None:
                line += f": +{usd(Decimal(str(d['change'])))}"
            elif d.get("observed") is not None:
                line += f": {usd(Decimal(str(d['observed'])))}"
            if d.get("share") is not None:
                line += f" ({percent(Decimal(str(d['share'])), Decimal(1))} of the change)"
            out.append(line)
        else:
            out.append(", ".join(f"{k}={money_str(v) if isinstance(v, Decimal) else v}" for k, v in d.items()))
    return out


def summary(items: Sequence[Notice]) -> str:
    """'2 alerts: 1 critical, 1 warning' (or '1 resolved')."""
    firing = [n for n in items if n.status == "firing"]
    resolved = len(items) - len(firing)
    counts = [f"{sum(1 for n in firing if n.severity == s)} {s}" for s in ("critical", "warning", "info")
              if any(n.severity == s for n in firing)]
    if resolved:
        counts.append(f"{resolved} resolved")
    noun = "alert" if len(items) == 1 else "alerts"
    return f"{len(items)} {noun}: {', '.join(counts)}"


def subject(items: Sequence[Notice]) -> str:
    """The email subject: the most important alert in words, then how many more."""
    top = items[0]
    label = "resolved" if top.status == "resolved" else top.severity
    text = headline(top)
    more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
    return f"[spendwatch] {label}: {text}{more}"


def render_text(items: Sequence[Notice], cap: int = 1000) -> str:
    """Plain text of a grouped message: one block per alert, capped with 'and N more'."""
    lines: list[str] = []
    for n in items[:cap]:
        tag = "RESOLVED" if n.status == "resolved" else n.severity.upper()
        esc = " (escalated)" if n.escalated and n.status == "firing" else ""
        lines.append(f"[{tag}]{esc} {headline(n)}")
        lines.append(f"    {n.message}")
        figs = figures(n)
        if figs:
            lines.append("    " + ", ".join(f"{k.lower()} {v}" for k, v in figs))
        if period_text(n):
            lines.append(f"    period: {period_text(n)}")
        for d in driver_lines(n):
            lines.append(f"    driver: {d}")
        for a in n.actions:
            lines.append(f"    action: {a}")
    if len(items) > cap:
        lines.append(f"and {len(items) - cap} more")
    return "\n".join(lines)
