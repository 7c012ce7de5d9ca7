"""pytest's fixtures: tiny but real Fashion-MNIST-shaped data, the pipeline's first stages run on
it, and copies of the project in temporary repositories. What they are made with lives in
tests/helpers/."""

from pathlib import Path

import pytest

from stages.train import tensorflow_setup
from tests.helpers.project import committed_params
from tests.helpers.repo import Repo, make_repo
from tests.helpers.tiny import (
    TinyRun,
    TinySource,
    decompress_source,
    make_tiny_run,
    make_tiny_source,
)


def pytest_configure(config: pytest.Config) -> None:
    # Tests train and load models in this process too: in the committed numerics mode, which
    # TensorFlow must see before any test loads it (stages/train/tensorflow_setup.py).
    tensorflow_setup.set_numerics(committed_params()["train"]["numerics"])


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> TinySource:
    return make_tiny_source(tmp_path_factory.mktemp("tiny-source"))


@pytest.fixture
def tiny_raw(tmp_path: Path, tiny_source: TinySource) -> Path:
    return decompress_source(tiny_source, tmp_path / "raw")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_source: TinySource) -> TinyRun:
    """download → preprocess → train, in this process, on the tiny data; once per session."""
    return make_tiny_run(tmp_path_factory.mktemp("tiny-run"), tiny_source)


@pytest.fixture
def repo(tmp_path: Path, tiny_source: TinySource) -> Repo:
    return make_repo(tmp_path / "project", tiny_source)
