"""The six acceptance points of guardrail actions (issue 13), against the loopback fakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import write

from .conftest import LL_KEY, OR_ADMIN, OR_KEY, QUIET_KEY, Fakes, config_text, detect_at


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
    assert sorted((a["action"], a["provider"], a["target"], a["mode"], a["state"], a["error"]) for a in rows) == [
        ("disable_key", "litellm", LL_KEY, "enforce", "done", None),
        ("disable_key", "openrouter", OR_KEY, "enforce", "done", None)]
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


def test_dry_run_is_the_default_and_calls_nobody(cli: Any, planted: Path, fakes: Fakes, tmp_path: Path) -> None:
    cfg = write(tmp_path / "sw.toml", config_text(planted, fakes, mode=""))
    r = cli("--config", str(cfg), "detect", "--at", detect_at(1))
    assert r.code == 0, r
    assert fakes.openrouter.requests == [] and fakes.litellm.requests == []
    assert fakes.openrouter.admin_keys[OR_KEY]["disabled"] is False
    rows = _actions(cli, cfg)
    assert sorted((a["provider"], a["target"], a["mode"], a["state"]) for a in rows) == [
        ("litellm", LL_KEY, "dry-run", "done"), ("openrouter", OR_KEY, "dry-run", "done")]
    text = _slack_text(fakes)
    assert f"Dry run: would have disabled OpenRouter key {OR_KEY} (rule stop-runaway-keys" in text
    assert f"Dry run: would have disabled LiteLLM key {LL_KEY}" in text
    assert "spendwatch actions undo" not in text


def test_protected_key_is_never_touched_even_as_top_driver(cli: Any, planted: Path, fakes: Fakes,
                                                          tmp_path: Path) -> None:
    protect = 'protect = { api_key_id = ["f01d5260aa77*"] }\n'
    cfg = write(tmp_path / "sw.toml", config_text(planted, fakes, protect=protect))
    r = cli("--config", str(cfg), "detect", "--at", detect_at(1))
    assert r.code == 0, r
    assert fakes.openrouter.requests == []          # not even read
    assert fakes.openrouter.admin_keys[OR_KEY]["disabled"] is False
    assert fakes.litellm.writes() == [("POST", "/key/block")]
    assert [(a["provider"], a["state"]) for a in _actions(cli, cfg)] == [("litellm", "done")]


def test_undo_re_enables_the_key_and_marks_the_row(cli: Any, planted: Path, fakes: Fakes, tmp_path: Path) -> None:
    cfg = write(tmp_path / "sw.toml", config_text(planted, fakes))
    assert cli("--config", str(cfg), "detect", "--at", detect_at(1)).code == 0
    ids = {a["provider"]: a["id"] for a in _actions(cli, cfg)}
    r = cli("--config", str(cfg), "actions", "undo", str(ids["openrouter"]))
    assert r.code == 0, r
    assert r.out == f"action {ids['openrouter']}: re-enabled OpenRouter key {OR_KEY}\n"
    assert fakes.openrouter.admin_keys[OR_KEY]["disabled"] is False
    assert fakes.openrouter.writes() == [("PATCH", f"/api/v1/keys/{OR_KEY}")] * 2
    r = cli("--config", str(cfg), "actions", "undo", str(ids["litellm"]))
    assert r.code == 0, r
    assert fakes.litellm.writes() == [("POST", "/key/block"), ("POST", "/key/unblock")]
    assert fakes.litellm.virtual_keys[LL_KEY]["blocked"] is False
    rows = {a["provider"]: a for a in _actions(cli, cfg)}
    assert (rows["openrouter"]["state"], rows["litellm"]["state"]) == ("undone", "undone")
    assert rows["openrouter"]["undone_at"] is not None
    # Undoing twice is a user mistake: one line, exit 1, no call.
    r = cli("--config", str(cfg), "actions", "undo", str(ids["openrouter"]))
    assert (r.code, r.err) == (1, f"spendwatch: action {ids['openrouter']} was already undone\n")
    assert len(fakes.openrouter.writes()) == 2
    # The alert episode goes on: the human's undo is respected, nothing is disabled again.
    assert cli("--config", str(cfg), "detect", "--at", detect_at(2)).code == 0
    assert len(fakes.openrouter.writes()) == 2 and fakes.openrouter.admin_keys[OR_KEY]["disabled"] is False


def test_provider_failing_three_times_ends_failed_redacted_and_the_alert_still_goes_out(
        cli: Any, planted: Path, fakes: Fakes, tmp_path: Path) -> None:
    fakes.openrouter.faults.write_errors = 3
    cfg = write(tmp_path / "sw.toml", config_text(planted, fakes))
    r = cli("--config", str(cfg), "detect", "--at", detect_at(1))
    assert r.code == 1                                # reported, not dropped
    assert len(fakes.openrouter.writes()) == 3        # the HTTP layer's three attempts
    assert fakes.openrouter.admin_keys[OR_KEY]["disabled"] is False
    rows = {a["provider"]: a for a in _actions(cli, cfg)}
    assert rows["openrouter"]["state"] == "failed" and rows["litellm"]["state"] == "done"
    error = rows["openrouter"]["error"]
    assert error == ("action stop-runaway-keys (openrouter): PATCH keys/" + OR_KEY + ": HTTP 500 (internal error "
                     "handling request with Bearer [REDACTED]); gave up after 3 attempts")
    assert OR_ADMIN not in r.err and OR_ADMIN not in _slack_text(fakes)
    assert f"could not disable OpenRouter key {OR_KEY}" in r.err
    (msg,) = fakes.slack.messages()
    assert f"FAILED to disable OpenRouter key {OR_KEY}" in json.dumps(msg)
    assert f"Disabled LiteLLM key {LL_KEY}" in json.dumps(msg)
