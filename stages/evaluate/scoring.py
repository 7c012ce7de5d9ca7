"""Scores of a classifier's predictions on a labelled set, computed with NumPy from the labels and
the predicted probabilities: the confusion matrix, per-class precision, recall and F1, the mean
cross-entropy, and the headline numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row = actual class, column = predicted class."""
    pairs = actual.astype(np.int64) * num_classes + predicted
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_metrics(matrix: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class, in class order, from a confusion matrix.

    A ratio whose denominator is zero (a class never predicted, or absent) counts as 0, as
    scikit-learn's `zero_division=0` does."""
    import pandas as pd  # here, not above: `--help` need not pay for it (docs/performance.md)

    true_positives = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, 0.0)
        recall = np.where(actual > 0, true_positives / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": actual})


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The mean cross-entropy of float probabilities (n, classes) against labels (n,), as Keras'
    SparseCategoricalCrossentropy computes it: probabilities clipped to [1e-7, 1 − 1e-7], each
    row renormalised (in float64 here: a difference in the 7th digit at most)."""
    clipped = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    chosen = clipped[np.arange(len(labels)), labels]
    return float(np.mean(np.log(clipped.sum(axis=1)) - np.log(chosen)))


def summary_metrics(matrix: np.ndarray, per_class: pd.DataFrame, loss: float) -> dict:
    """The headline numbers: test loss, accuracy and macro F1 (the plain mean of class F1s)."""
    return {
        "loss": round(loss, 6),
        "accuracy": round(float(np.trace(matrix) / matrix.sum()), 6),
        "macro_f1": round(float(per_class["f1"].mean()), 6),
    }


def headline(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and loss of float probabilities (n, classes) against labels (n ≥ 1,)."""
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    return {"accuracy": round(accuracy, 6), "loss": round(cross_entropy(probabilities, labels), 6)}


@dataclasses.dataclass(frozen=True)
class Scores:
    """What the evaluate stage reports of a set's predictions."""

    matrix: np.ndarray  # confusion_matrix
    per_class: pd.DataFrame  # per_class_metrics, indexed by class name (axis "class")
    metrics: dict  # summary_metrics


def score(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Scores:
    """The scores of float probabilities (n, classes) against labels (n,)."""
    matrix = confusion_matrix(labels, probabilities.argmax(axis=1), len(class_names))
    per_class = per_class_metrics(matrix)
    metrics = summary_metrics(matrix, per_class, cross_entropy(probabilities, labels))
    return Scores(matrix, per_class.set_axis(list(class_names)).rename_axis("class"), metrics)
