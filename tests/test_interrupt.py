"""Interrupting a stage (Ctrl-C or SIGTERM, at a random moment) keeps the previous outputs or none,
never half of one, and the next `dvc repro` completes."""

import functools
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from stages.shared import fashion_mnist
from tests.helpers.project import REPO, file_tree, write_yaml
from tests.helpers.signals import as_terminal_job
from tests.helpers.tiny import tiny_dataset, tiny_params
from tools import commands

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]  # SIGHUP: a closed terminal


class SlowHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files in small chunks with pauses, so that a download can be cut midway."""

    requests: list[str]

    def copyfile(self, source, outputfile):
        self.requests.append(self.path)
        while chunk := source.read(1024):
            outputfile.write(chunk)
            time.sleep(0.02)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_mirror(tiny_source):
    handler = functools.partial(SlowHandler, directory=str(tiny_source.directory))
    SlowHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("previous", [False, True], ids=["first-run", "rerun"])
def test_download_cut_midway_leaves_the_previous_raw_data_or_none(
    tmp_path, tiny_source, slow_mirror, signum, previous
):
    params_path = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    dataset = tiny_dataset(tiny_source)
    dataset["dataset"]["sources"] = [slow_mirror]
    dataset_path = write_yaml(tmp_path / "dataset.yaml", dataset)
    data = tmp_path / "data"
    if previous:
        (data / "raw").mkdir(parents=True)
        (data / "raw" / fashion_mnist.TRAIN_IMAGES).write_bytes(b"the previous run's file")
    before = file_tree(data) if previous else {}
    process = subprocess.Popen(
        as_terminal_job(
            [
                sys.executable,
                "-m",
                "stages.download",
                f"--dataset={dataset_path}",
                f"--raw={data / 'raw'}",
                f"--params={params_path}",
            ]
        ),
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not SlowHandler.requests:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    time.sleep(random.Random(f"{signum}{previous}").uniform(0.05, 1.0))
    assert process.poll() is None, "the download finished before it could be interrupted"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted: every output is as it was before this run" in stderr
    assert (
        file_tree(data) if data.exists() else {}
    ) == before  # no partial file, no temporary one
    assert sorted(p.name for p in data.iterdir()) == (["raw"] if previous else [])


def _outputs(repo) -> dict:
    """Every output of the pipeline and dvc.lock, with their bytes."""
    tree = {f"data/{k}": v for k, v in file_tree(repo.root / "data").items()}
    tree |= {f"metrics/{k}": v for k, v in file_tree(repo.root / "metrics").items()}
    return tree | {"dvc.lock": (repo.root / "dvc.lock").read_bytes()}


def _edit_params(repo, old: str, new: str) -> None:
    path = repo.root / "params.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.slow
def test_a_failed_or_interrupted_dvc_repro_keeps_the_last_good_outputs(repo):
    """DVC deletes a stage's outputs before running it unless they persist: after a params error,
    a divergence or Ctrl-C, the workspace still holds the last good outputs, byte for byte."""
    repo.repro()
    repo.commit("baseline")
    good = _outputs(repo)
    failures = {
        "a NaN learning rate": ("learning_rate: 0.05", "learning_rate: .nan", "expected a finite"),
        "a YAML 1.1 boolean": ("batch_norm: false", "batch_norm: yes", "write true"),
        "a divergence": ("learning_rate: 0.05", "learning_rate: 1.0e+30", "training diverged"),
        "an empty params.yaml": (None, "", "Parameters 'download' are missing"),  # DVC's
    }
    for case, (old, new, message) in failures.items():
        if old is None:
            (repo.root / "params.yaml").write_text(new)
        else:
            _edit_params(repo, old, new)
        result = repo.attempt(*commands.dvc_argv("repro"))
        assert result.returncode != 0, case
        assert message in result.stdout + result.stderr, (case, result.stderr)
        assert _outputs(repo) == good, case
        repo.run("git", "checkout", "params.yaml")
    assert "Data and pipelines are up to date" in repo.dvc("status")  # nothing to restore

    # Ctrl-C in a terminal: SIGINT to `dvc repro` and the stage it runs (one process group).
    # DVC runs the stage with `$SHELL -c`: bash execs the command, dash stays and dies of the
    # SIGINT, so the stage also gets the lifeline's SIGTERM while it puts its outputs back.
    repo.set_params("train", epochs=150)
    for seed, shell in enumerate(("/bin/bash", "/bin/sh")):
        repo.env["SHELL"] = shell
        # Its own process group, as a terminal's foreground job: the test signals the group.
        process = _start_long_repro(repo, new_session=True)
        time.sleep(random.Random(seed).uniform(0, 0.5))
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode != 0, shell
        assert "interrupted: every output is as it was before this run" in rest, (shell, rest)
        assert _outputs(repo) == good, shell
        assert not [p for p in repo.root.rglob(".*.tmp*") if ".dvc" not in p.parts], shell

    assert repo.repro() == ["train", "evaluate", "predict"]
    assert "Data and pipelines are up to date" in repo.dvc("status")
    assert repo.read_json("metrics/train/metrics.json")["epochs_run"] == 150


@pytest.mark.slow
def test_kill_9_leftovers_are_ignored_by_git_and_removed_by_the_next_run(
    tmp_path, tiny_run, tiny_source
):
    """`kill -9` runs no cleanup: the temporary outputs stay until the stage runs again."""
    commands.git("init", "-q", str(tmp_path))
    (tmp_path / ".gitignore").write_text((REPO / ".gitignore").read_text())
    document = tiny_params(tiny_source)
    document["train"]["epochs"] = 40
    params_path = write_yaml(tmp_path / "params.yaml", document)
    out = tmp_path / "out"
    argv = tiny_run.train_argv(out, params_path)
    rng = random.Random(9)
    leftovers = set()
    for _ in range(3):
        process = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(out.glob(".model.keras.*.tmp.keras")):  # mid-training
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 1.5))
        process.kill()
        process.wait()
        leftovers |= {p.name for p in out.glob(".*.tmp*")}
    assert leftovers, "no kill left a temporary file: the test proves nothing"
    status = commands.git("status", "--porcelain", "--untracked-files=all", cwd=tmp_path)
    assert ".tmp" not in status, status

    subprocess.run(argv, cwd=REPO, check=True, capture_output=True)
    assert not list(out.rglob(".*.tmp*"))
    assert {p.name for p in out.iterdir()} == {
        "model.keras",
        "model.onnx",
        "live",
        "curves.png",
        "time.json",
    }


def _start_long_repro(repo, new_session: bool = False) -> subprocess.Popen:
    """`dvc repro` started (not run: the test reads its output while it runs), returned once the
    train stage has run its third epoch."""
    process = subprocess.Popen(
        as_terminal_job(commands.dvc_argv("repro")),
        cwd=repo.root,
        env=repo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_session,
    )
    os.set_blocking(process.stdout.fileno(), True)
    output = []
    while "epoch 3/" not in (line := process.stdout.readline()):
        output.append(line)
        assert line, "".join(output)
    return process


def _stage_processes(repo) -> list[psutil.Process]:
    """The stage processes still running in `repo` (a train stage DVC left behind)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["cwd"] == str(repo.root) and "-m stages." in cmdline:
            found.append(process)
    return found


@pytest.mark.slow
def test_what_dvc_records_is_what_ran_whatever_happens_during_training(repo):
    """Params or code edited while the stage trains, or `dvc repro` itself killed (SIGTERM, as
    `timeout` sends, or SIGKILL): the outputs stay the last good ones, `dvc.lock` still describes
    them, and the stage does not train on alone."""
    repo.repro()
    repo.set_params("train", epochs=100)
    repo.commit("a longer run, not run yet")
    good = _outputs(repo)

    edits = {
        "params.yaml": ("learning_rate: 0.05", "learning_rate: 0.1"),
        "stages/train/fit.py": ("import dataclasses", "import dataclasses  # edited"),
    }
    messages = {
        "params.yaml": "params.yaml's train section changed during the run "
        "(learning_rate 0.05 → 0.1); the outputs of the values that ran are not written",
        "stages/train/fit.py": "stages/train/fit.py changed during the run; the outputs of the "
        "code that ran are not written",
    }
    for path, (old, new) in edits.items():
        process = _start_long_repro(repo)
        text = (repo.root / path).read_text()
        assert old in text
        (repo.root / path).write_text(text.replace(old, new, 1))
        rest, _ = process.communicate(timeout=300)
        assert process.returncode != 0 and messages[path] in rest, rest
        assert _outputs(repo) == good, path
        repo.run("git", "checkout", path)

    for signum in (signal.SIGTERM, signal.SIGKILL):
        process = _start_long_repro(repo)
        os.kill(process.pid, signum)  # DVC alone, not its process group
        rest, _ = process.communicate(timeout=60)  # returns once the stage closed the pipe too
        assert "stopped, so this stage stops too: every output is as it was" in rest, rest
        assert not _stage_processes(repo), signum
        assert _outputs(repo) == good, signum
        status = json.loads(repo.dvc("status", "--json"))
        assert list(status) == ["train"]  # the truth: train's params changed, nothing else ran
        assert status["train"] == [{"changed deps": {"params.yaml": {"train": "modified"}}}]
