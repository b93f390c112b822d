"""Config errors: one test per error class, exact messages, all problems reported at once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import tests.plugins.keyed  # noqa: F401  (registers the test-keyed source type)
from spendwatch.app import load_config, parse_config
from spendwatch.errors import ConfigError

from .conftest import write


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "sw.toml")
    return exc.value.problems


def test_unknown_key_is_an_error_with_a_hint() -> None:
    assert problems('[store]\npath = "a.duckdb"\nlock_timout = "5s"\n') == [
        "sw.toml:3: store.lock_timout: unknown key (did you mean 'lock_timeout'?)"]


def test_unknown_section() -> None:
    assert problems('[budget]\nname = "x"\n') == ["sw.toml:1: budget: unknown section (did you mean 'budgets'?)"]


def test_wrong_type() -> None:
    assert problems('[store]\npath = 5\n') == ["sw.toml:2: store.path: expected a string, got int (5)"]


def test_bad_decimal() -> None:
    text = '[[budgets]]\nname = "prod"\namount = "5k"\n'
    assert problems(text) == ['sw.toml:3: budgets[0].amount: not a decimal ("5k")']


def test_money_as_float_is_refused() -> None:
    text = '[[budgets]]\nname = "prod"\namount = 5000.1\n'
    assert problems(text) == ['sw.toml:3: budgets[0].amount: write money as a decimal string, not a float (e.g. "5000.1")']


def test_bad_time_zone() -> None:
    assert problems('[daemon]\ntimezone = "Mars/Olympus"\n') == [
        'sw.toml:2: daemon.timezone: unknown time zone ("Mars/Olympus"); use an IANA name such as "Europe/Berlin"']


def test_unknown_source_type_and_match_column() -> None:
    text = ('[[sources]]\nname = "a"\ntype = "test-keyd"\n\n'
            '[[allocation]]\nteam = "x"\nmatch = { projct_id = "p*" }\n')
    got = problems(text)
    assert got[0] == "sw.toml:3: sources[0].type: unknown collector type 'test-keyd' (did you mean 'test-keyed'?)"
    assert got[1].startswith("sw.toml:7: allocation[0].match.projct_id: not a column of spend usable in match")


def test_secret_value_in_file_is_refused() -> None:
    text = '[[sources]]\nname = "a"\ntype = "test-keyed"\napi_key_env = "sk-abc def"\n'
    assert problems(text) == ["sw.toml:4: sources[0].api_key_env: not an environment variable name ('sk-abc def'); "
                              "put the secret in the environment, not in this file"]


def test_several_errors_are_all_reported_in_file_order() -> None:
    text = """[store]
path = "x.duckdb"
colour = "blue"

[[budgets]]
name = "prod"
amount = "5k"

[[budgets]]
name = "ml"
amount = "10"
period = "year"

[[sources]]
name = "a"
type = "test-keyed"
interval = "soon"

[daemon]
timezone = "Nowhere/City"
digest_at = "25:00"
"""
    assert problems(text) == [
        "sw.toml:3: store.colour: unknown key",
        'sw.toml:7: budgets[0].amount: not a decimal ("5k")',
        "sw.toml:12: budgets[1].period: must be one of day, week, month (got 'year')",
        "sw.toml:14: sources[0].api_key_env: missing: set api_key_env (an environment variable name) or api_key_file",
        'sw.toml:17: sources[0].interval: not a duration ("soon"); use e.g. "30s", "15m", "1h", "3d", "1w"',
        'sw.toml:20: daemon.timezone: unknown time zone ("Nowhere/City"); use an IANA name such as "Europe/Berlin"',
        'sw.toml:21: daemon.digest_at: not a clock time ("25:00"); use HH:MM, e.g. "08:00"',
    ]


def test_valid_config_types(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.toml", """
[store]
path = "s.duckdb"
[[sources]]
name = "openai-prod"
type = "test-keyed"
api_key_env = "TEST_KEY_VAR"
interval = "15m"
lookback = "2d"
[[budgets]]
name = "b"
amount = "5000.00"
thresholds = [0.5, 0.8, 1.0]
match = { provider = "openai", project_id = ["a*", "b"] }
""")
    cfg = load_config(str(path))
    assert cfg.budgets[0].amount == Decimal("5000.00")
    assert cfg.budgets[0].thresholds == [Decimal("0.5"), Decimal("0.8"), Decimal("1.0")]
    assert cfg.sources[0].interval.total_seconds() == 900
    assert cfg.sources[0].options.api_key.env == "TEST_KEY_VAR"


def test_missing_secret_reported_by_check_config_by_name_never_value(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", '[store]\npath = "s.duckdb"\n[[sources]]\nname = "openai-prod"\n'
                                'type = "test-keyed"\napi_key_env = "SW_TEST_MISSING_KEY"\n')
    r = cli("--config", "sw.toml", "check-config", env={"SW_TEST_MISSING_KEY": ""})
    assert r.code == 1
    assert r.err == "spendwatch: sources[0].api_key: environment variable SW_TEST_MISSING_KEY is not set\n"
    assert "secret sources[0].api_key: environment variable SW_TEST_MISSING_KEY MISSING" in r.out
    r = cli("--config", "sw.toml", "check-config", env={"SW_TEST_MISSING_KEY": "sk-live-very-secret-value"})
    assert r.code == 0, r
    assert "SW_TEST_MISSING_KEY present" in r.out
    assert "very-secret" not in r.out + r.err


def test_secret_file_under_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "openai").write_text("s3cret-from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    cfg = parse_config('[[sources]]\nname = "a"\ntype = "test-keyed"\napi_key_file = "openai"\n')
    assert cfg.sources[0].options.api_key.get() == "s3cret-from-systemd"


def test_config_error_is_one_line_each_and_exit_1(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", '[store]\npath = 5\n[daemon]\ntimezone = "X/Y"\n')
    r = cli("--config", "sw.toml", "status")
    assert r.code == 1
    assert r.err.splitlines() == ["spendwatch: sw.toml:2: store.path: expected a string, got int (5)",
                                  'spendwatch: sw.toml:4: daemon.timezone: unknown time zone ("X/Y"); use an IANA name such as "Europe/Berlin"']
    assert "Traceback" not in r.err


def test_invalid_toml_names_the_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", '[store]\npath = "a"\n[[budgets]\n')
    r = cli("--config", "sw.toml", "status")
    assert r.code == 1
    assert r.err.startswith("spendwatch: sw.toml:3: not valid TOML")


@pytest.mark.parametrize("value", ["localhost", "127.0.0.1:99999", "127.0.0.1:port", "a b:80"])
def test_check_config_validates_metrics_listen(value: str) -> None:
    got = problems(f"[daemon]\nmetrics_listen = \"{value}\"\n")
    assert got == [f'sw.toml:2: daemon.metrics_listen: not HOST:PORT ("{value}"); e.g. "127.0.0.1:9464"']


@pytest.mark.parametrize("value", ["11m", "1h"])
def test_stop_grace_is_bounded(value: str) -> None:
    got = problems(f"[daemon]\nstop_grace = \"{value}\"\n")
    assert got == ["sw.toml:2: daemon.stop_grace: must be more than 0s and at most 600s (keep it under the service's TimeoutStopSec)"]
    assert problems('[daemon]\nstop_grace = "0s"\n')[0].startswith('sw.toml:2: daemon.stop_grace: not a duration ("0s")')
    assert parse_config('[daemon]\nstop_grace = "10m"\n', "sw.toml").daemon.stop_grace.total_seconds() == 600
