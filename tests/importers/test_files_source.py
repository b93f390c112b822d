"""The `files` source: export files dropped into an inbox are imported by `spendwatch collect`, each once;
a corrupt one is recorded, reported and skipped without blocking the others."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from .conftest import Importer, dsum, write_csv, write_jsonl
from .test_litellm_logs import COLUMNS, spend_logs


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spendwatch", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=120, cwd=cfg.parent)


def test_inbox_imports_each_file_once_and_skips_a_corrupt_one(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = tmp_path / "spendwatch.toml"
    cfg.write_text('[store]\npath = "spend.duckdb"\n\n[[sources]]\nname = "llm-logs"\ntype = "files"\n'
                   'path = "inbox/*"\nformat = "litellm"\n')
    day = lambda d: datetime(2026, 11, d, tzinfo=UTC)  # noqa: E731
    a, b, d = spend_logs(day(1), hours=4), spend_logs(day(2), hours=4), spend_logs(day(3), hours=2)
    write_csv(inbox / "a.csv", a, COLUMNS)
    write_jsonl(inbox / "b.jsonl", b)
    bad = spend_logs(day(4), hours=1)
    bad[1]["spend"] = "lots"
    write_csv(inbox / "c.csv", bad, COLUMNS)
    store = Importer(str(tmp_path / "spend.duckdb"))

    first = cli(cfg, "collect")
    assert first.returncode == 1
    assert first.stderr.strip().splitlines()[-1] == (
        f'spendwatch: {inbox / "c.csv"}:3: column spend: not a number ("lots") '
        "(skipped 1 file(s); the others were imported)")
    assert store.totals()[:2] == (24, dsum(r["spend"] for r in a + b))
    ledger = store.query("SELECT path, rows, error IS NOT NULL, imported_at FROM imported_files ORDER BY path")
    assert [(Path(p).name, n, e) for p, n, e, _ in ledger] == [("a.csv", 12, False), ("b.jsonl", 12, False),
                                                              ("c.csv", 0, True)]
    status = cli(cfg, "status")
    assert status.returncode == 0 and "import errors" in status.stdout and "c.csv:3: column spend" in status.stdout

    # nothing changed: nothing imported again, and the broken file is not retried
    second = cli(cfg, "collect")
    assert (second.returncode, second.stdout) == (0, "llm-logs: ok, 0 rows in 0 window(s)\n")
    assert store.query("SELECT path, rows, error IS NOT NULL, imported_at FROM imported_files ORDER BY path") == ledger

    # a new file is imported; a touched file with the same bytes is not
    write_csv(inbox / "d.csv", d, COLUMNS)
    snap = store.snapshot()
    later = time.time() + 5
    os.utime(inbox / "a.csv", (later, later))
    third = cli(cfg, "collect")
    assert (third.returncode, third.stdout) == (
        0, f"llm-logs: ok, 6 rows in 1 window(s)\nllm-logs: note: imported {inbox / 'd.csv'}: 6 rows\n")
    assert store.totals()[:2] == (30, dsum(r["spend"] for r in a + b + d))
    assert set(store.snapshot()) >= set(snap)
    assert store.one("SELECT count(*), max(imported_at) FROM imported_files WHERE path LIKE '%a.csv'")[0] == 1

    # the corrupt file, fixed, is imported and its error line goes away
    bad[1]["spend"] = "0.5"
    write_csv(inbox / "c.csv", bad, COLUMNS)
    fourth = cli(cfg, "collect")
    assert fourth.returncode == 0, fourth.stderr
    assert store.totals()[1] == dsum(r["spend"] for r in a + b + d + bad)
    assert store.one("SELECT count(*) FROM imported_files WHERE error IS NOT NULL") == (0,)
    assert store.one("SELECT sum(cost_usd) FROM spend WHERE source = 'llm-logs'")[0] == store.totals()[1] > Decimal(0)


def test_unknown_format_is_a_source_error(tmp_path):
    cfg = tmp_path / "spendwatch.toml"
    cfg.write_text('[store]\npath = "spend.duckdb"\n\n[[sources]]\nname = "inbox"\ntype = "files"\n'
                   'path = "inbox/*.csv"\nformat = "excel"\n')
    out = cli(cfg, "collect")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith(
        "spendwatch: sources.inbox.format: unknown import format 'excel' (known: anthropic-costs-csv, auto, ")


def test_broken_file_is_a_finding(tmp_path):
    """`detect --json` reports a broken inbox file (detector import_errors) until it imports."""
    import json

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = tmp_path / "spendwatch.toml"
    cfg.write_text('[store]\npath = "spend.duckdb"\n\n[[sources]]\nname = "logs"\ntype = "files"\n'
                   'path = "inbox/*.csv"\nformat = "litellm"\n')
    (inbox / "x.csv").write_text("request_id,startTime,spend\nr1,2026-11-01 00:00:00,abc\n")
    assert cli(cfg, "collect").returncode == 1
    out = cli(cfg, "detect", "--json", "--no-send")
    assert out.returncode == 0, out.stderr
    found = [f for f in json.loads(out.stdout) if f["detector"] == "import_errors"]
    assert [(f["severity"], f["scope"]["source"], f["scope"]["path"], f["message"]) for f in found] == [
        ("warning", "logs", str((inbox / "x.csv").resolve()),
         f'Export file not imported (litellm): {inbox / "x.csv"}:2: column spend: not a number ("abc")')]


def test_check_config_describes_the_inbox(tmp_path):
    cfg = tmp_path / "spendwatch.toml"
    cfg.write_text('[store]\npath = "spend.duckdb"\n\n[[sources]]\nname = "inbox"\ntype = "files"\n'
                   'path = "/srv/inbox/*.parquet"\nformat = "aws-cur"\ninterval = "6h"\n')
    out = cli(cfg, "check-config")
    assert out.returncode == 0, out.stderr
    assert "  inbox: files every 6h, importing new or changed aws-cur files matching /srv/inbox/*.parquet\n" in out.stdout
