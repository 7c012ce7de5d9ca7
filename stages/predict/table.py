"""The images that predict classifies, and its table: one row per image, its true and predicted
class and every class's probability."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stages.shared import fashion_mnist
from stages.shared.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


def first_images(split: tuple[np.ndarray, np.ndarray], count: int) -> tuple[np.ndarray, ...]:
    """The first `count` images and labels of `split`; DataError if it has fewer."""
    images, labels = split
    if count > len(images):
        raise DataError(f"predict.count={count}, but the test split has {len(images)} images")
    return images[:count], labels[:count]


def prediction_table(probabilities: np.ndarray, actual: np.ndarray) -> pd.DataFrame:
    """One row per image: index, true and predicted class names, and each class's probability."""
    import pandas as pd  # here, not above: `--help` need not pay for it (docs/performance.md)

    names = np.array(fashion_mnist.CLASS_NAMES)
    table = pd.DataFrame(
        {
            "index": np.arange(len(actual)),
            "actual": names[actual],
            "predicted": names[probabilities.argmax(axis=1)],
        }
    )
    return pd.concat(
        [table, pd.DataFrame(probabilities, columns=fashion_mnist.CLASS_NAMES)], axis=1
    )
