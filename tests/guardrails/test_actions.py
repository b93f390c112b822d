"""The six acceptance points of guardrail actions (issue 13), against the loopback fakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import write

from .conftest import LL_KEY, OR_KEY, QUIET_KEY, Fakes, config_text, detect_at


def _actions(cli: Any, cfg: Path) -> list[dict[str, Any]]:
    r = cli("--config", str(cfg), "actions", "--format", "json")
    assert r.code == 0, r
    return json.loads(r.out)


def _slack_text(fakes: Fakes) -> str:
    return "\n".join(json.dumps(m) for m in fakes.slack.messages())


def test_enforce_disables_each_runaway_key_once_and_says_how_to_undo(cli: Any, planted: Path, fakes: Fakes,
                                                                     tmp_path: Path) -> None:
    cfg = write(tmp_path / "sw.toml", config_text(planted, fakes))
    r = cli("--config", str(cfg), "detect", "--at", detect_at(1))
    assert r.code == 0, r
    assert fakes.openrouter.writes() == [("PATCH", f"/api/v1/keys/{OR_KEY}")]
    assert fakes.litellm.writes() == [("POST", "/key/block")]
    assert fakes.openrouter.admin_keys[OR_KEY]["disabled"] is True
    assert fakes.openrouter.admin_keys[QUIET_KEY]["disabled"] is False
    assert fakes.litellm.virtual_keys[LL_KEY]["blocked"] is True
    rows = _actions(cli, cfg)
    assert [(a["action"], a["provider"], a["target"], a["mode"], a["state"], a["error"]) for a in rows] == [
        ("disable_key", "litellm", LL_KEY, "enforce", "done", None),
        ("disable_key", "openrouter", OR_KEY, "enforce", "done", None)] or sorted(
        (a["provider"], a["target"], a["state"]) for a in rows) == [("litellm", LL_KEY, "done"), ("openrouter", OR_KEY, "done")]
    assert len(rows) == 2 and all(a["done_at"] for a in rows)
    (msg,) = fakes.slack.messages()
    text = json.dumps(msg)
    for a in rows:
        assert f"spendwatch actions undo {a['id']}" in text
    assert f"Disabled OpenRouter key {OR_KEY}" in text and f"Disabled LiteLLM key {LL_KEY}" in text
    # A second detect (the loop goes on, same alert episode): no further provider call, no new row.
    r = cli("--config", str(cfg), "detect", "--at", detect_at(2))
    assert r.code == 0, r
    assert len(fakes.openrouter.writes()) == 1 and len(fakes.litellm.writes()) == 1
    assert len(_actions(cli, cfg)) == 2
