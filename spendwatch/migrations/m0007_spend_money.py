"""`spend`'s money and visibility fully materialised: records.spend_usd and records.in_spend.

Why: since 0004 `spend` read `coalesce(spend_cost, <cost_usd within the import bound>)` and filtered on
`hidden_by IS NULL`; evaluating that per row made `select sum(cost_usd) from spend` ~2.5-4x the same sum
over `records` (bench/attribution.py, bar 2x). Now each row carries the figure `spend` shows
(`spend_usd` = coalesce(spend_cost, cost_usd), NULL where the stored cost is beyond the import bound, which
only an older version could have stored) and a BOOLEAN `in_spend` (= hidden_by IS NULL; DuckDB skips a
boolean filter on row groups whose zone map says all TRUE), so `spend` is a plain projection.
spendwatch/attribution.py keeps both right on every write (refresh_window, which every writer of records
calls); the existing rows are filled here.
"""

from typing import Any

from . import migration


@migration("0007_spend_money")
def spend_money(conn: Any) -> None:
    from spendwatch.attribution import SPEND_USD

    conn.execute("ALTER TABLE records ADD COLUMN spend_usd DECIMAL(38, 10)")
    conn.execute("ALTER TABLE records ADD COLUMN in_spend BOOLEAN DEFAULT TRUE")
    conn.execute(f"UPDATE records SET spend_usd = {SPEND_USD}, in_spend = (hidden_by IS NULL)")
