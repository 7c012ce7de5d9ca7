"""tools.reproduction: CI's check that `dvc repro` reproduced the committed results."""

import json
import logging

import pytest

from stages.train import tensorflow_setup
from tests.helpers.project import committed_params, write_yaml
from tools import commands, reproduction

ARGV = [
    "--eval-metrics",
    "metrics/eval.json",
    "--except",
    "metrics/time.json",
    "dvc.lock",
    "metrics",
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """dvc.lock, metrics/ and params.yaml committed in a git repository: the current folder."""
    (tmp_path / "metrics").mkdir()
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "metrics/eval.json").write_text(json.dumps({"test": {"accuracy": 0.88}}))
    (tmp_path / "metrics/confusion.csv").write_text("actual,predicted\nBag,Bag\n")
    write_yaml(tmp_path / "params.yaml", committed_params())
    (tmp_path / "notes.txt").write_text("not compared\n")
    monkeypatch.chdir(tmp_path)
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "results"]):
        commands.git("-c", "user.name=t", "-c", "user.email=t@t", *argv, cwd=tmp_path)
    return tmp_path


def test_unchanged_results_are_reproduced(project, caplog):
    caplog.set_level(logging.INFO)
    (project / "notes.txt").write_text("changed, but not among the paths compared\n")
    (project / "metrics/time.json").write_text('{"train_seconds": 61.2}')  # every run's own
    assert reproduction.main(ARGV) == 0
    assert "reproduced byte for byte: dvc.lock, metrics" in caplog.text


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda p: (p / "metrics/eval.json").write_text('{"test": {"accuracy": 0.8801}}'),
            "eval.json",
        ),
        (lambda p: (p / "metrics/confusion.csv").unlink(), "confusion.csv"),
        (lambda p: (p / "metrics/new.json").write_text("{}"), "metrics/new.json"),
        (lambda p: (p / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n"), "dvc.lock"),
    ],
    ids=["modified", "deleted", "new", "lock"],
)
def test_any_byte_changed_fails_where_numerics_are_portable(project, caplog, change, named):
    change(project)
    assert reproduction.main(ARGV) == 1
    assert "not reproduced byte for byte" in caplog.text and named in caplog.text


@pytest.mark.parametrize(("accuracy", "code"), [(0.8849, 0), (0.8751, 0), (0.8851, 1)])
def test_elsewhere_test_accuracy_must_be_within_the_tolerance(
    project, monkeypatch, caplog, accuracy, code
):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(tensorflow_setup.platform, "machine", lambda: "aarch64")
    (project / "metrics/eval.json").write_text(json.dumps({"test": {"accuracy": accuracy}}))
    (project / "metrics/confusion.csv").write_text("other bytes\n")
    assert reproduction.main(ARGV) == code
    assert "this CPU is aarch64, not x86-64, so bytes may differ" in caplog.text
    assert f"committed 0.8800, reproduced {accuracy:.4f}" in caplog.text


def test_fastest_numerics_are_held_to_the_tolerance_only(project):
    document = committed_params()
    document["train"]["numerics"] = "fastest"
    write_yaml(project / "params.yaml", document)
    (project / "metrics/eval.json").write_text(json.dumps({"test": {"accuracy": 0.884}}))
    assert reproduction.main(ARGV) == 0
