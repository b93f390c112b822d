"""The other actuators end to end on their fakes: Anthropic key status, LiteLLM team block, OpenAI project
rate limits lowered and restored (never below 1, never twice after a crash-style re-run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spendwatch.actions import run_actions, undo
from spendwatch.app import parse_config
from spendwatch.fakes import FakeAnthropic, FakeLiteLLM, FakeOpenAI, generate
from spendwatch.findings import Finding
from spendwatch.store import Store
from tests.detectors.helpers import D, at, hour_rows, load

ADMIN = "sk-admin-fakeSECRET-00001111"


@pytest.fixture
def ds() -> Any:
    return generate(at("2026-10-01"), days=1, density=0.02, providers=("openai", "anthropic", "litellm"))


def _setup(tmp_path: Path, provider: str, dim: str, target: str, do: str, base_url: str,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Finding]:
    store = tmp_path / "s.duckdb"
    load(store, hour_rows("2026-10-06T10:00", [3, 50, 50], provider=provider, model="m", **{dim: target}))
    monkeypatch.setenv("SW_ADMIN", ADMIN)
    monkeypatch.setenv("SPENDWATCH_HTTP_WAIT_SCALE", "0.01")
    cfg = parse_config(f"""[store]
path = "{store}"
[[actions]]
name = "guard"
when = {{ detector = "runaway" }}
do = "{do}"
mode = "enforce"
[actions.{provider}]
admin_key_env = "SW_ADMIN"
base_url = "{base_url}"
""", "t.toml")
    f = Finding("runaway", "critical", {"provider": provider}, at("2026-10-06T11:00"), at("2026-10-06T13:00"),
                "loop", observed=D(50), expected=D(3))
    return cfg, f


def _rows(cfg: Any) -> list[tuple[Any, ...]]:
    with Store.open(cfg.store.path, read_only=True) as s:
        return s.conn.execute("SELECT id, provider, target, state, error FROM actions ORDER BY id").fetchall()


@pytest.fixture
def anthropic(ds: Any) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(ds, api_key=ADMIN) as f:
        yield f  # type: ignore[misc]


def test_anthropic_key_goes_inactive_and_back(tmp_path: Path, anthropic: Any, monkeypatch: Any) -> None:
    anthropic.add_api_key("apikey_01Rj2N8SVvo6BePZj99NhmiT")
    cfg, f = _setup(tmp_path, "anthropic", "api_key_id", "apikey_01Rj2N8SVvo6BePZj99NhmiT", "disable_key",
                    anthropic.base_url, monkeypatch)
    assert run_actions(cfg, [f], at("2026-10-06T13:00")) == []
    assert anthropic.writes() == [("POST", "/v1/organizations/api_keys/apikey_01Rj2N8SVvo6BePZj99NhmiT")]
    assert anthropic.api_keys["apikey_01Rj2N8SVvo6BePZj99NhmiT"]["status"] == "inactive"
    assert _rows(cfg) == [(1, "anthropic", "apikey_01Rj2N8SVvo6BePZj99NhmiT", "done", None)]
    assert run_actions(cfg, [f], at("2026-10-06T14:00")) == []   # same episode: nothing more
    assert len(anthropic.writes()) == 1
    assert undo(cfg, 1) == "action 1: re-enabled Anthropic key apikey_01Rj2N8SVvo6BePZj99NhmiT"
    assert anthropic.api_keys["apikey_01Rj2N8SVvo6BePZj99NhmiT"]["status"] == "active"


def test_already_inactive_key_is_left_alone_and_undo_does_not_wake_it(tmp_path: Path, anthropic: Any,
                                                                      monkeypatch: Any) -> None:
    anthropic.add_api_key("apikey_sleeping", status="inactive")
    cfg, f = _setup(tmp_path, "anthropic", "api_key_id", "apikey_sleeping", "disable_key", anthropic.base_url,
                    monkeypatch)
    assert run_actions(cfg, [f], at("2026-10-06T13:00")) == []
    assert anthropic.writes() == []
    assert undo(cfg, 1) == ("action 1: nothing had been changed (already disabled before; nothing changed); "
                            "marked undone")
    assert anthropic.writes() == [] and anthropic.api_keys["apikey_sleeping"]["status"] == "inactive"


def test_litellm_team_blocked_and_unblocked(tmp_path: Path, ds: Any, monkeypatch: Any) -> None:
    with FakeLiteLLM(ds, api_key=ADMIN) as ll:
        ll.add_team("team-ml")  # type: ignore[attr-defined]
        cfg, f = _setup(tmp_path, "litellm", "project_id", "team-ml", "block_team", ll.base_url, monkeypatch)
        assert run_actions(cfg, [f], at("2026-10-06T13:00")) == []
        assert ll.writes() == [("POST", "/team/block")]
        assert ll.teams["team-ml"]["blocked"] is True  # type: ignore[attr-defined]
        assert undo(cfg, 1) == "action 1: unblocked LiteLLM team team-ml"
        assert ll.writes() == [("POST", "/team/block"), ("POST", "/team/unblock")]
        assert ll.teams["team-ml"]["blocked"] is False  # type: ignore[attr-defined]


def test_openai_project_throttled_to_a_tenth_and_restored(tmp_path: Path, ds: Any, monkeypatch: Any) -> None:
    with FakeOpenAI(ds, api_key=ADMIN) as oa:
        oa.add_rate_limit("proj_search", "gpt-4o", 5000, 800000, max_requests_per_1_day=9)  # type: ignore[attr-defined]
        oa.add_rate_limit("proj_search", "o3", 500, 30000)  # type: ignore[attr-defined]
        cfg, f = _setup(tmp_path, "openai", "project_id", "proj_search", "throttle_project", oa.base_url, monkeypatch)
        assert run_actions(cfg, [f], at("2026-10-06T13:00")) == []
        limits = oa.rate_limits["proj_search"]  # type: ignore[attr-defined]
        assert {k: (v["max_requests_per_1_minute"], v["max_tokens_per_1_minute"], v.get("max_requests_per_1_day"))
                for k, v in limits.items()} == {"rl-gpt-4o": (500, 80000, 1), "rl-o3": (50, 3000, None)}
        assert len(oa.writes()) == 2
        assert undo(cfg, 1) == "action 1: restored OpenAI project proj_search"
        assert {k: (v["max_requests_per_1_minute"], v["max_tokens_per_1_minute"], v.get("max_requests_per_1_day"))
                for k, v in limits.items()} == {"rl-gpt-4o": (5000, 800000, 9), "rl-o3": (500, 30000, None)}
