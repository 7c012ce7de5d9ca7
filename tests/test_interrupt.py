"""Interrupting a stage (Ctrl-C or SIGTERM, at a random moment) keeps the previous outputs or none,
never half of one, and the next `dvc repro` completes."""

import functools
import http.server
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from stages import dataset
from tests.conftest import REPO, file_tree, tiny_params, write_yaml

SIGNALS = [signal.SIGINT, signal.SIGTERM]


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
    document = {"download": tiny_params(tiny_source)["download"]}
    document["download"]["sources"] = [slow_mirror]
    params_path = write_yaml(tmp_path / "params.yaml", document)
    data = tmp_path / "data"
    if previous:
        (data / "raw").mkdir(parents=True)
        (data / "raw" / dataset.TRAIN_IMAGES).write_bytes(b"the previous run's file")
    before = file_tree(data) if previous else {}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stages.download",
            f"--raw={data / 'raw'}",
            f"--params={params_path}",
        ],
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


@pytest.mark.e2e
def test_interrupted_dvc_repro_during_training_then_repro_completes(repo):
    """Ctrl-C in a terminal: SIGINT to `dvc repro` and the stage it runs (one process group)."""
    repo.set_params("train", epochs=150)
    repo.commit("long training")
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=repo.root,
        env=repo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    os.set_blocking(process.stdout.fileno(), True)
    output = []
    while "epoch 3/150" not in (line := process.stdout.readline()):
        output.append(line)
        assert line, "".join(output)
    time.sleep(random.Random(0).uniform(0, 0.5))
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode != 0
    assert not (repo.root / "data/model/model.keras").exists()
    assert not list((repo.root / "data").rglob("*.tmp*"))

    stages = repo.repro()
    assert stages == ["train", "evaluate", "predict"]
    assert "Data and pipelines are up to date" in repo.dvc("status")
    metrics = yaml.safe_load((repo.root / "metrics/train/metrics.json").read_text())
    assert metrics["epochs_run"] == 150
