"""The three example plugins (tests/plugins/example_*.py) run through the real pipeline, loaded the way a
third-party plugin is (SPENDWATCH_PLUGINS): collect → store → detect → alert log → sink, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "tests.plugins.example_collector,tests.plugins.example_detector,tests.plugins.example_sink"


def sw(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPENDWATCH_PLUGINS": PLUGINS, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "spendwatch", "--config", str(cfg), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_example_collector_detector_and_sink_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    only = "".join(f"[detectors.{d}]\nenabled = false\n" for d in
                   ("budget", "level_shift", "low_balance", "new_spender", "reconciliation", "runaway", "spike",
                    "stale_data", "unpriced_model", "import_errors"))
    cfg = tmp_path / "sw.toml"
    cfg.write_text(f"""
[store]
path = "{tmp_path / 's.duckdb'}"

[[sources]]
name = "flat"
type = "example-flat"
per_day = "120.50"

[detectors.example_daily_cap]
cap_usd = "100"
days = 3

{only}
[[sinks]]
name = "file"
type = "example-jsonl"
path = "{out}"
min_severity = "critical"
""")
    r = sw(cfg, "collect", "--since", "2026-11-01", "--until", "2026-11-04")
    assert r.returncode == 0, r.stderr
    r = sw(cfg, "sql", "select count(*), sum(cost_usd) from spend", "--format", "csv")
    assert r.stdout.splitlines()[1] == "3,361.50"

    r = sw(cfg, "detect", "--at", "2026-11-04T00:00:00Z")
    assert r.returncode == 0, r.stderr
    lines = sorted((json.loads(x) for x in out.read_text().splitlines()), key=lambda x: x["period_start"])
    assert [(x["scope"], x["observed"], x["period_start"][:10]) for x in lines] == [
        ({"provider": "example"}, "120.50", d) for d in ("2026-11-01", "2026-11-02", "2026-11-03")]
    assert lines[0]["message"] == "example spent $120.50 on 2026-11-01, over the daily cap of $100.00"

    assert sw(cfg, "detect", "--at", "2026-11-04T00:00:00Z").returncode == 0
    assert len(out.read_text().splitlines()) == 3  # alert once: the second run delivers nothing new


def test_a_bad_option_of_a_plugin_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    cfg = tmp_path / "sw.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "s.duckdb"}"\n\n[[sources]]\nname = "flat"\ntype = "example-flat"\n'
                   'per_day = 1.5\n')
    r = sw(cfg, "check-config")
    assert r.returncode == 1
    assert r.stderr.strip().endswith('sw.toml:7: sources[0].per_day: write money as a decimal string, not a float '
                                     '(e.g. "1.5")'), r.stderr
