"""The README and docs/: short README, one topic per page, every link resolves, nothing undocumented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

from spendwatch.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", heading.strip().lower())  # `keep_requests` keeps its underscore
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    out, seen = set(), {}
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        s = slug(line.lstrip("#"))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [m.group(1) for m in LINK.finditer(text)]


def broken(path: Path) -> list[str]:
    bad = []
    for target in links(path):
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not checked (no network)
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(target)
    return bad


def test_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) < 250


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_resolves(path: Path) -> None:
    assert broken(path) == []


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nsee [b](b.md) and [x](#nowhere) and [self](#a)\n")
    assert broken(tmp_path / "a.md") == ["b.md", "#nowhere"]


def test_every_docs_page_is_linked_from_the_readme_and_states_its_topic() -> None:
    linked = {Path(t.partition("#")[0]).name for t in links(README) if t.startswith("docs/")}
    assert sorted(p.name for p in DOCS if p.name not in linked) == []
    for p in DOCS:
        lines = p.read_text().splitlines()
        assert lines[0].startswith("# ") and "one topic" in " ".join(lines[1:4]), p.name


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        out.append(full)
        if isinstance(cmd, click.Group):
            out += _commands(cmd, full + " ")
    return out


def test_every_command_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [c for c in _commands(main) if f"spendwatch {c}" not in text]
    assert missing == []


def test_every_config_section_is_documented() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [s for s in example if f"[{s}]" not in page and f"[[{s}]]" not in page and f"[{s}." not in page]
    assert missing == []


def test_every_config_key_is_documented() -> None:
    """Every section the parser knows and every key of its tables is named on docs/configuration.md (the
    plugins' own keys are on their pages: collectors, sinks, detectors)."""
    from dataclasses import fields

    from spendwatch.actions_config import _RuleKeys
    from spendwatch.attribution import GatewayConfig
    from spendwatch.config import SECTIONS
    from spendwatch.config_schema import AllocationRule, BudgetConfig, DaemonConfig, PriceOverride, StoreConfig, WebConfig

    page = (ROOT / "docs" / "configuration.md").read_text()
    assert [s for s in SECTIONS if f"`[{s}]`" not in page and f"`[[{s}]]`" not in page and f"`[{s}." not in page] == []
    secret_keys = {"token": "token_env"}  # a Secret field is written `x_env` / `x_file`
    missing = [f"{c.__name__}.{f.name}" for c in (StoreConfig, DaemonConfig, WebConfig, BudgetConfig, AllocationRule,
                                                  PriceOverride, GatewayConfig, _RuleKeys)
               for f in fields(c) if f"`{secret_keys.get(f.name, f.name)}`" not in page]
    assert missing == []
