"""Shared plumbing for file imports: recognising the container (CSV/JSONL/Parquet, gzip), hashing, the
DuckDB reader expression, the imported-files ledger, and `run_import`, the one SQL-first import pipeline
every export format uses.

Why one pipeline: the rules that make imports safe are the same for every format and easy to get wrong
one format at a time:
  * the file is read once, by DuckDB's own reader, straight into `records` (INSERT … SELECT, streaming,
    no Python per row, no temp table of the whole file), with a bounded memory_limit so DuckDB spills to
    its temp directory instead of growing past it on files larger than RAM;
  * insert-then-replace in one transaction: the new rows carry a fresh `import_id`; their time span per
    replace scope (e.g. billing account) is read back from the store, and older rows of the same
    (source, kind, scope) inside that span are deleted. So re-importing a file, a re-issued export or two
    exports that overlap by days never double count, and a failure leaves the store as it was;
  * a bad value fails the whole file; only then a second, diagnostic pass finds the first offending
    line and column for a one-line error (the fast path never numbers rows).
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from spendwatch.attribution import fresh_spend, refresh_window
from spendwatch.errors import InputFileError
from spendwatch.ledger import record_import, sha256_of
from spendwatch.limits import (
    COST_RULE,
    TIME_RULE,
    TOKENS_RULE,
    cost_ok_sql,
    end_ok_sql,
    time_ok_sql,
    tokens_ok_sql,
)
from spendwatch.store import RECORD_COLUMNS, Window
from spendwatch.timeutil import day_start

from . import ImportResult

BAD_VALUE = "spendwatch: value out of range"  # raised by SQL error() for values a cast would accept
# DuckDB may use this much memory per import before spilling to <store>.tmp (env overrides, e.g. "4GB").
IMPORT_MEMORY_LIMIT = os.environ.get("SPENDWATCH_IMPORT_MEMORY_LIMIT", "1GB")
# Files this small are read with the connection's own settings: the memory bound and streaming insert order
# matter for files that could approach it, and the four statements to set and restore them were a fifth of a
# small file's import. [Assumption: a file under 4 MiB on disk, even Parquet or gzip, expands to well under
# the default memory_limit of 80 % of RAM.]
TUNE_FROM_BYTES = 4 << 20


def container(path: str) -> str:
    """'csv', 'jsonl' or 'parquet' from the file name (a trailing .gz is allowed on text formats)."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ext, kind in ((".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv"), (".tsv", "csv"),
                      (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl")):
        if name.endswith(ext):
            return kind
    try:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
    except OSError:
        pass
    return "csv"


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reader_sql(path: str, *, all_varchar: bool = True, delimiter_hint: bool = True) -> str:
    """A DuckDB table function reading `path` whole; CSV as VARCHAR so money stays exact decimal text, with the
    delimiter its header line shows (`header_delimiter`; see `read_with` for when the hint is dropped).
    The path is read literally: DuckDB would expand `*`, `?` and `[...]` and read other files."""
    kind = container(path)
    p = sql_literal(literal_path(path))
    if kind == "parquet":
        return f"read_parquet({p})"
    if kind == "jsonl":
        return f"read_json({p}, format='newline_delimited', maximum_object_size=67108864)"
    opts = ", all_varchar=true" if all_varchar else ""
    delim = header_delimiter(path) if delimiter_hint else None
    if delim is not None:
        opts += f", delim={sql_literal(delim)}"
    return f"read_csv({p}, header=true{opts}, auto_detect=true)"


DELIMITERS = (",", "\t", ";", "|")


def delimiter_of(header_line: str) -> str | None:
    """The one of , tab ; | that a CSV header line uses most, or None when none is used or two tie."""
    counts = sorted(((header_line.count(d), d) for d in DELIMITERS), reverse=True)
    return counts[0][1] if counts[0][0] > counts[1][0] else None


def header_delimiter(path: str) -> str | None:
    """The CSV's delimiter as its header line shows it, so DuckDB's sniffer need not find it.

    Why: for a small file the sniffer's search over every delimiter, quote and escape is most of reading it
    (about 3.5 of 6 ms for a 21-column export in DuckDB 2.0), and an import reads a CSV twice (its columns,
    then the insert). With the delimiter given the sniffer still detects the quote, escape, newline and
    header itself. When the header line does not decide (no delimiter, or two used equally often), or the
    file cannot be read here, the sniffer searches as before. [Assumption: an export's header line uses
    its delimiter more often than any other of , tab ; |: a header of several columns does by definition,
    unless its names themselves hold another of them more often.]"""
    try:
        with open_text(path) as fh:
            return delimiter_of(fh.readline(1 << 20))
    except TEXT_ERRORS:
        return None


def check_readable(path: str) -> None:
    """The file exists, is readable and is not empty (an empty file has no header to recognise)."""
    if not os.path.isfile(path):
        raise InputFileError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{path}: not readable")
    if is_empty(path):
        raise InputFileError(f"{path}: empty file (expected a header row)")


# What reading a file's text can raise besides a DuckDB error: a corrupt gzip stream raises zlib.error, which
# is not an OSError. The passes that read text themselves treat these as "cannot tell" and leave the one-line
# error to the reader (reader_error).
TEXT_ERRORS = (OSError, EOFError, ValueError, zlib.error)


def is_empty(path: str) -> bool:
    """No bytes, or (gzip) no bytes once decompressed, or only whitespace in its first 64 KiB and nothing after."""
    import gzip

    try:
        if os.path.getsize(path) == 0:
            return True
        opener: Any = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(1 << 16)
            return not head.strip() and not fh.read(1)
    except TEXT_ERRORS:
        return False  # a corrupt gzip or an unreadable file: the reader says what is wrong


def open_text(path: str) -> Any:
    """The file as text lines (gzip decompressed), for the diagnostic passes that count lines themselves."""
    import gzip

    if path.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


_GLOB = re.compile(r"[*?\[\]{}~]|://")
_links: dict[str, str] = {}
_links_dir: list[str] = []


def literal_path(path: str) -> str:
    """`path` as DuckDB should see it. A name with glob or URL characters (`a*.csv`, `x[1].csv`, `~/f`) would
    be expanded by DuckDB's readers, so it is read through a symlink with a plain name in a private temporary
    folder (kept for the life of the process; the suffixes are kept so `.csv.gz` still decompresses)."""
    if not _GLOB.search(path):
        return path
    target = os.path.abspath(path)
    link = _links.get(target)
    if link and os.path.islink(link):
        return link
    if not _links_dir:
        import atexit
        import shutil
        import tempfile

        _links_dir.append(tempfile.mkdtemp(prefix="spendwatch-import-"))
        atexit.register(shutil.rmtree, _links_dir[0], True)
    suffix = "".join(re.sub(r"[^A-Za-z0-9.]", "", s) for s in Path(path).suffixes)
    link = os.path.join(_links_dir[0], f"file{len(_links)}{suffix}")
    os.symlink(target, link)
    _links[target] = link
    return link


class GzipCheck:
    """Inflates a gzip file's bytes as they are fed, only to prove it whole: every member's CRC-32 and length
    trailer must match (zlib checks them), and only zero padding may follow the last member.

    Why: DuckDB's gzip reader does not check the CRC, so a damaged `.csv.gz` could import altered figures
    (a digit changed in a cost) or silently fewer rows. Output is drawn 1 MiB at a time and dropped, so a
    file that inflates enormously costs time, not memory."""

    def __init__(self) -> None:
        self._z: Any = zlib.decompressobj(31)  # 31: a gzip header and trailer, not raw deflate
        self._members = 0
        self.error: str | None = None

    def feed(self, data: bytes) -> None:
        more = False  # the last call filled its output limit: zlib may hold output for an empty input too
        while (data or more) and self.error is None:
            if self._z is None:  # after a member's end: zero padding, or the next member
                stripped = data.lstrip(b"\0")
                if not stripped:
                    return
                self._z, data = zlib.decompressobj(31), stripped
            try:
                more = len(self._z.decompress(data, 1 << 20)) == 1 << 20
            except zlib.error as exc:
                why = str(exc).removeprefix("Error -3 while decompressing data: ")
                self.error = {"incorrect data check": "CRC check failed",
                              "incorrect length check": "length check failed",
                              "incorrect header check": "not gzip data"}.get(why, why)
                return
            data = self._z.unconsumed_tail
            if self._z.eof:
                self._members += 1
                data, self._z, more = self._z.unused_data + data, None, False

    def close(self) -> str | None:
        """None when the file was whole; else why not (DuckDB would have read it without a word)."""
        if self.error is None and (self._z is not None or not self._members):
            self.error = "truncated"
        return self.error


def feed_file(path: str, *feeds: Callable[[bytes], object]) -> None:
    """Read `path` once, 1 MiB at a time, into every feed (a hash's update, a GzipCheck's feed)."""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            for feed in feeds:
                feed(chunk)


def gzip_damage(path: str) -> str | None:
    """Why `path` (a .gz file) is not a whole gzip stream, or None when it is (see GzipCheck)."""
    check = GzipCheck()
    try:
        feed_file(path, check.feed)
    except OSError:
        return None  # cannot tell: the reader's own error stands
    return check.close()


def damaged_gzip_error(path: str, why: str) -> InputFileError:
    return InputFileError(f"{path}: damaged gzip file ({why}); nothing imported")


class _Hasher(threading.Thread):
    """Hashes the file while DuckDB reads it (hashlib, zlib and DuckDB all release the GIL), so the ledger's
    content hash costs no extra wall time on big files; a gzip file is proven whole in the same pass
    (GzipCheck)."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.digest: str | None = None
        self.damage: str | None = None

    def run(self) -> None:
        import hashlib

        h = hashlib.sha256()
        check = GzipCheck() if self.path.lower().endswith(".gz") else None
        try:
            feed_file(self.path, h.update, *([check.feed] if check is not None else []))
        except OSError:
            return
        self.digest = h.hexdigest()
        self.damage = check.close() if check is not None else None

    def result(self) -> str:
        self.join()
        return self.digest or sha256_of(self.path)


# ------------------------------------------------------------------------------------------ columns
class Columns:
    """The file's columns as DuckDB reads them, found case-insensitively whether the export nests them
    (`service.description` as a STRUCT in Parquet/JSONL) or flattens them (`service.description` or
    `service_description` as a CSV header)."""

    def __init__(self, names: Sequence[str], types: Sequence[Any]) -> None:
        self.names = list(names)
        self.lets = Lets(self.names)  # the plan's shared values (see Lets)
        self._flat = {n.lower(): n for n in names}
        self._struct: dict[str, tuple[str, dict[str, str]]] = {}
        self._types = {n.lower(): str(t) for n, t in zip(names, types, strict=False)}
        for n, t in zip(names, types, strict=False):
            if getattr(t, "id", "") == "struct":
                self._struct[n.lower()] = (n, {c[0].lower(): c[0] for c in t.children})

    def type_of(self, name: str) -> str:
        return self._types.get(name.lower(), "")

    def ref(self, *candidates: str) -> str | None:
        """SQL for the first candidate present ('a.b' also finds a STRUCT a with field b, or a_b)."""
        for cand in candidates:
            low = cand.lower()
            if low in self._flat:
                return ident(self._flat[low])
            if "." in low:
                head, tail = low.split(".", 1)
                if head in self._struct and tail in self._struct[head][1]:
                    top, fields = self._struct[head]
                    return f"{ident(top)}.{ident(fields[tail])}"
                flat = low.replace(".", "_")
                if flat in self._flat:
                    return ident(self._flat[flat])
        return None

    def must(self, *candidates: str) -> str:
        """Like ref() for a column `require()` has already checked (so it cannot be missing)."""
        r = self.ref(*candidates)
        if r is None:
            raise InputFileError(f"missing column {candidates[0]}")
        return r

    def has(self, *candidates: str) -> bool:
        return self.ref(*candidates) is not None

    def text(self, *candidates: str) -> str:
        """Trimmed text or NULL (empty strings are NULL: CSV exports write missing values as '')."""
        r = self.ref(*candidates)
        return self.lets.pure(f"nullif(trim(CAST({r} AS VARCHAR)), '')") if r else "CAST(NULL AS VARCHAR)"

    def normalised(self) -> set[str]:
        """Lower-case names with struct fields flattened as a_b (for recognising a format)."""
        out = set()
        for low in self._flat:
            out.add(low.replace(".", "_"))
        for head, (_top, fields) in self._struct.items():
            out.update(f"{head}_{f}" for f in fields)
        return out


# What DuckDB says when its CSV sniffer finds no dialect (DuckDB 2.0; see read_with).
SNIFF_FAILED = "Error when sniffing file"
T = TypeVar("T")


def read_with(path: str, attempt: Callable[[str], T]) -> T:
    """`attempt(reader)` with `path`'s reader; an unreadable file is a one-line InputFileError.

    A CSV is read first with the delimiter its header line shows. If DuckDB's sniffer then finds no
    dialect at all (a damaged file: a ragged line that is also not UTF-8, say), it is read again without
    the hint, so the sniffer searches every delimiter as it did before the hint existed and the error
    names what it names then (the line and its encoding, for that example)."""
    reader = reader_sql(path)
    try:
        return attempt(reader)
    except Exception as exc:  # duckdb.Error and friends: the file cannot be parsed as read
        damage = gzip_damage(path) if path.lower().endswith(".gz") else None
        if damage:  # the reason, not what DuckDB made of the damaged bytes
            raise damaged_gzip_error(path, damage) from None
        plain = reader_sql(path, delimiter_hint=False)
        if SNIFF_FAILED not in str(exc) or plain == reader:
            raise reader_error(path, exc) from None
    try:
        return attempt(plain)
    except Exception as exc:
        raise reader_error(path, exc) from None


def describe(conn: Any, path: str) -> tuple[str, Columns]:
    """The reader to import `path` with, and the columns it yields (see read_with)."""
    def columns(reader: str) -> tuple[str, Columns]:
        rel = conn.sql(f"SELECT * FROM {reader} LIMIT 0")
        return reader, Columns(rel.columns, rel.types)

    return read_with(path, columns)


def reader_error(path: str, exc: BaseException) -> InputFileError:
    """Translate a DuckDB reader failure into FILE:LINE: why."""
    text = str(exc).replace(literal_path(path), path)
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    kind = container(path).upper()
    m = re.search(r"CSV Error on Line: (\d+)", text)
    if m:
        why = next((ln.strip() for ln in text.splitlines()[1:]
                    if ln.strip() and not ln.startswith(("Original Line", "Possible fixes", "*", "  file="))), "")
        why = re.sub(r"^[A-Za-z ]*Error: ", "", why)
        return InputFileError(f"{path}:{m.group(1)}: malformed CSV line ({why or first})")
    if kind == "JSONL" and re.search(r"line (\d+)", text):
        # DuckDB's JSON line numbers run one ahead after a line without its newline (issue 12): count them here.
        why = re.sub(r' in line \d+| in file "[^"]*",?', "", first)
        line = jsonl_bad_line(path)
        return InputFileError(f"{path}:{line}: not valid JSON lines ({why})" if line else
                              f"{path}: not valid JSON lines ({why})")
    if kind == "CSV":
        ragged = ragged_line(path)
        if ragged:
            return ragged
    return InputFileError(f"{path}: cannot read as {kind} ({first})")


def ragged_line(path: str) -> InputFileError | None:
    """The first CSV line whose field count differs from the header's, as `FILE:LINE: malformed CSV line`.

    Only called on an error path: DuckDB's sniffer skips leading lines of a ragged file and takes a data
    line for the header, so the import would otherwise report an "unknown column" named like a value.
    [Assumption: the delimiter is the one of , tab ; | that the header line uses most.]"""
    import csv

    try:
        with open_text(path) as fh:
            header_line = fh.readline()
        delim = delimiter_of(header_line) or max(DELIMITERS, key=header_line.count)
        csv.field_size_limit(1 << 30)
        with open_text(path) as fh:
            reader = csv.reader(fh, delimiter=delim)
            header = next(reader, None)
            if not header:
                return None
            for row in reader:
                if row and len(row) != len(header):
                    return InputFileError(f"{path}:{reader.line_num}: malformed CSV line "
                                          f"(expected {len(header)} fields, found {len(row)})")
    except (*TEXT_ERRORS, csv.Error):
        return None
    return None


def jsonl_bad_line(path: str) -> int | None:
    """The number of the first non-blank line that is not a JSON object (error path only)."""
    import json

    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    if not isinstance(json.loads(line), dict):
                        return n
                except ValueError:
                    return n
    except TEXT_ERRORS:
        return None
    return None


# --------------------------------------------------------------------------------------------- plan
@dataclass
class Check:
    """A value rule for the diagnostic pass: `ok` is SQL over the raw columns, true for good rows."""
    column: str      # the file's column name, as the user sees it
    value: str       # SQL of the raw value to quote in the message
    ok: str
    why: str


class Lets:
    """Named values an import computes once per row in SELECT layers under its final projection; a plan
    writes the name where it needs the value.

    Why: DuckDB parses, binds and optimises every copy of a repeated expression, and `nullif` is a macro
    that copies its argument, so nested text rules grew the import's SQL exponentially (a unit rule nested
    in a quantity nested in four token columns). On the small files most imports are, planning that SQL was
    most of the import's time (issue 12, docs/input-limits.md).

    Two kinds keep this exact:
      * `pure(sql)`: cannot raise (text trimming, try_cast, regexp); computed on every row the reader yields,
        below the part's WHERE, which may use it;
      * `kept(sql)`: may raise (a strict cast, error() for a value beyond a bound); computed on the rows the
        part keeps, whatever CASE the final columns wrap it in. So a plan lets a raising value only where
        every kept row evaluated it anyway (the ts of a line; a quantity the token columns share between
        them on every row) and otherwise leaves the raising wrapper inline around a pure let.
    A part computes only the lets its own SQL reaches. The diagnostic pass reads the file with the pure lets
    it reaches computed under its row numbers (they never raise, so it sees every row as before) and inlines
    the kept ones (`inline_kept`), whose raising parts it then turns into NULL: inlining the pure ones too made
    its SQL grow as the import's once did, to some 60 ms a failed file on a wide export."""

    def __init__(self, taken: Sequence[str]) -> None:
        low = {t.lower() for t in taken}
        self.prefix = "__let"
        while any(t.startswith(self.prefix) for t in low):  # never shadow a column of the file
            self.prefix += "_"
        self._names: dict[tuple[bool, str], str] = {}   # (kept, sql) -> name
        self._sql: dict[str, str] = {}                  # name -> sql
        self._kept: dict[str, bool] = {}
        self._layer: dict[str, int] = {}
        self._ref = re.compile('"' + re.escape(self.prefix) + r'[0-9]+"')

    def pure(self, sql: str) -> str:
        return self._add(sql, kept=False)

    def kept(self, sql: str) -> str:
        return self._add(sql, kept=True)

    def _add(self, sql: str, *, kept: bool) -> str:
        if (kept, sql) in self._names:
            return self._names[(kept, sql)]
        refs = self._ref.findall(sql)
        if not kept and any(self._kept[r] for r in refs):
            raise ValueError("a pure let cannot use a kept one")  # a plan's mistake, not the user's
        name = f'"{self.prefix}{len(self._sql)}"'
        self._names[(kept, sql)], self._sql[name], self._kept[name] = name, sql, kept
        self._layer[name] = 1 + max((self._layer[r] for r in refs if self._kept[r] == kept), default=0)
        return name

    def reached(self, texts: Sequence[str]) -> set[str]:
        """The lets `texts` use, directly or through other lets."""
        todo = [r for t in texts for r in self._ref.findall(t)]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self._ref.findall(self._sql[name]))
        return seen

    def layers(self, rows: str, names: set[str], *, kept: bool) -> str:
        """`rows` (a FROM item) with the lets of `names` of one kind computed on top, layer by layer."""
        mine = [n for n in self._sql if n in names and self._kept[n] == kept]
        for layer in range(1, max((self._layer[n] for n in mine), default=0) + 1):
            items = ", ".join(f"{self._sql[n]} AS {n}" for n in mine if self._layer[n] == layer)
            rows = f"(SELECT *, {items} FROM {rows})"
        return rows

    def inline_kept(self, sql: str) -> str:
        """`sql` with every kept let's name replaced by its expression (pure names stay: see Lets)."""
        while True:
            out = self._ref.sub(lambda m: f"({self._sql[m.group(0)]})" if self._kept[m.group(0)] else m.group(0),
                                sql)
            if out == sql:
                return out
            sql = out


@dataclass
class Part:
    """One SELECT feeding `records`: expressions per record column (missing ones are NULL or defaults),
    FROM the file's reader (written `{src}`), with the WHERE that keeps only the rows we want. Any of them
    may name the file's pure lets; the record expressions may also name kept lets (see Lets)."""
    exprs: dict[str, str]
    where: str = "TRUE"
    from_: str = "{src}"

    def rows(self, reader: str, lets: Lets) -> str:
        """The FROM item of the insert's SELECT: the kept rows, with the lets this part reaches computed."""
        names = lets.reached([*self.exprs.values(), self.where, self.from_])
        src = lets.layers(reader, names, kept=False)
        kept = f"(SELECT * FROM {self.from_.replace('{src}', src)} WHERE {self.where})"
        return lets.layers(kept, names, kept=True)


@dataclass
class Plan:
    parts: list[Part]
    checks: list[Check] = field(default_factory=list)
    scope: tuple[str, ...] = ()       # record columns that scope the replace (e.g. account_id)
    whole_days: bool = False          # round the replaced span out to whole UTC days

    def kept_inlined(self, lets: Lets) -> Plan:
        """The same plan with its kept lets written out (see `diagnostic_reader`)."""
        inline = lets.inline_kept
        parts = [Part({c: inline(e) for c, e in p.exprs.items()}, inline(p.where), inline(p.from_)) for p in self.parts]
        checks = [Check(c.column, inline(c.value), inline(c.ok), c.why) for c in self.checks]
        return Plan(parts, checks, self.scope, self.whole_days)

    def texts(self) -> list[str]:
        return [*(e for p in self.parts for e in (*p.exprs.values(), p.where, p.from_)),
                *(t for c in self.checks for t in (c.value, c.ok))]


def diagnostic_reader(reader: str, plan: Plan, lets: Lets) -> tuple[str, Plan]:
    """The reader and plan the diagnostic pass runs: the plan's kept lets inlined, its pure lets computed on
    every row of the reader (see Lets)."""
    unkept = plan.kept_inlined(lets)
    return lets.layers(reader, lets.reached(unkept.texts()), kept=False), unkept


DEFAULTS = {"record_type": "'cost'", "covers_usage": "FALSE", "cost_basis": "'billed'", "currency": "'USD'",
            "granularity": "'day'"}


@dataclass(frozen=True)
class ImportSpan:
    source: str
    rows: int
    window: Any
    cost: Decimal


def run_import(store: Any, path: str, *, fmt: str, kind: str, source: str,
               build: Callable[[Columns], Plan]) -> list[Any]:
    """Read `path` with DuckDB, let `build` map its columns to records, replace, record: one transaction."""
    import duckdb

    check_readable(path)
    conn = store.conn
    reader, cols = describe(conn, path)
    plan = build(cols)
    hasher = _Hasher(path)
    hasher.start()
    import_id = conn.execute("SELECT nextval('import_id_seq')").fetchone()[0]
    selects = []
    for part in plan.parts:
        exprs = dict(part.exprs)
        exprs["source"] = sql_literal(source)
        exprs["kind"] = sql_literal(kind)
        items = []
        for c in RECORD_COLUMNS:
            items.append(f"{exprs.get(c, DEFAULTS.get(c, 'NULL'))} AS {c}")
        selects.append(f"SELECT {', '.join(items)}, {int(import_id)} AS import_id FROM {part.rows(reader, cols.lets)}")
    # The rows come with what `spend` shows for them when no rule touches them, so the refresh below has
    # nothing to fill on the days no rule applies to (spendwatch/attribution.py, fresh_spend).
    spend = fresh_spend()
    insert = (f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}, import_id, {', '.join(spend)}) "
              f"SELECT *, {', '.join(spend.values())} FROM ({' UNION ALL '.join(selects)})")
    small = os.path.getsize(path) < TUNE_FROM_BYTES
    saved = {} if small else _tune(conn)
    # A small file's insert is planned without DuckDB's optimizer: on a few rows its passes over the plan's
    # many expressions cost more than they save (about a sixth of the insert), and what it would push into
    # the scan matters only for big files; it never changes a result. It is back on before anything else
    # runs (SET is not transactional, and after a failed insert only a ROLLBACK runs: see `finally`).
    # SESSION: a plain SET of this option is global in DuckDB 2.0, so it would also have switched the
    # optimizer off for every other connection of the process (a daemon's web pages) during the insert;
    # RESET SESSION then restores whatever the global value is.
    unoptimised = False
    failure: BaseException | None = None
    spans: list[ImportSpan] = []
    try:
        with store.transaction():
            if small:
                conn.execute("SET SESSION enable_optimizer = false")
                unoptimised = True
            conn.execute(insert)
            if unoptimised:
                conn.execute("RESET SESSION enable_optimizer")
                unoptimised = False
            spans = _replace(conn, kind, import_id, plan, Window)
            for sp in spans:  # what `spend` shows for the days these rows touched (spendwatch/attribution.py)
                refresh_window(conn, sp.window.start, sp.window.end)
            digest = hasher.result()
            if hasher.damage:
                raise damaged_gzip_error(path, hasher.damage)  # rolls the insert back
            for sp in spans:
                record_import(conn, path, fmt, sp.source, sp.rows, sp.window, digest=digest, import_id=import_id)
            if not spans:
                record_import(conn, path, fmt, source, 0, None, digest=digest, import_id=import_id)
    except (duckdb.Error, OutOfBounds) as exc:
        failure = exc
    finally:
        if unoptimised:
            conn.execute("RESET SESSION enable_optimizer")
        _restore(conn, saved)
    if failure is not None:
        hasher.join()
        if hasher.damage:  # the reason, not what DuckDB made of the damaged bytes
            raise damaged_gzip_error(path, hasher.damage)
        raise diagnose(conn, path, *diagnostic_reader(reader, plan, cols.lets), failure)
    return [ImportResult(path, fmt, sp.source, sp.rows, sp.window, sp.cost) for sp in spans] or \
        [ImportResult(path, fmt, source, 0, None, Decimal(0))]


class OutOfBounds(Exception):
    """Raised inside the import transaction (so it rolls back) when an inserted row breaks a bound."""


def _tune(conn: Any) -> dict[str, str]:
    """Bounded memory and streaming inserts for the import; the settings it replaces, for _restore (one round
    trip each way: on a small file these settings are a fair share of the import's time)."""
    names = ("memory_limit", "preserve_insertion_order")
    values = conn.execute(f"SELECT {', '.join(f'current_setting({sql_literal(n)})' for n in names)}").fetchone()
    # preserve_insertion_order = false lets DuckDB stream big inserts in bounded memory
    conn.execute(f"SET memory_limit = {sql_literal(IMPORT_MEMORY_LIMIT)}; SET preserve_insertion_order = false")
    return dict(zip(names, values, strict=True))


def _restore(conn: Any, saved: dict[str, str]) -> None:
    if not saved:
        return
    conn.execute("; ".join(f"SET {name} = {sql_literal(str(value))}" for name, value in saved.items()))


def _replace(conn: Any, kind: str, import_id: int, plan: Plan, window_cls: Any) -> list[ImportSpan]:
    """Delete older rows of the same (source, kind, scope) inside the span the new rows cover."""
    scope = list(plan.scope)
    sel = ", ".join(["source"] + scope)
    # The same scan checks the bounds of what was just inserted: a computed value (tokens = quantity × unit)
    # that the format's own checks did not bound fails the import here (the transaction rolls back).
    rows = conn.execute(
        f"SELECT {sel}, bool_or({bounds_violation_sql()}), min(ts), "
        f"greatest(max(period_end), max(ts) + INTERVAL 1 MICROSECOND), count(*), sum(cost_usd) "
        f"FROM records WHERE import_id = ? GROUP BY ALL ORDER BY ALL", [import_id]).fetchall()
    if any(r[-5] for r in rows):
        raise OutOfBounds(BAD_VALUE)
    per_source: dict[str, list[Any]] = {}
    for r in rows:
        src, keys, lo, hi, n, cost = r[0], r[1:1 + len(scope)], r[-4], r[-3], r[-2], r[-1]
        if plan.whole_days:
            lo = day_start(lo)
            hi = day_start(hi) if day_start(hi) == hi else day_start(hi) + timedelta(days=1)
        cond = " AND ".join(f"{c} IS NOT DISTINCT FROM ?" for c in scope)
        conn.execute("DELETE FROM records WHERE source = ? AND kind = ? AND ts >= ? AND ts < ? "
                     "AND import_id IS DISTINCT FROM ?" + (f" AND {cond}" if cond else ""),
                     [src, kind, lo, hi, import_id, *keys])
        agg = per_source.setdefault(src, [lo, hi, 0, Decimal(0)])
        agg[0], agg[1] = min(agg[0], lo), max(agg[1], hi)
        agg[2] += n
        agg[3] += cost if cost is not None else Decimal(0)
    return [ImportSpan(s, a[2], window_cls(a[0], a[1]), a[3]) for s, a in sorted(per_source.items())]


def diagnose(conn: Any, path: str, reader: str, plan: Plan, exc: BaseException) -> InputFileError:
    """The slow path after a failed import: name the first bad line and column."""
    text = str(exc)
    conversion = any(s in text for s in ("Conversion Error", "Could not convert", "Error when converting",
                                         "Could not parse", "Out of Range", "Overflow", BAD_VALUE))
    if not conversion:
        return reader_error(path, exc)
    where_kept = [p.where for p in plan.parts if p.from_ == "{src}"]  # rows the import would keep
    if plan.checks:
        bad = " OR ".join(f"NOT coalesce(try({c.ok}), FALSE)" for c in plan.checks)
        if where_kept:
            bad = f"({bad}) AND ({' OR '.join(f'coalesce(try({w}), TRUE)' for w in where_kept)})"
        which = " ".join(f"WHEN NOT coalesce(try({c.ok}), FALSE) THEN {i}" for i, c in enumerate(plan.checks))
        values = " ".join(f"WHEN NOT coalesce(try({c.ok}), FALSE) THEN try(CAST({c.value} AS VARCHAR))"
                          for c in plan.checks)
        row = _first_row(conn, path, reader, f"CASE {which} END AS which_, CASE {values} END AS value_", bad)
        if isinstance(row, InputFileError):
            return row
        if row:
            check = plan.checks[row[1]]
            return InputFileError(f'{_where(path, row[0])}: column {check.column}: {refine(check.why, row[2], conn)} '
                                  f'("{shown(row[2])}")')
    bounded = _bounds_pass(conn, path, reader, plan)
    if bounded:
        return bounded
    if "CSV Error on Line" in text:
        return reader_error(path, exc)
    first = re.sub(r"^[A-Za-z ]*Error: ", "", text.splitlines()[0])
    return InputFileError(f"{path}: {first}")


def shown(value: Any) -> str:
    """A cell as quoted in a one-line error: control characters escaped, long values cut."""
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= 80 else text[:77] + "..."


def _where(path: str, row: int) -> str:
    return f"{path}:{row + 1}" if container(path) == "csv" else (
        f"{path}:{row}" if container(path) == "jsonl" else f"{path}: row {row}")


_STRICT_ERROR = re.compile(r"\berror\('(?:[^']|'')*'\)")


def _first_row(conn: Any, path: str, reader: str, select: str, cond: str) -> Any:
    """(row number, *select) of the first row of the file (in file order) where `cond` holds, or None."""
    threads = conn.execute("SELECT current_setting('threads')").fetchone()[0]
    # The import's own expressions raise error() on a bad value (money(), strict casts); DuckDB refuses error()
    # inside try() ("TRY can not be used in combination with a volatile function"), and here a value that
    # would raise is just a value that fails its check: NULL does that.
    select, cond = (_STRICT_ERROR.sub("NULL", s) for s in (select, cond))
    try:
        conn.execute("SET threads = 1")  # file order for row numbers
        return conn.execute(f"SELECT row_, which_, value_ FROM (SELECT row_number() OVER () AS row_, {select}, * "
                            f"FROM {reader}) WHERE {cond} ORDER BY row_ LIMIT 1").fetchone()
    except Exception as inner:  # the file itself is unreadable past some point
        return reader_error(path, inner)
    finally:
        conn.execute(f"SET threads = {int(threads)}")


# The record columns whose computed values must respect spendwatch/limits.py, with the rule to quote.
BOUNDED = (("cost_usd", cost_ok_sql, COST_RULE), ("ts", time_ok_sql, TIME_RULE),
           ("period_end", end_ok_sql, TIME_RULE),
           *((c, tokens_ok_sql, TOKENS_RULE) for c in ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                                                       "output_tokens", "reasoning_tokens", "requests")))


def bounds_violation_sql() -> str:
    """SQL over `records`: true for a row that breaks a bound (the check after every insert)."""
    return " OR ".join(f"NOT {ok(c)}" for c, ok, _rule in BOUNDED)


def _bounds_pass(conn: Any, path: str, reader: str, plan: Plan) -> InputFileError | None:
    """The first line whose computed record values (e.g. tokens = quantity × unit) break a bound or cannot be
    computed at all, when no per-column check of the format caught it."""
    for part in plan.parts:
        if part.from_ != "{src}":
            continue
        tests = [(c, f"NOT coalesce(try({ok(part.exprs[c])}), FALSE)", rule, part.exprs[c])
                 for c, ok, rule in BOUNDED if c in part.exprs]
        if not tests:
            continue
        which = " ".join(f"WHEN {t} THEN {i}" for i, (_c, t, _r, _e) in enumerate(tests))
        values = " ".join(f"WHEN {t} THEN try(CAST({e} AS VARCHAR))" for _c, t, _r, e in tests)
        cond = f"({' OR '.join(t for _c, t, _r, _e in tests)}) AND coalesce(try({part.where}), TRUE)"
        row = _first_row(conn, path, reader, f"CASE {which} END AS which_, CASE {values} END AS value_", cond)
        if isinstance(row, InputFileError):
            return row
        if row:
            column, _t, rule, _e = tests[row[1]]
            value = f' ("{shown(row[2])}")' if row[2] is not None else ""
            return InputFileError(f"{_where(path, row[0])}: {column} computed from this line: {rule}{value}")
    return None


# ----------------------------------------------------------------------------------- shared SQL bits
def money(expr: str) -> str:
    """Exact decimal from text (or a FLOAT column rounded to 1e-10); strict, so bad values fail the import,
    and so do values beyond the money bound (spendwatch/limits.py)."""
    v = f"CAST(trim(CAST({expr} AS VARCHAR)) AS DECIMAL(38, 10))"
    return f"(CASE WHEN {cost_ok_sql(v)} THEN {v} ELSE error('{BAD_VALUE}') END)"


def money_ok(expr: str) -> str:
    v = f"try_cast(trim(CAST({expr} AS VARCHAR)) AS DECIMAL(38, 10))"
    return (f"({expr} IS NULL OR trim(CAST({expr} AS VARCHAR)) = '' OR "
            f"({v} IS NOT NULL AND {cost_ok_sql(v)}))")


def instant(expr: str) -> str:
    """TIMESTAMPTZ; values outside the supported range (infinity, year 1, year 9999) fail the import."""
    v = f"CAST({expr} AS TIMESTAMPTZ)"
    return f"(CASE WHEN {time_ok_sql(v)} THEN {v} ELSE error('{BAD_VALUE}') END)"


def instant_ok(expr: str) -> str:
    v = f"try_cast({expr} AS TIMESTAMPTZ)"
    return f"({expr} IS NOT NULL AND {v} IS NOT NULL AND {time_ok_sql(v)})"


def count(expr: str, lets: Lets) -> str:
    """A whole non-negative count below the bound from text or number; '' is NULL; others fail the import.
    The trimmed text is a let (nullif would copy it, and the rule names the value three times)."""
    text = lets.pure(f"nullif(trim(CAST({expr} AS VARCHAR)), '')")
    v = f"CAST({text} AS BIGINT)"
    return f"(CASE WHEN {v} < 0 OR NOT {tokens_ok_sql(v)} THEN error('{BAD_VALUE}') ELSE {v} END)"


def count_ok(expr: str) -> str:
    v = f"nullif(trim(CAST({expr} AS VARCHAR)), '')"
    b = f"try_cast({v} AS BIGINT)"
    return f"({v} IS NULL OR coalesce({b} >= 0 AND {tokens_ok_sql(b)}, FALSE))"


def refine(why: str, value: str | None, conn: Any) -> str:
    """The reason for a failed check: a well-formed value that only broke a bound says which bound."""
    if value is None:
        return why
    text = value.strip()
    if why.startswith("not a number") or why.startswith("not a non-negative whole number"):
        try:
            d = Decimal(text)
        except (InvalidOperation, ValueError):
            return why
        if not d.is_finite():
            return why
        if why.startswith("not a number"):
            return COST_RULE
        return TOKENS_RULE if d >= 0 and d == d.to_integral_value() else why
    if any(w in why for w in ("timestamp", "date", "time")) and _looks_like_time(text, conn):
        return TIME_RULE
    return why


def _looks_like_time(text: str, conn: Any) -> bool:
    """A value DuckDB reads as an instant (including infinity) or unix seconds."""
    if re.fullmatch(r"[0-9]+(\.0+)?", text):
        return True
    try:
        return conn.execute("SELECT try_cast(? AS TIMESTAMPTZ) IS NOT NULL", [text]).fetchone()[0] is True
    except Exception:  # duckdb.Error: not a time then
        return False


def unit_multiplier(unit_expr: str, lets: Lets) -> str:
    """Tokens per unit from a unit label: '1K tokens'/'1000 count' -> 1000, '1M'/'1,000,000' -> 1e6,
    'tokens'/'count' -> 1. NULL when the label names no token/count unit we understand. Pure (never raises),
    so the label, its number and the result are lets, each computed once."""
    let = lets.pure
    u = let(f"lower(replace(coalesce({unit_expr}, ''), ',', ''))")
    number = let(f"regexp_extract({u}, '([0-9]+(\\.[0-9]+)?)', 1)")
    return let(f"(CASE WHEN {u} SIMILAR TO '.*(token|count|1k|1m|1000|thousand|million).*' OR {u} IN ('1k', '1m') THEN "
               f"coalesce(try_cast(nullif({number}, '') AS DECIMAL(38, 6)), 1) * "
               f"(CASE WHEN {u} SIMILAR TO '.*([0-9]\\s*m\\b|[0-9]m$|million|mtok).*' THEN 1000000 "
               f"WHEN {u} SIMILAR TO '.*([0-9]\\s*k\\b|[0-9]k$|thousand).*' THEN 1000 ELSE 1 END) ELSE NULL END)")


def guess_format(cols: Columns) -> str | None:
    """Which export format these columns look like (the header's signature columns), or None."""
    names = cols.normalised()
    for fmt, need in SIGNATURES:
        if all(any(alt in names for alt in group) for group in need):
            return fmt
    return None


SIGNATURES: list[tuple[str, list[tuple[str, ...]]]] = [
    ("litellm", [("request_id",), ("starttime",), ("spend",)]),
    ("aws-cur", [("line_item_usage_start_date",), ("line_item_unblended_cost",)]),
    ("focus", [("chargeperiodstart",), ("billedcost",)]),
    ("gcp-billing", [("usage_start_time",), ("cost",), ("sku_description", "sku")]),
    ("azure-costs", [("date",), ("metername",),
                     ("costinbillingcurrency", "costinusd", "cost", "pretaxcost")]),
    ("openai-costs-csv", [("start_time",), ("amount_value",)]),
    ("anthropic-costs-csv", [("usage_date_utc",), ("token_type",), ("cost_usd",)]),
    ("canonical", [("ts",), ("provider",), ("cost_usd",)]),
]


def require(cols: Columns, path: str, fmt: str, needed: Sequence[tuple[str, ...]]) -> None:
    """Fail with 'not a FMT file (missing column X); it looks like OTHER' when a signature column is absent."""
    for group in needed:
        if not cols.has(*group):
            ragged = ragged_line(path) if container(path) == "csv" else None
            if ragged:
                raise ragged
            other = guess_format(cols)
            hint = f"; it looks like {other} (use --format {other})" if other and other != fmt else ""
            raise InputFileError(f"{path}: not a {fmt} file (missing column {group[0]}){hint}")
