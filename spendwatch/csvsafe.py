"""CSV formula-injection defence for every CSV we write (`sql --format csv`, `report … --format csv`).

Team, model, project and key names come from providers' API key names and from tags, so an attacker can
choose them; a spreadsheet that opens our CSV would run a cell such as `=HYPERLINK(…)` or `@SUM(…)` as a
formula. Following OWASP's CSV Injection guidance, a text cell that begins with `=`, `+`, `-`, `@`, a tab
or a carriage return is written with a leading single quote (`'=HYPERLINK(…)`), which spreadsheets show
as text. The csv module then quotes cells that need it.

Exception, so figures stay figures: a cell that is a plain number (`-1.50`, `+3`, `-2E5`: optional sign,
digits, optional decimals and exponent, an optional %, nothing else) is written unchanged; spreadsheets read it as a
number, never as a formula. Rule documented in docs/input-limits.md.
"""

from __future__ import annotations

import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")


def neutralise(cell: str) -> str:
    """`cell` made safe to open in a spreadsheet (see the module docstring for the rule)."""
    if cell.startswith(TRIGGERS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
