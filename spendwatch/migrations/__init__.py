"""Named schema migrations, applied in name order and recorded in `schema_migrations` in the same
transaction as their DDL (so a crash never leaves a half-applied migration recorded).

Add one by dropping `NNNN_what.py` here with a `@migration("NNNN_what")` function taking the connection.
A store holding a migration name this code does not know was written by a newer spendwatch and is refused.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

Migration = Callable[[Any], None]
_MIGRATIONS: dict[str, Migration] = {}


def migration(name: str) -> Callable[[Migration], Migration]:
    def decorate(fn: Migration) -> Migration:
        _MIGRATIONS[name] = fn
        return fn

    return decorate


def all_migrations() -> list[tuple[str, Migration]]:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return sorted(_MIGRATIONS.items())
