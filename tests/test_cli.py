"""The stages as a user runs them: separate processes, exit codes, output, what they keep."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.project import REPO, file_tree, write_yaml
from tests.helpers.signals import as_terminal_job
from tests.helpers.tiny import tiny_params


def _stage(name: str, *args: str, ignoring: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        as_terminal_job([sys.executable, "-m", f"stages.{name}", *args], ignoring),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _previous_outputs(tmp_path) -> dict:
    (tmp_path / "live").mkdir()
    previous = {"model.keras": b"previous model", "live/metrics.json": b"{}"}
    for name, content in previous.items():
        (tmp_path / name).write_bytes(content)
    return previous


def _files(tmp_path) -> dict:
    return {name: data for name, data in file_tree(tmp_path).items() if name != "params.yaml"}


def test_bad_params_exit_2_with_one_line_and_touch_nothing(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"]["epochs"] = 0
    params_path = write_yaml(tmp_path / "params.yaml", document)
    previous = _previous_outputs(tmp_path)
    process = _stage("train", *tiny_run.train_args(tmp_path, params_path))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stderr.strip().splitlines() == [
        f"error: {params_path}: train.epochs=0: must be an integer in [1, 1000000]"
    ]
    assert _files(tmp_path) == previous


@pytest.mark.parametrize(("content", "message"), [(None, "missing"), (b"junk", "not a loadable")])
def test_missing_or_corrupt_model_names_the_fix(tmp_path, tiny_run, content, message):
    model = tmp_path / "model.onnx"
    if content is not None:
        model.write_bytes(content)
    process = _stage(
        "predict",
        f"--test={tiny_run.test}",
        f"--model={model}",
        f"--predictions={tmp_path / 'p.csv'}",
        f"--predictions-png={tmp_path / 'p.png'}",
        f"--params={tiny_run.params}",
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert message in stderr and "run `dvc repro train`" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "p.csv").exists()


def test_training_prints_one_line_per_epoch_and_no_tensorflow_noise(tmp_path, tiny_run):
    process = _stage("train", *tiny_run.train_args(tmp_path, tiny_run.params))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    output = stdout + stderr
    assert [line.split()[1:3] for line in output.splitlines() if " epoch " in line] == [
        ["epoch", "1/2"],
        ["epoch", "2/2"],
    ]
    for noise in ("oneDNN", "cuda", "absl", "cpu_feature_guard", "WARNING", "tf2onnx", "opset"):
        assert noise not in output  # tf2onnx: "Using opset <onnx, 17>", "Optimizing ONNX model"…
    assert "Optimizing ONNX model" not in output and "constant folding" not in output


@pytest.mark.slow
def test_an_unwritable_place_for_the_training_time_stops_train_before_it_trains(
    tmp_path, tiny_run, tiny_source
):
    """Only metrics/time.json's place fails (here a file where its folder must be): train stops
    before its first epoch, in one line, and every earlier output stays, so nothing can fail
    after the new model is in place while dvc.lock still describes the old one."""
    params_path = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    previous = _previous_outputs(tmp_path)
    (tmp_path / "timing").write_bytes(b"a file where the time's folder must be")
    previous["timing"] = b"a file where the time's folder must be"
    args = tiny_run.train_args(tmp_path, params_path)
    args = [
        f"--time={tmp_path / 'timing' / 'time.json'}" if a.startswith("--time=") else a
        for a in args
    ]
    process = _stage("train", *args)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    *_, last = stderr.strip().splitlines()
    assert last.startswith(f"error: cannot write {tmp_path / 'timing' / 'time.json'}: ")
    assert last.endswith("is a file, where a directory must be; move it away, then run again")
    assert "epoch 1/" not in stderr and "Traceback" not in stderr
    assert _files(tmp_path) == previous


# A burst: Ctrl-C that also ends the `sh -c` DVC runs the stage in (dash dies of SIGINT), whose
# end sends SIGTERM through the lifeline while the stage puts its outputs back; Ctrl-C twice.
BURST = (signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@pytest.mark.parametrize(
    "signals",
    [
        pytest.param((signal.SIGINT,), marks=pytest.mark.slow),
        pytest.param((signal.SIGTERM,), marks=pytest.mark.slow),
        pytest.param(BURST, marks=pytest.mark.slow),
    ],
    ids=lambda signals: "-".join(s.name for s in signals),
)
def test_signals_during_training_keep_the_previous_outputs(
    tmp_path, tiny_run, tiny_source, signals
):
    document = tiny_params(tiny_source)
    document["train"]["epochs"] = 10_000
    params_path = write_yaml(tmp_path / "params.yaml", document)
    previous = _previous_outputs(tmp_path)
    process = _stage("train", *tiny_run.train_args(tmp_path, params_path))
    os.set_blocking(process.stderr.fileno(), True)
    deadline = time.monotonic() + 60
    while "epoch 2/" not in process.stderr.readline():
        assert time.monotonic() < deadline and process.poll() is None
    time.sleep(random.Random(len(signals)).uniform(0, 0.5))  # mid-epoch, or mid-validation
    for signum in signals:
        process.send_signal(signum)
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted: every output is as it was before this run" in stderr
    assert _files(tmp_path) == previous  # no temporary file left either


@pytest.mark.slow
def test_an_interrupt_ignored_by_the_parent_stays_ignored(tmp_path, tiny_run, tiny_source):
    """`nohup python -m stages.train …` survives the terminal's SIGHUP, as nohup promises."""
    document = tiny_params(tiny_source)
    document["train"]["epochs"] = 10_000
    params_path = write_yaml(tmp_path / "params.yaml", document)
    process = _stage("train", *tiny_run.train_args(tmp_path, params_path), ignoring=("HUP",))
    os.set_blocking(process.stderr.fileno(), True)
    deadline = time.monotonic() + 60
    while "epoch 2/" not in process.stderr.readline():
        assert time.monotonic() < deadline and process.poll() is None
    process.send_signal(signal.SIGHUP)
    while "epoch 5/" not in process.stderr.readline():  # trains on
        assert time.monotonic() < deadline and process.poll() is None
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
