"""End to end: the real `dvc repro` on tiny data in a temporary git repository."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, tiny_params, write_yaml

pytestmark = pytest.mark.e2e


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        venv_bin = str(Path(sys.executable).parent)  # so that dvc.yaml's `python` is this one
        self.env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
        self.env.update(DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t")
        self.env.update(GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def run(self, *argv: str) -> str:
        result = subprocess.run(
            argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def dvc(self, *argv: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *argv)

    def repro(self) -> list[str]:
        """Run `dvc repro`; return the stages it ran, in order."""
        return re.findall(r"Running stage '(\w+)'", self.dvc("repro"))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def set_params(self, section: str, **values) -> None:
        document = yaml.safe_load((self.root / "params.yaml").read_text())
        document[section].update(values)
        write_yaml(self.root / "params.yaml", document)

    def read_json(self, path: str) -> dict:
        return json.loads((self.root / path).read_text())


@pytest.fixture
def repo(tmp_path, tiny_source) -> Repo:
    repo = Repo(tmp_path / "project")
    repo.root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO / name, repo.root / name)
    shutil.copytree(
        REPO / "stages", repo.root / "stages", ignore=shutil.ignore_patterns("__pycache__")
    )
    write_yaml(repo.root / "params.yaml", tiny_params(tiny_source))
    repo.run("git", "init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    repo.commit("tiny project")
    return repo


def test_repro_runs_only_what_changed_and_branches_compare(repo):
    assert repo.repro() == ["download", "preprocess", "train", "evaluate", "predict"]

    for path in [
        "data/raw",
        "data/prepared/train.npz",
        "data/model/model.keras",
        "data/predictions/predictions.csv",
        "metrics/samples.png",
        "metrics/confusion.png",
        "metrics/curves.png",
        "metrics/predictions.png",
        "metrics/per_class.csv",
        "metrics/misclassified.png",
        "metrics/train/plots/metrics/eval/loss.tsv",
    ]:
        assert (repo.root / path).exists(), path
    assert repo.read_json("metrics/data.json") == {"train": 160, "val": 40, "test": 50}
    evaluation = repo.read_json("metrics/eval.json")
    assert set(evaluation) == {"loss", "accuracy", "macro_f1"}
    assert 0.5 < evaluation["accuracy"] <= 1
    assert repo.read_json("metrics/train/metrics.json")["epochs_run"] == 2
    assert "Data and pipelines are up to date" in repo.dvc("status")

    assert repo.repro() == []

    repo.set_params("predict", count=3)
    assert repo.repro() == ["predict"]
    assert len((repo.root / "data/predictions/predictions.csv").read_text().splitlines()) == 4
    repo.commit("baseline")

    repo.run("git", "checkout", "-q", "-b", "more-epochs")
    repo.set_params("train", epochs=3)
    assert repo.repro() == ["train", "evaluate", "predict"]
    repo.commit("three epochs")
    params_diff = json.loads(repo.dvc("params", "diff", "main", "--json"))
    assert params_diff["params.yaml"] == {"train.epochs": {"old": 2, "new": 3, "diff": 1}}
    metrics_diff = json.loads(repo.dvc("metrics", "diff", "main", "--json"))
    assert metrics_diff["metrics/train/metrics.json"]["epochs_run"] == {
        "old": 2,
        "new": 3,
        "diff": 1,
    }
    assert "accuracy" in metrics_diff["metrics/eval.json"]

    repo.set_params("preprocess", val_size=60)
    assert repo.repro() == ["preprocess", "train", "evaluate", "predict"]
    assert repo.read_json("metrics/data.json") == {"train": 140, "val": 60, "test": 50}
