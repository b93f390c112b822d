"""Issue 12, acceptance 3: every import format survives random mutations of a valid file.

A seeded generator (reproducible: a failure names its format and case number; no extra dependency) takes a
valid export of each format and container and mutates it the way real files go wrong: bad numbers, dates
outside the supported range or no date at all, huge values, ragged rows, renamed or duplicated headers,
truncation, bytes that are not UTF-8, Latin-1 text, a BOM, CRLF, blank lines, a corrupted Parquet footer, a
damaged gzip stream. Each case runs the import in-process through the library function the CLI calls, on a
copy of one base store per chunk of CHUNK cases (chunks are separate test items, so pytest-xdist spreads a
format over its workers), and holds the CLI's contract:

  * the outcome is a SpendwatchError (the CLI's exit 1) or success (exit 0); any other exception is the
    CLI's exit 70 and fails the test;
  * after a failure the store is exactly as before (records and the import ledger);
  * after a success the store holds exactly the file: the rows the importer reports, under the case's
    source, with the total it reports; the rows already there are untouched; every row respects the bounds
    of spendwatch/limits.py; every view (`spend`, `daily_spend`, `chargeback`) computes (checked on every
    tenth success and on every success with a cost of a million or more or a count of a billion or more: the
    views cannot overflow on rows inside the bounds, which tests/importers/test_input_limits.py proves at
    the bounds themselves; an import of no rows must leave the records exactly as they were instead); and
    importing the same file again changes nothing (checked on every tenth success, to keep the suite fast).

Then the case's rows are deleted (and, where they shared days with the base rows, those days' money
re-computed, as every writer does), so the next case starts from the same store. "Exactly as before" is a row
count plus an order-independent sum of row hashes over every column (records without their lineage id).
A case whose file name and bytes repeat an earlier case of the same format is the same input against the
same store, so it is counted once (about a fifth of the generated cases); case numbers stay those of the
seeded sequence, so `SPENDWATCH_FUZZ_CASES` only changes how far it goes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from spendwatch.attribution import refresh_window
from spendwatch.errors import SpendwatchError
from spendwatch.store import Store
from spendwatch.timeutil import day_start

from .test_cloud_exports import AZ_COLUMNS, CUR_COLUMNS, FOCUS_COLUMNS, azure, cur, focus
from .test_gcp_billing import export as gcp_export
from .test_gcp_billing import flatten as gcp_flatten
from .test_vendor_csv import ANTHROPIC_COLUMNS, anthropic_rows, openai_rows

SOURCE = "fuzz"


# ------------------------------------------------------------------------------------------ valid files
def canonical_rows() -> list[dict[str, Any]]:
    return [{"ts": f"2026-03-0{d}T{h:02d}:00:00Z", "provider": p, "model": m, "project_id": "proj_a",
             "input_tokens": 1000 * d + h, "output_tokens": 10 * h, "cost_usd": f"{d}.{h:02d}5",
             "cost_basis": basis, "record_type": "usage", "tags": '{"team": "x"}'}
            for d in (1, 2) for h, p, m, basis in ((1, "openai", "gpt-4.1", "estimated"), (5, "anthropic", "claude", "billed"))]


def litellm_rows() -> list[dict[str, Any]]:
    return [{"request_id": f"req-{i}", "startTime": f"2026-03-01T0{i}:00:00Z", "endTime": f"2026-03-01T0{i}:00:05Z",
             "spend": f"0.00{i}5", "prompt_tokens": 100 * i, "completion_tokens": 7 * i, "model": "gpt-4.1",
             "api_key": "hash", "user": "u1", "team_id": "t1", "custom_llm_provider": "openai",
             "call_type": "acompletion", "end_user": "c1"} for i in range(1, 5)]


def _csv_text(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
    return buf.getvalue()


# (format, container) -> the valid rows and their column order
SOURCES: dict[tuple[str, str], Callable[[], tuple[list[dict[str, Any]], list[str] | None]]] = {
    ("canonical", "csv"): lambda: (canonical_rows(), None),
    ("canonical", "parquet"): lambda: (canonical_rows(), None),
    ("litellm", "csv"): lambda: (litellm_rows(), None),
    ("litellm", "jsonl"): lambda: (litellm_rows(), None),
    ("openai-costs-csv", "csv"): lambda: (openai_rows(days=(0, 1)), None),
    ("anthropic-costs-csv", "csv"): lambda: (anthropic_rows(), ANTHROPIC_COLUMNS),
    ("gcp-billing", "jsonl"): lambda: (gcp_export(), None),
    ("gcp-billing", "csv"): lambda: (gcp_flatten(gcp_export()), None),
    ("aws-cur", "csv"): lambda: (cur(), CUR_COLUMNS),
    ("focus", "csv"): lambda: (focus(), FOCUS_COLUMNS),
    ("azure-costs", "csv"): lambda: (azure(), AZ_COLUMNS),
}

# --------------------------------------------------------------------------------------------- mutations
NUMBERS = ["abc", "", " ", "1e18", "-1e18", "1e15", "-999999999999999.99", "999999999999999.9999999999", "NaN",
           "inf", "-inf", "1,5", "9" * 40, "0x10", "1e-400", "  3  ", "-0", "+7", "1.2.3", "1e308", "-1", "0.000000000001",
           "12345678901234567890123456789", "9223372036854775807", "9223372036854775808", "-9223372036854775808"]
DATES = ["infinity", "-infinity", "0001-01-01", "9999-12-31", "2026-02-30", "1999-12-31T23:59:59Z", "2100-01-01",
         "2099-12-31T23:00:00Z", "13/45/2026", "99999999999", "-1", "0", "2026-03-01T25:00:00Z", "now", "epoch",
         "2026-03-01 10:00:00+14:00", "2026-03-01T10:00:00-12:00", "11/01/2026", "1772323200", "1e30"]
TEXT = ["=1+1", '"', "é☃", "a\nb", "'", "\\", "NULL", "null", "[1,2]", "{}", '{"a": 1}', "x" * 5000, "\t-1",
        "@SUM(A1)", "DROP TABLE records", "a,b", ";", "\x00"]
VALUES = NUMBERS + DATES + TEXT


def mutate_rows(rng: random.Random, rows: list[dict[str, Any]], columns: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    rows = [dict(r) for r in rows]
    columns = list(columns)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        op = rng.random()
        if op < 0.6 and rows:
            r = rng.choice(rows)
            r[rng.choice(columns)] = rng.choice(VALUES)
        elif op < 0.7 and rows:
            col = rng.choice(columns)
            value = rng.choice(VALUES)
            for r in rows:
                r[col] = value
        elif op < 0.75:
            rows.append(dict(rng.choice(rows)) if rows else {})
        elif op < 0.8 and rows:
            rows.pop(rng.randrange(len(rows)))
        elif op < 0.85:
            i = rng.randrange(len(columns))
            columns[i] = rng.choice(["", "ts", "team", columns[i].upper(), columns[i] + " ", "é", columns[(i + 1) % len(columns)]])
        elif op < 0.9:
            columns.pop(rng.randrange(len(columns)))
        elif op < 0.95:
            columns.append(rng.choice(["extra", "team", "tags", "cost_usd", "spend"]))
        else:
            r = rng.choice(rows) if rows else {}
            r[rng.choice(columns)] = None
    return rows, columns


def mutate_text(rng: random.Random, text: str) -> bytes:
    """Line- and byte-level damage to a CSV or JSONL file."""
    lines = text.splitlines(keepends=True)
    op = rng.random()
    if op < 0.15 and len(lines) > 1:  # ragged row
        i = rng.randrange(1, len(lines))
        body = lines[i].rstrip("\n")
        lines[i] = (body + "," + ",".join(rng.choice(VALUES[:5]) for _ in range(rng.randint(1, 3))) if rng.random() < 0.5
                    else body.rsplit(",", rng.randint(1, 2))[0]) + "\n"
    elif op < 0.25:  # truncation
        data = "".join(lines)
        return data[:rng.randrange(len(data) + 1)].encode()
    elif op < 0.35:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["\n", "\r\n", " \n", ",,,\n", "{}\n", "[]\n", "{\n"]))
    elif op < 0.45:
        data = "".join(lines).encode()
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice([b"\xff", b"\xfe\xff", b"\xc3", b"\x00", b"\xe9"]) + data[at:]
    elif op < 0.5:
        return ("".join(lines).replace("é", "") + "é,é\n").encode("latin-1", "replace")
    elif op < 0.55:
        return "\ufeff".encode() + "".join(lines).encode()
    elif op < 0.6:
        return "".join(lines).replace("\n", "\r\n").encode()
    elif op < 0.65:
        return b""
    elif op < 0.7:
        lines = lines[:1]  # header only
    return "".join(lines).encode("utf-8", "surrogatepass")


def render(rng: random.Random, container: str, rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    if container == "csv":
        text = _csv_text(rows, columns) if columns else ""
        return mutate_text(rng, text) if rng.random() < 0.35 else text.encode("utf-8", "surrogatepass")
    if container == "jsonl":
        text = "".join(json.dumps({k: r.get(k) for k in columns if k in r} if rng.random() < 0.9 else r, default=str) + "\n"
                       for r in rows)
        return mutate_text(rng, text) if rng.random() < 0.35 else text.encode("utf-8", "surrogatepass")
    return parquet_bytes(rng, rows, columns)


def parquet_bytes(rng: random.Random, rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(dict.fromkeys(c for c in columns if c))
    data = {c: [r.get(c) for r in rows] for c in cols}
    arrays = {}
    for c, values in data.items():
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays[c] = pa.array([None if v is None else str(v) for v in values])
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays) if arrays else pa.table({"x": pa.array([], pa.int64())}), buf)
    out = buf.getvalue()
    if rng.random() < 0.2:  # damaged bytes: footer, magic, truncation
        at = rng.randrange(len(out))
        out = out[:at] + bytes([out[at] ^ 0xFF]) + out[at + 1:] if rng.random() < 0.5 else out[:at]
    return out


# ------------------------------------------------------------------------------------------------ checks
def state(conn: Any) -> tuple[Any, ...]:
    """Everything an import may change, in one statement: the records (without lineage ids) and the ledger,
    each as a row count and an order-independent sum of row hashes over every column."""
    return conn.execute("""
        SELECT (SELECT count(*) FROM records), (SELECT sum(hash(*COLUMNS(* EXCLUDE (import_id)))) FROM records),
               (SELECT count(*) FROM imported_files),
               (SELECT sum(hash(path, sha256, source, rows, error)) FROM imported_files)""").fetchone()


def fuzz_rows(conn: Any) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * EXCLUDE (import_id) FROM records WHERE source = ? ORDER BY ALL", [SOURCE]).fetchall()


VIEWS = ", ".join(f"(SELECT (count(*), sum(cost_usd), sum(input_tokens), sum(output_tokens)) FROM {v})"
                  for v in ("spend", "daily_spend", "chargeback"))


def run_case(store: Any, importer: Any, path: Path, base: tuple[Any, ...], case: str, check_views: bool = True,
             checks: Any = None) -> str:
    """One case against the store; `checks`: the connection the test's own queries run on (see below)."""
    conn = checks or store.conn
    try:
        results = importer.import_file(store, str(path), source=SOURCE)
    except SpendwatchError as exc:
        assert "\n" not in str(exc).strip(), (case, str(exc))
        assert state(conn) == base, (case, "a failed import changed the store", str(exc))
        return "refused"
    except Exception as exc:  # the CLI's exit 70
        raise AssertionError(f"{case}: internal error {type(exc).__name__}: {exc}") from exc
    results = results if isinstance(results, list) else [results]
    n, total, others, big, bad = conn.execute("""
        SELECT count(*) FILTER (WHERE source = $s), coalesce(sum(cost_usd) FILTER (WHERE source = $s), 0),
               count(*) FILTER (WHERE source <> $s),
               count(*) FILTER (WHERE source = $s AND (abs(cost_usd) >= 1000000 OR greatest(input_tokens,
                   cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, requests) >= 1000000000)),
               count(*) FILTER (WHERE source = $s AND NOT (
                   (cost_usd IS NULL OR abs(cost_usd) < 1000000000000000)
                   AND ts >= TIMESTAMPTZ '2000-01-01 00:00:00+00' AND ts < TIMESTAMPTZ '2100-01-01 00:00:00+00'
                   AND coalesce(greatest(input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
                                         reasoning_tokens, requests), 0) < 1000000000000000))
        FROM records""", {"s": SOURCE}).fetchone()
    assert n == sum(r.rows for r in results), case
    assert total == sum((Decimal(r.cost_usd) for r in results), Decimal(0)), case
    assert others == base[0], case
    assert bad == 0, (case, "rows beyond the bounds were stored")
    if n == 0:  # records exactly as before (only the ledger grew): the views compute what they did on base
        assert state(conn)[:2] == base[:2], (case, "an import of no rows changed the records")
    elif big or check_views:  # on the store's own connection: the views as every reader plans them
        store.conn.execute(f"SELECT {VIEWS}").fetchall()
    return "imported"


# `make test` runs the first 1,000 cases of each format's seeded sequence (issue 12, acceptance 3), `make fuzz`
# the first 3,000. A case costs about 40 ms of CPU here (docs/input-limits.md); with 1,000 for all eleven the
# whole suite took 510 s on 2 cores. Each format's cases run in chunks of CHUNK, one test item each, so
# pytest-xdist spreads them over its workers.
CASES = int(os.environ.get("SPENDWATCH_FUZZ_CASES", "1000"))
CHUNK = 100
SPLITS = [(fmt, container, k) for fmt, container in sorted(SOURCES) for k in range(-(-CASES // CHUNK))]


# Each format's case keys (file name, sha256 of the bytes) in case order, as far as this worker has generated
# them: a chunk skips the cases that repeat an earlier one, and without this each chunk would generate every
# case before it again (for Parquet, pyarrow's writer makes that a sizeable share of the suite).
_KEYS: dict[tuple[str, str], list[tuple[str, bytes]]] = {}


def case_key(name: str, data: bytes) -> tuple[str, bytes]:
    import hashlib

    return name, hashlib.sha256(data).digest()


def keys_before(fmt: str, container: str, end: int) -> set[tuple[str, bytes]]:
    """The keys of cases 0 … end-1 of a format."""
    known = _KEYS.setdefault((fmt, container), [])
    while len(known) < end:
        known.append(case_key(*generate(fmt, container, len(known))))
    return set(known[:end])


def generate(fmt: str, container: str, i: int) -> tuple[str, bytes]:
    """Case `i` of a format: the file name and bytes, from a generator seeded by the format and `i` alone."""
    rows, columns = SOURCES[(fmt, container)]()
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    seed = sum(map(ord, f"{fmt}/{container}"))
    rng = random.Random(seed * 100_003 + i)
    mutated, cols = mutate_rows(rng, rows, columns) if rng.random() < 0.8 else (rows, columns)
    name = rng.choice(["f", "f", "f", "a*[1]", "x?"]) + "." + container + (".gz" if container != "parquet" and rng.random() < 0.05 else "")
    data = render(rng, container, mutated, cols)
    if name.endswith(".gz"):
        import gzip

        data = gzip.compress(data, mtime=0)
        if len(data) > 20 and rng.random() < 0.3:  # a damaged deflate stream (Python's gzip raises zlib.error)
            at = rng.randrange(10, len(data) - 8)
            data = data[:at] + bytes(b ^ 0x55 for b in data[at:at + 8]) + data[at + 8:]
    return name, data


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Any, ...]]:
    """A store holding one valid canonical file under another source (made once per worker, copied per test)."""
    from collector import FORMATS

    d = tmp_path_factory.mktemp("fuzzbase")
    base_file = d / "base.csv"
    base_file.write_text(_csv_text(canonical_rows()))
    with Store.open(str(d / "s.duckdb")) as store:
        FORMATS.get("canonical")().import_file(store, str(base_file), source="base")
        store.conn.execute(f"SELECT {VIEWS}").fetchall()  # the views compute on the base store
        return d / "s.duckdb", state(store.conn)


@pytest.mark.parametrize("fmt,container,chunk", SPLITS, ids=[f"{f}-{c}-{k}" for f, c, k in SPLITS])
def test_mutated_files_never_break_the_store(tmp_path: Path, base_store: tuple[Path, tuple[Any, ...]], fmt: str,
                                             container: str, chunk: int) -> None:
    import shutil

    from collector import FORMATS

    importer = FORMATS.get(fmt)()
    first, end = chunk * CHUNK, min(CASES, (chunk + 1) * CHUNK)
    # A case whose name and bytes repeat an earlier case of its format is the same input against the same
    # store (every case starts from the base state), so its outcome is already proven: it is not re-run.
    seen = keys_before(fmt, container, first)
    known = _KEYS[(fmt, container)]
    outcomes = {"refused": 0, "imported": 0}
    shutil.copyfile(base_store[0], tmp_path / "s.duckdb")
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        # One DuckDB thread: pytest-xdist already keeps every core busy, and on files of a few rows DuckDB's
        # second thread only adds scheduling (about a seventh of a case's CPU). The import's results do not
        # depend on it (its diagnostic pass sets one thread itself; the other import tests run with the default).
        store.conn.execute("SET threads = 1")
        # The test's own checks (state, counts, rows) run on a second connection to the same database, planned
        # without DuckDB's optimizer (SET SESSION: that connection only): on a store of a few rows it costs
        # more than the query, and they only compare figures. The views and the imports plan as usual.
        checks = store.conn.cursor()
        checks.execute("SET SESSION enable_optimizer = false")
        base = state(checks)
        first_ts, last_ts = checks.execute("SELECT min(ts), max(ts) FROM records").fetchone()
        base_days = (day_start(first_ts), day_start(last_ts) + timedelta(days=1))
        assert base == base_store[1]
        for i in range(first, end):
            case = f"{fmt}/{container} case {i}"
            name, data = generate(fmt, container, i)
            key = case_key(name, data)
            if len(known) == i:
                known.append(key)
            if key in seen:
                continue
            seen.add(key)
            path = tmp_path / name
            path.write_bytes(data)
            tenth = outcomes["imported"] % 10 == 0
            outcome = run_case(store, importer, path, base, case, check_views=tenth, checks=checks)
            outcomes[outcome] += 1
            if outcome == "imported":
                if tenth:  # idempotent: the same file again changes nothing
                    before = fuzz_rows(checks)
                    importer.import_file(store, str(path), source=SOURCE)
                    assert fuzz_rows(checks) == before, (case, "a re-import changed the store")
                # back to the base store (the next case's own checks compare against it: a refused case
                # compares the whole state, an imported one the count of the other rows). Like every writer,
                # the cleanup re-computes `spend`'s money for the days it touched when they are the base rows'
                # days: the case's rows may have been a second bill or a bill beside their estimates there,
                # which changes the base rows' figures (spendwatch/attribution.py) until they are gone again.
                with store.transaction() as conn:
                    lo, hi = conn.execute("SELECT min(ts), max(ts) FROM records WHERE source = ?", [SOURCE]).fetchone()
                    conn.execute("DELETE FROM records WHERE source = ?", [SOURCE])
                    conn.execute("DELETE FROM imported_files WHERE source = ?", [SOURCE])
                    if lo is not None and lo < base_days[1] and hi >= base_days[0]:
                        refresh_window(conn, lo, hi + timedelta(microseconds=1))
            path.unlink()
        assert state(store.conn) == base
        checks.close()
    # the generator must exercise both outcomes, or the test proves nothing
    ran = sum(outcomes.values())
    assert outcomes["refused"] > ran // 10 and outcomes["imported"] > ran // 20, outcomes


def test_an_import_leaves_the_connection_settings_as_they_were(tmp_path: Path) -> None:
    """A small file's insert runs without DuckDB's optimizer and the diagnostic pass on one thread: after a
    success and after a failure, every later statement (the daemon shares the connection) plans as before."""
    from collector import FORMATS

    names = ("enable_optimizer", "threads", "memory_limit", "preserve_insertion_order")
    rows = cur()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(_csv_text(rows, CUR_COLUMNS))
    rows[0]["line_item_usage_start_date"] = "not a date"
    bad.write_text(_csv_text(rows, CUR_COLUMNS))
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        def settings() -> tuple[Any, ...]:
            return store.conn.execute("SELECT " + ", ".join(f"current_setting('{n}')" for n in names)).fetchone()

        before = settings()
        assert before[0] is True
        assert FORMATS.get("aws-cur")().import_file(store, str(good))[0].rows > 0
        assert settings() == before
        with pytest.raises(SpendwatchError, match=r"bad\.csv:2: column line_item_usage_start_date"):
            FORMATS.get("aws-cur")().import_file(store, str(bad))
        assert settings() == before


def test_an_import_turns_the_optimizer_off_for_its_own_connection_only(tmp_path: Path) -> None:
    """A plain SET of enable_optimizer is global in DuckDB 2.0: the import's small-file SET would have turned
    the optimizer off for every other connection of the process (a daemon's web pages) during its insert,
    and turning it back on overrode a global choice. It is SET SESSION, then RESET SESSION."""
    from collector import FORMATS

    (tmp_path / "good.csv").write_text(_csv_text(cur(), CUR_COLUMNS))
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        other = store.conn.cursor()
        seen: list[Any] = []
        real = store.conn

        class Spy:  # reads the other connection's setting right after each statement of the import
            def execute(self, sql: str, *args: Any) -> Any:
                out = real.execute(sql, *args)
                seen.append(other.execute("SELECT current_setting('enable_optimizer')").fetchone()[0])
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        store.conn = Spy()
        try:
            assert FORMATS.get("aws-cur")().import_file(store, str(tmp_path / "good.csv"))[0].rows > 0
        finally:
            store.conn = real
        assert seen and set(seen) == {True}
        real.execute("SET GLOBAL enable_optimizer = false")  # someone's global choice survives an import
        FORMATS.get("aws-cur")().import_file(store, str(tmp_path / "good.csv"))
        assert real.execute("SELECT current_setting('enable_optimizer')").fetchone()[0] is False
        real.execute("SET GLOBAL enable_optimizer = true")
