"""The training curves: loss and accuracy per epoch, training and validation overlaid (a PNG)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stages.shared import figures

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def training_curves(history: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch, train and validation overlaid; `history` indexed by epoch."""
    fig = figures.new_figure(10, 4)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        ax.plot(history.index, history[metric], marker=".", label="train")
        ax.plot(history.index, history[f"val_{metric}"], marker=".", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig
