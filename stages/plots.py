"""PNG figures for people: image grids, training curves and the confusion heat-map (matplotlib).

matplotlib is imported when a figure is made, not with this module: it takes a quarter of a second,
which every stage's `--help` would pay (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
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


def misclassified_grid(
    images: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    class_names: Sequence[str],
    count: int,
) -> Figure:
    """The `count` wrong predictions made with the highest confidence, most confident first."""
    wrong = np.flatnonzero(actual != predicted)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
    titles = [
        f"#{i}: {class_names[predicted[i]]} {confidence[i]:.0%}\n(true: {class_names[actual[i]]})"
        for i in worst
    ]
    fig = image_grid(images[worst], titles, np.zeros(len(worst), dtype=bool))
    fig.suptitle("Most confident mistakes on the test set" if len(worst) else "No mistakes")
    return fig


def training_curves(history: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch, train and validation overlaid; `history` indexed by epoch."""
    fig = new_figure(10, 4)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        ax.plot(history.index, history[metric], marker=".", label="train")
        ax.plot(history.index, history[f"val_{metric}"], marker=".", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_heatmap(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """The confusion matrix (rows actual, columns predicted) with counts in the cells."""
    fig = new_figure(8, 7)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(xlabel="predicted", ylabel="actual", title="Confusion matrix (test set)")
    threshold = matrix.max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if count > threshold else "black",
        )
    return fig


def save(fig: Figure, path: Path) -> None:
    """Write `fig` as a PNG without the software version: reruns give equal bytes."""
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
