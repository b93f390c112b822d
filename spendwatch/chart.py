"""The digest's PNG: daily spend per provider, stacked bars, last 30 days.

matplotlib is imported here, lazily, with the headless Agg backend (no display on a server). Money becomes
float only for bar heights in pixels; every figure printed as text (axis labels are formatted from the
ticks, the totals in the digest come from Decimal) stays exact where it is read.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
           "#CCB974", "#64B5CD"]


def render_chart(days: list[date], series: dict[str, list[Decimal]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # Figure directly: no pyplot global state across threads
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(10, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(days)))
    bottom = [0.0] * len(days)
    ordered = sorted(series.items(), key=lambda kv: -sum(kv[1], Decimal(0)))
    for i, (provider, values) in enumerate(ordered):
        heights = [float(v) for v in values]  # pixels, not money
        ax.bar(xs, heights, bottom=bottom, width=0.8, label=provider, color=COLOURS[i % len(COLOURS)])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    if not ordered:
        ax.text(0.5, 0.5, "no spend recorded in these 30 days", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=12, loc="left")
    ax.set_ylabel("USD per day")
    ax.yaxis.set_major_formatter(FuncFormatter(_dollars))
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    step = 3 if len(days) > 14 else 1
    ticks = [i for i in xs if (len(days) - 1 - i) % step == 0]
    ax.set_xticks(ticks)
    ax.set_xticklabels([days[i].strftime("%a\n%d %b") for i in ticks], fontsize=8)
    ax.set_xlim(-0.6, len(days) - 0.2)  # room for the last date label
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if ordered:
        ax.legend(loc="upper left", fontsize=9, frameon=False, ncols=min(len(ordered), 5))
        ax.set_ylim(0, max(bottom) * 1.18 if max(bottom) > 0 else 1)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _dollars(value: float, _pos: int) -> str:
    if value >= 1000:
        return f"${value / 1000:,.1f}k".replace(".0k", "k")
    return f"${value:,.0f}" if value >= 10 or value == 0 else f"${value:,.2f}"
