"""Experiments and branch reports, end to end, in a temporary git repository with tiny data."""

import hashlib
import json
import re
import subprocess
import sys

import pytest

from tests.conftest import make_repo

pytestmark = pytest.mark.e2e


def _report(repo, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.report", *argv],
        cwd=repo.root,
        env=repo.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def branched(tmp_path_factory, tiny_source):
    """A baseline committed on main, and a branch that changed the learning rate and reran."""
    repo = make_repo(tmp_path_factory.mktemp("branched") / "project", tiny_source)
    repo.repro()
    repo.commit("baseline")
    repo.run("git", "checkout", "-q", "-b", "faster")
    repo.set_params("train", learning_rate=0.2)
    assert repo.repro() == ["train", "evaluate", "predict"]
    repo.commit("learning rate 0.2")
    return repo


def test_report_has_both_tables_and_every_plot_as_an_image(branched):
    params_diff = json.loads(branched.dvc("params", "diff", "main", "--json"))
    change = params_diff["params.yaml"]["train.learning_rate"]
    assert (change["old"], change["new"]) == (0.05, 0.2)
    metrics_diff = json.loads(branched.dvc("metrics", "diff", "main", "--json"))
    assert "accuracy" in metrics_diff["metrics/eval.json"]

    result = _report(branched, "--base", "main", "--out", "report")
    assert result.returncode == 0, result.stderr
    report = (branched.root / "report/report.md").read_text()
    assert re.search(r"\| params.yaml +\| train.learning_rate +\| 0.05 +\| 0.2 +\|", report)
    assert re.search(r"\| metrics/eval.json +\| accuracy ", report)
    images = re.findall(r"!\[[^]]*\]\((plots/[^)]+)\)", report)
    for image in images:
        assert (branched.root / "report" / image).read_bytes()[:4] == b"\x89PNG", image
    names = " ".join(images)
    for expected in ("Loss", "Accuracy", "metrics_confusion.png", "metrics_curves_main"):
        assert expected in names
    summary = (branched.root / "report/summary.md").read_text()
    assert "train.learning_rate" in summary and "![" not in summary


def test_report_refuses_a_base_missing_from_the_clone(branched, tmp_path):
    result = _report(branched, "--base", "no-such-branch", "--out", str(tmp_path / "report"))
    assert result.returncode == 2
    assert "'no-such-branch' is not in this clone (a shallow clone?)" in result.stderr
    assert not (tmp_path / "report").exists()


def test_report_fails_when_dvc_cannot_load_a_metrics_file(branched, tmp_path):
    (branched.root / "metrics/eval.json").write_text("{ not json")
    try:
        result = _report(branched, "--base", "main", "--out", str(tmp_path / "report"))
    finally:
        branched.run("git", "checkout", "metrics/eval.json")
    assert result.returncode == 2
    assert "metrics/eval.json" in result.stderr
    assert not (tmp_path / "report").exists()


def test_experiment_with_a_set_param_shows_in_exp_show_and_leaves_dvc_yaml_alone(repo):
    before = hashlib.sha256((repo.root / "dvc.yaml").read_bytes()).hexdigest()
    repo.repro()
    repo.commit("baseline")
    output = repo.dvc("exp", "run", "-S", "train.epochs=3", "-n", "three-epochs")
    assert "Running stage 'train'" in output and "Running stage 'preprocess'" not in output
    experiments = json.loads(repo.dvc("exp", "show", "--json"))
    names = [
        exp["name"]
        for commit in experiments
        for branch in commit.get("experiments") or []
        for exp in branch["revs"]
    ]
    assert "three-epochs" in names
    workspace = next(commit for commit in experiments if commit["rev"] == "workspace")
    params = workspace["data"]["params"]["params.yaml"]["data"]
    assert params["train"]["epochs"] == 3
    metrics = workspace["data"]["metrics"]["metrics/train/metrics.json"]["data"]
    assert metrics["epochs_run"] == 3
    assert hashlib.sha256((repo.root / "dvc.yaml").read_bytes()).hexdigest() == before
