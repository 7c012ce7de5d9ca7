"""The prepared splits' format: one uncompressed .npz per split, uint8 images (n, 28, 28) and uint8
labels (n,)."""

import math
import zipfile
from pathlib import Path

import numpy as np

from stages.shared.errors import DataError
from stages.shared.fashion_mnist import (
    IMAGE_SHAPE,
    MAX_ITEMS,
    NUM_CLASSES,
    TEST_IMAGES,
    TRAIN_IMAGES,
)

_SPLIT_FIX = "re-run `dvc repro preprocess`"
_NPY_MAGIC = b"\x93NUMPY"
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
# All of Fashion-MNIST: no split holds more, so no header may make numpy allocate more.
_MAX_ITEMS = MAX_ITEMS[TRAIN_IMAGES] + MAX_ITEMS[TEST_IMAGES]


def write_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split as an uncompressed .npz (compressing saves nothing and costs seconds)."""
    with path.open("wb") as f:
        np.savez(f, images=images, labels=labels)


def _read_member(archive: zipfile.ZipFile, name: str, path: Path) -> np.ndarray:
    """The array `name` of the split at `path`; its .npy header checked against the member's size
    first, since numpy allocates what the header declares before it reads a byte."""
    info = archive.getinfo(f"{name}.npy")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in _HEADER_READERS:
            raise ValueError(f"{name}.npy is .npy version {version}, expected (1, 0) or (2, 0)")
        shape, _, dtype = _HEADER_READERS[version](member)
        declared, held = math.prod(shape) * dtype.itemsize, info.file_size - member.tell()
        if declared != held:
            raise DataError(
                f"{path}: {name}.npy declares {dtype} {shape}, {declared:,} bytes, but holds "
                f"{held:,}; {_SPLIT_FIX}"
            )
        if shape and shape[0] > _MAX_ITEMS:
            raise DataError(
                f"{path}: {name}.npy declares {shape[0]:,} items, more than the {_MAX_ITEMS:,} "
                f"images of all Fashion-MNIST; {_SPLIT_FIX}"
            )
        member.seek(0)
        return np.lib.format.read_array(member, allow_pickle=False)


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of the .npz at `path`, as stored; DataError if it is not one."""
    try:
        with path.open("rb") as f:
            if f.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                raise DataError(
                    f"{path}: a single .npy array, not a split's .npz of images and labels; "
                    f"{_SPLIT_FIX}"
                )
            with zipfile.ZipFile(f) as archive:
                return _read_member(archive, "images", path), _read_member(archive, "labels", path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: unreadable split ({error}); {_SPLIT_FIX}") from error


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a split written by `write_split`: uint8 images (n, 28, 28), uint8 labels (n,) in
    [0, 10), n ≥ 1 (no stage can use an empty split, and preprocess never writes one)."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {_SPLIT_FIX}")
    images, labels = _read_arrays(path)
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
    if not len(labels):
        raise DataError(f"{path}: holds no images; {_SPLIT_FIX}")
    if labels.max() >= NUM_CLASSES:
        raise DataError(
            f"{path}: label {labels.max()} is not a class in [0, {NUM_CLASSES}); {_SPLIT_FIX}"
        )
    return images, labels
