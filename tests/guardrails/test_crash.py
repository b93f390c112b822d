"""kill -9 between intent and result, then a rerun: the action ends `done` once, never twice, never lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write

from .conftest import LL_KEY, OR_KEY, Fakes, config_text, detect_at


@pytest.mark.parametrize("stage", ["intent", "applied"])
def test_kill_9_between_intent_and_result_settles_once(cli: Any, planted: Path, fakes: Fakes, tmp_path: Path,
                                                        stage: str) -> None:
    cfg = write(tmp_path / "sw.toml", config_text(planted, fakes))
    flag = tmp_path / "paused"
    env = dict(os.environ, SPENDWATCH_TEST_ACTION_PAUSE=f"{stage}:{flag}")
    p = subprocess.Popen([sys.executable, "-m", "spendwatch", "--config", str(cfg), "detect", "--at", detect_at(1)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert p.poll() is None, p.stderr.read() if p.stderr else ""
            assert time.monotonic() < deadline, "detect never reached the pause"
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait(timeout=30)
        if p.stderr:
            p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    first = len(fakes.openrouter.writes()) + len(fakes.litellm.writes())
    assert first == (0 if stage == "intent" else 1)   # the killed run got that far, no further
    rows = json.loads(cli("--config", str(cfg), "actions", "--format", "json").out)
    assert [a["state"] for a in rows] == ["planned", "planned"]
    assert fakes.slack.messages() == []
    # The rerun settles both rows: exactly one change per key in all.
    r = cli("--config", str(cfg), "detect", "--at", detect_at(1))
    assert r.code == 0, r
    assert fakes.openrouter.writes() == [("PATCH", f"/api/v1/keys/{OR_KEY}")]
    assert fakes.litellm.writes() == [("POST", "/key/block")]
    assert fakes.openrouter.admin_keys[OR_KEY]["disabled"] is True
    assert fakes.litellm.virtual_keys[LL_KEY]["blocked"] is True
    rows = json.loads(cli("--config", str(cfg), "actions", "--format", "json").out)
    assert [a["state"] for a in rows] == ["done", "done"]
    assert all(a["error"] is None for a in rows)
    notes = sorted(a["note"] or "" for a in rows)
    # Killed before any call: both are simply carried out. Killed after the first change: that one is read
    # back from the provider and found in place (no second call), the other carried out.
    settled = "settled after an interrupted run: the change was in place"
    assert notes == (["", ""] if stage == "intent" else ["", settled])
    (msg,) = fakes.slack.messages()
    what = {"openrouter": f"OpenRouter key {OR_KEY}", "litellm": f"LiteLLM key {LL_KEY}"}
    assert sorted(line for line in msg["text"].splitlines() if "action:" in line) == sorted(
        f"    action: Disabled {what[a['provider']]} (action {a['id']}, rule stop-runaway-keys); "
        f"undo: spendwatch actions undo {a['id']}" for a in rows)
