"""One truth for money: what `spend` shows for each record, computed at write time (spendwatch/attribution.py).

Why columns on `records` rather than a query-time view: gateway attribution and reconciliation need
window functions over each day's rows; materialised, `spend` is a projection of `records` and stays
within 2x of a plain scan (bench/attribution.py). NULL in a column means "as stored"; `hidden_by` says
why a record is not in `spend` (duplicate:<winner>, gateway:<source>, superseded:<source>, reconciled).
`money_rules` keeps the rules (gateways, bill-source ranking) the columns were computed with, so a
writer with a different config recomputes every day, and a writer without a config uses these.
The existing rows are computed here with no gateways (today's reconciliation, now also for unpriced rows).
"""

from typing import Any

from . import migration


@migration("0004_money_truth")
def money_truth(conn: Any) -> None:
    from spendwatch.attribution import MoneyRules, _save_rules, refresh

    conn.execute("ALTER TABLE records ADD COLUMN spend_provider VARCHAR")
    conn.execute("ALTER TABLE records ADD COLUMN spend_cost DECIMAL(38, 10)")
    conn.execute("ALTER TABLE records ADD COLUMN spend_basis VARCHAR")
    conn.execute("ALTER TABLE records ADD COLUMN via VARCHAR")
    conn.execute("ALTER TABLE records ADD COLUMN hidden_by VARCHAR")
    conn.execute("CREATE TABLE money_rules (signature VARCHAR, rules VARCHAR, computed_at TIMESTAMPTZ)")
    _save_rules(conn, MoneyRules())
    refresh(conn, None, None, MoneyRules())
