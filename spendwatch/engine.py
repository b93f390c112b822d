"""DuckDB's query engine without the duckdb package's Python layer, for `spendwatch sql` start-up.

Why: `import duckdb` (2.x) also loads the package's pure-Python relational and expression API, its
Arrow/Polars sources and its distribution metadata, which costs several times what the engine itself
does (bench/cli_start.py, docs/benchmarks.md). `spendwatch sql` only connects, executes, fetches and
splits statements, and those methods belong to the C extension the package re-exports (`_duckdb`).

Assumptions, each checked at run time with the full package as the fallback:
  * the extension is importable as top-level `_duckdb` (duckdb 2.x); older releases keep it inside the
    package (`duckdb.duckdb`), so there the package is imported as before;
  * the extension's connection class has the methods listed in LEAN_METHODS natively (the package
    adds its relational methods, `sql`, `table`, `read_csv`…, onto that class when it is imported);
  * its exception classes are the very objects `duckdb` re-exports, so `except duckdb.Error` anywhere
    else catches what a lean connection raises.
A lean connection is for plain SQL only: code that needs the relational API, Arrow or pandas transfer
opens its store the ordinary way (`lean=False`, the default of spendwatch.store.Store.open).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

LEAN_METHODS = ("execute", "fetchall", "fetchone", "extract_statements", "close")


def duckdb_module(*, lean: bool = False) -> Any:
    """The `duckdb` package; with lean=True, its C extension alone when that is enough (see above). Once
    the package is loaded it is always returned: it costs nothing more then."""
    loaded = sys.modules.get("duckdb")
    if loaded is not None or not lean:
        return loaded or importlib.import_module("duckdb")
    try:
        ext = importlib.import_module("_duckdb")
    except ImportError:
        return importlib.import_module("duckdb")
    conn_class = getattr(ext, "DuckDBPyConnection", None)
    if (conn_class is None or not all(hasattr(conn_class, m) for m in LEAN_METHODS)
            or not all(hasattr(ext, name) for name in ("connect", "Error", "CatalogException"))):
        return importlib.import_module("duckdb")
    return ext
