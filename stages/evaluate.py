"""evaluate stage: score the shipped model (ONNX, run by ONNX Runtime) on the test split (loss,
accuracy, per-class precision, recall and F1, macro F1) and draw the confusion matrix, test
predictions and the most confidently misclassified test images."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages import artifacts, cli, dataset, onnx_model, params, plots

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, required=True, help="test split .npz")
    parser.add_argument("--model", type=Path, required=True, help="model .onnx")
    parser.add_argument("--eval-metrics", type=Path, required=True, help="output: metrics .json")
    parser.add_argument("--per-class", type=Path, required=True, help="output: per class .csv")
    parser.add_argument("--confusion", type=Path, required=True, help="output: pairs .csv")
    parser.add_argument("--confusion-png", type=Path, required=True, help="output: heat-map .png")
    parser.add_argument("--samples-png", type=Path, required=True, help="output: samples .png")
    parser.add_argument("--misclassified-png", type=Path, required=True, help="output: .png")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    cfg = params.load(args.params, params.Evaluate)

    images, labels = dataset.read_split(args.test)
    probabilities = onnx_model.load(args.model).predict(images, batch_size=cfg.batch_size)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, dataset.NUM_CLASSES)
    per_class = per_class_metrics(matrix)
    metrics = summary_metrics(matrix, per_class, cross_entropy(probabilities, labels))

    names = np.array(dataset.CLASS_NAMES)
    shown = slice(0, cfg.samples)
    confidence = probabilities.max(axis=1)
    with artifacts.outputs() as out:
        artifacts.write_json(out.file(args.eval_metrics), metrics)
        artifacts.write_table(
            out.file(args.per_class),
            per_class.set_axis(dataset.CLASS_NAMES).rename_axis("class"),
        )
        artifacts.write_csv(
            out.file(args.confusion),
            ["actual", "predicted"],
            zip(names[labels], names[predicted], strict=True),
        )
        plots.save(
            plots.confusion_heatmap(matrix, dataset.CLASS_NAMES), out.file(args.confusion_png)
        )
        plots.save(
            plots.prediction_grid(
                images[shown], labels[shown], predicted[shown], dataset.CLASS_NAMES
            ),
            out.file(args.samples_png),
        )
        plots.save(
            plots.misclassified_grid(
                images, labels, predicted, confidence, dataset.CLASS_NAMES, cfg.samples
            ),
            out.file(args.misclassified_png),
        )
    logger.info(
        "test accuracy %.4f, loss %.4f, macro F1 %.4f on %d images of %s",
        metrics["accuracy"],
        metrics["loss"],
        metrics["macro_f1"],
        len(labels),
        args.test,
    )
    logger.info(
        "wrote %s, %s, %s and the figures", args.eval_metrics, args.per_class, args.confusion
    )


if __name__ == "__main__":
    cli.run(main)
