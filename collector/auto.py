"""`import --format auto`: recognise an export by its header (the signature columns of each format, see
`_files.SIGNATURES`) and import it with that format; the CLI then prints "(format X)" after the file, so
the user sees which one was chosen. A header that matches none is a one-line error listing its columns."""

from __future__ import annotations

from typing import Any

from spendwatch.errors import InputFileError

from . import FORMATS, ImportResult
from ._files import check_readable, describe, guess_format


def detect(store: Any, path: str) -> str:
    """The format name a file looks like (raises InputFileError when none fits)."""
    check_readable(path)
    _, cols = describe(store.conn, path)
    fmt = guess_format(cols)
    if fmt is None:
        shown = ", ".join(cols.names[:8]) + (", …" if len(cols.names) > 8 else "")
        raise InputFileError(f"{path}: cannot tell the export format from its columns ({shown}); "
                             f"give --format (one of {', '.join(n for n in FORMATS.names() if n != 'auto')})")
    return fmt


@FORMATS.register("auto")
class AutoFormat:
    """Picks the format from the file's header, then imports with it."""

    def import_file(self, store: Any, path: str, *, source: str | None = None) -> list[ImportResult]:
        fmt = detect(store, path)
        return FORMATS.get(fmt)().import_file(store, path, source=source)
