"""Tiny but real Fashion-MNIST-shaped data, written as gzipped IDX files with a dataset file that
points at them, and the artifacts of the pipeline's first three stages run on it."""

import dataclasses
import gzip
import hashlib
import struct
import sys
from pathlib import Path

import numpy as np

from stages.shared import fashion_mnist
from tests.helpers.project import committed_params, write_yaml

TRAIN_PER_CLASS = 20
TEST_PER_CLASS = 5


def encode_idx(array: np.ndarray) -> bytes:
    """uint8 `array` as IDX bytes: magic (0, 0, 0x08, ndim), big-endian dimensions, the data."""
    assert array.dtype == np.uint8, array.dtype
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> str:
    """Write `array` as a gzipped IDX file with a real header; return its content's SHA-256."""
    data = encode_idx(array)
    path.write_bytes(gzip.compress(data, mtime=0))
    return hashlib.sha256(data).hexdigest()


def class_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images (n, 28, 28): class k is a bright band at rows 2k..2k+5 over dim noise, so a
    small network separates the classes in an epoch or two and a broken one does not."""
    images = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k : 2 * k + 6, 4:24] = rng.integers(200, 256, size=(6, 20), dtype=np.uint8)
    return images


@dataclasses.dataclass(frozen=True)
class TinySource:
    """A directory holding the four .gz files, as a download source, and their checksums."""

    directory: Path
    sha256: dict[str, str]
    train_labels: np.ndarray
    test_labels: np.ndarray


def make_tiny_source(
    directory: Path, seed: int = 0, train_per_class: int = TRAIN_PER_CLASS
) -> TinySource:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train_labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), train_per_class))
    test_labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), TEST_PER_CLASS))
    arrays = {
        fashion_mnist.TRAIN_IMAGES: class_images(train_labels, rng),
        fashion_mnist.TRAIN_LABELS: train_labels,
        fashion_mnist.TEST_IMAGES: class_images(test_labels, rng),
        fashion_mnist.TEST_LABELS: test_labels,
    }
    sha256 = {name: write_idx_gz(directory / f"{name}.gz", a) for name, a in arrays.items()}
    return TinySource(directory, sha256, train_labels, test_labels)


def decompress_source(source: TinySource, raw: Path) -> Path:
    """A data/raw directory: the tiny files decompressed, as the download stage leaves them."""
    raw.mkdir()
    for name in fashion_mnist.RAW_FILES:
        (raw / name).write_bytes(gzip.decompress((source.directory / f"{name}.gz").read_bytes()))
    return raw


def tiny_dataset(source: TinySource) -> dict:
    """A dataset.yaml document for `source`: its directory the only source, its checksums. Every
    test that runs download passes one, never the real dataset.yaml (whose sources are real)."""
    return {"dataset": {"sources": [str(source.directory)], "sha256": dict(source.sha256)}}


def tiny_params(source: TinySource) -> dict:
    """The committed params, shrunk so that every stage takes seconds (`source`: the data they
    are shrunk for; its files are in `tiny_dataset`)."""
    document = committed_params()
    document["preprocess"].update(val_size=40)
    document["train"].update(hidden_units=[32], epochs=2, batch_size=16, learning_rate=0.05)
    document["evaluate"].update(samples=10)
    return document


@dataclasses.dataclass(frozen=True)
class TinyRun:
    """Where the tiny run keeps its params and the artifacts of download, preprocess and train."""

    root: Path

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def dataset(self) -> Path:
        """The tiny source's dataset.yaml."""
        return self.root / "dataset.yaml"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def train(self) -> Path:
        return self.root / "prepared/train.npz"

    @property
    def val(self) -> Path:
        return self.root / "prepared/val.npz"

    @property
    def test(self) -> Path:
        return self.root / "prepared/test.npz"

    @property
    def trained(self) -> Path:
        """The train stage's outputs: model.keras, model.onnx, live/, curves.png and time.json."""
        return self.root / "model"

    @property
    def model(self) -> Path:
        return self.trained / "model.keras"

    @property
    def onnx(self) -> Path:
        return self.trained / "model.onnx"

    @property
    def live(self) -> Path:
        return self.trained / "live"

    @property
    def history(self) -> Path:
        return self.live / "plots/metrics"

    @property
    def train_metrics(self) -> Path:
        return self.live / "metrics.json"

    def train_argv(self, out: Path, params: Path) -> list[str]:
        """`python -m stages.train` on the tiny splits with `params`, writing into `out`."""
        return [sys.executable, "-m", "stages.train", *self.train_args(out, params)]

    def train_args(self, out: Path, params: Path) -> list[str]:
        """The train stage's arguments: the tiny splits, `params`, every output into `out`."""
        return [
            f"--train={self.train}",
            f"--val={self.val}",
            f"--model={out / 'model.keras'}",
            f"--onnx={out / 'model.onnx'}",
            f"--live={out / 'live'}",
            f"--curves-png={out / 'curves.png'}",
            f"--time={out / 'time.json'}",
            f"--params={params}",
        ]


def make_tiny_run(root: Path, source: TinySource) -> TinyRun:
    """download → preprocess → train on `source`, in this process, with `tiny_params` and
    `tiny_dataset`."""
    from stages.download import __main__ as download
    from stages.preprocess import __main__ as preprocess
    from stages.train import __main__ as train

    run = TinyRun(root)
    write_yaml(run.params, tiny_params(source))
    write_yaml(run.dataset, tiny_dataset(source))
    download.main([f"--dataset={run.dataset}", f"--raw={run.raw}", f"--params={run.params}"])
    preprocess.main(
        [
            f"--raw={run.raw}",
            f"--train={run.train}",
            f"--val={run.val}",
            f"--test={run.test}",
            f"--data-metrics={root / 'data.json'}",
            f"--class-counts={root / 'class_counts.csv'}",
            f"--params={run.params}",
        ]
    )
    train.main(run.train_args(run.trained, run.params))
    return run
