"""Captioned grids of 28×28 images (evaluate's samples and mistakes, predict's predictions): apart
from `figures`, which train draws its curves with, so that restyling a grid reruns only the stages
that draw grids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from stages.shared import figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_RIGHT, _WRONG = "tab:green", "tab:red"
# An image grid's inches: the band above the first row for its captions (and the figure's
# title), and each row (an image and the captions of the row below).
_GRID_CAPTIONS, _GRID_TOP, _GRID_ROW = 0.4, 0.75, 2.3


def image_grid(
    images: np.ndarray,
    titles: Sequence[str],
    correct: Sequence[bool],
    columns: int = 5,
    suptitle: str | None = None,
) -> Figure:
    """A grid of uint8 images (n, 28, 28), each titled, the title green if `correct` else red,
    under `suptitle` if given. A fixed layout: the constrained one measured every title and tick
    of every cell, over a fifth of evaluate's run (docs/performance.md)."""
    rows = max(1, -(-len(images) // columns))
    top = _GRID_TOP if suptitle else _GRID_CAPTIONS
    height = top + _GRID_ROW * rows
    fig = figures.new_figure(2 * columns, height, layout=None)
    fig.subplots_adjust(
        left=0.01, right=0.99, bottom=0.1 / height, top=1 - top / height, hspace=0.3
    )
    if suptitle:
        fig.suptitle(suptitle)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, image, title, ok in zip(axes, images, titles, correct, strict=False):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8, color=_RIGHT if ok else _WRONG)
    return fig


def prediction_grid(
    images: np.ndarray, actual: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]
) -> Figure:
    """`image_grid` captioned with each predicted class, and the true class where it differs."""
    titles = [
        class_names[p] if a == p else f"{class_names[p]}\n(true: {class_names[a]})"
        for a, p in zip(actual, predicted, strict=True)
    ]
    return image_grid(images, titles, actual == predicted)
