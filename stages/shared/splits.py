"""The prepared splits' format: one uncompressed .npz per split, uint8 images (n, 28, 28) and uint8
labels (n,)."""

import zipfile
from pathlib import Path

import numpy as np

from stages.shared.errors import DataError
from stages.shared.fashion_mnist import IMAGE_SHAPE, NUM_CLASSES

_SPLIT_FIX = "re-run `dvc repro preprocess`"


def write_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split as an uncompressed .npz (compressing saves nothing and costs seconds)."""
    with path.open("wb") as f:
        np.savez(f, images=images, labels=labels)


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a split written by `write_split`: uint8 images (n, 28, 28), uint8 labels (n,) in
    [0, 10)."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {_SPLIT_FIX}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: unreadable split ({error}); {_SPLIT_FIX}") from error
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{path}: images are {images.dtype} {images.shape}, "
            f"expected uint8 (n, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}); {_SPLIT_FIX}"
        )
    if labels.dtype != np.uint8 or labels.shape != (len(images),):
        raise DataError(
            f"{path}: labels are {labels.dtype} {labels.shape}, "
            f"expected uint8 ({len(images)},); {_SPLIT_FIX}"
        )
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise DataError(
            f"{path}: label {labels.max()} is not a class in [0, {NUM_CLASSES}); {_SPLIT_FIX}"
        )
    return images, labels
