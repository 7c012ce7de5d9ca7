"""Faults of the machine, met for real: a full disk (a small tmpfs) and a read-only file system
(a read-only bind mount), as root; a file where an output's folder must be, as any user. Every
stage and tool stops with one line and exit 2, and every output is as it was: all of a stage's
outputs are replaced, or none."""

import contextlib
import os
import subprocess
import warnings

import pytest

from stages.download import __main__ as download
from stages.evaluate import __main__ as evaluate
from stages.predict import __main__ as predict
from stages.preprocess import __main__ as preprocess
from stages.shared import cli
from stages.train import __main__ as train
from tests.helpers.project import file_tree, write_yaml
from tests.helpers.tiny import tiny_params
from tools import classify

# Mounting needs root; the other faults here (a file where a folder must be) are met as any user,
# so those tests run everywhere, GitHub's runners too.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a file system needs root")


@contextlib.contextmanager
def mounted(target, *options: str):
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *options, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.fixture
def full_disk(tmp_path):
    """A 16 KiB file system: room for a few small files, none for a model or a figure."""
    with mounted(tmp_path / "disk", "-t", "tmpfs", "-o", "size=16k", "tmpfs") as disk:
        yield disk


@pytest.fixture
def read_only(tmp_path):
    """A directory, then the same directory read-only: fill it first, then remount."""
    source = tmp_path / "ro-source"
    source.mkdir()
    target = tmp_path / "ro"

    @contextlib.contextmanager
    def remount():
        with mounted(target, "--bind", str(source)):
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
            yield target

    return source, remount


def _stage_argv(name: str, run, out) -> tuple:
    """The stage `name` reading the tiny run's inputs and writing every output into `out`."""
    return {
        "download": (download, [f"--dataset={run.dataset}", f"--raw={out / 'raw'}"]),
        "preprocess": (
            preprocess,
            [
                f"--raw={run.raw}",
                f"--train={out / 'train.npz'}",
                f"--val={out / 'val.npz'}",
                f"--test={out / 'test.npz'}",
                f"--data-metrics={out / 'data.json'}",
                f"--class-counts={out / 'counts.csv'}",
            ],
        ),
        "train": (
            train,
            [
                f"--train={run.train}",
                f"--val={run.val}",
                f"--model={out / 'model.keras'}",
                f"--onnx={out / 'model.onnx'}",
                f"--live={out / 'live'}",
                f"--curves-png={out / 'curves.png'}",
                f"--time={out / 'time.json'}",
            ],
        ),
        "evaluate": (
            evaluate,
            [
                f"--test={run.test}",
                f"--val={run.val}",
                f"--model={run.onnx}",
                f"--eval-metrics={out / 'eval.json'}",
                f"--per-class={out / 'per_class.csv'}",
                f"--confusion={out / 'confusion.csv'}",
                f"--confusion-png={out / 'confusion.png'}",
                f"--samples-png={out / 'samples.png'}",
                f"--misclassified-png={out / 'misclassified.png'}",
            ],
        ),
        "predict": (
            predict,
            [
                f"--test={run.test}",
                f"--model={run.onnx}",
                f"--predictions={out / 'predictions.csv'}",
                f"--predictions-png={out / 'predictions.png'}",
            ],
        ),
    }[name]


def _run_stage(module, argv, capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_:
        cli.run(lambda: module.main(argv))
    return exit_.value.code, capsys.readouterr().err.strip().splitlines()


def _previous(out, names) -> tuple[dict, list]:
    """One small earlier output per name, as a previous run would have left it; what is there."""
    for name in names:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"previous")
    return _everything(out)


def _everything(folder) -> tuple[dict, list]:
    """The files with their bytes, and every path (empty temporary folders included)."""
    return file_tree(folder), sorted(folder.rglob("*"))


STAGES = ["download", "preprocess", "train", "evaluate", "predict"]
EARLIER = {
    "download": ["raw/train-images-idx3-ubyte"],
    "preprocess": ["data.json", "counts.csv"],
    "train": ["model.keras", "live/metrics.json"],
    "evaluate": ["eval.json", "per_class.csv"],
    "predict": ["predictions.csv", "predictions.png"],
}


@needs_root
@pytest.mark.parametrize("stage", STAGES)
def test_a_full_disk_stops_the_stage_in_one_line_and_keeps_every_output(
    tmp_path, tiny_run, tiny_source, full_disk, capsys, stage
):
    params = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    before = _previous(full_disk, EARLIER[stage])
    module, argv = _stage_argv(stage, tiny_run, full_disk)
    code, lines = _run_stage(module, [*argv, f"--params={params}"], capsys)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: cannot write "), lines
    assert lines[0].endswith(
        "No space left on device; free some space on that disk, then run again"
    )
    assert _everything(full_disk) == before  # nothing new, half-written or lost


@needs_root
@pytest.mark.parametrize("stage", STAGES)
def test_a_read_only_file_system_stops_the_stage_in_one_line(
    tmp_path, tiny_run, tiny_source, read_only, capsys, stage
):
    params = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    source, remount = read_only
    before = _previous(source, EARLIER[stage])
    with remount() as out:
        module, argv = _stage_argv(stage, tiny_run, out)
        code, lines = _run_stage(module, [*argv, f"--params={params}"], capsys)
    assert code == 2, lines
    assert (
        len(lines) == 1
        and "Read-only file system; the file system is mounted read-only" in (lines[0])
    )
    assert _everything(source) == before


@needs_root
def test_classify_refuses_an_unwritable_output_before_classifying(
    tmp_path, tiny_run, read_only, capsys
):
    _, remount = read_only
    with remount() as out:
        code, lines = _run_stage(
            classify,
            [str(tiny_run.root), "--model", str(tiny_run.onnx), "--output", str(out / "r.csv")],
            capsys,
        )
    assert code == 2  # not 1, which means "some images could not be classified"
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {out}")


def test_classify_tables_raise_no_pandas_warning():
    row = {"file": "a.png", "predicted": "Bag", "confidence": 0.5, "top3": [("Bag", 0.5)] * 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for output_format in ("table", "csv", "json"):
            assert "a.png" in classify.render([row], output_format)


@pytest.mark.parametrize("stage", STAGES)
def test_a_file_where_an_output_folder_must_be_stops_the_stage_before_its_work(
    tmp_path, tiny_run, tiny_source, capsys, stage
):
    params = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    (tmp_path / "blocked").write_text("a file, not a folder")
    module, argv = _stage_argv(stage, tiny_run, tmp_path / "blocked")
    code, lines = _run_stage(module, [*argv, f"--params={params}"], capsys)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: cannot write "), lines
    assert lines[0].endswith(
        f"{tmp_path / 'blocked'} is a file, where a directory must be; "
        "move it away, then run again"
    )
    assert (tmp_path / "blocked").read_text() == "a file, not a folder"


def test_a_file_where_dvclive_writes_its_folder_stops_training_before_it_starts(
    tmp_path, tiny_run, tiny_source, capsys, caplog
):
    params = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    out = tmp_path / "out"
    out.mkdir()
    (out / "live").write_text("a file where metrics/train goes")
    before = _everything(out)
    module, argv = _stage_argv("train", tiny_run, out)
    code, lines = _run_stage(module, [*argv, f"--params={params}"], capsys)
    assert code == 2, lines
    assert lines == [
        f"error: cannot write {out / 'live'}: a file is there, where the stage writes a "
        "directory; move it away, then run again"
    ]
    assert "epoch 1/" not in caplog.text
    assert _everything(out) == before
