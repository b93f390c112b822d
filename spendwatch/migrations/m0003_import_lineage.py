"""Import lineage: which import wrote each record.

Why: a bulk import inserts first and replaces after, in one transaction, so it never has to read a
file twice (once for its time span, once for its rows) nor stage a 10M-row file in a temp table.
The rows it just wrote are told apart from the older rows they replace by `records.import_id`; the
same id on `imported_files` says which file (path, size, mtime, hash) brought each row and when.
Rows written by API collectors keep import_id NULL.
"""

from typing import Any

from . import migration


@migration("0003_import_lineage")
def import_lineage(conn: Any) -> None:
    conn.execute("CREATE SEQUENCE IF NOT EXISTS import_id_seq START 1")
    conn.execute("ALTER TABLE records ADD COLUMN import_id BIGINT")
    conn.execute("ALTER TABLE imported_files ADD COLUMN import_id BIGINT")
