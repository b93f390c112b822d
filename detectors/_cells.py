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

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Sequence

DRIVER_DIMS = ("api_key_id", "model", "project_id", "team", "provider", "user_id")
CELL_DIMS = ("provider", "model", "project_id", "api_key_id", "team", "user_id")
Q = Decimal("0.0000000001")


@dataclass
class Candidate:
    """A finding before de-duplication: scope, its dollar rise, and whatever the detector needs later."""

    scope: dict[str, Any]
    rise: float
    data: dict[str, Any] = field(default_factory=dict)
    level_rank: int = 0


class Cells:
    """Observed/expected money per cell, for one observation period."""

    def __init__(self, conn: Any, rel: str, obs_cond: str, base_cond: str, obs_div: int = 1, base_div: int = 1,
                 dims: Sequence[str] = CELL_DIMS) -> None:
        import numpy as np
        import pandas as pd

        cols = ", ".join(dims)
        rows = conn.execute(
            f"""SELECT {cols},
                       CAST(coalesce(sum(cost_usd) FILTER (WHERE {obs_cond}), 0) AS DECIMAL(38, 10)) AS obs,
                       CAST(coalesce(sum(cost_usd) FILTER (WHERE {base_cond}), 0) AS DECIMAL(38, 10)) AS base
                FROM {rel} WHERE ({obs_cond}) OR ({base_cond})
                GROUP BY ALL ORDER BY ALL""").fetchall()
        self.dims = tuple(dims)
        self.df = pd.DataFrame(rows, columns=[*dims, "obs", "base"])
        od, bd = Decimal(obs_div), Decimal(base_div)
        self.df["obs"] = [(v / od).quantize(Q) for v in self.df["obs"]]
        self.df["exp"] = [(v / bd).quantize(Q) for v in self.df["base"]]
        self.change = np.array([float(o - e) for o, e in zip(self.df["obs"], self.df["exp"])], dtype=float)
        self.pos = np.maximum(self.change, 0.0)

    def mask(self, scope: dict[str, Any]) -> Any:
        import numpy as np

        m = np.ones(len(self.df), dtype=bool)
        for k, v in scope.items():
            if k in self.df.columns:
                m &= (self.df[k] == v).to_numpy()
        return m

    def drivers(self, scope: dict[str, Any], top: int = 5) -> list[dict[str, Any]]:
        """Contributors to the scope's change, ranked by dollar share (only rising ones are named)."""
        sub = self.df[self.mask(scope)]
        if sub.empty:
            return []
        total = sum(sub["obs"], Decimal(0)) - sum(sub["exp"], Decimal(0))
        if total <= 0:
            return []
        out = []
        for rank, dim in enumerate(DRIVER_DIMS):
            if dim in scope or dim not in sub.columns:
                continue
            g = sub[sub[dim].notna()]
            if g.empty:
                continue
            agg = g.groupby(dim, sort=True).agg(obs=("obs", lambda s: sum(s, Decimal(0))),
                                                 exp=("exp", lambda s: sum(s, Decimal(0))))
            distinct = len(agg)
            for value, r in agg.iterrows():
                change = r["obs"] - r["exp"]
                if change <= 0:
                    continue
                out.append({"dimension": dim, "value": _show(dim, value), "observed": r["obs"].quantize(Decimal("0.01")),
                            "expected": r["exp"].quantize(Decimal("0.01")), "change": change.quantize(Decimal("0.01")),
                            "share": (change / total).quantize(Decimal("0.01")), "_rank": rank, "_distinct": distinct,
                            "_raw": value})
        # Dimensions with one value say nothing about cause ("100% from provider openai"): rank them last.
        out.sort(key=lambda d: (d["_distinct"] < 2, -d["share"], d["_rank"], str(d["_raw"])))
        return [{k: v for k, v in d.items() if not k.startswith("_")} for d in out[:top]]

    def fold(self, cands: list[Candidate], inside: float = 0.5, carry: float = 0.9) -> list[Candidate]:
        """Greedy de-duplication: the biggest rise first; candidates whose rise lies mostly (≥ `inside`)
        within it are folded in; the one reported is the most specific candidate (fewest cells, then most
        dimensions) carrying ≥ `carry` of it."""
        import numpy as np

        if not cands:
            return []
        masks = np.array([self.mask(c.scope) for c in cands]) if len(self.df) else np.zeros((len(cands), 0), bool)
        own = masks @ self.pos if len(self.df) else np.zeros(len(cands))
        ncells = masks.sum(axis=1) if len(self.df) else np.zeros(len(cands))

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
                both = float((masks[i] & masks[j]) @ self.pos) if len(self.df) else 0.0
                if own[j] > 0 and both >= inside * own[j]:
                    group.append(j)
            best = i
            for j in group:
                both = float((masks[i] & masks[j]) @ self.pos) if len(self.df) else 0.0
                if own[i] > 0 and both >= carry * own[i] and specific(j) > specific(best):
                    best = j
            done.update(group)
            kept.append(cands[best])
        return kept


def _show(dim: str, value: Any) -> str:
    from ._text import mask_key

    return mask_key(value) if dim == "api_key_id" else str(value)


def _skey(scope: dict[str, Any]) -> str:
    return repr(sorted(scope.items()))
