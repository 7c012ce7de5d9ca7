"""PNG figures for people (matplotlib): a new figure and its stable PNG bytes.

matplotlib is imported when a figure is made, not with this module: it takes a quarter of a second,
which every stage's `--help` would pay (docs/performance.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """An empty figure of that size in inches, laid out by matplotlib's constrained layout unless
    `layout` is None (then placed by hand: `subplots_adjust`)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def save(fig: Figure, path: Path) -> None:
    """Write `fig` as a PNG without the software version: reruns give equal bytes."""
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
