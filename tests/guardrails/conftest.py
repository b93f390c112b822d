"""Guardrail tests: a planted runaway on one OpenRouter key and one LiteLLM key, the real fakes (admin
endpoints) on 127.0.0.1, a fake Slack webhook, and `spendwatch detect` in-process or as a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from spendwatch.fakes import FakeLiteLLM, FakeOpenRouter, generate
from tests.detectors.helpers import at, hour_rows, load
from tests.sinks.conftest import SlackServer, _serve

OR_KEY = "f01d5260aa77bb11ce943"          # an OpenRouter key hash
LL_KEY = "88c3b1e2d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"  # a LiteLLM token hash
QUIET_KEY = "f01d5260quietkey0001"        # a second OpenRouter key that spends as usual
OR_ADMIN, LL_ADMIN = "sk-or-v1-mgmtSECRET0123456789", "sk-litellm-masterSECRET987654"
T0 = "2026-09-01T00:00"                   # a Tuesday
HOURS = 36 * 24
ONSET = HOURS - 10                        # the loop starts 2026-10-06 14:00 UTC
DETECTORS = ("budget", "level_shift", "low_balance", "new_spender", "reconciliation", "spike", "stale_data",
             "unpriced_model")


def usual(hours: int) -> list[Any]:
    return [2] * hours


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """36 days of $2/hour per key, then a $60/hour loop on OR_KEY and LL_KEY from ONSET."""
    store = tmp_path / "spend.duckdb"
    loop = usual(HOURS)
    for i in range(ONSET, ONSET + 4):
        loop[i] = 60
    rows = hour_rows(T0, loop, provider="openrouter", model="openai/gpt-4.1", api_key_id=OR_KEY)
    rows += hour_rows(T0, usual(HOURS), provider="openrouter", model="openai/gpt-4.1", api_key_id=QUIET_KEY)
    load(store, rows, source="openrouter-main")
    rows = hour_rows(T0, loop, provider="litellm", model="claude-sonnet-4", api_key_id=LL_KEY, project_id="team-ml")
    load(store, rows, source="litellm-proxy")
    return store


def detect_at(hours_after_onset: int = 1) -> str:
    t: datetime = at(T0) + timedelta(hours=ONSET + hours_after_onset)
    return t.isoformat()


@dataclass
class Fakes:
    openrouter: FakeOpenRouter
    litellm: FakeLiteLLM
    slack: SlackServer


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    ds = generate(at("2026-10-01"), days=1, density=0.02, providers=("openrouter", "litellm"))
    orf = FakeOpenRouter(ds, api_key=OR_ADMIN).start()
    llf = FakeLiteLLM(ds, api_key=LL_ADMIN).start()
    orf.add_key(OR_KEY, "batch-agent")
    orf.add_key(QUIET_KEY, "checkout")
    llf.add_virtual_key(LL_KEY, team_id="team-ml")
    llf.add_team("team-ml")
    monkeypatch.setenv("SW_OR_ADMIN", OR_ADMIN)
    monkeypatch.setenv("SW_LL_ADMIN", LL_ADMIN)
    monkeypatch.setenv("SPENDWATCH_HTTP_WAIT_SCALE", "0.01")
    gen = _serve(SlackServer())
    slack = next(gen)
    monkeypatch.setenv("SW_SLACK_HOOK", slack.hook_url)
    try:
        yield Fakes(orf, llf, slack)
    finally:
        orf.stop()
        llf.stop()
        next(gen, None)


def config_text(store: Path, fakes: Fakes, *, mode: str = "enforce", do: str = "disable_key", protect: str = "",
                extra: str = "") -> str:
    disabled = "".join(f"[detectors.{d}]\nenabled = false\n" for d in DETECTORS)
    mode_line = f'mode = "{mode}"\n' if mode else ""
    return f"""[store]
path = "{store}"

{disabled}
[[sinks]]
name = "ops-slack"
type = "slack"
webhook_url_env = "SW_SLACK_HOOK"
min_severity = "warning"

[[actions]]
name = "stop-runaway-keys"
when = {{ detector = "runaway", min_severity = "critical" }}
do = "{do}"
{mode_line}{protect}cooldown = "1h"
{extra}
[actions.openrouter]
admin_key_env = "SW_OR_ADMIN"
base_url = "{fakes.openrouter.base_url}"

[actions.litellm]
admin_key_env = "SW_LL_ADMIN"
base_url = "{fakes.litellm.base_url}"
"""
