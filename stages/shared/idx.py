"""The IDX format of Fashion-MNIST's raw files: headers checked against Fashion-MNIST's own shapes
and counts, and files decoded into uint8 arrays."""

import struct
from pathlib import Path

import numpy as np

from stages.shared.errors import DataError
from stages.shared.fashion_mnist import (
    IMAGE_SHAPE,
    ITEM_SHAPES,
    MAX_ITEMS,
    NUM_CLASSES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
)

_IDX_UBYTE = 0x08
_RAW_FIX = "re-run `dvc repro download`"


def _idx_header(data: bytes, ndim: int, name: str) -> tuple[int, tuple[int, ...]]:
    """(header size, dimensions) of the IDX bytes `data` (its first bytes suffice), checked."""
    expected_magic = (_IDX_UBYTE << 8) | ndim
    if len(data) < 4:
        raise DataError(f"{name}: {len(data)} bytes, too short for an IDX header; {_RAW_FIX}")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise DataError(
            f"{name}: magic {magic:#x}, expected {expected_magic:#x} "
            f"(uint8, {ndim} dimensions); {_RAW_FIX}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{name}: truncated IDX header; {_RAW_FIX}")
    return header_size, struct.unpack(f">{ndim}I", data[4:header_size])


def max_raw_size(name: str) -> int:
    """The largest size in bytes that raw file `name` can have: Fashion-MNIST's own."""
    shape = ITEM_SHAPES[name]
    return 4 + 4 * (1 + len(shape)) + MAX_ITEMS[name] * int(np.prod(shape, dtype=np.int64))


def raw_size(header: bytes, name: str) -> int:
    """The size in bytes that raw file `name` declares in its first bytes `header`; DataError
    if that is not a Fashion-MNIST file's header (wrong magic, item shape or count)."""
    shape = ITEM_SHAPES[name]
    header_size, dims = _idx_header(header, 1 + len(shape), name)
    if tuple(dims[1:]) != shape or dims[0] > MAX_ITEMS[name]:
        raise DataError(
            f"{name}: its header declares {dims}, expected at most "
            f"{(MAX_ITEMS[name], *shape)}; not Fashion-MNIST's file"
        )
    return header_size + int(np.prod(dims, dtype=np.int64))


def decode_idx(data: bytes, ndim: int, name: str) -> np.ndarray:
    """Decode IDX bytes into a uint8 array of `ndim` dimensions, checking header against size."""
    header_size, dims = _idx_header(data, ndim, name)
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_size:
        raise DataError(
            f"{name}: {len(data)} bytes, but its header {dims} needs {expected_size} "
            f"({'truncated' if len(data) < expected_size else 'trailing data'}); {_RAW_FIX}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def _size_limit(name: str) -> int:
    """The largest size in bytes of a raw file called `name`: that Fashion-MNIST file's own, or
    (another name) the largest of the four."""
    return max_raw_size(name) if name in ITEM_SHAPES else max(map(max_raw_size, ITEM_SHAPES))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an uncompressed IDX file; see `decode_idx`. A file larger than Fashion-MNIST's is
    refused from its size, before it is read."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {_RAW_FIX}")
    size, limit = path.stat().st_size, _size_limit(path.name)
    if size > limit:
        raise DataError(
            f"{path}: {size:,} bytes, more than the {limit:,} of Fashion-MNIST's file; {_RAW_FIX}"
        )
    return decode_idx(path.read_bytes(), ndim, str(path))


def read_images_and_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one IDX pair: uint8 images (n, 28, 28) and uint8 labels (n,) in [0, 10)."""
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{images_path}: images are {images.shape[1:]}, expected {IMAGE_SHAPE}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            f"{_RAW_FIX}"
        )
    if len(labels) and labels.max() >= NUM_CLASSES:
        raise DataError(
            f"{labels_path}: label {labels.max()} is not a class in [0, {NUM_CLASSES})"
        )
    return images, labels


def read_training_and_test_sets(raw: Path) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The training and test sets of the raw directory `raw`, each (images, labels)."""
    return (
        read_images_and_labels(raw / TRAIN_IMAGES, raw / TRAIN_LABELS),
        read_images_and_labels(raw / TEST_IMAGES, raw / TEST_LABELS),
    )
