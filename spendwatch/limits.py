"""The bounds every value must respect on its way in, so that everything downstream can compute with it.

Why bounds at all: DuckDB's DECIMAL(38, 10) holds money up to 1e28 and BIGINT counts up to 9.2e18, but the
views do more than store them. `spend` scales money to integer units of 1e-10 USD in HUGEINT (±1.7e38),
multiplies two such figures to reconcile estimates against a bill, and every report sums millions of rows;
Python's default decimal context (28 digits) formats the sums. A single row near a type's limit is
accepted by the table and then breaks every reader. So the edge (imports, config, command options)
refuses what the middle cannot compute, with one line naming the file, line or key, and the views
guard against rows that an older version let in. The figures and the arithmetic behind them are in
docs/input-limits.md.

    money       |cost| < 1e15 USD per row (and per budget amount): 1e15 × 1e10 units = 1e25 per row;
                a sum over 1e9 rows stays below 1e34 units < 1.7e38 (HUGEINT) and below 1e24 USD < 1e28
                (DECIMAL(38, 10)), and formats in 28 significant digits with two decimals.
    tokens      0 ≤ n < 1e15 per row and column (and `requests`): five token columns added together stay
                below 9.2e18 (BIGINT), and sums over 1e9 rows go to HUGEINT.
    time        2000-01-01T00:00:00Z ≤ ts < 2100-01-01T00:00:00Z for imported rows (period_end up to
                2101-01-01, exclusive, as a period that starts in 2099 may end after 2100), and for
                `--since/--until/--at` and `report --month`: no LLM API bill predates 2000, and
                every "+ one period" or "previous day" step then stays far from year 1 and year 9999
                (where Python's datetime and DuckDB's infinity sentinels begin).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

MAX_ABS_COST = Decimal("1e15")   # USD per row, exclusive
MAX_TOKENS = 10**15              # per row and token column, exclusive
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)   # inclusive
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)   # exclusive for rows (inclusive for an --until)
MAX_END = datetime(2101, 1, 1, tzinfo=UTC)    # exclusive: a period starting in 2099 may end after 2100

COST_RULE = "out of range (|value| must be below 1e15)"
TOKENS_RULE = "out of range (a count must be below 1e15)"
TIME_RULE = "outside the supported time range (2000-01-01 to 2100-01-01)"

# SQL literals of the same bounds (one definition: the constants above).
SQL_MAX_COST = "CAST('1000000000000000' AS DECIMAL(38, 10))"
SQL_MAX_TOKENS = str(MAX_TOKENS)
SQL_MIN_TIME = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
SQL_MAX_TIME = "TIMESTAMPTZ '2100-01-01 00:00:00+00'"
SQL_MAX_END = "TIMESTAMPTZ '2101-01-01 00:00:00+00'"


# The rules below name `expr` as few times as they can (coalesce(test, TRUE) is `expr IS NULL OR test`): the
# importers nest them, and DuckDB binds and optimises every copy of an expression, which is most of the cost
# of importing a small file (tests/importers/test_fuzz_imports.py runs thousands).
def cost_ok_sql(expr: str) -> str:
    """SQL: true when the DECIMAL `expr` is NULL or inside the money bound."""
    return f"coalesce(abs({expr}) < {SQL_MAX_COST}, TRUE)"


def tokens_ok_sql(expr: str) -> str:
    """SQL: true when the integer `expr` is NULL or inside the count bound (negatives are refused elsewhere)."""
    return f"coalesce({expr} < {SQL_MAX_TOKENS}, TRUE)"


def time_ok_sql(expr: str) -> str:
    """SQL: true when the TIMESTAMPTZ `expr` is NULL or inside the time range (infinity is not)."""
    return f"coalesce({expr} >= {SQL_MIN_TIME} AND {expr} < {SQL_MAX_TIME}, TRUE)"


def end_ok_sql(expr: str) -> str:
    """SQL: true when the period end `expr` is NULL or inside the range (a year of slack past MAX_TIME)."""
    return f"coalesce({expr} >= {SQL_MIN_TIME} AND {expr} < {SQL_MAX_END}, TRUE)"


def cost_problem(value: Decimal) -> str | None:
    """Why a money figure (a budget amount, a parsed cell) is refused, or None."""
    if not value.is_finite() or abs(value) >= MAX_ABS_COST:
        return COST_RULE
    return None


def time_problem(value: datetime, *, end_inclusive: bool = False) -> str | None:
    """Why an instant is refused, or None. `end_inclusive` lets `--until 2100-01-01` name the range's end."""
    if value < MIN_TIME or value > MAX_TIME or (value == MAX_TIME and not end_inclusive):
        return TIME_RULE
    return None
