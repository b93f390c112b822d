"""Drivers and de-duplication across levels, from one table of "cells".

A cell is the finest slice a detector looks at (provider × model × project × key × team …) with its
observed and expected spend for the finding's period. From cells we get, without a query per finding:
  * drivers: for each other dimension, the values ranked by their dollar share of the scope's change;
  * overlap between candidate findings: a spike of one key shows up at the provider, model, project, key
    and team levels at once; reporting it five times is crying wolf. Candidates whose rise lies mostly
    inside an already reported one are folded into it, and the reported scope is the most specific one
    that still carries most of the rise.
Money stays Decimal (drivers are money); float copies serve only ranking and overlap arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from typing import Any

from ._data import str_lit
from ._text import mask_key

DRIVER_DIMS = ("api_key_id", "model", "project_id", "team", "provider", "user_id")
CELL_DIMS = ("provider", "model", "project_id", "api_key_id", "team", "user_id")
Q2 = Decimal("0.01")
SMALL = 2000  # cells: up to this many, drivers are summed in Python (a query's fixed cost is most of it)


@dataclass
class Candidate:
    """A finding before de-duplication: scope, its dollar rise, and whatever the detector needs later."""

    scope: dict[str, Any]
    rise: float  # ranking weight only (which scope explains an incident); reported money stays Decimal in data
    data: dict[str, Any] = field(default_factory=dict)
    level_rank: int = 0


class Cells:
    """Observed/expected money per cell, for one observation period (kept in a temp table for drivers)."""

    def __init__(self, conn: Any, rel: str, obs_cond: str, base_cond: str, obs_div: int = 1, base_div: int = 1,
                 dims: Sequence[str] = CELL_DIMS) -> None:
        cols = ", ".join(dims)
        self.conn = conn
        self.dims = tuple(dims)
        self._loaded = False
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE _sw_cells AS
                SELECT {cols},
                       CAST(coalesce(sum(cost_usd) FILTER (WHERE {obs_cond}), 0) / {obs_div} AS DECIMAL(38, 10)) AS obs,
                       CAST(coalesce(sum(cost_usd) FILTER (WHERE {base_cond}), 0) / {base_div} AS DECIMAL(38, 10)) AS exp
                FROM {rel} WHERE ({obs_cond}) OR ({base_cond})
                GROUP BY ALL""")

    def _load(self) -> None:
        """The cells as arrays, for `mask` and `fold` only: `drivers` works in SQL, so a caller that only
        names drivers (budget) never fetches every cell into Python."""
        import numpy as np

        if self._loaded:
            return
        got = self.conn.execute(f"SELECT {', '.join(self.dims)}, CAST(obs - exp AS DOUBLE) AS change FROM _sw_cells").fetchnumpy()
        self.cols = {d: np.asarray(got[d], dtype=object) for d in self.dims}
        self.n = len(got["change"])
        self.change = np.asarray(got["change"], dtype=float)
        self.pos = np.maximum(self.change, 0.0)
        self._loaded = True

    def mask(self, scope: dict[str, Any]) -> Any:
        import numpy as np

        self._load()
        m = np.ones(self.n, dtype=bool)
        for k, v in scope.items():
            if k in self.cols:
                m &= self.cols[k] == v
        return m

    def drivers(self, scope: dict[str, Any], top: int = 5) -> list[dict[str, Any]]:
        """Contributors to the scope's change, ranked by dollar share (only rising ones are named)."""

        where = " AND ".join(f"{k} = {str_lit(str(v))}" for k, v in sorted(scope.items()) if k in self.dims) or "TRUE"
        dims = [d for d in DRIVER_DIMS if d in self.dims and d not in scope]
        if not dims:
            return []
        small = self._small()
        if small is not None:
            return self._rank(self._groups(small, scope, dims), top)
        sets = ", ".join(f"({d})" for d in dims)
        which = "CASE " + " ".join(f"WHEN grouping({d}) = 0 THEN '{d}'" for d in dims) + " END"
        value = "coalesce(" + ", ".join(dims) + ")"
        cur = self.conn.execute(
            f"""WITH s AS (SELECT * FROM _sw_cells WHERE {where}),
                     t AS (SELECT sum(obs) - sum(exp) AS total FROM s),
                     g AS (SELECT {which} AS dim, {value} AS value, sum(obs) AS obs, sum(exp) AS exp
                           FROM s GROUP BY GROUPING SETS ({sets})),
                     n AS (SELECT dim, count(*) FILTER (WHERE value IS NOT NULL) AS distinct_ FROM g GROUP BY dim)
                SELECT g.dim, g.value, g.obs, g.exp, g.obs - g.exp AS change, t.total, n.distinct_
                FROM g, t, n WHERE n.dim = g.dim AND g.value IS NOT NULL AND g.obs > g.exp AND t.total > 0
                ORDER BY n.distinct_ < 2, change DESC""")
        # Rising contributors can be every cell (a budget's period against nothing). They arrive by class (below),
        # then change, largest first; the share change / total (a Decimal quotient, the ranking below) is
        # monotone in change, so once `top` rows are in and a row's class is later or its share smaller
        # than the `top`-th's, no later row can be named: the rest is never fetched.
        rows: list[tuple[Any, ...]] = []
        cut: tuple[bool, Decimal] | None = None
        while True:
            chunk = cur.fetchmany(64)
            if not chunk:
                break
            stop = False
            for r in chunk:
                cls, share = r[6] < 2, r[4] / r[5]
                if cut is not None and (cls > cut[0] or (cls == cut[0] and share < cut[1])):
                    stop = True
                    break
                rows.append(r)
                if len(rows) == top:
                    cut = (cls, share)
            if stop:
                break
        return self._rank(rows, top)

    def _small(self) -> list[tuple[Any, ...]] | None:
        """The cells (dims..., obs, exp) when there are at most SMALL of them, else None (fetched once)."""
        if not hasattr(self, "_small_rows"):
            n = self.conn.execute("SELECT count(*) FROM _sw_cells").fetchone()[0]
            self._small_rows = (self.conn.execute(f"SELECT {', '.join(self.dims)}, obs, exp FROM _sw_cells").fetchall()
                                if n <= SMALL else None)
        return self._small_rows

    def _groups(self, cells: list[tuple[Any, ...]], scope: dict[str, Any], dims: list[str]) -> list[tuple[Any, ...]]:
        """The drivers query of `drivers`, in Python over few cells: the scope's cells, the total change, per
        dimension the sums per value and the number of values; rising values only. Sums are exact (a wide
        context: the DECIMAL(38, 10) sums the query makes), so every figure equals the query's."""
        idx = {d: i for i, d in enumerate(self.dims)}
        want = [(idx[k], str(v)) for k, v in sorted(scope.items()) if k in idx]
        rows = [c for c in cells if all(c[i] == v for i, v in want)]
        o, e = len(self.dims), len(self.dims) + 1
        out: list[tuple[Any, ...]] = []
        with localcontext(Context(prec=80)):
            total = sum((c[o] for c in rows), Decimal("0E-10")) - sum((c[e] for c in rows), Decimal("0E-10"))
            if not rows or not total > 0:
                return []
            for d in dims:
                sums: dict[Any, list[Decimal]] = {}
                for c in rows:
                    acc = sums.setdefault(c[idx[d]], [Decimal("0E-10"), Decimal("0E-10")])
                    acc[0] += c[o]
                    acc[1] += c[e]
                distinct = sum(1 for v in sums if v is not None)
                out += [(d, v, ob, ex, ob - ex, total, distinct) for v, (ob, ex) in sums.items() if v is not None and ob > ex]
        return out

    def _rank(self, rows: list[tuple[Any, ...]], top: int) -> list[dict[str, Any]]:
        rank = {d: i for i, d in enumerate(DRIVER_DIMS)}
        # Dimensions with one value say nothing about cause ("100% from project x"): rank them last.
        keyed = sorted(((distinct < 2, -(change / total), rank[dim], str(value)), i)
                       for i, (dim, value, obs, exp, change, total, distinct) in enumerate(rows))
        out = []
        for _, i in keyed[:top]:
            dim, value, obs, exp, change, total, _distinct = rows[i]
            out.append({"dimension": dim, "value": _show(dim, value), "observed": obs.quantize(Q2),
                        "expected": exp.quantize(Q2), "change": change.quantize(Q2),
                        "share": (change / total).quantize(Q2)})
        return out

    def fold(self, cands: list[Candidate], inside: float = 0.5, carry: float = 0.9) -> list[Candidate]:
        """Greedy de-duplication: the biggest rise first; candidates whose rise lies mostly (≥ `inside`)
        within it are folded in; the one reported is the most specific candidate (fewest cells, then most
        dimensions) carrying ≥ `carry` of it."""
        import numpy as np

        if not cands:
            return []
        self._load()
        masks = np.array([self.mask(c.scope) for c in cands]) if self.n else np.zeros((len(cands), 0), bool)
        own = masks @ self.pos if self.n else np.zeros(len(cands))
        ncells = masks.sum(axis=1) if self.n else np.zeros(len(cands))

        def specific(j: int) -> tuple[int, int, int]:  # fewer cells, then more dimensions, then level order
            return (-int(ncells[j]), len(cands[j].scope), -cands[j].level_rank)

        order = sorted(range(len(cands)), key=lambda i: (-cands[i].rise, cands[i].level_rank, _skey(cands[i].scope)))
        done: set[int] = set()
        kept = []
        for i in order:
            if i in done:
                continue
            group = [i]
            for j in order:
                if j == i or j in done:
                    continue
                both = float((masks[i] & masks[j]) @ self.pos) if self.n else 0.0
                if own[j] > 0 and both >= inside * own[j]:
                    group.append(j)
            best = i
            for j in group:
                both = float((masks[i] & masks[j]) @ self.pos) if self.n else 0.0
                if own[i] > 0 and both >= carry * own[i] and specific(j) > specific(best):
                    best = j
            done.update(group)
            kept.append(cands[best])
        return kept


def _show(dim: str, value: Any) -> str:

    return mask_key(value) if dim == "api_key_id" else str(value)


def _skey(scope: dict[str, Any]) -> str:
    return repr(sorted(scope.items()))
