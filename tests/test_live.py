"""Live metrics through real `dvc exp run`: dvclive's directory in the workspace follows each epoch
while the train stage runs, and after Ctrl-C or `kill -9` the last complete run's files are back,
byte for byte (stages/shared/artifacts.py, `Outputs.live_directory`)."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers.project import file_tree
from tests.helpers.repo import Repo
from tests.helpers.signals import as_terminal_job
from tools import commands

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LIVE = "metrics/train"
DEADLINE = 120  # seconds for a run to reach the epochs a test waits for


def _start(repo: Repo, *args: str) -> subprocess.Popen:
    """`dvc exp run` with `args`, in its own process group as a terminal's foreground job."""
    return subprocess.Popen(
        as_terminal_job(commands.dvc_argv("exp", "run", *args)),
        cwd=repo.root,
        env=repo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _step(repo: Repo) -> int | None:
    """The step in the workspace's dvclive summary; None while there is none (or it is being
    written)."""
    try:
        return json.loads((repo.root / LIVE / "metrics.json").read_text()).get("step")
    except (OSError, ValueError):
        return None


def _steps_until(repo: Repo, process: subprocess.Popen, last: int) -> list[int]:
    """Every distinct step seen in the workspace while `process` runs, until step `last`."""
    seen: list[int] = []
    deadline = time.monotonic() + DEADLINE
    while not seen or seen[-1] < last:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, seen
        step = _step(repo)
        if step is not None and (not seen or step != seen[-1]):
            seen.append(step)
        time.sleep(0.02)
    return seen


@pytest.fixture
def trained(repo: Repo) -> Repo:
    """The tiny project run once and committed: a complete run in metrics/train."""
    repo.repro()
    repo.commit("baseline")
    return repo


def test_the_workspace_follows_every_epoch_and_ctrl_c_puts_the_last_run_back(trained):
    repo = trained
    last_run = file_tree(repo.root / LIVE)
    assert json.loads(last_run["metrics.json"])["step"] == 1  # tiny params: 2 epochs

    process = _start(repo, "-S", "train.epochs=300")
    last, *seen = _steps_until(repo, process, last=4)
    assert last == 1, last  # the last run's, until the new run's first epoch ends
    assert seen == sorted(set(seen)) and len(seen) >= 3, seen  # then each epoch, as it ends
    history = (repo.root / LIVE / "plots/metrics/val/accuracy.tsv").read_text().splitlines()
    assert len(history) >= 1 + 4  # the header and one row per epoch so far
    # What the VS Code extension and `dvc exp show` read: the workspace, mid-run.
    shown = json.loads(repo.dvc("exp", "show", "--json", "--no-fetch"))
    workspace = next(b for b in shown if b["rev"] == "workspace")
    assert workspace["data"]["metrics"][f"{LIVE}/metrics.json"]["data"]["step"] >= 4

    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "interrupted: every output is as it was before this run" in output, output
    assert file_tree(repo.root / LIVE) == last_run
    assert not list((repo.root / "metrics").glob(".train.*")), "nothing left beside it"


def test_after_kill_9_the_next_run_puts_the_last_run_back_before_anything_else(trained):
    """`kill -9` of `dvc exp run` and its stage runs no clean-up; the next run of the stage
    restores the last complete run first, even when it then stops at a params error."""
    repo = trained
    last_run = file_tree(repo.root / LIVE)
    process = _start(repo, "-S", "train.epochs=300")
    _steps_until(repo, process, last=3)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert file_tree(repo.root / LIVE) != last_run  # the killed run's epochs
    assert list((repo.root / "metrics").glob(".train.*.kept"))  # the last run, kept aside

    result = repo.attempt(*commands.dvc_argv("exp", "run", "-S", "train.epochs=0"))
    assert result.returncode != 0
    assert "train.epochs=0" in result.stdout + result.stderr
    assert file_tree(repo.root / LIVE) == last_run
    assert not list((repo.root / "metrics").glob(".train.*"))
