"""End to end: the real `dvc repro` on tiny data in a temporary git repository."""

import json

import pytest
import yaml

from tests.helpers.imports import STAGES
from tests.helpers.project import write_yaml
from tests.helpers.repo import make_repo
from tools import commands, rerun_table

pytestmark = pytest.mark.e2e


def test_repro_runs_only_what_changed_and_branches_compare(repo):
    assert repo.repro() == ["download", "preprocess", "train", "evaluate", "predict"]

    for path in [
        "data/raw",
        "data/prepared/train.npz",
        "data/model/model.keras",
        "data/model/model.onnx",
        "data/predictions/predictions.csv",
        "metrics/samples.png",
        "metrics/confusion.png",
        "metrics/curves.png",
        "metrics/predictions.png",
        "metrics/per_class.csv",
        "metrics/misclassified.png",
        "metrics/train/plots/metrics/val/loss.tsv",
        "metrics/time.json",
    ]:
        assert (repo.root / path).exists(), path
    assert repo.read_json("metrics/data.json")["images"] == {"train": 160, "val": 40, "test": 50}
    evaluation = repo.read_json("metrics/eval.json")["test"]
    assert set(evaluation) == {"loss", "accuracy", "macro_f1"}
    assert 0.5 < evaluation["accuracy"] <= 1
    assert repo.read_json("metrics/train/metrics.json")["epochs_run"] == 2
    assert "Data and pipelines are up to date" in repo.dvc("status")

    assert repo.repro() == []
    _an_edit_makes_exactly_its_stages_stale(repo)

    repo.set_params("predict", count=3)
    assert repo.repro() == ["predict"]
    assert len((repo.root / "data/predictions/predictions.csv").read_text().splitlines()) == 4

    # dataset.yaml changed (a source that has no copy, tried first): download reruns and brings
    # the same verified files, so nothing after it does.
    dataset = yaml.safe_load((repo.root / "dataset.yaml").read_text())
    dataset["dataset"]["sources"].insert(0, str(repo.root / "no-copy-here"))
    write_yaml(repo.root / "dataset.yaml", dataset)
    assert repo.repro() == ["download"]
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
    assert "test.accuracy" in metrics_diff["metrics/eval.json"]
    # a time per run, in no dvc.lock; any of its figures may come out equal on tiny data
    assert metrics_diff["metrics/time.json"]

    # A preprocess param makes preprocess stale; what follows it reruns as after train's above.
    repo.set_params("preprocess", val_size=60)
    assert json.loads(repo.dvc("status", "--json")) == {
        "preprocess": [{"changed deps": {"params.yaml": {"preprocess": "modified"}}}]
    }


def _an_edit_makes_exactly_its_stages_stale(repo):
    """A comment added to a file of each stage's folder, of two shared modules and to dataset.yaml:
    `dvc status` says that each edited path changed for exactly the stages that docs/layout.md's
    table names; the files are then restored."""
    pipeline = yaml.safe_load((repo.root / "dvc.yaml").read_text())
    expected = rerun_table.code_deps(pipeline) | rerun_table.input_files(pipeline)
    edits = {
        **{f"stages/{stage}": f"stages/{stage}/__main__.py" for stage in STAGES},
        "stages/shared/idx.py": "stages/shared/idx.py",
        "stages/shared/figures.py": "stages/shared/figures.py",
        "dataset.yaml": "dataset.yaml",
    }
    originals = {path: (repo.root / path).read_text() for path in edits.values()}
    for path, text in originals.items():
        (repo.root / path).write_text(text + "# an edit\n")
    status = json.loads(repo.dvc("status", "--json"))
    for path, text in originals.items():
        (repo.root / path).write_text(text)
    changed = {
        dep: [
            stage
            for stage, entries in status.items()
            for e in entries
            if dep in e.get("changed deps", {})
        ]
        for dep in edits
    }
    assert changed == {dep: expected[dep] for dep in edits}
    assert all(set(e.get("changed deps", {})) <= set(edits) for v in status.values() for e in v)
    assert "Data and pipelines are up to date" in repo.dvc("status")


@pytest.mark.slow
def test_training_in_a_repository_without_commits_says_to_commit(tmp_path, tiny_source):
    repo = make_repo(tmp_path / "fresh", tiny_source)
    repo.run("git", "update-ref", "-d", "HEAD")  # as if `git init` had just been run
    result = repo.attempt(*commands.dvc_argv("repro"))
    assert result.returncode != 0
    assert (
        "dvclive cannot start (Empty git repo): make a first commit"
        in result.stdout + result.stderr
    )
