"""predict stage: classify the first `predict.count` test images with the shipped model (ONNX, run
by ONNX Runtime), as the reference script does, and write their class probabilities and a
captioned picture of them."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages import artifacts, cli, dataset, onnx_model, params, plots
from stages.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def prediction_table(probabilities: np.ndarray, actual: np.ndarray) -> pd.DataFrame:
    """One row per image: index, true and predicted class names, and each class's probability."""
    import pandas as pd  # here, not above: `--help` need not pay for it (docs/performance.md)

    names = np.array(dataset.CLASS_NAMES)
    table = pd.DataFrame(
        {
            "index": np.arange(len(actual)),
            "actual": names[actual],
            "predicted": names[probabilities.argmax(axis=1)],
        }
    )
    return pd.concat([table, pd.DataFrame(probabilities, columns=dataset.CLASS_NAMES)], axis=1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, required=True, help="test split .npz")
    parser.add_argument("--model", type=Path, required=True, help="model .onnx")
    parser.add_argument("--predictions", type=Path, required=True, help="output: table .csv")
    parser.add_argument("--predictions-png", type=Path, required=True, help="output: images .png")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    cfg = params.load(args.params, params.Predict)

    images, labels = dataset.read_split(args.test)
    if cfg.count > len(images):
        raise DataError(f"predict.count={cfg.count}, but the test split has {len(images)} images")
    images, labels = images[: cfg.count], labels[: cfg.count]
    probabilities = onnx_model.load(args.model).predict(images, batch_size=len(images))
    table = prediction_table(probabilities, labels)

    grid = plots.prediction_grid(images, labels, probabilities.argmax(axis=1), dataset.CLASS_NAMES)
    with artifacts.outputs() as out:
        artifacts.write_table(out.file(args.predictions), table, index=False)
        plots.save(grid, out.file(args.predictions_png))
    with np.printoptions(precision=2, suppress=True):
        logger.info("class probabilities of test images 0..%d:\n%s", cfg.count - 1, probabilities)
    logger.info("predicted: %s", ", ".join(table["predicted"]))
    logger.info("wrote %s and %s", args.predictions, args.predictions_png)


if __name__ == "__main__":
    cli.run(main)
