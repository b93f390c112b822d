"""Query results as pandas DataFrames with exact money and UTC-aware timestamps.

Why through Arrow: DuckDB hands DECIMAL(38,10) to Arrow as decimal128(38, 10) without passing through
float, and pandas can keep that column as `pd.ArrowDtype(pa.decimal128(38, 10))`. pandas' default
conversion would turn decimals into Python objects or (for some paths) float64, and integer columns with
NULLs into float64; here integers become nullable `Int64` and decimals stay decimal.
"""

from __future__ import annotations

from typing import Any

MONEY_TYPE = ("decimal", 38, 10)


def money_dtype() -> Any:
    import pandas as pd
    import pyarrow as pa

    return pd.ArrowDtype(pa.decimal128(38, 10))


def _mapper(dtype: Any) -> Any:
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_decimal(dtype):
        return pd.ArrowDtype(dtype)
    if pa.types.is_integer(dtype):
        return {8: pd.Int8Dtype(), 16: pd.Int16Dtype(), 32: pd.Int32Dtype(), 64: pd.Int64Dtype()}[dtype.bit_width] \
            if pa.types.is_signed_integer(dtype) else pd.ArrowDtype(dtype)
    if pa.types.is_boolean(dtype):
        return pd.BooleanDtype()
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return pd.StringDtype()
    return None  # timestamps (tz kept), dates, floats the query itself produced: pandas' own mapping


def arrow_to_frame(table: Any) -> Any:
    """An Arrow table as a DataFrame: decimals exact, ints nullable, timestamptz UTC-aware."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        if pa.types.is_timestamp(f.type) and f.type.tz is not None and f.type.tz != "UTC":
            f = pa.field(f.name, pa.timestamp(f.type.unit, tz="UTC"))
        fields.append(f)
    table = table.cast(pa.schema(fields))
    return table.to_pandas(types_mapper=_mapper)


def query_frame(conn: Any, sql: str, params: Any = None) -> Any:
    """Run `sql` on a DuckDB connection and return the result as a DataFrame (see arrow_to_frame).

    Through a relation, not a cursor: a cursor's Arrow output copies every row once more."""
    rel = conn.sql(sql, params=list(params) if params else None)
    if rel is None:  # not a query that yields rows
        import pandas as pd

        return pd.DataFrame()
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow  # duckdb ≥ 1.4 names it to_arrow_table
    return arrow_to_frame(fetch())


def rows_to_frame(columns: list[str], rows: list[tuple[Any, ...]], types: dict[str, Any]) -> Any:
    """Python rows (e.g. a prepared report's) as a DataFrame; `types` gives each column's Arrow type."""
    import pyarrow as pa

    arrays = [pa.array([r[i] for r in rows], type=types.get(c)) for i, c in enumerate(columns)]
    return arrow_to_frame(pa.Table.from_arrays(arrays, names=columns))
