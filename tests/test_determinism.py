"""Same params, same machine: the same weights, metrics and model file, run after run."""

import json
import subprocess

import pytest

from tests.helpers.project import REPO, file_tree

pytestmark = pytest.mark.e2e


def _train(tiny_run, out) -> None:
    argv = tiny_run.train_argv(out, tiny_run.params)
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True)


@pytest.mark.slow
def test_two_processes_write_byte_identical_models_and_metrics(tmp_path, tiny_run):
    _train(tiny_run, tmp_path / "first")
    _train(tiny_run, tmp_path / "second")
    first, second = file_tree(tmp_path / "first"), file_tree(tmp_path / "second")
    assert sorted(first) == sorted(second)
    # Every output but the time each run took, which no dvc.lock records (dvc.yaml).
    assert json.loads(first.pop("time.json")).keys() == json.loads(second.pop("time.json")).keys()
    for name in first:
        assert first[name] == second[name], name


@pytest.mark.slow
def test_forced_rerun_of_the_whole_pipeline_leaves_dvc_lock_unchanged(repo):
    repo.repro()
    before = (repo.root / "dvc.lock").read_bytes()
    output = repo.dvc("repro", "--force")
    assert output.count("Running stage") == 5
    assert (repo.root / "dvc.lock").read_bytes() == before
