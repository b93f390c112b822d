"""What `check-config` refuses: irreversible actions, enforcing without an admin key on a real endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import write

RULE = """[store]
path = "{store}"

[[actions]]
name = "guard"
when = {{ detector = "runaway" }}
do = "{do}"
mode = "{mode}"
{extra}"""


def _check(cli: Any, tmp_path: Path, do: str = "disable_key", mode: str = "enforce", extra: str = "") -> Any:
    cfg = write(tmp_path / "sw.toml", RULE.format(store=tmp_path / "s.duckdb", do=do, mode=mode, extra=extra))
    return cli("--config", str(cfg), "check-config")


def test_irreversible_action_is_refused(cli: Any, tmp_path: Path) -> None:
    r = _check(cli, tmp_path, do="delete_key", mode="dry-run")
    assert r.code == 1
    assert r.err == (f"spendwatch: {tmp_path / 'sw.toml'}:7: actions[0].do: refused: deleting a key cannot be undone; "
                     "spendwatch only takes actions it can undo (disable_key, block_team, throttle_project)\n")


def test_provider_that_cannot_undo_is_refused(cli: Any, tmp_path: Path) -> None:
    r = _check(cli, tmp_path, extra='[actions.openai]\nadmin_key_env = "OPENAI_ADMIN_KEY"\n')
    assert r.code == 1
    assert "actions[0].openai: refused: disable_key on openai: OpenAI's Admin API can only delete a project API " \
           "key, which cannot be undone" in r.err
    assert len(r.err.splitlines()) == 1


def test_enforce_on_a_real_endpoint_needs_an_admin_key(cli: Any, tmp_path: Path) -> None:
    r = _check(cli, tmp_path, extra='[actions.openrouter]\nbase_url = "https://openrouter.ai/api/v1"\n')
    assert r.code == 1
    assert r.err.endswith('actions[0].openrouter.admin_key_env: mode = "enforce" on https://openrouter.ai/api/v1 '
                          "needs an admin key: set admin_key_env or admin_key_file\n")
    # Loopback (a local proxy without auth, the fakes) is allowed; so is dry-run anywhere.
    assert _check(cli, tmp_path, extra='[actions.litellm]\nbase_url = "http://127.0.0.1:4000"\n').code == 0
    assert _check(cli, tmp_path, mode="dry-run",
                  extra='[actions.openrouter]\nbase_url = "https://openrouter.ai/api/v1"\n').code == 0


def test_check_config_prints_the_rule_and_its_secret(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("SW_OR_MGMT", raising=False)
    r = _check(cli, tmp_path, extra='[actions.openrouter]\nadmin_key_env = "SW_OR_MGMT"\n')
    assert r.code == 1
    assert ("  guard: disable_key on runaway findings at critical or above; openrouter (https://openrouter.ai/api/v1); "
            "ENFORCE: calls the provider; 0 protected; cooldown 1h") in r.out
    assert "    secret actions[0].openrouter.admin_key: environment variable SW_OR_MGMT MISSING" in r.out
    assert r.err == "spendwatch: actions[0].openrouter.admin_key: environment variable SW_OR_MGMT is not set\n"
