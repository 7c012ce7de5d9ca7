"""evaluate's charts: the confusion heat-map, test images captioned with their predictions, and
the most confident mistakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from stages.shared import fashion_mnist, figures, image_grids

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def confusion_heatmap(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """The confusion matrix (rows actual, columns predicted) with counts in the cells."""
    fig = figures.new_figure(8, 7)
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
    return image_grids.image_grid(
        images[worst],
        titles,
        np.zeros(len(worst), dtype=bool),
        suptitle="Most confident mistakes on the test set" if len(worst) else "No mistakes",
    )


def draw_figures(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    matrix: np.ndarray,
    count: int,
) -> tuple[Figure, Figure, Figure]:
    """The confusion heat-map of `matrix`, the first `count` images captioned with their
    predictions, and the `count` most confident mistakes; uint8 images (n, 28, 28)."""
    names = fashion_mnist.CLASS_NAMES
    predicted = probabilities.argmax(axis=1)
    return (
        confusion_heatmap(matrix, names),
        image_grids.prediction_grid(images[:count], labels[:count], predicted[:count], names),
        misclassified_grid(images, labels, predicted, probabilities.max(axis=1), names, count),
    )
