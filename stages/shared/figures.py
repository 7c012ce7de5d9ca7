"""PNG figures for people (matplotlib): a figure, its stable PNG bytes, and captioned image grids.

matplotlib is imported when a figure is made, not with this module: it takes a quarter of a second,
which every stage's `--help` would pay (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of that size in inches, laid out by matplotlib's constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


_RIGHT, _WRONG = "tab:green", "tab:red"


def image_grid(
    images: np.ndarray, titles: Sequence[str], correct: Sequence[bool], columns: int = 5
) -> Figure:
    """A grid of uint8 images (n, 28, 28), each titled, the title green if `correct` else red."""
    rows = max(1, -(-len(images) // columns))
    fig = new_figure(2 * columns, 2.3 * rows)
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


def save(fig: Figure, path: Path) -> None:
    """Write `fig` as a PNG without the software version: reruns give equal bytes."""
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
