"""Rendering query results as table, CSV or JSON: one place, shared by every query command.

Money (Decimal) is printed exactly, never through float: as a string in JSON (the contract's "money as
decimal strings"), trimmed to at least two places everywhere.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click

from .csvsafe import neutralise

FORMATS = ("table", "csv", "json")


def cell(value: Any) -> Any:
    """A value as JSON-safe data."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        from .findings import money_str  # on first use: findings' dataclasses cost CLI start-up (issue 12)

        return money_str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): cell(v) for k, v in value.items()}
    return str(value)


def text(value: Any) -> str:
    v = cell(value)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, *,
           footer: Sequence[Any] | None = None) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(columns, (cell(v) for v in r), strict=False)) for r in rows], indent=2) + "\n"
    if fmt == "csv":
        import csv  # only here: most runs print a table, and `sql`'s start-up counts (issue 12)

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([neutralise(str(c)) for c in columns])
        for r in rows:
            w.writerow([neutralise(text(v)) for v in r])  # formula injection (spendwatch/csvsafe.py)
        return buf.getvalue()
    body = [[text(v) for v in r] for r in rows]
    foot = [text(v) for v in footer] if footer else None
    widths = [len(c) for c in columns]
    for r in body + ([foot] if foot else []):
        widths = [max(w, len(x)) for w, x in zip(widths, r, strict=False)]
    numeric = [all(_is_num(r[i]) for r in body if r[i] != "") and any(r[i] for r in body) for i in range(len(columns))]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric, strict=False)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    if foot:
        out += ["  ".join("-" * w for w in widths), line(foot)]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def _is_num(s: str) -> bool:
    try:
        Decimal(s)
        return True
    except Exception:
        return False


def output_option(default: str = "table") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=default, show_default=True,
                        help="Output format: aligned table, CSV with a header row, or a JSON array of objects.")


def instant_option(_ctx: Any, _param: Any, value: str | None) -> Any:
    """click callback for --at/--since/--until: a UTC instant, or a usage error naming the option."""
    if value is None:
        return None
    from .timeutil import parse_instant

    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
