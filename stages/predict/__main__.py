"""predict stage: classify the first `predict.count` test images with the shipped model (ONNX, run
by ONNX Runtime), as the reference script does, and write their class probabilities and a
captioned picture of them."""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stages.predict import settings, table
from stages.shared import (
    artifacts,
    cli,
    fashion_mnist,
    figures,
    image_grids,
    onnx_model,
    params,
    splits,
)

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, required=True, help="test split .npz")
    parser.add_argument("--model", type=Path, required=True, help="model .onnx")
    parser.add_argument("--predictions", type=Path, required=True, help="output: table .csv")
    parser.add_argument("--predictions-png", type=Path, required=True, help="output: images .png")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = params.load(args.params, settings.Predict)

    images, labels = table.first_images(splits.read_split(args.test), cfg.count)
    probabilities = onnx_model.load(args.model).predict(images, batch_size=len(images))
    predictions = table.prediction_table(probabilities, labels)
    predicted = probabilities.argmax(axis=1)
    grid = image_grids.prediction_grid(images, labels, predicted, fashion_mnist.CLASS_NAMES)
    with artifacts.outputs() as out:
        artifacts.write_table(out.file(args.predictions), predictions, index=False)
        figures.save(grid, out.file(args.predictions_png))
    with np.printoptions(precision=2, suppress=True):
        logger.info("class probabilities of test images 0..%d:\n%s", cfg.count - 1, probabilities)
    logger.info("predicted: %s", ", ".join(predictions["predicted"]))
    logger.info("wrote %s and %s", args.predictions, args.predictions_png)


if __name__ == "__main__":
    cli.run(main)
