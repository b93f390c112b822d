"""Config and findings for the sink tests (findings are built directly: no dependency on real detectors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendwatch.app import load_config
from spendwatch.config import Config
from spendwatch.findings import Finding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))

FAST = 'timeout = "1s"\nretries = 0\nretry_wait = "1s"\n'

SLACK_HOOK = f"""
[[sinks]]
name = "slack-hook"
type = "slack"
webhook_url_env = "SW_SLACK_HOOK"
min_severity = "info"
{FAST}"""

SLACK_BOT = """
[[sinks]]
name = "slack-bot"
type = "slack"
token_env = "SW_SLACK_BOT"
channel = "#llm-spend"
base_url = "{api}"
min_severity = "info"
""" + FAST

EMAIL_PLAIN = """
[[sinks]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {port}
security = "none"
from = "spendwatch@example.com"
to = ["finops@example.com", "cto@example.com"]
min_severity = "info"
""" + FAST

WEBHOOK = f"""
[[sinks]]
name = "hook"
type = "webhook"
url_env = "SW_HOOK_URL"
secret_env = "SW_HOOK_SECRET"
min_severity = "info"
{FAST}"""


def write_config(tmp_path: Path, sinks: str, extra: str = "") -> tuple[str, Config]:
    text = f"""
[store]
path = "{tmp_path / 'spend.duckdb'}"
lock_timeout = "5s"

[[budgets]]
name = "prod"
amount = "5000.00"
match = {{ provider = "openai" }}
thresholds = [0.5, 0.8, 1.0]
{extra}
{sinks}
"""
    path = tmp_path / "spendwatch.toml"
    path.write_text(text)
    cfg = load_config(str(path))
    from spendwatch.store import Store

    with Store.open(cfg.store.path):  # an empty, migrated store, as after a first collect
        pass
    return str(path), cfg


def budget(step: int = 2, severity: str = "warning", observed: str = "4120.50") -> Finding:
    share = {1: "0.5", 2: "0.8", 3: "1.0"}[step]
    return Finding("budget", severity, {"budget": "prod"}, MONTH[0], MONTH[1],
                   f"Budget prod for November 2026: ${observed} spent", observed=Decimal(observed),
                   threshold=(Decimal(share) * 5000).quantize(Decimal("0.01")), step=step,
                   drivers=[{"dimension": "model", "value": "gpt-4.1", "observed": Decimal("3100.00"),
                             "expected": Decimal("900.00"), "change": Decimal("2200.00"), "share": Decimal("0.83")}])


def spike(model: str = "gpt-4o", severity: str = "warning", observed: str = "812.40") -> Finding:
    day = datetime(2026, 11, 19, tzinfo=UTC)
    return Finding("spike", severity, {"provider": "openai", "model": model}, day, day.replace(day=20),
                   f"OpenAI spend on {model} was ${observed} on Thursday 19 November, 6.8× the usual $120.00",
                   observed=Decimal(observed), expected=Decimal("120.00"), threshold=Decimal("300.00"))


def findings_file(tmp_path: Path, findings: list[Finding]) -> Path:
    """For the CLI: the test detector (tests/sinks/fixed_detector.py) returns what this file holds."""
    p = tmp_path / "findings.json"
    p.write_text(json.dumps([f.to_json() for f in findings]))
    return p


def all_text(obj: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)
