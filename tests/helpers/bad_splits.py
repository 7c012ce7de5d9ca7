"""Split files that no stage can use, with the problem each stage names for them: every reader of
a split (train, evaluate, predict, `splits.read_split` itself) is tested on the same list."""

from pathlib import Path

import numpy as np
import pytest

from stages.shared import splits


def write_empty_split(path: Path) -> None:
    """A well-formed split of no image: a fit would have no epoch's metrics, a score NaN."""
    splits.write_split(path, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))


def write_plain_npy(path: Path) -> None:
    """One .npy array where a split's .npz of images and labels belongs."""
    with path.open("wb") as f:
        np.save(f, np.zeros((2, 28, 28), np.uint8))


# (write, problem): the file a test writes, and what the one-line error says of it.
UNUSABLE_SPLITS = [
    pytest.param(write_empty_split, "holds no images", id="empty"),
    pytest.param(
        write_plain_npy,
        "a single .npy array, not a split's .npz of images and labels",
        id="npy",
    ),
]
