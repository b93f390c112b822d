"""`status` and `check-config` read like a person would want; redaction catches secrets in logs."""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

import tests.plugins.keyed  # noqa: F401
from spendwatch.app import parse_config
from spendwatch.redact import RedactingFilter, redact

from .conftest import write

CONFIG = """[store]
path = "s.duckdb"
[[sources]]
name = "openai-prod"
type = "test-keyed"
api_key_env = "SW_TEST_KEY"
interval = "15m"
lookback = "2d"
[[budgets]]
name = "all"
amount = "100.00"
thresholds = [0.8, 1.0]
[[allocation]]
match = { project_id = "p*" }
team = "search"
[[sinks]]
name = "out"
type = "console"
"""


def test_status_lists_sources_and_unpriced_models(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", CONFIG)
    write(tmp_path / "a.csv", "ts,provider,model,input_tokens,output_tokens,cost_usd,source\n"
                              "2026-10-01,openai,gpt-4.1,100,10,1.00,files\n")
    assert cli("--config", "sw.toml", "import", "a.csv", "--format", "canonical").code == 0
    # an unpriced usage row (cost unknown) recorded the way collectors record it
    from datetime import datetime

    from spendwatch.store import Store, Window

    t = datetime(2026, 10, 2, tzinfo=UTC)
    with Store.open(str(tmp_path / "s.duckdb")) as st:
        st.replace_window("openai-prod", "usage", Window(t, t.replace(day=3)), [
            {"ts": t, "provider": "openai", "model": "gpt-9-preview", "input_tokens": 5000, "output_tokens": 700,
             "cost_usd": None, "cost_basis": "estimated"}], advance_to=t.replace(day=3))
    r = cli("--config", "sw.toml", "status", "--format", "csv")
    assert r.code == 0, r
    assert r.out.splitlines() == [
        "source,kind,last_success,last_error_at,last_error,failures,rows,complete_through",
        "files,canonical,,,,0,1,",
        "openai-prod,usage,,,,0,1,2026-10-03T00:00:00Z",
        "provider,model,source,input_tokens,output_tokens,rows,first_seen,last_seen",
        "openai,gpt-9-preview,openai-prod,5000,700,1,2026-10-02T00:00:00Z,2026-10-02T00:00:00Z",
    ]


def test_check_config_prints_the_plan(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "sw.toml", CONFIG)
    r = cli("--config", "sw.toml", "check-config", env={"SW_TEST_KEY": "k-123456"})
    assert r.code == 0, r
    assert r.out.splitlines() == [
        "config: sw.toml",
        "store: s.duckdb (lock timeout 30s)",
        "daemon: timezone UTC, digest at 08:00",
        "sources (1):",
        "  openai-prod: test-keyed every 15m, re-pulling 2d",
        "    secret sources[0].api_key: environment variable SW_TEST_KEY present",
        "budgets (1):",
        "  all: $100.00 per month on all spend; alerts at 80%, 100%",
        "allocation rules (1): project_id=p* -> search",
        "sinks (1):",
        "  out: console, warning and above",
    ]


def test_redaction_of_known_secrets_and_shapes() -> None:
    cfg = parse_config('[[sources]]\nname = "a"\ntype = "test-keyed"\napi_key_env = "SW_REDACT_KEY"\n')
    import os

    os.environ["SW_REDACT_KEY"] = "zz-top-secret-zz"
    try:
        assert cfg.sources[0].options.api_key.get() == "zz-top-secret-zz"
    finally:
        del os.environ["SW_REDACT_KEY"]
    assert redact("GET /v1?x=1 failed with key zz-top-secret-zz") == "GET /v1?x=1 failed with key [REDACTED]"
    assert redact("https://hooks.slack.com/services/T000/B000/XXXX failed") == \
        "https://hooks.slack.com/services/[REDACTED] failed"
    assert redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer [REDACTED]"
    assert redact("https://u:pw@host/x?api_key=123&b=2") == "https://[REDACTED]@host/x?api_key=[REDACTED]&b=2"
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "call failed: %s", ("zz-top-secret-zz",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "call failed: [REDACTED]"
