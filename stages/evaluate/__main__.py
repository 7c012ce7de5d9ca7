"""evaluate stage: score the shipped model (ONNX, run by ONNX Runtime) on the test split (loss,
accuracy, per-class precision, recall and F1, macro F1: scoring.py) and on the validation split
(what a search chooses on), and draw the confusion matrix, test predictions and the most
confidently misclassified test images."""

import argparse
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from stages.evaluate import charts, scoring, settings
from stages.shared import artifacts, cli, fashion_mnist, figures, onnx_model, params, splits

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, required=True, help="test split .npz")
    parser.add_argument("--val", type=Path, required=True, help="validation split .npz")
    parser.add_argument("--model", type=Path, required=True, help="model .onnx")
    parser.add_argument("--eval-metrics", type=Path, required=True, help="output: metrics .json")
    parser.add_argument("--per-class", type=Path, required=True, help="output: per class .csv")
    parser.add_argument("--confusion", type=Path, required=True, help="output: pairs .csv")
    parser.add_argument("--confusion-png", type=Path, required=True, help="output: heat-map .png")
    parser.add_argument("--samples-png", type=Path, required=True, help="output: samples .png")
    parser.add_argument("--misclassified-png", type=Path, required=True, help="output: .png")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser.parse_args(argv)


def actual_and_predicted(labels: np.ndarray, probabilities: np.ndarray) -> Iterator[tuple]:
    """(actual class name, predicted class name) per image: the confusion pairs' rows."""
    names = np.array(fashion_mnist.CLASS_NAMES)
    return zip(names[labels], names[probabilities.argmax(axis=1)], strict=True)


def log_result(args: argparse.Namespace, test: dict, val: dict, images: int) -> None:
    tables = ", ".join(map(str, (args.eval_metrics, args.per_class, args.confusion)))
    logger.info(
        "test accuracy %(accuracy).4f, loss %(loss).4f, macro F1 %(macro_f1).4f on %(n)d images "
        "(validation accuracy %(val).4f); wrote %(tables)s and the figures",
        {**test, "n": images, "val": val["accuracy"], "tables": tables},
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = params.load(args.params, settings.Evaluate)
    images, labels = splits.read_split(args.test)
    model = onnx_model.load(args.model)
    probabilities = model.predict(images, batch_size=cfg.batch_size)
    scores = scoring.score(probabilities, labels, fashion_mnist.CLASS_NAMES)
    val_images, val_labels = splits.read_split(args.val)
    val_scores = scoring.headline(model.predict(val_images, batch_size=cfg.batch_size), val_labels)
    drawn = charts.draw_figures(images, labels, probabilities, scores.matrix, cfg.samples)
    with artifacts.outputs() as out:
        # Named by split; the shipped model's (with train.ema_momentum or flip_tta, not the
        # validation scores that dvclive logged per epoch in metrics/train/).
        metrics = {"test": scores.metrics, "val": val_scores}
        artifacts.write_json(out.file(args.eval_metrics), metrics)
        artifacts.write_table(out.file(args.per_class), scores.per_class)
        pairs = actual_and_predicted(labels, probabilities)
        artifacts.write_csv(out.file(args.confusion), ["actual", "predicted"], pairs)
        pngs = (args.confusion_png, args.samples_png, args.misclassified_png)
        for figure, path in zip(drawn, pngs, strict=True):
            figures.save(figure, out.file(path))
    log_result(args, scores.metrics, val_scores, len(labels))


if __name__ == "__main__":
    cli.run(main)
