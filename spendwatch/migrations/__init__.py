"""Named schema migrations, applied in name order and recorded in `schema_migrations` in the same
transaction as their DDL (so a crash never leaves a half-applied migration recorded).

Add one by dropping `NNNN_what.py` here with a `@migration("NNNN_what")` function taking the connection.
A store holding a migration name this code does not know was written by a newer spendwatch and is refused.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

Migration = Callable[[Any], None]
_MIGRATIONS: dict[str, Migration] = {}


def migration(name: str) -> Callable[[Migration], Migration]:
    def decorate(fn: Migration) -> Migration:
        _MIGRATIONS[name] = fn
        return fn

    return decorate


def known_names() -> list[str]:
    """Every migration's name from the file names alone (`m0001_initial.py` → "0001_initial"), without
    importing them: a read-only open only compares names (CLI start-up time). A test keeps the two in step."""
    return sorted(p.stem[1:] for p in Path(__path__[0]).glob("m[0-9]*.py"))


def all_migrations() -> list[tuple[str, Migration]]:
    import pkgutil  # here, not at the top: only a writer with pending migrations imports them

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return sorted(_MIGRATIONS.items())
