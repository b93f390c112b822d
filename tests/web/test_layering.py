"""The dashboard is an app layer: kernel modules never import it (only the CLI and the daemon start it),
and it works on an empty store and answers 503 with a reason when there is no store."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import Served

SPINE = Path(__file__).resolve().parents[2] / "spendwatch"
MAY_IMPORT_APPS = {"cli.py", "daemon.py", "jobs.py", "demo.py"}


def test_no_kernel_module_imports_the_web_package() -> None:
    offenders = []
    for path in sorted(SPINE.rglob("*.py")):
        rel = path.relative_to(SPINE)
        if rel.parts[0] == "web" or rel.name in MAY_IMPORT_APPS and len(rel.parts) == 1:
            continue
        if re.search(r"^\s*(from\s+(\.+|spendwatch\.)web\b|import\s+spendwatch\.web\b)", path.read_text(), re.M):
            offenders.append(str(rel))
    assert offenders == []


def test_every_page_answers_on_an_empty_store(tmp_path: Path) -> None:
    from spendwatch.app import minimal_config
    from spendwatch.store import Store

    with Store.open(str(tmp_path / "empty.duckdb")):
        pass
    s = Served(minimal_config(str(tmp_path / "empty.duckdb")))
    try:
        for path in ("/", "/breakdown", "/alerts", "/sources", "/chargeback", "/chargeback.csv"):
            r = s.get(path)
            assert r.status_code == 200, (path, r.text[:300])
        assert "No spend recorded this month." in s.get("/").text
    finally:
        s.stop()


def test_a_missing_store_is_503_with_the_reason(tmp_path: Path) -> None:
    from spendwatch.app import minimal_config

    s = Served(minimal_config(str(tmp_path / "nope.duckdb")))
    try:
        r = s.get("/")
        assert r.status_code == 503 and "store does not exist yet" in r.text
    finally:
        s.stop()
