"""Shared fixtures: tiny but real Fashion-MNIST-shaped data, written as gzipped IDX files."""

import dataclasses
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from stages import dataset, tensorflow_setup

TRAIN_PER_CLASS = 20
TEST_PER_CLASS = 5


def write_idx_gz(path: Path, array: np.ndarray) -> str:
    """Write `array` as a gzipped IDX file with a real header; return its content's SHA-256."""
    data = dataset.encode_idx(array)
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


def make_tiny_source(directory: Path, seed: int = 0) -> TinySource:
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    train_labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), TRAIN_PER_CLASS))
    test_labels = rng.permutation(np.repeat(np.arange(10, dtype=np.uint8), TEST_PER_CLASS))
    arrays = {
        dataset.TRAIN_IMAGES: class_images(train_labels, rng),
        dataset.TRAIN_LABELS: train_labels,
        dataset.TEST_IMAGES: class_images(test_labels, rng),
        dataset.TEST_LABELS: test_labels,
    }
    sha256 = {name: write_idx_gz(directory / f"{name}.gz", a) for name, a in arrays.items()}
    return TinySource(directory, sha256, train_labels, test_labels)


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> TinySource:
    return make_tiny_source(tmp_path_factory.mktemp("tiny-source"))


@pytest.fixture
def tiny_raw(tmp_path: Path, tiny_source: TinySource) -> Path:
    """A data/raw directory: the tiny files decompressed, as the download stage leaves them."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in dataset.RAW_FILES:
        (raw / name).write_bytes(
            gzip.decompress((tiny_source.directory / f"{name}.gz").read_bytes())
        )
    return raw


REPO = Path(__file__).resolve().parents[1]


def load_pipeline() -> dict:
    """dvc.yaml with its `${vars}` filled in, as DVC reads it."""
    text = (REPO / "dvc.yaml").read_text()
    variables = {k: v for block in yaml.safe_load(text)["vars"] for k, v in block.items()}
    return yaml.safe_load(re.sub(r"\$\{(\w+)\}", lambda m: variables[m[1]], text))


def pytest_configure(config: pytest.Config) -> None:
    # Tests train and load models in this process too: in the committed numerics mode, which
    # TensorFlow must see before any test loads it (stages/tensorflow_setup.py).
    tensorflow_setup.set_numerics(committed_params()["train"]["numerics"])


def committed_params() -> dict:
    with open(REPO / "params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def tiny_params(source: TinySource) -> dict:
    """The committed params, pointed at `source` and shrunk so that every stage takes seconds."""
    document = committed_params()
    document["download"].update(sources=[str(source.directory)], sha256=source.sha256)
    document["preprocess"].update(val_size=40)
    document["train"].update(hidden_units=[32], epochs=2, batch_size=16, learning_rate=0.05)
    document["evaluate"].update(samples=10)
    return document


def write_yaml(path: Path, document: dict) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(document, f, sort_keys=False)
    return path


@dataclasses.dataclass(frozen=True)
class TinyRun:
    """Where the tiny run keeps its params and the artifacts of download, preprocess and train."""

    root: Path

    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

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
    def model(self) -> Path:
        return self.root / "model/model.keras"

    @property
    def live(self) -> Path:
        return self.root / "live"

    @property
    def history(self) -> Path:
        return self.live / "plots/metrics"

    @property
    def train_metrics(self) -> Path:
        return self.live / "metrics.json"

    @property
    def onnx(self) -> Path:
        return self.root / "model/model.onnx"

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
            f"--params={params}",
        ]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_source: TinySource) -> TinyRun:
    """download → preprocess → train, in this process, on the tiny data; once per session."""
    from stages import download, preprocess, train

    run = TinyRun(tmp_path_factory.mktemp("tiny-run"))
    write_yaml(run.params, tiny_params(tiny_source))
    download.main([f"--raw={run.raw}", f"--params={run.params}"])
    preprocess.main(
        [
            f"--raw={run.raw}",
            f"--train={run.train}",
            f"--val={run.val}",
            f"--test={run.test}",
            f"--data-metrics={run.root / 'data.json'}",
            f"--class-counts={run.root / 'class_counts.csv'}",
            f"--params={run.params}",
        ]
    )
    train.main(
        [
            f"--train={run.train}",
            f"--val={run.val}",
            f"--model={run.model}",
            f"--onnx={run.onnx}",
            f"--live={run.live}",
            f"--curves-png={run.root / 'curves.png'}",
            f"--params={run.params}",
        ]
    )
    return run


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now: bound to port 0 together, so that they differ."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Repo:
    """A copy of the project in a temporary git repository, driven like a user drives it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        venv_bin = str(Path(sys.executable).parent)  # so that dvc.yaml's `python` is this one
        self.env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
        self.env.update(DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t")
        self.env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def attempt(self, *argv: str) -> subprocess.CompletedProcess:
        """Run a command that may fail; its exit code and output are the caller's to check."""
        return subprocess.run(
            argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=600
        )

    def run(self, *argv: str) -> str:
        result = self.attempt(*argv)
        assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def dvc(self, *argv: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *argv)

    def make_argv(self, target: str, **variables: str) -> list[str]:
        """The project's Makefile run here, with this virtual environment (already set up)."""
        settings = [f"{name}={value}" for name, value in variables.items()]
        return [
            "make",
            "-s",
            "-f",
            str(REPO / "Makefile"),
            f"VENV={sys.prefix}",
            target,
            *settings,
        ]

    def make(self, target: str, **variables: str) -> str:
        return self.run(*self.make_argv(target, **variables))

    def repro(self, *argv: str) -> list[str]:
        """Run `dvc repro`; return the stages it ran, in order."""
        return re.findall(r"Running stage '(\w+)'", self.dvc("repro", *argv))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def set_params(self, section: str, **values) -> None:
        document = yaml.safe_load((self.root / "params.yaml").read_text())
        document[section].update(values)
        write_yaml(self.root / "params.yaml", document)

    def read_json(self, path: str) -> dict:
        return json.loads((self.root / path).read_text())


def make_repo(root: Path, source: TinySource) -> Repo:
    """The project's pipeline and code in a fresh git + DVC repository, with tiny params."""
    repo = Repo(root)
    repo.root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO / name, repo.root / name)
    # With their dates (copytree copies them), so that the Makefile finds the virtual
    # environment up to date with the locks.
    shutil.copytree(REPO / "requirements", repo.root / "requirements")
    for package in ("stages", "tools"):
        shutil.copytree(
            REPO / package, repo.root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    write_yaml(repo.root / "params.yaml", tiny_params(source))
    repo.run("git", "init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    repo.commit("tiny project")
    return repo


@pytest.fixture
def repo(tmp_path: Path, tiny_source: TinySource) -> Repo:
    return make_repo(tmp_path / "project", tiny_source)


def file_tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by relative path, with its bytes: to compare before and after."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def rewrite_model_member(source: Path, target: Path, content: str | bytes | None) -> None:
    """Copy a .keras archive, replacing its class-names member (or dropping it if None)."""
    from stages import model_file

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != model_file.MEMBER:
                new.writestr(item, old.read(item))
        if content is not None:
            new.writestr(model_file.MEMBER, content)


def rewrite_onnx_metadata(source: Path, target: Path, key: str, value: str | None) -> None:
    """Copy an ONNX model, setting metadata `key` to `value` (or dropping it if None)."""
    import onnx

    proto = onnx.load(source)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != key]
    del proto.metadata_props[:]
    for k, v in kept + ([] if value is None else [(key, value)]):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, target)
